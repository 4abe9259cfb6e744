"""The chain check's bulk path accepts exactly what the event-by-event check accepts: every change to a row,
the rows' order or their number is found by both, and whatever the bulk path cannot decide (floats orjson
writes differently, integers it refuses, instants in another form) falls back to the exact check."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.support.clock import START
from tests.unit.test_verify import finished_case
from workflows.infra.clock import FixedClock
from workflows.infra.models import CaseEvent
from workflows.log import chaincheck
from workflows.log.events import GENESIS, NewEvent, _hash, chain

CASE_ID = "4f1c2b9e-0000-4000-8000-00000000c0de"
PAYLOADS: list[tuple[str, dict[str, Any]]] = [
    (
        "case_started",
        {"process_key": "p", "version": "v" * 64, "data": {"名字": "小明", "n": 3}, "digest": "d"},
    ),
    ("task_claimed", {"task_id": "t1", "bpmn_id": "intake"}),
    ("task_completed", {"task_id": "t1", "bpmn_id": "intake", "data": {"z": [1, "二", None], "a": True}}),
    ("timer_fired", {"fired": ["timer_1"], "digest": "e"}),
    (
        "data_corrected",
        {"changes": {"x": '引号"和\\反斜杠'}, "previous": {}, "reason": "更正", "digest": "f"},
    ),
]


def rows_of(payloads: list[tuple[str, dict[str, Any]]], minutes: list[int] | None = None) -> list[list[Any]]:
    """A chain as the driver gives it on SQLite: the instant as stored, the payload as json.dumps wrote it."""
    rows: list[list[Any]] = []
    for i, (etype, payload) in enumerate(payloads):
        [event] = chain(
            CASE_ID,
            last_seq=i,
            last_hash=rows[-1][6] if rows else GENESIS,
            now=START + timedelta(minutes=minutes[i] if minutes else i),
            items=[NewEvent(etype, "director" if i % 2 else "系统", payload)],
        )
        stored_at = event.occurred_at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        rows.append(
            [
                event.seq,
                event.type,
                event.actor,
                stored_at,
                json.dumps(event.payload),
                event.prev_hash,
                event.hash,
            ]
        )
    return rows


def case_of(rows: list[list[Any]]) -> Any:
    return SimpleNamespace(
        id=CASE_ID, last_event_seq=len(rows), last_event_hash=rows[-1][6] if rows else GENESIS
    )


def both(case: Any, rows: list[list[Any]]) -> chaincheck.ChainProblem | None:
    """The check's answer, after asserting the bulk path never accepts what the exact check refuses."""
    exact = chaincheck._first_break(case, rows)
    if chaincheck._intact(case, rows):
        assert exact is None
    result = chaincheck.check_rows(case, rows)
    assert result == exact
    return result


def test_an_intact_chain_passes_by_the_bulk_path() -> None:
    rows = rows_of(PAYLOADS)
    assert chaincheck._intact(case_of(rows), rows)
    assert both(case_of(rows), rows) is None


