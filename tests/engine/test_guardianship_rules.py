"""Each statutory rule of the reworked guardianship-intervention model, named by its source, driven with a
moved clock (tests/support/clock.py START)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.engine import guardianship_scenarios as sc
from tests.engine.test_guardianship_intervention import PROCESS
from tests.support.clock import START
from workflows.engine import CaseRun, parse_process
from workflows.infra.clock import FixedClock
from workflows.processes.registry import read_folder

BPMN = Path(__file__).resolve().parents[2] / "bpmn"
DANGER = {**sc.SCENARIOS["red_violence_relatives_protection_order"]["start"]}
LESSER = {**sc.SCENARIOS["blue_return_home"]["start"]}
ACCEPT_YELLOW = {
    "intake_decision": "accept",
    "situation": "guardianship_severely_insufficient",
    "without_guardian": False,
    "immediate_danger": False,
}


def begin(start: dict[str, Any], clock: FixedClock) -> CaseRun:
    data = PROCESS.forms.require("start").validate(start)
    return CaseRun.start(PROCESS, case_id=str(uuid.uuid4()), data=data, now=clock.now())


def open_tasks(run: CaseRun) -> dict[str, str | None]:
    return {t.bpmn_id: t.role for t in run.open_tasks()}


def do(run: CaseRun, bpmn_id: str, data: dict[str, Any], clock: FixedClock) -> None:
    clock.advance(minutes=10)
    [task] = [t for t in run.open_tasks() if t.bpmn_id == bpmn_id]
    run.complete(task.id, PROCESS.forms.require(bpmn_id).validate(data), now=clock.now())


def walk(run: CaseRun, steps: list[tuple[str, dict[str, Any]]], clock: FixedClock) -> None:
    for bpmn_id, data in sc.reworked(steps):
        do(run, bpmn_id, data, clock)


def test_001_4_3_a_report_of_danger_reaches_the_police_at_once() -> None:
    """001 §四(三) 公安部门要及时受理有关报告，第一时间出警; 001 附件3 第5项: the police task opens with the
    intake review, before anyone has reviewed the report; a report without danger goes to intake only."""
    clock = FixedClock(START)
    run = begin(DANGER, clock)
    assert open_tasks(run) == {"emergency_response_police": "police", "review_report": "protection_center"}
    police = next(t for t in run.open_tasks() if t.bpmn_id == "emergency_response_police")
    assert police.due_at == START + timedelta(hours=2)
    assert open_tasks(begin(LESSER, clock)) == {"review_report": "protection_center"}


def test_003_5_2_6_red_found_at_intake_sends_the_police_then() -> None:
    """003 §五(二)6 / §三 1 (红色即时介入): a lesser report graded red at intake dispatches the police at once."""
    clock = FixedClock(START)
    run = begin(LESSER, clock)
    do(run, "review_report", {**ACCEPT_YELLOW, "situation": "violence", "immediate_danger": True}, clock)
    assert run.data()["risk_colour"] == "red"
    assert open_tasks(run) == {"emergency_response_police": "police"}


def test_001_4_3_an_intake_review_left_undone_escalates_to_the_county() -> None:
    """001 §四(三) 及时受理 / 003 §五(二)6 依法及时受理: the intake review has a deadline timer (2 h) that raises
    one task for county civil affairs; nothing waits for the police to be late first."""
    clock = FixedClock(START)
    run = begin(LESSER, clock)
    clock.advance(hours=1, minutes=59)
    assert run.fire_timers(now=clock.now()).fired_timers == []
    clock.advance(minutes=2)
    assert run.fire_timers(now=clock.now()).fired_timers == ["intake_review_overdue"]
    assert open_tasks(run) == {
        "review_report": "protection_center",
        "escalate_intake_review": "county_civil_affairs",
    }
    clock.advance(days=3)
    assert run.fire_timers(now=clock.now()).fired_timers == []
    assert [t.bpmn_id for t in run.open_tasks()].count("escalate_intake_review") == 1


def test_001_annex1_1_a_child_harmed_by_the_guardian_is_taken_in() -> None:
    """001 附件1 第1项 / 000 §一(一) 遭受监护侵害、暂时无人监护: a red case of harm by the guardian opens the
    protection center's take-in although the child is not without a guardian; the police work in parallel."""
    clock = FixedClock(START)
    run = begin(DANGER, clock)
    review = {
        "intake_decision": "accept",
        "situation": "violence",
        "without_guardian": False,
        "immediate_danger": True,
    }
    do(run, "review_report", {**review, "harmed_by_guardian": True}, clock)
    assert open_tasks(run) == {"emergency_response_police": "police", "take_in_child": "protection_center"}
    other = begin(DANGER, clock)
    do(other, "review_report", {**review, "harmed_by_guardian": False}, clock)
    assert open_tasks(other) == {"emergency_response_police": "police"}


def test_001_annex1_5_the_protection_center_coordinates_the_assessment() -> None:
    """001 附件1 第5项 协调推进监护评估 and 004 §三(二) 村(居)委会监督: the center coordinates, the village director
    and the village committee contribute side by side, the center concludes."""
    clock = FixedClock(START)
    run = begin(sc.SCENARIOS["yellow_case_conference_foster_family_no_petition"]["start"], clock)
    do(run, "review_report", ACCEPT_YELLOW, clock)
    assert open_tasks(run) == {"coordinate_assessment": "protection_center"}
    do(run, "coordinate_assessment", sc.COORDINATE, clock)
    assert open_tasks(run) == {
        "assess_guardianship": "village_director",
        "committee_guardianship_input": "village_committee",
    }
    home = {k: v for k, v in sc.ASSESSMENT.items() if k != "assessment_route"}
    do(run, "assess_guardianship", home, clock)
    assert open_tasks(run) == {"committee_guardianship_input": "village_committee"}
    do(run, "committee_guardianship_input", sc.COMMITTEE_INPUT, clock)
    assert open_tasks(run) == {"conclude_assessment": "protection_center"}


