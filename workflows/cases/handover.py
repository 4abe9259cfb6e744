"""Staff changes: a leaving or deactivated worker's claimed tasks go back to the pool or to a successor, and the
onboarding process's messages (a worker certified, a worker left) act on the named accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.cases import messages
from workflows.cases.actions import record
from workflows.infra.clock import Clock, FixedClock
from workflows.infra.errors import ModelError, NotFound, ValidationFailed
from workflows.infra.models import Case, HumanTask, User
from workflows.log.events import NewEvent
from workflows.people import accounts
from workflows.people.access import Actor


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
        at = record(session, case_id=task.case_id, now=now, items=events)
        task.assignee, task.claimed_at = successor, (at if successor else None)
    session.flush()
    return [t.id for t in tasks]


def change_account(
    *, session: Session, clock: Clock, actor: Actor, user_id: int, change: accounts.UserChange
) -> User:
    """Change an account; a deactivated worker's claimed tasks go back to the pool at once."""
    user = accounts.update_user(session=session, clock=clock, actor=actor, user_id=user_id, change=change)
    if change.active is False:
        release_tasks(session=session, now=clock.now(), username=user.username)
    return user


def hand_over(
    *, session: Session, clock: Clock, actor: Actor, user_id: int, successor: str | None
) -> list[str]:
    """Move a worker's claimed tasks to a successor (same roles, inside the administrator's jurisdiction)."""
    user = accounts.get_user(session=session, actor=actor, user_id=user_id)
    if successor:
        heir = session.scalar(select(User).where(User.username == successor))
        if heir is None or not heir.active or not actor.sees(heir.jurisdiction_code):
            raise NotFound(f"找不到接替人账号 {successor}", code="successor_not_found")
        if not set(user.roles) & set(heir.roles):
            raise ValidationFailed("接替人须具有相同的角色", code="successor_role_mismatch")
    moved = release_tasks(session=session, now=clock.now(), username=user.username, successor=successor)
    accounts.record_event(
        session, clock, actor, user, "tasks_handed_over", {"successor": successor, "tasks": moved}
    )
    session.flush()
    return moved


# --- what an onboarding case tells the system (message effects owned here) ---------------------------
def _worker_of_case(session: Session, source: Case, username: Any, post: Any = None) -> User:
    """The account an onboarding case names: it must lie in the case's place and hold the post's role."""
    user = session.scalar(select(User).where(User.username == str(username)))
    if user is None or not user.jurisdiction_code.startswith(source.jurisdiction_code):
        raise ModelError(f"案件登记的账号 {username} 不存在或不在本案件辖区内", code="worker_outside_case")
    if post and post not in user.roles:
        raise ModelError(f"账号 {username} 没有该岗位的角色", code="worker_role_mismatch")
    return user


@messages.handler("worker_certified")
def _worker_certified(session: Session, now: datetime, source: Case, payload: Any) -> None:
    user = _worker_of_case(session, source, payload.get("username"), payload.get("post"))
    accounts.set_certified(
        session=session,
        clock=FixedClock(now),
        username=user.username,
        certified=True,
        certificate_no=payload.get("certificate_no"),
    )


@messages.handler("worker_left")
def _worker_left(session: Session, now: datetime, source: Case, payload: Any) -> None:
    user = _worker_of_case(session, source, payload.get("username"))
    successor = payload.get("successor")
    if successor:  # a successor must be able to work the same tasks there; otherwise they go back to the pool
        try:
            heir = _worker_of_case(session, source, successor)
            successor = heir.username if heir.active and set(heir.roles) & set(user.roles) else None
        except ModelError:
            successor = None
    accounts.set_certified(session=session, clock=FixedClock(now), username=user.username, certified=False)
    release_tasks(session=session, now=now, username=user.username, successor=successor)
