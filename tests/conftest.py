"""Shared fixtures: a fixed clock, and a database created once with each test in a rolled-back transaction."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from tests.support.clock import START  # noqa: E402
from tests.support.models import DATA, publish_folder  # noqa: E402
from tests.support.people import client, login, people  # noqa: E402,F401 - shared fixtures
from workflows.infra.clock import FixedClock  # noqa: E402
from workflows.infra.db import create_all, make_engine  # noqa: E402
from workflows.ops import wiring  # noqa: E402
from workflows.processes import registry  # noqa: E402

BUNDLED_FOR_TESTS = ("review_demo",)
wiring.install()  # the message effects each package registers (as every entry point does)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture(scope="session")
def db_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("db") / "test.db"
    engine = make_engine(os.environ.get("SHOUHU_TEST_DATABASE_URL") or f"sqlite:///{path}")
    create_all(engine)
    with Session(engine) as session:
        for name in BUNDLED_FOR_TESTS:
            publish_folder(session, DATA / name, now=START)
        bpmn_dir = Path(os.environ.get("SHOUHU_BPMN_DIR") or Path(__file__).resolve().parent.parent / "bpmn")
        registry.sync_bundled(session, bpmn_dir=bpmn_dir, now=START)
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def session(db_engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test (services never commit)."""
    connection = db_engine.connect()
    outer = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False, autoflush=False
    )
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()
