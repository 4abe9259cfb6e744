"""worker_onboarding (P2): appointment, real-name registration, training gate, annual refresher, hand-over."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import START
from tests.support.flows import model_flows, taken_flows
from workflows.engine import CaseRun, Message, parse_process
from workflows.infra.clock import FixedClock
from workflows.infra.errors import ValidationFailed
from workflows.processes.registry import content_hash, read_folder

KEY = "worker_onboarding"
FOLDER = Path(__file__).resolve().parents[2] / "bpmn" / KEY
FILES = read_folder(FOLDER)
PROCESS = parse_process(KEY, FILES, f"test-{KEY}-{content_hash(FILES, [])}")

DIRECTOR = {"post": "village_director", "username": "zhang_li", "real_name": "张丽", "workplace": "石马村"}
SUPERVISOR = {
    "post": "township_supervisor",
    "username": "wang_qiang",
    "real_name": "王强",
    "workplace": "龙水镇",
}
TRAINED_ON = "2026-03-20"
# 11 and 12 calendar months after 2026-03-20 (China Standard Time midnight), in UTC
NOTICE_2027 = datetime(2027, 2, 19, 16, 0, tzinfo=UTC)
DEADLINE_2027 = datetime(2027, 3, 19, 16, 0, tzinfo=UTC)


def _open(run: CaseRun) -> list[tuple[str, str | None]]:
    return sorted((t.bpmn_id, t.role) for t in run.open_tasks())


def _do(run: CaseRun, bpmn_id: str, data: dict[str, Any], clock: FixedClock) -> None:
    """Complete the one open task ``bpmn_id`` with form data the task's form accepts."""
    [task] = [t for t in run.open_tasks() if t.bpmn_id == bpmn_id]
    clean = PROCESS.forms.require(bpmn_id).validate(data)
    run.complete(task.id, clean, now=clock.now())


def _start(clock: FixedClock, data: dict[str, Any]) -> CaseRun:
    clean = PROCESS.forms.require("start").validate(data)
    return CaseRun.start(PROCESS, case_id=str(uuid.uuid4()), data=clean, now=clock.now())


def _appoint_and_register(run: CaseRun, clock: FixedClock, post: str) -> None:
    if post == "village_director":
        assert _open(run) == [("appoint_director", "village_committee")]
        _do(
            run,
            "appoint_director",
            {
                "appointment_date": "2026-03-02",
                "background": "committee_member",
                "is_female_committee_member": True,
                "post_basis": "first",
                "appointment_notes": "村委会会议决定",
            },
            clock,
        )
    else:
        assert _open(run) == [("appoint_supervisor", "county_civil_affairs")]
        _do(
            run,
            "appoint_supervisor",
            {
                "appointment_date": "2026-03-02",
                "appointing_unit": "龙水镇人民政府",
                "background": "civil_affairs_staff",
                "post_basis": "first",
            },
            clock,
        )
    assert _open(run) == [("register_worker", "county_civil_affairs")]
    _do(
        run,
        "register_worker",
        {"registration_date": "2026-03-03", "system_record_no": "RS-0001", "identity_verified": True},
        clock,
    )


def _train(
    run: CaseRun, clock: FixedClock, post: str, result: str, certificate_no: str | None = None
) -> None:
    suffix = "director" if post == "village_director" else "supervisor"
    trainer = "county_civil_affairs" if suffix == "director" else "city_civil_affairs"
    assert _open(run) == [(f"initial_training_{suffix}", trainer)]
    _do(
        run,
        f"initial_training_{suffix}",
        {
            "initial_training_date": TRAINED_ON,
            "initial_training_hours": 16,
            "initial_training_form": "classroom",
            "initial_training_topics": ["duties", "mandatory_reporting"],
        },
        clock,
    )
    assert _open(run) == [(f"assess_{suffix}", trainer)]
    data: dict[str, Any] = {
        "assessment_date": TRAINED_ON,
        "assessment_score": 85 if result == "pass" else 40,
        "assessment_result": result,
    }
    if certificate_no:
        data["certificate_no"] = certificate_no
    _do(run, f"assess_{suffix}", data, clock)


def _report_departure(run: CaseRun, now: datetime) -> None:
    """Deliver the message worker_departure to the case (as POST /api/cases/{id}/messages does)."""
    run.receive("worker_departure", {}, now=now)


