"""`shouhu checkpoint` and `shouhu verify-all` on a database file: a case deleted after the checkpoint fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, text
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


def database_with_cases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *names: str
) -> tuple[Engine, list[str]]:
    """A database file with a review case started per name, and the environment the commands read it from."""
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
            for name in names
        ]
        session.commit()
    monkeypatch.setenv("SHOUHU_DATABASE_URL", url)
    monkeypatch.setenv("SHOUHU_SECRET_KEY", "k" * 40)
    monkeypatch.delenv("SHOUHU_DEMO", raising=False)
    return engine, ids


def test_checkpoint_then_verify_all_finds_a_deleted_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine, ids = database_with_cases(tmp_path, monkeypatch, "小明", "小红")
    monkeypatch.setenv("SHOUHU_CHECKPOINT_KEY", private_pem(SigningKeys.generate().private))
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


def test_verify_all_reports_overview_counts_off_and_recount_overview_mends_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine, _ = database_with_cases(tmp_path, monkeypatch, "小明")
    with engine.begin() as connection:  # as if written around the triggers
        connection.execute(text("UPDATE place_case_counts SET running = 5"))
    assert cli.main(["verify-all", "--chain-only"]) == 1
    assert f"概览计数与案件不符：{VILLAGE} 未分级 记为 5 件，运行中的案件实有 1 件" in capsys.readouterr().out
    assert cli.main(["recount-overview"]) == 0
    assert "1 处原先不符" in capsys.readouterr().out
    assert cli.main(["verify-all", "--chain-only"]) == 0
    engine.dispose()


def test_jobs_without_chain_only_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHOUHU_DATABASE_URL", f"sqlite:///{tmp_path / 'shouhu.db'}")
    monkeypatch.setenv("SHOUHU_SECRET_KEY", "k" * 40)
    with pytest.raises(SystemExit, match="--jobs 只与 --chain-only 一起使用"):
        cli.main(["verify-all", "--jobs", "2"])
