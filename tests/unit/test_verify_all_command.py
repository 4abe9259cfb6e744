"""`shouhu checkpoint` and `shouhu verify-all` on a database file: a case deleted after the checkpoint fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from tests.conftest import START
from tests.support.models import DATA, publish_folder
from tests.unit.test_services import DIRECTOR, VILLAGE
from workflows.cases import lifecycle as cases
from workflows.infra.clock import FixedClock
from workflows.infra.db import create_all, make_engine
from workflows.infra.keys import SigningKeys, private_pem
from workflows.infra.models import AccessLog, Case, CaseEvent, HumanTask
from workflows.ops import cli


def test_checkpoint_then_verify_all_finds_a_deleted_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'shouhu.db'}"
    engine = make_engine(url)
    create_all(engine)
    with Session(engine) as session:
        publish_folder(session, DATA / "review_demo", now=START)
        ids = [
            cases.start_case(
                session=session,
                clock=FixedClock(START),
                actor=DIRECTOR,
                process_key="review_demo",
                data={"child_name": name},
                jurisdiction_code=VILLAGE,
            ).case.id
            for name in ("小明", "小红")
        ]
        session.commit()
    monkeypatch.setenv("SHOUHU_DATABASE_URL", url)
    monkeypatch.setenv("SHOUHU_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("SHOUHU_CHECKPOINT_KEY", private_pem(SigningKeys.generate().private))
    monkeypatch.delenv("SHOUHU_DEMO", raising=False)
    assert cli.main(["verify-all"]) == 0
    assert "尚无签名检查点" in capsys.readouterr().out
    assert cli.main(["checkpoint"]) == 0
    assert cli.main(["verify-all"]) == 0
    assert "2 个案件" in capsys.readouterr().out
    with Session(engine) as session:
        for table in (CaseEvent, HumanTask, AccessLog):
            session.execute(delete(table).where(table.case_id == ids[0]))  # type: ignore[attr-defined]
        session.execute(delete(Case).where(Case.id == ids[0]))
        session.commit()
    assert cli.main(["verify-all"]) == 1
    out = capsys.readouterr().out
    assert "案件被删除" in out and ids[0] in out and "核验完成：1/1 个案件通过" in out
    engine.dispose()