def _annual(run: CaseRun, clock: FixedClock, bpmn_id: str, status: str, on: str = "2027-03-10") -> None:
    data: dict[str, Any] = {"employment_status": status}
    if status == "active":
        data.update(
            annual_training_date=on,
            annual_training_hours=8,
            annual_training_form="online",
            performance="competent",
        )
    _do(run, bpmn_id, data, clock)


def director_path(clock: FixedClock) -> CaseRun:
    """Fail once, retrain, pass; one timely refresher; one overdue refresher escalated; then replaced."""
    run = _start(clock, DIRECTOR)
    _appoint_and_register(run, clock, "village_director")
    _train(run, clock, "village_director", "fail")
    assert run.data()["certified"] is False and run.take_messages() == []
    _train(run, clock, "village_director", "pass", "JZ-2026-017")
    assert run.take_messages() == [
        Message(
            "worker_certified",
            {"username": "zhang_li", "certificate_no": "JZ-2026-017", "post": "village_director"},
        )
    ]
    # year one: the refresher opens one month before the anniversary and is recorded in time
    clock.set(NOTICE_2027 + timedelta(minutes=1))
    assert run.fire_timers(now=clock.now()).fired_timers == ["refresher_due"]
    _annual(run, clock, "annual_training_director", "active", on="2027-03-10")
    # year two: the anniversary of 2027-03-10 passes without a record → the city is asked to supervise
    clock.set(datetime(2028, 2, 9, 16, 1, tzinfo=UTC))
    assert run.fire_timers(now=clock.now()).fired_timers == ["refresher_due"]
    clock.set(datetime(2028, 3, 9, 16, 1, tzinfo=UTC))
    assert run.fire_timers(now=clock.now()).fired_timers == ["director_training_overdue"]
    assert _open(run) == [
        ("annual_training_director", "county_civil_affairs"),
        ("escalate_director_training", "city_civil_affairs"),
    ]
    _do(
        run,
        "escalate_director_training",
        {"supervised_at": "2028-03-10", "supervision_notes": "已督促县局限期轮训"},
        clock,
    )
    _annual(run, clock, "annual_training_director", "replaced")
    assert _open(run) == [("handover_director", "village_committee")]
    _do(
        run,
        "handover_director",
        {
            "handover_date": "2028-03-15",
            "successor_username": "li_mei",
            "handover_items": ["child_files", "ledger", "open_tasks"],
        },
        clock,
    )
    return run


def supervisor_path(clock: FixedClock) -> CaseRun:
    """Pass at once; first refresher overdue and escalated to the province; leaves between refreshers."""
    run = _start(clock, SUPERVISOR)
    _appoint_and_register(run, clock, "township_supervisor")
    _train(run, clock, "township_supervisor", "pass", "DD-2026-003")
    assert [m.name for m in run.take_messages()] == ["worker_certified"]
    # the scheduler only comes back after the anniversary: the refresher opens already overdue and the
    # province is asked to supervise at once: both timers fire in the same sweep
    clock.set(DEADLINE_2027 + timedelta(hours=1))
    assert run.fire_timers(now=clock.now()).fired_timers == ["refresher_due", "supervisor_training_overdue"]
    assert run.fire_timers(now=clock.now()).fired_timers == []
    assert _open(run) == [
        ("annual_training_supervisor", "city_civil_affairs"),
        ("escalate_supervisor_training", "province_civil_affairs"),
    ]
    _do(
        run,
        "escalate_supervisor_training",
        {"supervised_at": "2027-03-21", "supervision_notes": "已督促"},
        clock,
    )
    _annual(run, clock, "annual_training_supervisor", "active", on="2027-03-25")
    assert _open(run) == []
    clock.advance(days=100)
    _report_departure(run, clock.now())
    assert _open(run) == [("handover_supervisor", "county_civil_affairs")]
    _do(
        run,
        "handover_supervisor",
        {
            "handover_date": "2027-07-10",
            "handover_items": ["ledger", "director_records"],
            "leave_reason": "调离",
        },
        clock,
    )
    return run


def test_director_is_appointed_by_the_village_committee_and_trained_by_the_county() -> None:
    clock = FixedClock(START)
    run = _start(clock, DIRECTOR)
    [task] = run.open_tasks()
    assert (task.bpmn_id, task.name, task.role) == ("appoint_director", "任命儿童主任", "village_committee")
    _appoint_and_register(run, clock, "village_director")
    [task] = run.open_tasks()
    assert (task.name, task.role) == ("儿童主任初任培训", "county_civil_affairs")
    assert task.due_at == START + timedelta(days=30)
    assert run.data()["certified"] is False


