"""Case numbers under concurrency on PostgreSQL: cases started at once in one county get distinct,
consecutive numbers (the counter row is bumped in each starting transaction and locked until commit)."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.conftest import START
from tests.tasks.conftest import VILLAGE, add_places_and_people, start_village_cases
from workflows.cases import lifecycle as cases
from workflows.infra.clock import FixedClock
from workflows.infra.models import Case
from workflows.people.access import SYSTEM

THREADS, EACH = 4, 5


def test_concurrent_starts_get_distinct_consecutive_numbers(pg: Engine) -> None:
    with Session(pg) as session:
        add_places_and_people(session, START)
        session.commit()
    barrier, failures = threading.Barrier(THREADS), []

    def start_some() -> None:
        barrier.wait(timeout=30)
        try:
            for _ in range(EACH):
                with Session(pg) as session:
                    start_village_cases(session, START, 1)
                    session.commit()
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=start_some) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    with Session(pg) as session:
        numbers = sorted(session.scalars(select(Case.case_no)))
    year = START.year
    assert numbers == [f"荔湾-{year}-{n:06d}" for n in range(1, THREADS * EACH + 1)]


def test_finding_cases_by_number_and_name_on_postgresql(pg: Engine) -> None:
    from workflows.cases.search import CaseQuery, find_cases
    from workflows.people.access import Actor

    with Session(pg) as session:
        add_places_and_people(session, START)
        made = [
            cases.start_case(
                session=session,
                clock=FixedClock(START),
                actor=SYSTEM,
                process_key="review_demo",
                data={"child_name": name},
                jurisdiction_code=VILLAGE,
            ).case
            for name in ("王小明", "李红")
        ]
        director = Actor("gz_director", frozenset({"village_director"}), VILLAGE, True, "测试")

        def found(text: str, colour: str = "") -> list[str]:
            rows, _ = find_cases(
                session=session,
                clock=FixedClock(START),
                actor=director,
                query=CaseQuery(text=text, colour=colour),
                endpoint="test",
            )
            return [r.case_no for r in rows]

        assert found(made[0].case_no[-6:]) == [made[0].case_no]
        assert found("李红") == [made[1].case_no] and found("小明") == [made[0].case_no]
        assert sorted(found("", colour="none")) == sorted(c.case_no for c in made)
        session.rollback()
