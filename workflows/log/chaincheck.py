"""Checking a case's hash chain: every event's hash recomputed, the links, the order, the times, the keys.

The whole chain is first checked in bulk (the rows straight from the driver's cursor, orjson for the payload's
canonical form, one sha256 per event continued from a prefix hashed once per actor); only when that finds
anything amiss does the event-by-event check run, which decides with the exact encoder and names the first
break. Both accept exactly the same chains (tests/unit/test_chain_check.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

import orjson
from sqlalchemy import String, Text, bindparam, cast, select, type_coerce
from sqlalchemy.orm import Session

from workflows.infra.clock import iso_utc
from workflows.infra.models import Case, CaseEvent
from workflows.log.events import _C_CANONICAL, EVENT_KEYS, GENESIS, payload_problem


@dataclass
class ChainProblem:
    seq: int
    reason: str


# One row: (seq, type, actor, instant, payload, prev_hash, hash); the instant as SQLite stores it
# ("YYYY-MM-DD HH:MM:SS.ffffff"), the payload as its stored JSON (text or UTF-8 bytes).
Row = Sequence[Any]


def check_case_chain(session: Session, case: Case | Any) -> tuple[ChainProblem | None, int]:
    """Read and check a case's chain without building an object per event; (first break, events read).
    ``case``: the case, or a row with its id, last_event_seq and last_event_hash."""
    rows = chain_rows(session, case.id)
    return check_rows(case, rows), len(rows)


# The columns the hash covers, as the driver's own SQL. PostgreSQL writes the instant the way SQLite stores it
# (the json column gives back the very text it was given, as SQLite's text column does); SQLite gives the
# payload's bytes (no text object made of them: orjson reads bytes).
_RAW_CHAIN_SQL = {
    "sqlite": "SELECT seq, type, actor, occurred_at, CAST(payload AS BLOB), prev_hash, hash"
    " FROM case_events WHERE case_id = ? ORDER BY seq",
    "postgresql": "SELECT seq, type, actor, to_char(occurred_at, 'YYYY-MM-DD HH24:MI:SS.US'),"
    " CAST(payload AS TEXT), prev_hash, hash FROM case_events WHERE case_id = %s ORDER BY seq",
}

# the same through SQLAlchemy, for any other dialect; built once
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


def chain_rows(session: Session, case_id: str) -> Sequence[Row]:
    """A case's events as plain tuples, in order, from the driver's cursor (no result object, no conversion
    per value); a dialect without its own SQL here goes through SQLAlchemy."""
    connection = session.connection()
    sql = _RAW_CHAIN_SQL.get(connection.dialect.name)
    if sql is None:
        return session.execute(_CHAIN_ROWS, {"case_id": case_id}).all()
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, (case_id,))
        return cursor.fetchall()
    finally:
        cursor.close()


def check_rows(case: Case, rows: Sequence[Row]) -> ChainProblem | None:
    """The first break in a case's chain (a gap, a changed event, time going backwards, a key the log never
    writes, a missing tail), or None."""
    if _intact(case, rows):
        return None
    return _first_break(case, rows)


def check_chain(case: Case, events: list[CaseEvent]) -> ChainProblem | None:
    """``check_rows`` over events already loaded as objects."""
    rows = [(e.seq, e.type, e.actor, e.occurred_at, e.payload, e.prev_hash, e.hash) for e in events]
    return check_rows(case, rows)


def _instant_text(value: Any) -> str | None:
    """The hashed form of a stored instant ("YYYY-MM-DDTHH:MM:SS.ffffffZ") from what the driver gives: the
    text SQLite stores (and PostgreSQL is asked for), "YYYY-MM-DD HH:MM:SS.ffffff", or a datetime (naive
    UTC). None for any other text: no backend stores an instant so, the row was changed."""
    if isinstance(value, datetime):
        return iso_utc(value if value.tzinfo is not None else value.replace(tzinfo=UTC))
    if isinstance(value, str) and len(value) == 26 and value[10] == " " and value[19] == ".":
        return f"{value[:10]}T{value[11:]}Z"
    return None


_SORTED = orjson.OPT_SORT_KEYS
_ORJSON_ERRORS = (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError)


def _intact(case: Case, rows: Sequence[Row]) -> bool:
    """True only if every check of ``_first_break`` passes, decided for the whole chain at once; False also
    when this path cannot tell (orjson writes a float differently, a payload that is not stored text, …).

    orjson writes the very same bytes as ``canonical`` for objects, arrays, strings, integers, booleans and
    null (sorted keys, compact, UTF-8, the same escapes), but some floats differently (1e+16 vs 1e16): a
    match of the hash is proof, a mismatch is left to the exact encoder."""
    try:
        return bool(rows) and _all_pass(case, rows)
    except (ValueError, TypeError):  # orjson refused a payload, an instant is not one: decided event by event
        return False


def _all_pass(case: Case, rows: Sequence[Row]) -> bool:
    count = len(rows)
    seqs, types, actors, stored_at, payloads, prevs, hashes = zip(*rows, strict=True)
    numbers = range(1, count + 1)
    if seqs != tuple(numbers) or prevs[0] != GENESIS or prevs[1:] != hashes[:-1]:
        return False
    if case.last_event_seq != count or case.last_event_hash != hashes[-1]:
        return False
    middles = _middles(stored_at, count)
    if middles is None:
        return False
    kinds = set(types)
    if not kinds.issubset(EVENT_KEYS):
        return False
    allowed = {etype: EVENT_KEYS[etype] for etype in kinds}
    values = list(map(orjson.loads, payloads))
    if not all(type(v) is dict for v in values):
        return False
    if not all(map(frozenset.issuperset, map(allowed.__getitem__, types), values)):
        return False
    head = f',"case_id":{encode_basestring(case.id)},"occurred_at":"'
    # sorted keys: "actor" comes first, so the body up to the instant depends on the actor alone
    prefixes = {a: hashlib.sha256(f'{{"actor":{encode_basestring(a)}{head}'.encode()) for a in set(actors)}
    tails = {etype: f',"type":{encode_basestring(etype)}}}' for etype in kinds}
    canonical = map(orjson.dumps, values, repeat(None, count), repeat(_SORTED, count))
    # prev equals the previous (checked) hash and seq is the plain integer of its place: no escaping
    ends = [
        f',"prev_hash":"{p}","seq":{n}{tails[t]}'.encode()
        for p, n, t in zip(prevs, numbers, types, strict=True)
    ]
    for prefix, middle, payload, end, stored in zip(
        map(prefixes.__getitem__, actors), middles, canonical, ends, hashes, strict=True
    ):
        digest = prefix.copy()
        digest.update(middle)
        digest.update(payload)
        digest.update(end)
        if digest.hexdigest() != stored:
            return False
    return True


def _middles(stored_at: Sequence[Any], count: int) -> list[bytes] | None:
    """Each event's body from its instant to its payload ('…T…Z","payload":'); None when the instants go
    backwards or one is not an instant. The stored texts are checked all at once: when every one has the
    stored form ("YYYY-MM-DD HH:MM:SS.ffffff"), they are ordered as their hashed forms are."""
    if (
        set(map(type, stored_at)) == {str}
        and set(map(len, stored_at)) == {26}
        and (joined := "".join(stored_at))[10::26] == " " * count
        and joined[19::26] == "." * count
    ):
        if list(stored_at) != sorted(stored_at):
            return None
        return [f'{at[:10]}T{at[11:]}Z","payload":'.encode() for at in stored_at]
    texts: list[Any] = [_instant_text(at) for at in stored_at]
    if None in texts or texts != sorted(texts):  # fixed-width UTC text: ordered as the instants are
        return None
    return [f'{at}","payload":'.encode() for at in texts]


def _exact_payload(stored: Any) -> tuple[bytes | None, Any]:
    """The payload's canonical JSON by the exact encoder and the payload itself; (None, None) for text that
    is no JSON at all (the event was changed)."""
    try:
        value = json.loads(stored) if isinstance(stored, str | bytes) else stored
    except ValueError:
        return None, None
    return "".join(_C_CANONICAL(value, 0)).encode("utf-8"), value


def _fast_payload(stored: Any) -> tuple[bytes | None, Any]:
    """The payload's canonical JSON by orjson (see ``_intact``) and the payload itself; (None, None) when
    orjson refuses it."""
    try:
        value = orjson.loads(stored) if isinstance(stored, str | bytes) else stored
        return orjson.dumps(value, option=_SORTED), value
    except _ORJSON_ERRORS:
        return None, None


def _first_break(case: Case, rows: Sequence[Row]) -> ChainProblem | None:
    """Event by event: the first break, named; the exact encoder decides every hash orjson does not match."""
    prev, case_id, previous_at = GENESIS, case.id, ""
    head = f'"case_id":{encode_basestring(case_id)},"occurred_at":"'
    for expected_seq, (seq, etype, actor, at, payload, prev_hash, stored) in enumerate(rows, start=1):
        if seq != expected_seq:
            return ChainProblem(expected_seq, f"事件 #{expected_seq} 缺失（序号不连续）")
        if prev_hash != prev:
            return ChainProblem(seq, f"事件 #{seq} 的前序哈希与上一事件不符")
        # prev_hash equals the previous (verified, hexadecimal) hash and the instant's text is fixed (any
        # other character in it changes the hash): neither needs escaping
        if (at := _instant_text(at)) is None:
            return ChainProblem(seq, f"事件 #{seq}（{etype}）的时间被改动：不是存储的格式")
        start = f'{{"actor":{encode_basestring(actor)},{head}{at}","payload":'.encode()
        end = f',"prev_hash":"{prev_hash}","seq":{int.__repr__(seq)},"type":{encode_basestring(etype)}}}'
        fast, value = _fast_payload(payload)
        if fast is None or _sha256(start, fast, end.encode()) != stored:
            exact, value = _exact_payload(payload)
            if exact is None or _sha256(start, exact, end.encode()) != stored:
                return ChainProblem(seq, f"事件 #{seq}（{etype}）的内容被改动：哈希不符")
        if at < previous_at:  # the same fixed-width UTC text: ordered as the instants are
            return ChainProblem(seq, f"事件 #{seq}（{etype}）的时间早于上一事件：时间不能倒退")
        if problem := payload_problem(seq, etype, value):
            return ChainProblem(seq, problem)
        prev, previous_at = stored, at
    if case.last_event_seq != len(rows) or case.last_event_hash != prev:
        return ChainProblem(
            len(rows) + 1,
            f"事件 #{len(rows) + 1} 起的日志缺失：案件记录的最后事件为 #{case.last_event_seq}",
        )
    return None


def _sha256(*parts: bytes) -> str:
    digest = hashlib.sha256(parts[0])
    for part in parts[1:]:
        digest.update(part)
    return digest.hexdigest()
