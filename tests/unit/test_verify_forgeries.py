"""Forgeries verify must catch even when every hash is recomputed: time going backwards, payload keys the
log never writes, and a finished task's row (who held it, its deadline, when it was finished) changed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.unit.test_verify import check, finished_case
from workflows.infra.clock import FixedClock
from workflows.infra.models import Case, CaseEvent, HumanTask
from workflows.log.events import event_hash


def rewrite(session: Session, case: Case, change: Callable[[CaseEvent], dict[str, Any]]) -> None:
    """Apply ``change`` to events and recompute the whole chain, as a forger with database access would."""
    events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
    ).all()
    prev = "0" * 64
    for event in events:
        values = {"payload": event.payload, "occurred_at": event.occurred_at, **change(event)}
        new_hash = event_hash(
            case_id=case.id,
            seq=event.seq,
            type=event.type,
            actor=event.actor,
            occurred_at=values["occurred_at"],
            payload=values["payload"],
            prev_hash=prev,
        )
        session.execute(
            update(CaseEvent).where(CaseEvent.id == event.id).values(**values, prev_hash=prev, hash=new_hash)
        )
        prev = new_hash
    session.execute(update(Case).where(Case.id == case.id).values(last_event_hash=prev))


def test_the_untouched_case_verifies(session: Session, clock: FixedClock) -> None:
    case = finished_case(session, clock)
    rewrite(session, case, lambda e: {})
    assert check(session, case).ok


def test_event_times_going_backwards_are_caught(session: Session, clock: FixedClock) -> None:
    case = finished_case(session, clock)
    first = session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.seq == 1))
    early = first.occurred_at - timedelta(days=3)
    rewrite(session, case, lambda e: {"occurred_at": early} if e.seq == 3 else {})
    report = check(session, case)
    assert not report.ok and report.seq == 3 and "时间不能倒退" in report.problem


@pytest.mark.parametrize("event_type", ["task_completed", "case_started", "timer_fired", "task_claimed"])
def test_payload_keys_replay_does_not_read_are_caught(
    session: Session, clock: FixedClock, event_type: str
) -> None:
    case = finished_case(session, clock)
    target = session.scalars(
        select(CaseEvent.seq).where(CaseEvent.case_id == case.id, CaseEvent.type == event_type)
    ).first()
    assert target is not None
    rewrite(
        session, case, lambda e: {"payload": {**e.payload, "approved_by": "局长"}} if e.seq == target else {}
    )
    report = check(session, case)
    assert not report.ok and report.seq == target and "approved_by" in report.problem


@pytest.mark.parametrize(
    "change",
    [
        {"assignee": "intruder"},
        {"due_at_shift": timedelta(days=2)},
        {"completed_at_shift": timedelta(hours=-1)},
    ],
)
def test_a_finished_task_row_changed_is_caught(
    session: Session, clock: FixedClock, change: dict[str, Any]
) -> None:
    case = finished_case(session, clock)
    row = session.scalars(
        select(HumanTask).where(
            HumanTask.case_id == case.id, HumanTask.status == "completed", HumanTask.bpmn_id == "intake"
        )
    ).one()
    values: dict[str, Any] = {}
    if "assignee" in change:
        values["assignee"] = change["assignee"]
    if "due_at_shift" in change:
        values["due_at"] = (row.due_at or row.created_at) + change["due_at_shift"]
    if "completed_at_shift" in change:
        values["completed_at"] = row.completed_at + change["completed_at_shift"]
    session.execute(update(HumanTask).where(HumanTask.id == row.id).values(**values))
    report = check(session, case)
    assert not report.ok and "human_tasks_completed" in str(report.details) + report.problem, report
