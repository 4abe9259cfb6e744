"""One real Prefect run of the flows (a temporary Prefect server, started once for the session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tasks.runtime import Runtime, use
from tests.conftest import START
from tests.support.models import DATA, publish_folder
from workflows.cases import human_tasks
from workflows.cases import lifecycle as cases
from workflows.infra.clock import FixedClock
from workflows.infra.db import create_all, make_engine, make_sessionmaker
from workflows.infra.models import CaseEvent, HumanTask, InboxItem
from workflows.infra.settings import Settings
from workflows.people.access import SYSTEM


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_flows_run_for_real_under_prefect(prefect_harness: None, tmp_path: Path) -> None:
    from tasks.flows import deliver_notifications, scan_due_tasks, timer_sweep

    engine = make_engine(f"sqlite:///{tmp_path / 'flows.db'}")
    create_all(engine)
    clock = FixedClock(START)
    with Session(engine) as session:
        publish_folder(session, DATA / "review_demo", now=START)
        case = cases.start_case(
            session=session,
            clock=clock,
            actor=SYSTEM,
            process_key="review_demo",
            data={"child_name": "小明"},
            jurisdiction_code="440103001001",
        ).case
        task = session.scalar(select(HumanTask).where(HumanTask.case_id == case.id))
        human_tasks.complete(session=session, clock=clock, actor=SYSTEM, task_id=task.id, data={"score": 99})
        session.commit()
    clock.advance(hours=25)
    runtime = Runtime(make_sessionmaker(engine), clock, Settings(demo=True, database_url="sqlite://"))
    with use(runtime):
        state = timer_sweep(return_state=True)
        assert state.is_completed() and state.result(_sync=True)["fired"] == 1
        assert scan_due_tasks(return_state=True).is_completed()
        delivered = deliver_notifications()
    assert delivered["messages"] >= 3  # intake, two checks, the escalation
    with Session(engine) as session:
        fired = session.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.type == "timer_fired")
        )
        assert fired == 1
        assert (
            session.scalar(select(func.count()).select_from(InboxItem)) == 0
        )  # nobody works there in this db
    engine.dispose()
