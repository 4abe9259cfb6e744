"""Hand-over when staff change: a leaving worker's claimed tasks go back to the pool or to a successor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.cases.actions import act
from workflows.infra.models import HumanTask
from workflows.log.events import NewEvent


def _emit(events: list[NewEvent]) -> Callable[[Any, Any], list[NewEvent]]:
    return lambda case, run: events


def release_tasks(
    *, session: Session, now: datetime, username: str, successor: str | None = None
) -> list[str]:
    """Unclaim (or reassign to ``successor``) every open task claimed by ``username``, logged per case."""
    tasks = list(
        session.scalars(select(HumanTask).where(HumanTask.assignee == username, HumanTask.status == "ready"))
    )
    etype = "task_claimed" if successor else "task_unclaimed"
    holder = successor or "system"
    for task in tasks:
        events = [
            NewEvent("task_handed_over", "system", {"task_id": task.id, "from": username, "to": successor}),
            NewEvent(etype, holder, {"task_id": task.id, "bpmn_id": task.bpmn_id}),
        ]
        act(session, case_id=task.case_id, now=now, actor="system", step=_emit(events), fire_due=False)
        task.assignee, task.claimed_at = successor, (now if successor else None)
    session.flush()
    return [t.id for t in tasks]