def _decided(decision: dict[str, Any], clock: FixedClock) -> CaseRun:
    run = begin(LESSER, clock)
    walk(
        run,
        [
            ("review_report", {**ACCEPT_YELLOW, "situation": "behaviour_concern"}),
            ("assess_guardianship", sc.ASSESSMENT),
        ],
        clock,
    )
    do(
        run,
        "decide_intervention",
        {"decision_basis": "评估意见。", "legal_aid_referred": False, **decision},
        clock,
    )
    return run


def test_004_3_2_the_village_committee_urges_the_guardian_on_the_return_home() -> None:
    """004 §三(二) 督促指导履行监护职责 / 003 §五(二)4: returning home opens the committee's duty to urge the
    guardian beside the director's follow-up plan; the case closes only when both are done."""
    clock = FixedClock(START)
    run = _decided({"assessment_decision": "return_home"}, clock)
    assert open_tasks(run) == {
        "arrange_home_monitoring": "village_director",
        "committee_supervise_guardian": "village_committee",
    }
    do(run, "arrange_home_monitoring", sc.HOME_MONITORING, clock)
    assert open_tasks(run) == {"committee_supervise_guardian": "village_committee"}
    do(run, "committee_supervise_guardian", sc.COMMITTEE_SUPERVISION, clock)
    assert open_tasks(run) == {"notify_reporter": "protection_center"}


def test_003_4_2_chosen_referrals_start_a_referral_case_and_001_4_3_legal_aid_goes_to_judicial_admin() -> (
    None
):
    """003 §四(二) 通报同级相关部门 / 004 §三(二) 联动响应: the chosen referral situations start one `referral` case
    with the payload its start form takes; 001 §四(三) 司法行政部门…提供法律援助: legal aid is a task for judicial
    administration, done before the reporter is told the outcome."""
    clock = FixedClock(START)
    run = _decided(
        {
            "assessment_decision": "unfounded",
            "close_reason": "经核实不属实。",
            "legal_aid_referred": True,
            "referrals": ["suspected_dropout", "uninsured"],
        },
        clock,
    )
    [message] = [m for m in run.take_messages() if m.name == "start:referral"]
    referral = parse_process("referral", read_folder(BPMN / "referral"), "test-referral-from-gi")
    payload = referral.forms.require("start").validate(message.payload)
    assert payload["reasons"] == ["suspected_dropout", "uninsured"] and payload["situation"].endswith(
        "评估意见。"
    )
    assert open_tasks(run) == {"provide_legal_aid": "judicial_admin"}
    do(run, "provide_legal_aid", sc.LEGAL_AID, clock)
    assert open_tasks(run) == {"notify_reporter": "protection_center"}
    do(run, "notify_reporter", sc.NOT_CONTACTABLE, clock)
    assert run.status == "completed" and run.data()["case_outcome"] == "closed_at_assessment"
    assert run.data()["aid_lawyer"] == "区法律援助中心"


def test_004_2_2_foster_placement_is_reviewed_agreed_trained_and_visited_monthly() -> None:
    """004 §二(二) 寄养家庭条件审查、寄养协议、家庭走访、家庭培训……定期探访: foster placement passes the condition
    review, the agreement and the training; visits then fall due each calendar month (CST) from the start."""
    clock = FixedClock(START)
    run = _decided({"assessment_decision": "temporary_custody"}, clock)
    custody = {
        "custody_decision_no": "临监〔2026〕1号",
        "custody_start_date": "2026-03-02",
        "custody_grounds": "监护人无力照料。",
        "placement": "foster_family",
    }
    do(run, "decide_temporary_custody", custody, clock)
    assert open_tasks(run) == {"review_foster_family": "welfare_institution"}
    for bpmn_id, data in sc.FOSTER_STEPS:
        do(run, bpmn_id, data, clock)
    tasks = open_tasks(run)
    assert tasks == {"foster_visit": "welfare_institution", "decide_court_petition": "county_civil_affairs"}
    visit = next(t for t in run.open_tasks() if t.bpmn_id == "foster_visit")
    assert visit.due_at == datetime(
        2025, 4, 15, 15, 59, 59, tzinfo=UTC
    )  # a month after 2025-03-15, 24:00 CST
    do(run, "foster_visit", sc.FOSTER_VISIT, clock)
    again = next(t for t in run.open_tasks() if t.bpmn_id == "foster_visit")
    assert again.due_at == datetime(2025, 5, 10, 15, 59, 59, tzinfo=UTC)
    do(run, "foster_visit", sc.FOSTER_ENDED, clock)
    assert "foster_visit" not in open_tasks(run)


def test_the_case_is_closed_with_its_outcome_and_withdraws_moot_escalations() -> None:
    """Closing ends (terminate events): an escalation still open when the case closes is withdrawn."""
    clock = FixedClock(START)
    run = begin(LESSER, clock)
    clock.advance(hours=3)
    run.fire_timers(now=clock.now())
    review = {
        "intake_decision": "unfounded",
        "close_reason": "不属实。",
        "situation": "behaviour_concern",
        "without_guardian": False,
        "immediate_danger": False,
    }
    do(run, "review_report", review, clock)
    assert "escalate_intake_review" in open_tasks(run)
    do(run, "notify_reporter", sc.NOT_CONTACTABLE, clock)
    assert run.status == "completed" and run.open_tasks() == []
    assert run.data()["case_outcome"] == "closed_at_intake"
