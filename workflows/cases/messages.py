"""Messages a case throws for the rest of the system: start a linked case, or tell a service."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from workflows.engine import CaseRun, Message
from workflows.infra.clock import FixedClock
from workflows.infra.errors import ModelError
from workflows.infra.models import Case
from workflows.log.events import NewEvent

START_PREFIX = "start:"
Handler = Callable[[Session, datetime, Case, Any], None]
HANDLERS: dict[str, Handler] = {}


@dataclass
class Planned:
    message: Message
    target_case_id: str | None


def handler(name: str) -> Callable[[Handler], Handler]:
    """Register what the system does when a case throws the message ``name``."""

    def wrap(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return wrap


def plan(run: CaseRun) -> tuple[list[Planned], list[NewEvent]]:
    """Take the run's thrown messages; give each linked case its id now so both logs can name it."""
    planned = []
    for message in run.take_messages():
        target = str(uuid.uuid4()) if message.name.startswith(START_PREFIX) else None
        planned.append(Planned(message, target))
    events = [
        NewEvent(
            "message_sent",
            "system",
            {"name": p.message.name, "payload": p.message.payload, "target_case_id": p.target_case_id},
        )
        for p in planned
    ]
    return planned, events


def dispatch(session: Session, now: datetime, source: Case, planned: list[Planned]) -> None:
    """Carry out planned messages in the same transaction as the action that threw them."""
    from workflows.cases import (
        lifecycle as cases,  # a started case may itself throw: cases → actions → messages
    )

    for item in planned:
        name, payload = item.message.name, item.message.payload
        if name.startswith(START_PREFIX):
            if not isinstance(payload, dict):
                raise ModelError(f"消息 {name} 的内容必须是表单数据（字典）", code="message_payload_invalid")
            cases.start_case(
                session=session,
                clock=FixedClock(now),
                actor=_system(),
                case_id=item.target_case_id,
                process_key=name[len(START_PREFIX) :],
                data=payload,
                jurisdiction_code=source.jurisdiction_code,
                child_ref=source.child_ref,
                parent_case_id=source.id,
            )
        elif name in HANDLERS:
            HANDLERS[name](session, now, source, payload)


def _system() -> Any:
    from workflows.people.access import SYSTEM

    return SYSTEM


def _worker_of_case(session: Session, source: Case, username: Any, post: Any = None) -> Any:
    """The account an onboarding case names: it must lie in the case's place and hold the post's role."""
    from sqlalchemy import select

    from workflows.infra.models import User

    user = session.scalar(select(User).where(User.username == str(username)))
    if user is None or not user.jurisdiction_code.startswith(source.jurisdiction_code):
        raise ModelError(f"案件登记的账号 {username} 不存在或不在本案件辖区内", code="worker_outside_case")
    if post and post not in user.roles:
        raise ModelError(f"账号 {username} 没有该岗位的角色", code="worker_role_mismatch")
    return user


@handler("worker_certified")
def _worker_certified(session: Session, now: datetime, source: Case, payload: Any) -> None:
    from workflows.people import accounts

    user = _worker_of_case(session, source, payload.get("username"), payload.get("post"))
    accounts.set_certified(
        session=session,
        clock=FixedClock(now),
        username=user.username,
        certified=True,
        certificate_no=payload.get("certificate_no"),
    )


@handler("child_file_approved")
def _child_file_approved(session: Session, now: datetime, source: Case, payload: Any) -> None:
    from workflows.children import registry as children

    if not isinstance(payload, dict):
        raise ModelError(
            "消息 child_file_approved 的内容必须是档案数据（字典）", code="message_payload_invalid"
        )
    children.record_approved_file(session=session, clock=FixedClock(now), case=source, payload=payload)


@handler("worker_left")
def _worker_left(session: Session, now: datetime, source: Case, payload: Any) -> None:
    from workflows.cases import handover
    from workflows.people import accounts

    user = _worker_of_case(session, source, payload.get("username"))
    successor = payload.get("successor")
    if successor:  # a successor must be able to work the same tasks there; otherwise they go back to the pool
        try:
            heir = _worker_of_case(session, source, successor)
            successor = heir.username if heir.active and set(heir.roles) & set(user.roles) else None
        except ModelError:
            successor = None
    accounts.set_certified(session=session, clock=FixedClock(now), username=user.username, certified=False)
    handover.release_tasks(session=session, now=now, username=user.username, successor=successor)
