"""The supervisor's overview on PostgreSQL: the same figures as a recount of every row, both counts served
by their partial indexes (never a sequential scan of the cases), and migration 0010 filling existing rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, NullPool, text
from sqlalchemy.orm import Session

from tests.conftest import START
from tests.integration.conftest import REPO, _with_search_path, pg_url
from tests.support import overview_data
from tests.support.models import publish_folder
from workflows.cases import worklist
from workflows.infra.clock import FixedClock
from workflows.infra.db import make_engine


@pytest.fixture
def tracked(pg: Engine) -> Engine:
    with Session(pg) as session:
        publish_folder(session, REPO / "bpmn" / "risk_visits", now=START)
        session.commit()
    return pg


def test_the_overview_equals_a_recount_on_postgresql(tracked: Engine) -> None:
    clock = FixedClock(START)
    with Session(tracked) as session:
        overview_data.build(session, clock)
        session.commit()
        for days in (0, 40, 400):
            clock.advance(days=days)
            for code in ("500111101", "500111", "5001", "50", "44"):
                board = worklist.overview(session=session, clock=clock, actor=overview_data.supervisor(code))
                assert overview_data.shown(board) == overview_data.recount(session, code, clock.now()), code


def _plan(conn: object, stmt: object) -> str:
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})  # type: ignore[attr-defined]
    return "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {compiled}")))  # type: ignore[attr-defined]


@pytest.mark.parametrize("prefix", ["500111101", "500111", "5001"])
def test_each_count_can_be_served_by_its_index(pg: Engine, prefix: str) -> None:
    """On tables this small the planner prefers a scan; with scans priced out, each count uses its index."""
    with pg.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        cases = _plan(conn, worklist.running_counts(prefix))
        tasks = _plan(conn, worklist.overdue_counts(prefix, START))
    assert "ix_place_case_counts_places" in cases and "Seq Scan" not in cases, cases
    assert "ix_human_tasks_ready_places" in tasks and "Seq Scan" not in tasks, tasks


@pytest.fixture
def empty_schema() -> Iterator[tuple[Engine, str]]:
    url = pg_url()
    if not url:
        pytest.skip("no local PostgreSQL")
    admin = make_engine(url, poolclass=NullPool)
    schema = f"m_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    scoped = _with_search_path(url, schema)
    engine = make_engine(scoped, poolclass=NullPool)
    try:
        yield engine, scoped
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_the_migration_fills_the_columns_on_postgresql(empty_schema: tuple[Engine, str]) -> None:
    engine, url = empty_schema
    overview_data.upgrade(engine, url, "0009")
    overview_data.fill_old_rows(engine)
    overview_data.upgrade(engine, url, "head")
    overview_data.check_filled(engine)
