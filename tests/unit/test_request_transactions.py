"""How a request's transaction is run: the commit in the endpoint's own thread, and SQLite's writers taking
turns inside the process instead of polling SQLite's lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Column, Integer, MetaData, Table, event, insert, select, text
from sqlalchemy.orm import Session

from api.deps import SessionDep, install_commit_in_endpoint_thread
from workflows.infra.db import READ_ONLY, make_engine, make_sessionmaker

META = MetaData()
ROWS = Table("rows", META, Column("id", Integer, primary_key=True))


def _engine(tmp_path: Path) -> Any:
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    META.create_all(engine)
    return engine


def test_a_plain_endpoint_commits_in_its_own_thread(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    threads: dict[str, int] = {}
    event.listen(engine, "commit", lambda conn: threads.setdefault("commit", threading.get_ident()))
    app = FastAPI()
    app.state.sessionmaker = make_sessionmaker(engine)

    @app.post("/rows")
    def add(session: SessionDep) -> dict[str, int]:
        threads["endpoint"] = threading.get_ident()
        session.execute(insert(ROWS).values(id=7))
        return {"id": 7}

    install_commit_in_endpoint_thread(app.routes)
    with TestClient(app) as client:
        assert client.post("/rows").json() == {"id": 7}
    assert threads["commit"] == threads["endpoint"]
    with Session(engine) as session:
        assert session.scalars(select(ROWS.c.id)).all() == [7]
    engine.dispose()


def test_a_failed_endpoint_writes_nothing(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    app = FastAPI()
    app.state.sessionmaker = make_sessionmaker(engine)

    @app.post("/rows")
    def add(session: SessionDep) -> None:
        session.execute(insert(ROWS).values(id=8))
        raise RuntimeError("after the write")

    install_commit_in_endpoint_thread(app.routes)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/rows").status_code == 500
    with Session(engine) as session:
        assert session.scalars(select(ROWS.c.id)).all() == []
    engine.dispose()


def test_sqlite_writers_wait_their_turn_in_the_process(tmp_path: Path) -> None:
    """A second writer waits for the first one's commit before it even asks SQLite for the lock."""
    engine = _engine(tmp_path)
    begun: list[str] = []
    event.listen(
        engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *rest: (
            begun.append(threading.current_thread().name) if statement == "BEGIN IMMEDIATE" else None
        ),
    )
    holding, release = threading.Event(), threading.Event()

    def first() -> None:
        with engine.begin() as conn:
            conn.execute(insert(ROWS).values(id=1))
            holding.set()
            release.wait(10)

    def second() -> None:
        with engine.begin() as conn:
            conn.execute(insert(ROWS).values(id=2))

    one = threading.Thread(target=first, name="first")
    two = threading.Thread(target=second, name="second")
    one.start()
    assert holding.wait(10)
    two.start()
    time.sleep(0.3)
    assert begun == ["first"]  # the second writer is queued here, not polling SQLite's busy handler
    with Session(engine) as reader:  # a read-only transaction does not queue behind the writer
        reader.connection(execution_options=READ_ONLY)
        assert reader.execute(text("SELECT count(*) FROM rows")).scalar() == 0
    release.set()
    one.join(10)
    two.join(10)
    assert begun == ["first", "second"]
    with Session(engine) as session:
        assert sorted(session.scalars(select(ROWS.c.id))) == [1, 2]
    engine.dispose()


def test_json_columns_read_what_the_standard_writer_stored() -> None:
    """orjson reads JSON columns; text only the standard parser accepts is still read the same way."""
    from workflows.infra.db import read_json

    assert read_json('{"a": [1, 2.5, "甲"], "b": null}') == {"a": [1, 2.5, "甲"], "b": None}
    nan = read_json('{"x": NaN, "big": 123456789012345678901234567890}')
    assert nan["x"] != nan["x"] and nan["big"] == 123456789012345678901234567890
