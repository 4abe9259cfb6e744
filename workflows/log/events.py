"""The append-only case log: canonical JSON, one sha256 hash chain per case."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

import orjson
from sqlalchemy import String, Text, bindparam, cast, select, type_coerce
from sqlalchemy.orm import Session

from workflows.infra.clock import iso_utc
from workflows.infra.models import Case, CaseEvent

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


@dataclass
class ChainProblem:
    seq: int
    reason: str


def check_case_chain(session: Session, case: Case) -> tuple[ChainProblem | None, int]:
    """Read and check a case's chain without building an object per event; (first break, events read).

    Only the columns the hash covers are read; the stored instant is turned into its textual form
    directly (SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff"; PostgreSQL gives a naive UTC datetime).
    """
    rows = session.execute(_CHAIN_ROWS, {"case_id": case.id}).all()
    return _check_rows(case, rows), len(rows)


# the raw text of the instant and the payload (no conversion per row); built once, compiled once
_CHAIN_ROWS = (
    select(
        CaseEvent.seq,
        CaseEvent.type,
        CaseEvent.actor,
        type_coerce(CaseEvent.occurred_at, String),
        cast(CaseEvent.payload, Text),
        CaseEvent.prev_hash,
        CaseEvent.hash,
    )
    .where(CaseEvent.case_id == bindparam("case_id"))
    .order_by(CaseEvent.seq)
)


def _fast_payload(stored: Any) -> tuple[bytes | None, Any]:
    """The payload's canonical JSON by orjson, which writes the very same bytes as ``canonical`` for
    objects, arrays, strings, integers, booleans and null (sorted keys, compact, UTF-8, the same escapes)
    several times faster, but writes some floats differently (1e+16 vs 1e16). A match is therefore proof
    (the hash) and a mismatch is decided again by the exact encoder; None when orjson refuses the text.
    Also the payload itself (parsed once), for the check of its keys."""
    if not isinstance(stored, str):
        return None, stored
    try:
        value = orjson.loads(stored)
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS), value
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None, None


def _instant_text(value: Any) -> str:
    """The hashed form of a stored instant ("YYYY-MM-DDTHH:MM:SS.ffffffZ") from what the driver gives."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " " and value[19] == ".":
            return f"{value[:10]}T{value[11:]}Z"
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:  # naive UTC, as stored
        value = value.replace(tzinfo=UTC)
    return iso_utc(value)


def _exact_payload(stored: Any) -> bytes:
    value = json.loads(stored) if isinstance(stored, str | bytes) else stored
    return "".join(_C_CANONICAL(value, 0)).encode("utf-8")


def _check_rows(case: Case, rows: Sequence[Any]) -> ChainProblem | None:
    prev, case_id, previous_at = GENESIS, case.id, ""
    head = f'"case_id":{encode_basestring(case_id)},"occurred_at":"'
    quoted: dict[str, str] = {}  # actors and types repeat: escape each once

    def q(text: str) -> str:
        if text not in quoted:
            quoted[text] = encode_basestring(text)
        return quoted[text]

    for expected_seq, (seq, etype, actor, at, payload, prev_hash, stored) in enumerate(rows, start=1):
        if seq != expected_seq:
            return ChainProblem(expected_seq, f"事件 #{expected_seq} 缺失（序号不连续）")
        if prev_hash != prev:
            return ChainProblem(seq, f"事件 #{seq} 的前序哈希与上一事件不符")
        # prev_hash equals the previous (verified, hexadecimal) hash and the instant's text is digits:
        # neither needs escaping
        at = _instant_text(at)
        start = f'{{"actor":{q(actor)},{head}{at}","payload":'.encode()
        end = f',"prev_hash":"{prev_hash}","seq":{int.__repr__(seq)},"type":{q(etype)}}}'.encode()
        fast, value = _fast_payload(payload)
        if (fast is None or _sha256(start, fast, end) != stored) and (
            _sha256(start, _exact_payload(payload), end) != stored
        ):
            return ChainProblem(seq, f"事件 #{seq}（{etype}）的内容被改动：哈希不符")
        if at < previous_at:  # the same fixed-width UTC text: ordered as the instants are
            return ChainProblem(seq, f"事件 #{seq}（{etype}）的时间早于上一事件：时间不能倒退")
        problem = payload_problem(
            seq,
            etype,
            value if fast is not None or not isinstance(payload, str | bytes) else json.loads(payload),
        )
        if problem:
            return ChainProblem(seq, problem)
        prev, previous_at = stored, at
    return _tail_problem(case, len(rows), prev)


def _sha256(*parts: bytes) -> str:
    digest = hashlib.sha256(parts[0])
    for part in parts[1:]:
        digest.update(part)
    return digest.hexdigest()


def _tail_problem(case: Case, count: int, last_hash: str) -> ChainProblem | None:
    if case.last_event_seq != count or case.last_event_hash != last_hash:
        return ChainProblem(
            count + 1,
            f"事件 #{count + 1} 起的日志缺失：案件记录的最后事件为 #{case.last_event_seq}",
        )
    return None


def check_chain(case: Case, events: list[CaseEvent]) -> ChainProblem | None:
    """The first break in a case's chain: a gap, a changed event, or a missing tail."""
    rows = [(e.seq, e.type, e.actor, e.occurred_at, e.payload, e.prev_hash, e.hash) for e in events]
    return _check_rows(case, rows)
