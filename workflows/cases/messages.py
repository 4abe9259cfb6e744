"""Messages a case throws for the rest of the system: start a linked case, or tell a service.

This module is the contract, not the implementations: it plans thrown messages and carries them out through
handlers that the package owning each effect registers — starting a linked case (``cases.lifecycle``), a worker
certified or leaving (``cases.handover``), an approved child's file (``children.registry``). Nothing here reaches
up to those packages; ``workflows.ops.wiring.install()`` imports them so their handlers are in place. A system
effect whose handler is missing fails the action loudly instead of being skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from workflows.engine import CaseRun, Message
from workflows.infra.errors import ModelError
from workflows.infra.models import Case
from workflows.log.events import NewEvent

START_PREFIX = "start:"
# The effects the system offers to models; each must have a handler registered by its owner.
SYSTEM_EFFECTS = frozenset({"worker_certified", "worker_left", "child_file_approved"})
Handler = Callable[[Session, datetime, Case, Any], None]
Starter = Callable[[Session, datetime, Case, str, str, Any], None]
HANDLERS: dict[str, Handler] = {}
_starters: list[Starter] = []


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


def starter(fn: Starter) -> Starter:
    """Register how a ``start:<process>`` message opens the linked case (the case package's own service)."""
    _starters[:] = [fn]
    return fn


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
    for item in planned:
        name, payload = item.message.name, item.message.payload
        if name.startswith(START_PREFIX):
            if not _starters:
                raise ModelError(f"系统未登记消息 {name} 的处理程序", code="message_handler_missing")
            if not isinstance(payload, dict):
                raise ModelError(f"消息 {name} 的内容必须是表单数据（字典）", code="message_payload_invalid")
            _starters[0](session, now, source, str(item.target_case_id), name[len(START_PREFIX) :], payload)
        elif name in HANDLERS:
            HANDLERS[name](session, now, source, payload)
        elif name in SYSTEM_EFFECTS:
            raise ModelError(f"系统未登记消息 {name} 的处理程序", code="message_handler_missing")


def has_starter() -> bool:
    """Whether ``start:<process>`` messages can be carried out (``cases.lifecycle`` registers it)."""
    return bool(_starters)