def test_supervisor_appointment_is_recorded_by_the_county_and_trained_by_the_city() -> None:
    clock = FixedClock(START)
    run = _start(clock, SUPERVISOR)
    assert _open(run) == [("appoint_supervisor", "county_civil_affairs")]
    _appoint_and_register(run, clock, "township_supervisor")
    assert _open(run) == [("initial_training_supervisor", "city_civil_affairs")]
    _train(run, clock, "township_supervisor", "fail")
    assert _open(run) == [("initial_training_supervisor", "city_civil_affairs")]


def test_failed_assessment_means_retraining_and_no_certificate() -> None:
    clock = FixedClock(START)
    run = _start(clock, DIRECTOR)
    _appoint_and_register(run, clock, "village_director")
    _train(run, clock, "village_director", "fail")
    data = run.data()
    assert data["certified"] is False and data["certificate_no"] is None and data["assessment_attempts"] == 1
    assert _open(run) == [("initial_training_director", "county_civil_affairs")]
    assert run.next_due_at() is None and run.take_messages() == []


def test_passing_certifies_notifies_once_and_waits_for_the_refresher() -> None:
    clock = FixedClock(START)
    run = _start(clock, DIRECTOR)
    _appoint_and_register(run, clock, "village_director")
    _train(run, clock, "village_director", "pass", "JZ-2026-001")
    data = run.data()
    assert data["certified"] is True and data["certificate_no"] == "JZ-2026-001"
    assert data["employment_status"] == "active" and data["last_training_at"] == TRAINED_ON
    assert data["training_records"] == [
        {
            "kind": "initial",
            "training_date": TRAINED_ON,
            "hours": 16,
            "assessment_date": TRAINED_ON,
            "score": 85,
            "result": "pass",
        }
    ]
    assert run.take_messages() == [
        Message(
            "worker_certified",
            {"username": "zhang_li", "certificate_no": "JZ-2026-001", "post": "village_director"},
        )
    ]
    assert run.take_messages() == []
    assert _open(run) == [] and run.status == "running"
    assert run.next_due_at() == NOTICE_2027


def test_certificate_number_is_required_when_passing() -> None:
    form = PROCESS.forms.require("assess_director")
    with pytest.raises(ValidationFailed) as info:
        form.validate({"assessment_date": TRAINED_ON, "assessment_score": 90, "assessment_result": "pass"})
    assert info.value.details["fields"] == {"certificate_no": "此项为必填项"}
    form.validate({"assessment_date": TRAINED_ON, "assessment_score": 30, "assessment_result": "fail"})


def test_annual_refresher_opens_a_month_early_with_the_anniversary_as_deadline() -> None:
    clock = FixedClock(START)
    run = _start(clock, DIRECTOR)
    _appoint_and_register(run, clock, "village_director")
    _train(run, clock, "village_director", "pass", "JZ-2026-002")
    clock.set(NOTICE_2027 - timedelta(minutes=1))
    assert run.fire_timers(now=clock.now()).fired_timers == []
    clock.set(NOTICE_2027 + timedelta(minutes=1))
    assert run.fire_timers(now=clock.now()).fired_timers == ["refresher_due"]
    [task] = run.open_tasks()
    assert (task.bpmn_id, task.role, task.due_at) == (
        "annual_training_director",
        "county_civil_affairs",
        DEADLINE_2027,
    )
    assert run.next_due_at() == DEADLINE_2027
    _annual(run, clock, "annual_training_director", "active", on="2027-03-10")
    data = run.data()
    assert data["last_training_at"] == "2027-03-10" and len(data["training_records"]) == 2
    assert data["training_records"][-1]["kind"] == "annual"
    # the next cycle is reckoned from the refresher just recorded (2028-02-10 CST midnight)
    assert run.next_due_at() == datetime(2028, 2, 9, 16, 0, tzinfo=UTC)


