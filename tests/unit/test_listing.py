"""Work lists read by index in due order: keyset pages never skip or repeat a row, counts are bounded,
every place level finds its tasks through its own stored prefix, and the plan needs no sort."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tests.unit.test_services import DIRECTOR, NEIGHBOUR, POLICE, SUPERVISOR, start
from workflows.cases import human_tasks, listing, worklist
from workflows.infra.clock import FixedClock
from workflows.infra.errors import ValidationFailed
from workflows.infra.models import HumanTask
from workflows.infra.queueing import queue_instant
from workflows.people.access import Actor

COUNTY = Actor("county_director", frozenset({"village_director"}), "500111")
OTHER_COUNTY = Actor("other_director", frozenset({"village_director"}), "500112")
CITY = Actor("city_director", frozenset({"village_director"}), "5001")


def _many(session: Session, clock: FixedClock, n: int) -> None:
    """``n`` cases, in groups started at the same instant (equal due times: the id breaks the tie)."""
    for i in range(n):
        if i % 4 == 0:
            clock.advance(minutes=-7)
        start(session, clock)


def _all_pages(session: Session, actor: Actor, limit: int) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        page = human_tasks.list_tasks(session=session, actor=actor, limit=limit, after=after)
        seen.extend(t.id for t in page.items)
        if page.next is None:
            return seen
        after = page.next


def test_keyset_pages_neither_skip_nor_repeat_a_row(session: Session, clock: FixedClock) -> None:
    _many(session, clock, 23)
    whole = [t.id for t in human_tasks.list_tasks(session=session, actor=DIRECTOR, limit=200).items]
    assert len(whole) == 23
    for limit in (1, 4, 7, 23):
        assert _all_pages(session, DIRECTOR, limit) == whole
    by_offset = [
        t.id
        for offset in range(0, 23, 5)
        for t in human_tasks.list_tasks(session=session, actor=DIRECTOR, limit=5, offset=offset).items
    ]
    assert by_offset == whole  # offset paging still works for the pages that use it


def test_a_row_done_between_two_pages_moves_nothing_else(session: Session, clock: FixedClock) -> None:
    _many(session, clock, 9)
    first = human_tasks.list_tasks(session=session, actor=DIRECTOR, limit=4)
    human_tasks.complete(
        session=session, clock=clock, actor=DIRECTOR, task_id=first.items[0].id, data={"score": 60}
    )
    rest = human_tasks.list_tasks(session=session, actor=DIRECTOR, limit=200, after=first.next)
    now = [t.id for t in human_tasks.list_tasks(session=session, actor=DIRECTOR, limit=200).items]
    assert [t.id for t in rest.items] == [tid for tid in now if tid not in {t.id for t in first.items}]


def test_the_order_is_due_time_then_id_and_undated_tasks_come_last(
    session: Session, clock: FixedClock
) -> None:
    _many(session, clock, 8)
    items = human_tasks.list_tasks(session=session, actor=DIRECTOR, limit=200).items
    assert [(t.queue_at, t.id) for t in items] == sorted((t.queue_at, t.id) for t in items)
    assert all(t.queue_at == t.due_at for t in items if t.due_at is not None)
    created = clock.now()
    assert queue_instant(None, created) > queue_instant(created + timedelta(days=3650), created)


def test_a_broken_cursor_is_refused_in_chinese(session: Session) -> None:
    with pytest.raises(ValidationFailed, match="翻页位置无效"):
        human_tasks.list_tasks(session=session, actor=DIRECTOR, after="not-a-cursor")


def test_the_count_stops_at_the_cap(
    session: Session, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _many(session, clock, 7)
    monkeypatch.setattr(listing, "COUNT_CAP", 5)
    monkeypatch.setattr(human_tasks, "COUNT_CAP", 5)
    page = human_tasks.list_tasks(session=session, actor=DIRECTOR, limit=3)
    assert (page.total, page.more, len(page.items)) == (5, True, 3)
    _, total = worklist.worklist(session=session, clock=clock, actor=DIRECTOR)
    assert total == 6  # the page shows "5+"
    monkeypatch.setattr(listing, "COUNT_CAP", 1000)
    monkeypatch.setattr(human_tasks, "COUNT_CAP", 1000)
    page = human_tasks.list_tasks(session=session, actor=DIRECTOR, limit=3)
    assert (page.total, page.more) == (7, False)


def test_each_place_level_finds_the_village_tasks_below_it(session: Session, clock: FixedClock) -> None:
    start(session, clock)
    [task] = human_tasks.list_tasks(session=session, actor=DIRECTOR).items
    assert (task.city_code, task.county_code, task.township_code) == ("5001", "500111", "500111101")
    for actor in (
        DIRECTOR,
        SUPERVISOR.__class__("t", frozenset({"village_director"}), "500111101"),
        COUNTY,
        CITY,
    ):
        assert [t.id for t in human_tasks.list_tasks(session=session, actor=actor).items] == [task.id]
    for actor in (NEIGHBOUR, OTHER_COUNTY, POLICE):
        assert human_tasks.list_tasks(session=session, actor=actor).total == 0


def _plan(session: Session, actor: Actor) -> str:
    branches = human_tasks.work_branches(session, actor)
    assert branches is not None and len(branches) == 1
    cond = branches[0].condition() & human_tasks.work_filter(actor)
    stmt = select(HumanTask).where(cond).order_by(*listing.ORDER).limit(20)
    compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    return " | ".join(str(row[-1]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))


@pytest.mark.parametrize(
    ("actor", "index"),
    [(DIRECTOR, "ix_human_tasks_ready_village"), (COUNTY, "ix_human_tasks_ready_county")],
    ids=["village", "county"],
)
def test_a_list_is_one_index_range_in_order(session: Session, actor: Actor, index: str) -> None:
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the PostgreSQL plans are checked by bench worklist")
    plan = _plan(session, actor)
    assert index in plan and "TEMP B-TREE" not in plan, plan


def test_the_overview_counts_overdue_tasks_by_village(session: Session, clock: FixedClock) -> None:
    for _ in range(3):
        start(session, clock)
    clock.advance(days=400)
    supervisor = Actor("supervisor", frozenset({"township_supervisor"}), "500111101")
    rows = {r.code: r for r in worklist.overview(session=session, clock=clock, actor=supervisor).rows}
    assert rows["500111101201"].overdue_tasks + rows["500111101201"].overdue_visits == 3
