"""Case numbers under concurrency on PostgreSQL: cases started at once in one county get distinct,
consecutive numbers (the counter row is bumped in each starting transaction and locked until commit)."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.conftest import START
from tests.tasks.conftest import VILLAGE, add_places_and_people
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
                    cases.start_case(
                        session=session,
                        clock=FixedClock(START),
                        actor=SYSTEM,
                        process_key="review_demo",
                        data={"child_name": "小明"},
                        jurisdiction_code=VILLAGE,
                    )
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
