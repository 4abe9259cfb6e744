"""The append-only case log: canonical JSON, one sha256 hash chain per case."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.infra.clock import iso_utc
from workflows.infra.models import Case, CaseEvent

GENESIS = "0" * 64


def canonical(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def event_hash(
    *,
    case_id: str,
    seq: int,
    type: str,
    actor: str,
    occurred_at: datetime,
    payload: dict[str, Any],
    prev_hash: str,
) -> str:
    """sha256 over the canonical JSON of every field of the event and the previous hash."""
    body = {
        "case_id": case_id,
        "seq": seq,
        "type": type,
        "actor": actor,
        "occurred_at": iso_utc(occurred_at),
        "payload": payload,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical(body)).hexdigest()


@dataclass
class NewEvent:
    type: str
    actor: str
    payload: dict[str, Any]


def chain(
    case_id: str, *, last_seq: int, last_hash: str, now: datetime, items: list[NewEvent]
) -> list[CaseEvent]:
    """Link new events onto a case's chain (pure: the caller writes them with the state)."""
    events = []
    for item in items:
        payload = json.loads(canonical(item.payload))
        last_seq += 1
        digest = event_hash(
            case_id=case_id,
            seq=last_seq,
            type=item.type,
            actor=item.actor,
            occurred_at=now,
            payload=payload,
            prev_hash=last_hash,
        )
        events.append(
            CaseEvent(
                case_id=case_id,
                seq=last_seq,
                type=item.type,
                actor=item.actor,
                occurred_at=now,
                payload=payload,
                prev_hash=last_hash,
                hash=digest,
            )
        )
        last_hash = digest
    return events


def events_of(session: Session, case_id: str) -> list[CaseEvent]:
    """A case's events in order."""
    return list(
        session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq))
    )


@dataclass
class ChainProblem:
    seq: int
    reason: str


def check_chain(case: Case, events: list[CaseEvent]) -> ChainProblem | None:
    """The first break in a case's chain: a gap, a changed event, or a missing tail."""
    prev = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            return ChainProblem(expected_seq, f"事件 #{expected_seq} 缺失（序号不连续）")
        if event.prev_hash != prev:
            return ChainProblem(event.seq, f"事件 #{event.seq} 的前序哈希与上一事件不符")
        recomputed = event_hash(
            case_id=case.id,
            seq=event.seq,
            type=event.type,
            actor=event.actor,
            occurred_at=event.occurred_at,
            payload=event.payload,
            prev_hash=event.prev_hash,
        )
        if recomputed != event.hash:
            return ChainProblem(event.seq, f"事件 #{event.seq}（{event.type}）的内容被改动：哈希不符")
        prev = event.hash
    if case.last_event_seq != len(events) or case.last_event_hash != prev:
        return ChainProblem(
            len(events) + 1,
            f"事件 #{len(events) + 1} 起的日志缺失：案件记录的最后事件为 #{case.last_event_seq}",
        )
    return None
