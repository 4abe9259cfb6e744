"""The append-only case log: canonical JSON, one sha256 hash chain per case (checked in chaincheck)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.infra.clock import iso_utc
from workflows.infra.models import CaseEvent

GENESIS = "0" * 64


# One encoder, built once (json.dumps with options builds a new one per call); the C encoder does the work.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode


def canonical(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8, no NaN."""
    return _CANONICAL(value).encode("utf-8")


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
    return _hash(case_id, seq, type, actor, iso_utc(occurred_at), payload, prev_hash)


# The C encoder JSONEncoder.encode builds on every call, built once with the same settings (no check for
# circular references: the values come from JSON). Same bytes as ``canonical``.
_C_CANONICAL = c_make_encoder(
    None, json.JSONEncoder().default, encode_basestring, None, ":", ",", True, False, False
)


def _hash(case_id: str, seq: int, type: str, actor: str, at: str, payload: Any, prev_hash: str) -> str:
    """``event_hash`` with the instant already in its textual form."""
    return _hash_body(
        case_id, seq, type, actor, at, "".join(_C_CANONICAL(payload, 0)).encode("utf-8"), prev_hash
    )


def _hash_body(case_id: str, seq: int, type: str, actor: str, at: str, payload: bytes, prev_hash: str) -> str:
    """sha256 of the canonical JSON of the body, written out field by field in sorted key order (the same
    bytes as encoding the whole object), ``payload`` already in canonical JSON."""
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise TypeError("seq must be an integer")
    esc = encode_basestring
    digest = hashlib.sha256(
        f'{{"actor":{esc(actor)},"case_id":{esc(case_id)},"occurred_at":{esc(at)},"payload":'.encode()
    )
    digest.update(payload)
    digest.update(f',"prev_hash":{esc(prev_hash)},"seq":{int.__repr__(seq)},"type":{esc(type)}}}'.encode())
    return digest.hexdigest()


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


# Every key each event type may carry (docs/architecture.md): verify refuses any other, so a field replay
# never reads cannot be slipped into a rewritten chain.
EVENT_KEYS: dict[str, frozenset[str]] = {
    k: frozenset(v.split())
    for k, v in {
        "case_started": "process_key version data jurisdiction_code child_ref parent_case_id business_key case_no digest",
        "task_completed": "task_id bpmn_id data digest",
        "timer_fired": "fired digest",
        "message_received": "name payload digest",
        "message_sent": "name payload target_case_id",
        "data_corrected": "changes previous reason digest",
        "task_claimed": "task_id bpmn_id",
        "task_unclaimed": "task_id bpmn_id",
        "task_handed_over": "task_id from to",
        "case_completed": "digest",
        "case_migrated": "from_version to_version changed kept_task_ids note digest",
        "child_linked": "child_ref previous",
        "document_issued": "document_id kind title sha256 pdf_sha256",
        "attachment_added": "attachment_id kind filename content_type size sha256",
    }.items()
}


def payload_problem(seq: int, etype: str, payload: Any) -> str | None:
    """Why an event's type or payload keys are not ones the log ever writes, or None."""
    allowed = EVENT_KEYS.get(etype)
    if allowed is None:
        return f"事件 #{seq} 的类型 {etype} 不是日志会写入的类型"
    unknown = sorted(set(payload) - allowed) if isinstance(payload, dict) else ["（不是对象）"]
    if unknown:
        return f"事件 #{seq}（{etype}）含有日志不会写入的字段：{'、'.join(unknown)[:200]}"
    return None