def mutations(rows: list[list[Any]]) -> list[tuple[str, list[list[Any]]]]:
    """Every single-byte change of every column of every row, and rows moved, dropped, doubled."""
    out = []
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            text = str(value)
            for pos in range(0, len(text), max(1, len(text) // 7)):
                changed = text[:pos] + chr(ord(text[pos]) ^ 1) + text[pos + 1 :]
                new = [list(x) for x in rows]
                new[r][c] = (
                    int(changed) if isinstance(value, int) and changed.lstrip("-").isdigit() else changed
                )
                if new[r][c] != value:
                    out.append((f"row {r} column {c} at {pos}", new))
    for r in range(len(rows) - 1):
        swapped = [list(x) for x in rows]
        swapped[r], swapped[r + 1] = swapped[r + 1], swapped[r]
        out.append((f"rows {r} and {r + 1} swapped", swapped))
        out.append((f"row {r} dropped", [list(x) for i, x in enumerate(rows) if i != r]))
        out.append((f"row {r} doubled", [list(x) for x in rows[: r + 1]] + [list(x) for x in rows[r:]]))
    return out


def test_every_changed_byte_moved_dropped_or_doubled_row_is_found_by_both_paths() -> None:
    rows = rows_of(PAYLOADS)
    case = case_of(rows)
    found = [name for name, changed in mutations(rows) if both(case, changed) is None]
    # what may pass: a change inside the stored JSON text that parses to the same value (a space, an escape)
    for name in found:
        assert " column 4 " in name, name
    assert len(found) < 10


def rehashed(rows: list[list[Any]]) -> list[list[Any]] | None:
    """The rows with every hash recomputed over the row's own columns (its prev_hash as stored), as a forger
    would write them; None when a row no longer has the shape a hash can be computed over."""
    out = []
    for seq, etype, actor, at, payload, prev_hash, _ in rows:
        text = chaincheck._instant_text(at)
        try:
            value = json.loads(payload)
        except ValueError:
            return None
        if text is None or type(seq) is not int:
            return None
        out.append(
            [
                seq,
                etype,
                actor,
                at,
                payload,
                prev_hash,
                _hash(CASE_ID, seq, etype, actor, text, value, prev_hash),
            ]
        )
    return out


def test_rows_changed_and_rehashed_are_found_by_both_paths_unless_the_change_is_harmless() -> None:
    rows = rows_of(PAYLOADS)
    checked = 0
    for name, changed in mutations(rows):
        forged = rehashed(changed)
        if forged is None:
            continue
        checked += 1
        last = f"row {len(rows) - 1} column "
        for case, tail_fixed in ((case_of(rows), False), (case_of(forged), True)):  # the case row too?
            if both(case, forged) is None:
                # only what changes no hashed byte (the stored JSON's spacing or escapes, a row's own hash,
                # recomputed here) or, with the case row fixed as well, the last event: what checkpoints are for
                assert " column 4 " in name or " column 6 " in name or (tail_fixed and last in name), name
    assert checked > 50


def test_a_reordered_payload_with_the_same_meaning_passes_and_with_another_meaning_fails() -> None:
    rows = rows_of(PAYLOADS)
    case = case_of(rows)
    key_order = [list(x) for x in rows]
    key_order[2][4] = json.dumps(dict(reversed(json.loads(rows[2][4]).items())))
    assert both(case, key_order) is None
    duplicate = [list(x) for x in rows]
    text = rows[1][4]  # {"bpmn_id": "intake", "task_id": "t1"}: the last of two equal keys is the one read
    duplicate[1][4] = text[:-1] + ', "bpmn_id": "other"}'
    assert both(case, duplicate) is not None
    first_wins = [list(x) for x in rows]
    first_wins[1][4] = '{"bpmn_id": "other", ' + text[1:]
    assert both(case, first_wins) is None  # the same value once parsed: the stored meaning is unchanged


@pytest.mark.parametrize(
    "payload",
    [
        {"task_id": "t", "bpmn_id": "b", "data": {"big": 1e16, "small": 1e-7, "x": 0.1}},
        {"task_id": "t", "bpmn_id": "b", "data": {"huge": 2**70}},
    ],
    ids=["floats orjson writes differently", "an integer orjson refuses"],
)
def test_what_orjson_cannot_decide_falls_back_to_the_exact_check(payload: dict[str, Any]) -> None:
    rows = rows_of([*PAYLOADS[:2], ("task_completed", payload)])
    case = case_of(rows)
    assert not chaincheck._intact(case, rows)
    assert both(case, rows) is None
    changed = [list(x) for x in rows]
    changed[2][4] = changed[2][4].replace('"t"', '"u"')
    problem = both(case, changed)
    assert problem is not None and problem.seq == 3 and "哈希不符" in problem.reason


def test_instants_as_datetimes_pass_payloads_as_objects_fall_back_other_texts_fail() -> None:
    rows = rows_of(PAYLOADS)
    case = case_of(rows)
    as_datetimes = [[*row[:3], chaincheck.datetime.fromisoformat(row[3]), *row[4:]] for row in rows]
    assert chaincheck._intact(case, as_datetimes) and both(case, as_datetimes) is None
    as_objects = [[*row[:4], json.loads(row[4]), *row[5:]] for row in rows]
    assert not chaincheck._intact(case, as_objects) and both(case, as_objects) is None
    for other_form in (
        "2026-03-02T01:03:00.000000Z",
        "2026-03-02 01:03:00,000000",
        "2026-03-02T01:03:00.000000",
    ):
        changed = [list(x) for x in rows]
        changed[3][3] = other_form  # the same instant, not as stored: a changed row
        problem = both(case, changed)
        assert problem is not None and problem.seq == 4 and "时间被改动" in problem.reason


def test_time_going_backwards_unknown_types_and_keys_are_named() -> None:
    rows = rows_of(PAYLOADS, minutes=[0, 5, 5, 3, 9])
    problem = both(case_of(rows), rows)
    assert problem is not None and problem.seq == 4 and "时间不能倒退" in problem.reason
    for etype, payload, expected in [
        ("document_signed", {"id": "1"}, "不是日志会写入的类型"),
        ("task_claimed", {"task_id": "t", "bpmn_id": "b", "approved_by": "局长"}, "approved_by"),
        ("task_claimed", {"task_id": "t"}, None),
    ]:
        rows = rows_of([*PAYLOADS, (etype, payload)])
        problem = both(case_of(rows), rows)
        assert (problem is None) if expected is None else (problem is not None and expected in problem.reason)
    rows = rows_of(PAYLOADS)
    rows[1][4] = '["task_id", "bpmn_id"]'  # not an object (and, here, not the hashed payload either)
    assert both(case_of(rows), rows) is not None


def test_random_chains_agree_event_by_event() -> None:
    rng = random.Random(16)
    for _ in range(40):
        picked = [PAYLOADS[0]] + [rng.choice(PAYLOADS[1:]) for _ in range(rng.randint(0, 8))]
        rows = rows_of(picked)
        case = case_of(rows)
        assert both(case, rows) is None
        name, changed = rng.choice(mutations(rows) or [("none", rows)])
        both(case, changed)
    assert both(case_of([]), []) is None  # no events, and the case says so


def test_the_driver_rows_match_the_objects(session: Session, clock: FixedClock) -> None:
    """On the test database (SQLite, or PostgreSQL when configured) the cursor's rows check as the objects do."""
    case = finished_case(session, clock)
    session.flush()
    events = list(
        session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))
    )
    rows = chaincheck.chain_rows(session, case.id)
    assert [r[0] for r in rows] == [e.seq for e in events] and len(rows) >= 8
    assert chaincheck._intact(case, rows)
    assert chaincheck.check_case_chain(session, case) == (None, len(events))
    assert chaincheck.check_chain(case, events) is None
