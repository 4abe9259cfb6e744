"""referral (P6): reasons → departments (DMN, COLLECT), case conference, parallel replies, reminders."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import START
from tests.support.flows import model_flows, taken_flows
from workflows.engine import CaseRun, parse_process
from workflows.infra.clock import FixedClock
from workflows.processes.registry import content_hash, read_folder

KEY = "referral"
FOLDER = Path(__file__).resolve().parents[2] / "bpmn" / KEY
FILES = read_folder(FOLDER)
PROCESS = parse_process(KEY, FILES, f"test-{KEY}-{content_hash(FILES, [])}")


def _open(run: CaseRun) -> list[tuple[str, str | None]]:
    return sorted((t.bpmn_id, t.role) for t in run.open_tasks())


def _do(run: CaseRun, bpmn_id: str, data: dict[str, Any], clock: FixedClock) -> None:
    [task] = [t for t in run.open_tasks() if t.bpmn_id == bpmn_id]
    run.complete(task.id, PROCESS.forms.require(bpmn_id).validate(data), now=clock.now())


def _start(clock: FixedClock, reasons: list[str]) -> CaseRun:
    data = PROCESS.forms.require("start").validate(
        {"child_ref": "C-201", "reasons": reasons, "situation": "排查发现"}
    )
    return CaseRun.start(PROCESS, case_id=str(uuid.uuid4()), data=data, now=clock.now())


def _reply(run: CaseRun, dept: str, clock: FixedClock) -> None:
    _do(
        run,
        f"{dept}_reply",
        {
            f"{dept}_received_on": "2026-03-03",
            f"{dept}_result": "handled",
            f"{dept}_measures": "已核查并处理",
        },
        clock,
    )


def _conference(run: CaseRun, departments: list[str], clock: FixedClock) -> None:
    assert _open(run) == [("case_conference", "township_supervisor")]
    _do(
        run,
        "case_conference",
        {
            "conference_date": "2026-03-04",
            "participants": "镇民政办、派出所、中心校",
            "plan": "分工处置",
            "lead_department": departments[0],
            "departments": departments,
        },
        clock,
    )


def _close(run: CaseRun, clock: FixedClock) -> None:
    assert _open(run) == [("close_referral", "township_supervisor")]
    _do(
        run,
        "close_referral",
        {"closed_on": "2026-03-20", "summary": "各部门已处理", "needs_follow_up": True},
        clock,
    )


def single_department(clock: FixedClock) -> CaseRun:
    run = _start(clock, ["uninsured"])
    assert _open(run) == [("medical_insurance_reply", "medical_insurance")]
    _reply(run, "medical_insurance", clock)
    _close(run, clock)
    return run


def abuse_and_dropout_answered_late(clock: FixedClock) -> CaseRun:
    run = _start(clock, ["abuse", "suspected_dropout"])
    _conference(run, ["police", "procuratorate", "court", "education"], clock)
    clock.advance(days=15, minutes=1)
    assert run.fire_timers(now=clock.now()).fired_timers == ["reply_overdue"]
    _reply(run, "police", clock)
    _do(run, "remind_departments", {"reminded_on": "2026-03-18", "reminder_notes": "电话催办"}, clock)
    clock.advance(days=15)
    assert run.fire_timers(now=clock.now()).fired_timers == ["reply_escalation"]
    _do(
        run,
        "escalate_referral",
        {"supervised_on": "2026-04-02", "supervision_notes": "县民政局协调督办"},
        clock,
    )
    for dept in ("procuratorate", "court", "education"):
        _reply(run, dept, clock)
    _close(run, clock)
    return run


def disability_and_mental_health(clock: FixedClock) -> CaseRun:
    run = _start(clock, ["disability_no_certificate", "serious_mental_illness"])
    _conference(run, ["health", "disabled_federation"], clock)
    assert _open(run) == [("disabled_federation_reply", "disabled_federation"), ("health_reply", "health")]
    _reply(run, "health", clock)
    _reply(run, "disabled_federation", clock)
    _close(run, clock)
    return run


def test_decision_table_examples_hold() -> None:
    for example in json.loads((FOLDER / "referral_departments.examples.json").read_text(encoding="utf-8")):
        run = _start(FixedClock(START), example["inputs"]["reasons"])
        assert {k: run.data()[k] for k in example["expected"]} == example["expected"]


@pytest.mark.parametrize(
    ("reasons", "departments"),
    [
        (["suspected_dropout"], ["education"]),
        (["education_aid", "school_mental_health", "suspected_dropout"], ["education"]),
        (["uninsured"], ["medical_insurance"]),
        (["no_rehabilitation"], ["disabled_federation"]),
        (["serious_mental_illness"], ["health"]),
        (["abuse"], ["police", "procuratorate", "court"]),
        (
            ["uninsured", "abuse", "suspected_dropout"],
            ["education", "medical_insurance", "police", "procuratorate", "court"],
        ),
    ],
)
def test_reasons_decide_the_receiving_departments(reasons: list[str], departments: list[str]) -> None:
    run = _start(FixedClock(START), reasons)
    data = run.data()
    assert data["departments"] == departments and data["needs_conference"] is (len(departments) > 1)


def test_one_department_gets_the_referral_without_a_conference() -> None:
    clock = FixedClock(START)
    run = _start(clock, ["suspected_dropout", "education_aid"])
    [task] = run.open_tasks()
    assert (task.bpmn_id, task.name, task.role) == ("education_reply", "教育部门处理并反馈", "education")
    assert task.due_at == START + timedelta(days=15)
    assert run.next_due_at() == START + timedelta(days=15)


def test_several_departments_meet_first_then_each_replies_in_parallel() -> None:
    clock = FixedClock(START)
    run = _start(clock, ["abuse"])
    [task] = run.open_tasks()
    assert (task.bpmn_id, task.role, task.due_at) == (
        "case_conference",
        "township_supervisor",
        START + timedelta(days=7),
    )
    _conference(run, ["police", "procuratorate", "court", "health"], clock)  # the conference adds health
    assert _open(run) == [
        ("court_reply", "court"),
        ("health_reply", "health"),
        ("police_reply", "police"),
        ("procuratorate_reply", "procuratorate"),
    ]
    for dept in ("court", "police", "health"):
        _reply(run, dept, clock)
        assert ("close_referral", "township_supervisor") not in _open(run)
    _reply(run, "procuratorate", clock)
    _close(run, clock)
    assert run.status == "completed" and run.next_due_at() is None
    assert run.data()["police_result"] == "handled" and run.data()["court_measures"] == "已核查并处理"


def test_late_replies_remind_the_supervisor_then_escalate_to_the_county_once_each() -> None:
    clock = FixedClock(START)
    run = _start(clock, ["abuse"])
    _conference(run, ["police"], clock)
    clock.advance(days=15, minutes=-1)
    assert run.fire_timers(now=clock.now()).fired_timers == []
    clock.advance(minutes=2)
    assert run.fire_timers(now=clock.now()).fired_timers == ["reply_overdue"]
    assert run.fire_timers(now=clock.now() + timedelta(days=1)).fired_timers == []
    assert _open(run) == [("police_reply", "police"), ("remind_departments", "township_supervisor")]
    assert run.next_due_at() == START + timedelta(days=30)
    clock.set(START + timedelta(days=30, minutes=1))
    assert run.fire_timers(now=clock.now()).fired_timers == ["reply_escalation"]
    assert run.fire_timers(now=clock.now() + timedelta(days=60)).fired_timers == []
    assert _open(run) == [
        ("escalate_referral", "county_civil_affairs"),
        ("police_reply", "police"),
        ("remind_departments", "township_supervisor"),
    ]
    _reply(run, "police", clock)
    # once every reply is in, the open reminder and escalation no longer hold the referral back
    assert ("close_referral", "township_supervisor") in _open(run)
    assert run.next_due_at() is None


def test_replies_in_time_raise_no_reminder() -> None:
    clock = FixedClock(START)
    run = _start(clock, ["uninsured"])
    clock.advance(days=14)
    _reply(run, "medical_insurance", clock)
    assert run.fire_timers(now=clock.now() + timedelta(days=40)).fired_timers == []
    assert _open(run) == [("close_referral", "township_supervisor")]


def test_state_round_trips_while_departments_work() -> None:
    clock = FixedClock(START)
    run = _start(clock, ["abuse"])
    _conference(run, ["police", "court"], clock)
    _reply(run, "police", clock)
    again = CaseRun.restore(PROCESS, json.loads(json.dumps(run.dump())), case_id=run.case_id)
    assert again.digest() == run.digest()
    _reply(again, "court", clock)
    assert _open(again) == [("close_referral", "township_supervisor")]


def test_every_sequence_flow_is_taken() -> None:
    flows = model_flows(FOLDER / "process.bpmn")
    taken: set[str] = set()
    for scenario in (single_department, abuse_and_dropout_answered_late, disability_and_mental_health):
        run = scenario(FixedClock(START))
        assert run.status == "completed"
        taken |= taken_flows(run.workflow, flows)
    assert set(flows) - taken == set()
