"""Online SQLite backup, restore into a fresh file, and every case verified by replay."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.conftest import START
from tests.support.models import DATA, publish_folder
from workflows.cases import human_tasks
from workflows.cases import lifecycle as cases
from workflows.infra.clock import FixedClock
from workflows.infra.db import create_all, make_engine
from workflows.infra.errors import ValidationFailed
from workflows.infra.models import Case, HumanTask
from workflows.ops import backup, cli
from workflows.people.access import SYSTEM

SECRET = "x" * 40


def live_database(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    create_all(engine)
    with Session(engine) as session:
        publish_folder(session, DATA / "review_demo", now=START)
        session.commit()
    return engine


def add_cases(engine: Engine, clock: FixedClock, n: int) -> None:
    for i in range(n):
        with Session(engine) as session:
            case = cases.start_case(
                session=session,
                clock=clock,
                actor=SYSTEM,
                process_key="review_demo",
                data={"child_name": f"儿童{i}"},
                jurisdiction_code="440103001001",
            ).case
            if i % 2:
                task = session.scalar(select(HumanTask).where(HumanTask.case_id == case.id))
                human_tasks.complete(
                    session=session, clock=clock, actor=SYSTEM, task_id=task.id, data={"score": 40 + i}
                )
            session.commit()
        clock.advance(timedelta(minutes=1))


def test_backup_while_writing_restores_into_a_fresh_file_that_verifies(tmp_path: Path) -> None:
    engine = live_database(tmp_path / "live.db")
    clock = FixedClock(START)
    add_cases(engine, clock, 6)
    writer = threading.Thread(target=add_cases, args=(engine, FixedClock(START + timedelta(days=1)), 10))
    writer.start()
    result = backup.backup(
        database_url=f"sqlite:///{tmp_path / 'live.db'}", target=tmp_path / "b" / "copy.db"
    )
    writer.join()
    assert result.cases >= 6 and result.path.is_file() and not (tmp_path / "b" / "copy.db.partial").exists()
    restored = backup.restore(source=result.path, database_url=f"sqlite:///{tmp_path / 'fresh' / 'new.db'}")
    assert restored.cases == result.cases
    fresh = make_engine(f"sqlite:///{restored.path}")
    with Session(fresh) as session:
        assert session.scalar(select(func.count()).select_from(Case)) == result.cases
        assert backup.verify_all(session) == []
    fresh.dispose()
    engine.dispose()


def test_backup_refuses_to_overwrite_and_postgres_gets_the_pg_dump_hint(tmp_path: Path) -> None:
    live_database(tmp_path / "live.db").dispose()
    (tmp_path / "taken.db").write_bytes(b"x")
    with pytest.raises(ValidationFailed, match="已存在"):
        backup.backup(database_url=f"sqlite:///{tmp_path / 'live.db'}", target=tmp_path / "taken.db")
    with pytest.raises(ValidationFailed, match="pg_dump"):
        backup.backup(database_url="postgresql+psycopg://u:p@127.0.0.1/db", target=tmp_path / "x.db")
    with pytest.raises(ValidationFailed, match="不是守护"):
        sqlite_other = tmp_path / "other.db"
        make_engine(f"sqlite:///{sqlite_other}").dispose()
        import sqlite3

        sqlite3.connect(sqlite_other).execute("CREATE TABLE t (x)").connection.commit()
        backup.restore(source=sqlite_other, database_url=f"sqlite:///{tmp_path / 'n.db'}")


def test_cli_backup_and_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = live_database(tmp_path / "live.db")
    add_cases(engine, FixedClock(START), 3)
    engine.dispose()
    monkeypatch.setenv("SHOUHU_DATABASE_URL", f"sqlite:///{tmp_path / 'live.db'}")
    monkeypatch.setenv("SHOUHU_SECRET_KEY", SECRET)
    assert cli.main(["backup", str(tmp_path / "copy.db")]) == 0
    assert "3 个案件" in capsys.readouterr().out
    monkeypatch.setenv("SHOUHU_DATABASE_URL", f"sqlite:///{tmp_path / 'restored.db'}")
    with pytest.raises(SystemExit, match="--yes"):
        cli.main(["restore", str(tmp_path / "copy.db")])
    assert cli.main(["restore", str(tmp_path / "copy.db"), "--yes"]) == 0
    assert "核验 3/3 个案件通过" in capsys.readouterr().out