def test_overdue_refresher_escalates_once_to_the_trainers_superior() -> None:
    clock = FixedClock(START)
    run = _start(clock, DIRECTOR)
    _appoint_and_register(run, clock, "village_director")
    _train(run, clock, "village_director", "pass", "JZ-2026-003")
    clock.set(NOTICE_2027 + timedelta(days=1))
    run.fire_timers(now=clock.now())
    clock.set(DEADLINE_2027 - timedelta(minutes=1))
    assert run.fire_timers(now=clock.now()).fired_timers == []
    clock.set(DEADLINE_2027 + timedelta(minutes=1))
    assert run.fire_timers(now=clock.now()).fired_timers == ["director_training_overdue"]
    assert run.fire_timers(now=clock.now() + timedelta(days=90)).fired_timers == []
    assert [t.bpmn_id for t in run.open_tasks()].count("escalate_director_training") == 1
    assert _open(run) == [
        ("annual_training_director", "county_civil_affairs"),
        ("escalate_director_training", "city_civil_affairs"),
    ]


def test_director_path_ends_uncertified_with_a_worker_left_notice() -> None:
    run = director_path(FixedClock(START))
    assert run.status == "completed"
    data = run.data()
    assert data["certified"] is False and data["employment_status"] == "replaced"
    assert run.take_messages() == [
        Message(
            "worker_left", {"username": "zhang_li", "successor": "li_mei", "employment_status": "replaced"}
        )
    ]


def test_departure_between_refreshers_goes_to_hand_over() -> None:
    run = supervisor_path(FixedClock(START))
    assert run.status == "completed"
    data = run.data()
    assert data["certified"] is False and data["employment_status"] == "left"
    assert run.take_messages() == [
        Message("worker_left", {"username": "wang_qiang", "successor": None, "employment_status": "left"})
    ]
    assert run.next_due_at() is None


def test_engine_receive_reaches_the_departure_boundary_event() -> None:
    clock = FixedClock(START)
    run = _start(clock, DIRECTOR)
    _appoint_and_register(run, clock, "village_director")
    _train(run, clock, "village_director", "pass", "JZ-2026-009")
    run.receive("worker_departure", {}, now=clock.now())
    assert _open(run) == [("handover_director", "village_committee")]


def test_annual_form_needs_the_training_when_the_worker_stays() -> None:
    form = PROCESS.forms.require("annual_training_director")
    with pytest.raises(ValidationFailed) as info:
        form.validate({"employment_status": "active"})
    assert info.value.details["fields"]["annual_training_date"] == "此项为必填项"
    assert form.validate({"employment_status": "left"}) == {"employment_status": "left"}


def _extra_director_run(children: int, directors: int) -> CaseRun:
    clock = FixedClock(START)
    run = _start(clock, {**DIRECTOR, "children_in_care": children, "directors_in_post": directors})
    return run


@pytest.mark.parametrize(
    ("children", "directors", "offered"), [(31, 1, True), (31, 0, True), (30, 1, False), (45, 2, False)]
)
def test_003_5_5_16_a_village_over_30_children_is_offered_an_extra_director(
    children: int, directors: int, offered: bool
) -> None:
    """003 §五(五)16: more than 30 children in care and fewer than two directors → the village committee is
    asked to consider making this appointment an additional director before appointing."""
    run = _extra_director_run(children, directors)
    if not offered:
        assert _open(run) == [("appoint_director", "village_committee")]
        return
    assert _open(run) == [("consider_extra_director", "village_committee")]
    [task] = run.open_tasks()
    assert task.name == "研究增配儿童主任"
    assert "超过30人" in PROCESS.user_tasks["consider_extra_director"].instructions
    with pytest.raises(ValidationFailed):
        PROCESS.forms.require("consider_extra_director").validate(
            {"extra_director_decision": "not_now", "decided_on": "2026-03-02"}
        )
    _do(
        run,
        "consider_extra_director",
        {"extra_director_decision": "additional", "decided_on": "2026-03-02"},
        FixedClock(START),
    )
    assert _open(run) == [("appoint_director", "village_committee")]


def test_every_sequence_flow_is_taken() -> None:
    flows = model_flows(FOLDER / "process.bpmn")
    taken: set[str] = set()
    taken |= taken_flows(director_path(FixedClock(START)).workflow, flows)
    taken |= taken_flows(supervisor_path(FixedClock(START)).workflow, flows)
    run = _extra_director_run(31, 1)
    _do(
        run,
        "consider_extra_director",
        {"extra_director_decision": "additional", "decided_on": "2026-03-02"},
        FixedClock(START),
    )
    taken |= taken_flows(run.workflow, flows)
    assert set(flows) - taken == set()
