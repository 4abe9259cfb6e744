"""The supervisor's overview is counted from a case's colour column and the stored place prefixes: the same
figures as counting every row, at every level, as colours change and cases close; each count is one index
range (no scan of the cases, no sort); the migration fills the columns of the cases already there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tests.support import overview_data
from workflows.cases import worklist
from workflows.infra.clock import FixedClock
from workflows.infra.db import make_engine
from workflows.infra.models import Case, HumanTask
from workflows.infra.overview_columns import risk_colour

LEVELS = {
    "township": "500111101",
    "county": "500111",
    "city": "5001",
    "province": "50",
    "other province": "44",
}


def assert_same_as_recount(session: Session, clock: FixedClock) -> None:
    for code in LEVELS.values():
        board = worklist.overview(session=session, clock=clock, actor=overview_data.supervisor(code))
        assert overview_data.shown(board) == overview_data.recount(session, code, clock.now()), code


def test_the_overview_equals_a_recount_of_every_row(session: Session, clock: FixedClock) -> None:
    ids = overview_data.build(session, clock)
    session.flush()
    rows = {r.id: r for r in session.execute(select(Case.id, Case.status, Case.risk_colour, Case.data))}
    assert rows[ids["changed"]].risk_colour == "yellow" and rows[ids["changed"]].status == "running"
    assert rows[ids["closed"]].status == "completed" and rows[ids["red"]].status == "completed"
    assert {r.risk_colour for r in rows.values()} == {"red", "yellow", "blue", "green", None}
    for row in rows.values():
        assert row.risk_colour == risk_colour(row.data)
    for days in (0, 40, 400):  # none, some and all of the visits overdue
        clock.advance(days=days)
        assert_same_as_recount(session, clock)
    county = worklist.overview(session=session, clock=clock, actor=overview_data.supervisor("500111"))
    assert {r.code for r in county.rows if r.running} == set(overview_data.VILLAGES[:3])
    assert county.has_visits and sum(r.overdue_visits for r in county.rows) > 0


def test_the_colour_column_follows_the_data_of_every_action(session: Session, clock: FixedClock) -> None:
    case = overview_data.start_tracking(session, clock, overview_data.VILLAGES[0], "green", "child-g")
    stored = select(Case.risk_colour, Case.city_code, Case.county_code, Case.township_code)
    assert session.execute(stored.where(Case.id == case.id)).one() == ("green", "5001", "500111", "500111101")
    overview_data.visit(session, clock, case, ["orphan"], "continue")
    assert session.scalar(select(Case.risk_colour).where(Case.id == case.id)) == "blue"
    overview_data.visit(session, clock, case, ["orphan"], "turned_18")
    assert session.execute(select(Case.status, Case.risk_colour).where(Case.id == case.id)).one() == (
        "completed",
        "blue",
    )


@pytest.mark.parametrize(
    "value",
    [{"risk_colour": "red"}, {"risk_colour": "purple"}, {"risk_colour": 3}, {}, {"risk_colour": None}],
)
def test_only_the_four_colours_are_a_colour(value: dict[str, object]) -> None:
    assert risk_colour(value) == (value.get("risk_colour") if value.get("risk_colour") == "red" else None)


def _plan(session: Session, stmt: Any) -> str:
    compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    return " | ".join(str(row[-1]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))


@pytest.mark.parametrize("level", ["township", "county", "city"])
def test_each_count_is_one_index_range_without_a_sort(
    session: Session, clock: FixedClock, level: str
) -> None:
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the PostgreSQL plans are checked in tests/integration")
    prefix = LEVELS[level]
    cases = _plan(session, worklist.running_counts(prefix))
    tasks = _plan(session, worklist.overdue_counts(prefix, clock.now()))
    assert "SEARCH place_case_counts USING COVERING INDEX ix_place_case_counts_places" in cases, cases
    assert "SEARCH human_tasks USING COVERING INDEX ix_human_tasks_ready_places" in tasks, tasks
    for plan in (cases, tasks):
        assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan


def test_the_migration_fills_the_columns_of_existing_cases(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    overview_data.upgrade(engine, url, "0009")
    overview_data.fill_old_rows(engine)
    overview_data.upgrade(engine, url, "head")
    overview_data.check_filled(engine)
    engine.dispose()


def test_a_cases_open_tasks_are_one_index_range_of_case_and_status(session: Session) -> None:
    """Not ix_human_tasks_due (status first), which SQLite without statistics may take for a single equality."""
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("a SQLite plan")
    stmt = select(HumanTask).where(HumanTask.case_id == "c", HumanTask.status == "ready")
    assert "ix_human_tasks_case_id (case_id=? AND status=?)" in _plan(session, stmt)
