"""protection_entrustment: a protection center entrusts a child to a welfare institution, checks quarterly."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import START
from tests.support.flows import model_flows, taken_flows
from workflows.engine import CaseRun, parse_process
from workflows.infra.clock import FixedClock
from workflows.infra.errors import ValidationFailed
from workflows.processes.registry import content_hash, read_folder

KEY = "protection_entrustment"
FOLDER = Path(__file__).resolve().parents[2] / "bpmn" / KEY
FILES = read_folder(FOLDER)
PROCESS = parse_process(KEY, FILES, f"test-{KEY}-{content_hash(FILES, [])}")

RECEIVED_ON = "2026-03-10"
# quarterly checks: the same day three calendar months later, midnight China Standard Time, in UTC
FIRST_CHECK = datetime(2026, 6, 9, 16, 0, tzinfo=UTC)
SECOND_CHECK = datetime(2026, 9, 9, 16, 0, tzinfo=UTC)


def _open(run: CaseRun) -> list[tuple[str, str | None]]:
    return sorted((t.bpmn_id, t.role) for t in run.open_tasks())


def _do(run: CaseRun, bpmn_id: str, data: dict[str, Any], clock: FixedClock) -> None:
    [task] = [t for t in run.open_tasks() if t.bpmn_id == bpmn_id]
    run.complete(task.id, PROCESS.forms.require(bpmn_id).validate(data), now=clock.now())


def _agreement(institution: str, term_end: str = "2027-03-09") -> dict[str, Any]:
    return {
        "agreement_no": f"WT-2026-{institution[:2]}",
        "institution_name": institution,
        "agreement_term_start": RECEIVED_ON,
        "agreement_term_end": term_end,
        "agreement_terms": "受托机构负责日常养育；救助保护机构每季度检查",
        "center_signed_on": "2026-03-05",
    }


def _proposed(clock: FixedClock) -> CaseRun:
    start = PROCESS.forms.require("start").validate(
        {"child_ref": "C-101", "entrustment_reason": "special_needs"}
    )
    run = CaseRun.start(PROCESS, case_id=str(uuid.uuid4()), data=start, now=clock.now())
    assert _open(run) == [("propose_entrustment", "protection_center")]
    _do(
        run,
        "propose_entrustment",
        {"institution_name": "万古镇儿童福利院", "care_needs": "需要康复训练", "proposed_on": "2026-03-02"},
        clock,
    )
    assert _open(run) == [("draft_agreement", "protection_center")]
    return run


def _decline(run: CaseRun, clock: FixedClock) -> None:
    _do(
        run,
        "institution_decision",
        {"institution_response": "decline", "decline_reason": "无康复床位"},
        clock,
    )
    assert _open(run) == [("rearrange", "protection_center")]


def _accept(run: CaseRun, clock: FixedClock) -> None:
    _do(
        run,
        "institution_decision",
        {
            "institution_response": "accept",
            "institution_signed_on": "2026-03-08",
            "child_received_on": RECEIVED_ON,
        },
        clock,
    )


def _check(run: CaseRun, clock: FixedClock, on: str, decision: str, **extra: str) -> None:
    _do(
        run,
        "periodic_check",
        {
            "check_date": on,
            "child_condition": "good",
            "check_findings": "照料良好",
            "check_decision": decision,
            **extra,
        },
        clock,
    )


def entrusted_then_renewed_and_ended(clock: FixedClock) -> CaseRun:
    """Declined by one institution, accepted by another, checked each quarter, renewed once, then ended."""
    run = _proposed(clock)
    _do(run, "draft_agreement", _agreement("万古镇儿童福利院"), clock)
    _decline(run, clock)
    _do(run, "rearrange", {"rearrangement": "another_institution"}, clock)
    _do(run, "draft_agreement", _agreement("大足区儿童福利院"), clock)
    _accept(run, clock)
    clock.set(FIRST_CHECK + timedelta(minutes=1))
    assert run.fire_timers(now=clock.now()).fired_timers == ["check_due"]
    _check(run, clock, "2026-06-10", "continue")
    clock.set(SECOND_CHECK + timedelta(minutes=1))
    assert run.fire_timers(now=clock.now()).fired_timers == ["check_due"]
    _check(run, clock, "2026-09-10", "renew", renewed_term_end="2027-09-09")
    clock.set(datetime(2026, 12, 10, 16, 1, tzinfo=UTC))
    assert run.fire_timers(now=clock.now()).fired_timers == ["check_due"]
    _check(run, clock, "2026-12-11", "end")
    assert _open(run) == [("end_entrustment", "protection_center")]
    _do(run, "end_entrustment", {"ended_on": "2026-12-20", "child_destination": "family_reunion"}, clock)
    return run


def declined_and_not_entrusted(clock: FixedClock) -> CaseRun:
    run = _proposed(clock)
    _do(run, "draft_agreement", _agreement("万古镇儿童福利院"), clock)
    _decline(run, clock)
    _do(
        run,
        "rearrange",
        {"rearrangement": "other_arrangement", "rearrangement_notes": "由亲属临时照料"},
        clock,
    )
    return run


def test_the_institution_answers_the_agreement_within_its_deadline() -> None:
    clock = FixedClock(START)
    run = _proposed(clock)
    _do(run, "draft_agreement", _agreement("大足区儿童福利院"), clock)
    [task] = run.open_tasks()
    assert (task.bpmn_id, task.name, task.role) == (
        "institution_decision",
        "接受或拒绝委托",
        "welfare_institution",
    )
    assert task.due_at == START + timedelta(days=5)


def test_accepting_starts_quarterly_checks_by_the_center() -> None:
    clock = FixedClock(START)
    run = _proposed(clock)
    _do(run, "draft_agreement", _agreement("大足区儿童福利院"), clock)
    _accept(run, clock)
    data = run.data()
    assert data["entrustment_status"] == "active" and data["entrusted_on"] == RECEIVED_ON
    assert _open(run) == [] and run.next_due_at() == FIRST_CHECK
    clock.set(FIRST_CHECK - timedelta(minutes=1))
    assert run.fire_timers(now=clock.now()).fired_timers == []
    clock.set(FIRST_CHECK + timedelta(minutes=1))
    assert run.fire_timers(now=clock.now()).fired_timers == ["check_due"]
    assert run.fire_timers(now=clock.now() + timedelta(days=20)).fired_timers == []
    [task] = run.open_tasks()
    assert (task.bpmn_id, task.role, task.due_at) == (
        "periodic_check",
        "protection_center",
        clock.now() + timedelta(days=10),
    )
    _check(run, clock, "2026-06-12", "continue")
    # the next check is reckoned from the day of this check
    assert run.next_due_at() == datetime(2026, 9, 11, 16, 0, tzinfo=UTC)
    assert run.data()["checks"] == [{"check_date": "2026-06-12", "condition": "good", "decision": "continue"}]


def test_an_expired_term_ends_the_entrustment_even_if_continue_was_chosen() -> None:
    clock = FixedClock(START)
    run = _proposed(clock)
    _do(run, "draft_agreement", _agreement("大足区儿童福利院", term_end="2026-08-31"), clock)
    _accept(run, clock)
    clock.set(FIRST_CHECK + timedelta(minutes=1))
    run.fire_timers(now=clock.now())
    _check(run, clock, "2026-06-10", "continue")
    assert _open(run) == [] and run.data()["term_expired"] is False
    clock.set(SECOND_CHECK + timedelta(minutes=1))
    run.fire_timers(now=clock.now())
    _check(run, clock, "2026-09-10", "continue")
    assert run.data()["term_expired"] is True
    assert _open(run) == [("end_entrustment", "protection_center")]


def test_renewal_extends_the_term_and_ending_records_the_destination() -> None:
    run = entrusted_then_renewed_and_ended(FixedClock(START))
    data = run.data()
    assert run.status == "completed" and data["entrustment_status"] == "ended"
    assert data["agreement_term_end"] == "2027-09-09" and data["institution_name"] == "大足区儿童福利院"
    assert [c["decision"] for c in data["checks"]] == ["continue", "renew", "end"]


def test_declined_and_arranged_otherwise_ends_without_entrustment() -> None:
    run = declined_and_not_entrusted(FixedClock(START))
    assert run.status == "completed" and run.data()["entrustment_status"] == "not_entrusted"
    assert run.next_due_at() is None


def test_forms_ask_for_what_each_answer_needs() -> None:
    decision = PROCESS.forms.require("institution_decision")
    with pytest.raises(ValidationFailed) as info:
        decision.validate({"institution_response": "decline"})
    assert info.value.details["fields"] == {"decline_reason": "此项为必填项"}
    with pytest.raises(ValidationFailed):
        decision.validate({"institution_response": "accept"})
    check = PROCESS.forms.require("periodic_check")
    with pytest.raises(ValidationFailed) as info:
        check.validate(
            {
                "check_date": "2026-06-10",
                "child_condition": "good",
                "check_findings": "良好",
                "check_decision": "renew",
            }
        )
    assert info.value.details["fields"] == {"renewed_term_end": "此项为必填项"}


def test_state_round_trips_while_waiting_for_the_next_check() -> None:
    clock = FixedClock(START)
    run = _proposed(clock)
    _do(run, "draft_agreement", _agreement("大足区儿童福利院"), clock)
    _accept(run, clock)
    again = CaseRun.restore(PROCESS, json.loads(json.dumps(run.dump())), case_id=run.case_id)
    assert again.digest() == run.digest() and again.next_due_at() == FIRST_CHECK
    assert again.fire_timers(now=FIRST_CHECK + timedelta(minutes=1)).fired_timers == ["check_due"]


def test_every_sequence_flow_is_taken() -> None:
    flows = model_flows(FOLDER / "process.bpmn")
    taken = taken_flows(entrusted_then_renewed_and_ended(FixedClock(START)).workflow, flows)
    taken |= taken_flows(declined_and_not_entrusted(FixedClock(START)).workflow, flows)
    assert set(flows) - taken == set()
