"""分级分色跟踪服务 (P5): grading, calendar-month visit intervals in CST, overdue escalation, red → P1."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support.flows import model_flows, taken_flows
from workflows.engine import SCRIPT_ENGINE, CaseRun, parse_process
from workflows.infra.clock import FixedClock
from workflows.processes.registry import read_folder

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
FOLDER = BPMN_DIR / "risk_visits"
FILES = read_folder(FOLDER)
PROCESS = parse_process("risk_visits", FILES, "test-risk-visits")

JAN_31 = datetime(2026, 1, 31, 2, 0, tzinfo=UTC)  # 10:00 on 31 Jan 2026, China Standard Time
RED = [
    "sexual_assault",
    "abuse",
    "trafficking",
    "violence",
    "abandonment",
    "living_alone",
    "missing",
    "guardianship_absent",
    "self_harm",
]
YELLOW = [
    "guardianship_severely_insufficient",
    "parents_severely_disabled",
    "parents_imprisoned",
    "suspected_dropout",
    "serious_mental_illness",
    "parents_addicted",
]
BLUE = [
    "orphan",
    "de_facto_unattended",
    "guardianship_insufficient",
    "child_severe_disability",
    "behaviour_concern",
    "parent_addicted",
]


def cst_end_of(day: str) -> datetime:
    """23:59:59 China Standard Time on ``day``, as UTC."""
    return datetime.fromisoformat(day + "T23:59:59+08:00").astimezone(UTC)


def start(facts: list[str], last_visit: str, now: datetime, **extra: Any) -> CaseRun:
    data = {
        "child_ref": "C-0001",
        "child_name": "小华",
        "address": "甲镇乙村 3 组 12 号",
        "risk_facts": facts,
        "last_visit_date": last_visit,
        "facts_note": "",
        **extra,
    }
    PROCESS.forms.require("start").validate(data)
    return CaseRun.start(PROCESS, case_id=str(uuid.uuid4()), data=data, now=now)


def open_ids(run: CaseRun) -> list[str]:
    return sorted(t.bpmn_id for t in run.open_tasks())


def the_task(run: CaseRun, bpmn_id: str):
    [task] = [t for t in run.open_tasks() if t.bpmn_id == bpmn_id]
    return task


def complete(run: CaseRun, bpmn_id: str, data: dict[str, Any], now: datetime) -> None:
    PROCESS.forms.require(bpmn_id).validate(data)
    run.complete(the_task(run, bpmn_id).id, data, now=now)


def visit(run: CaseRun, day: str, facts: list[str], outcome: str = "continue") -> None:
    complete(
        run,
        "home_visit",
        {
            "visit_date": day,
            "child_seen": True,
            "carer_present": True,
            "findings": "生活正常",
            "risk_facts": facts,
            "tracking_outcome": outcome,
        },
        datetime.fromisoformat(day + "T10:00:00+08:00"),
    )


def contact(run: CaseRun, day: str, facts: list[str], outcome: str = "continue") -> None:
    complete(
        run,
        "contact",
        {
            "contact_date": day,
            "contact_method": "wechat",
            "spoke_with_child": True,
            "contact_findings": "近况良好",
            "risk_facts": facts,
            "tracking_outcome": outcome,
        },
        datetime.fromisoformat(day + "T10:00:00+08:00"),
    )


def supervise(run: CaseRun, now: datetime, duty: str = "visit") -> None:
    complete(
        run,
        f"supervise_{duty}_overdue",
        {
            "supervision_date": "2026-03-02",
            "supervision_action": "urged_director",
            "supervision_note": "已电话督促",
        },
        now,
    )


# --- the decision table -----------------------------------------------------------------------------
def _decide(inputs: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
    engine = PROCESS.spec.task_specs["grade"].dmnEngine
    task = SimpleNamespace(data=dict(inputs), workflow=SimpleNamespace(script_engine=SCRIPT_ENGINE))
    return engine.result(task), [rule.row_number for rule in engine.decide(task)]


def test_examples_hold_and_cover_every_row() -> None:
    examples = json.loads((FOLDER / "risk_grade.examples.json").read_text(encoding="utf-8"))
    first_rows = set()
    for example in examples:
        result, rows = _decide(example["inputs"])
        assert result == example["expected"], example
        first_rows.add(rows[0])
    table = PROCESS.spec.task_specs["grade"].dmnEngine.decision_table
    assert first_rows == {rule.row_number for rule in table.rules}


@pytest.mark.parametrize(
    ("facts", "grade"),
    [
        *[([f], "red") for f in RED],
        *[([f], "yellow") for f in YELLOW],
        *[([f], "blue") for f in BLUE],
        ([], "green"),
    ],
)
def test_each_fact_grades_to_its_colour(facts: list[str], grade: str) -> None:
    assert _decide({"risk_facts": facts})[0]["risk_colour"] == grade


def test_the_highest_colour_wins() -> None:
    assert _decide({"risk_facts": [*BLUE, *YELLOW, "self_harm"]})[0] == {
        "risk_colour": "red",
        "risk_reason": "self_harm",
    }
    assert _decide({"risk_facts": [*BLUE, "parents_addicted"]})[0]["risk_colour"] == "yellow"
    assert _decide({"risk_facts": ["parent_addicted", "orphan"]})[0] == {
        "risk_colour": "blue",
        "risk_reason": "orphan",
    }


# --- calendar months in China Standard Time ---------------------------------------------------------
def test_yellow_visit_on_31_january_is_due_by_28_february_cst() -> None:
    run = start(["suspected_dropout"], "2026-01-31", JAN_31)
    task = the_task(run, "home_visit")
    assert (task.name, task.role) == ("入户走访", "village_director")
    assert task.due_at == cst_end_of("2026-02-28") == datetime(2026, 2, 28, 15, 59, 59, tzinfo=UTC)
    assert run.next_due_at() == task.due_at
    assert run.data()["risk_colour"] == "yellow"


def test_in_a_leap_year_it_is_due_by_29_february() -> None:
    run = start(["suspected_dropout"], "2028-01-31", datetime(2028, 1, 31, 2, tzinfo=UTC))
    assert the_task(run, "home_visit").due_at == cst_end_of("2028-02-29")


def test_a_visit_just_after_midnight_cst_still_counts_for_that_day() -> None:
    # 00:30 on 1 Feb CST is still 31 Jan in UTC: the interval runs from the CST date of the visit
    run = start(["suspected_dropout"], "2026-01-31", JAN_31)
    complete(
        run,
        "home_visit",
        {
            "visit_date": "2026-02-01",
            "child_seen": True,
            "carer_present": False,
            "findings": "无",
            "risk_facts": ["suspected_dropout"],
            "tracking_outcome": "continue",
        },
        datetime(2026, 1, 31, 16, 30, tzinfo=UTC),
    )
    assert the_task(run, "home_visit").due_at == cst_end_of("2026-03-01")


def test_blue_is_due_two_calendar_months_later() -> None:
    run = start(["orphan"], "2025-12-31", datetime(2026, 1, 2, tzinfo=UTC))
    assert the_task(run, "home_visit").due_at == cst_end_of("2026-02-28")


# --- re-grading changes the next interval ------------------------------------------------------------
def test_a_yellow_case_graded_blue_at_a_visit_gets_two_months_next() -> None:
    run = start(["guardianship_severely_insufficient"], "2026-01-15", datetime(2026, 1, 15, 8, tzinfo=UTC))
    assert the_task(run, "home_visit").due_at == cst_end_of("2026-02-15")
    visit(run, "2026-02-10", ["guardianship_insufficient"])
    assert run.data()["risk_colour"] == "blue"
    assert the_task(run, "home_visit").due_at == cst_end_of("2026-04-10")
    visit(run, "2026-04-01", ["parents_imprisoned"])  # worse again: back to monthly
    assert run.data()["risk_colour"] == "yellow"
    assert the_task(run, "home_visit").due_at == cst_end_of("2026-05-01")


def test_003_3_green_contact_monthly_and_home_visit_quarterly_are_two_duties() -> None:
    """003 §三 4 (绿色：至少每个月联系一次，每三个月入户走访一次): both duties are open at once, each with its own
    deadline; the visit counts as that month's contact and starts the next quarter."""
    run = start([], "2026-01-31", JAN_31)
    assert run.data()["risk_colour"] == "green"
    assert open_ids(run) == ["contact", "home_visit"]
    task = the_task(run, "contact")
    assert (task.name, task.role, task.due_at) == (
        "电话/微信联系",
        "village_director",
        cst_end_of("2026-02-28"),
    )
    assert the_task(run, "home_visit").due_at == cst_end_of("2026-04-30")
    contact(run, "2026-02-27", [])
    assert the_task(run, "contact").due_at == cst_end_of("2026-03-27")
    assert the_task(run, "home_visit").due_at == cst_end_of(
        "2026-04-30"
    )  # the visit's deadline does not move
    contact(run, "2026-03-30", [])
    assert open_ids(run) == ["home_visit"]  # the next contact falls in the visit's month: the visit counts
    visit(run, "2026-04-20", [])
    assert open_ids(run) == ["contact", "home_visit"]
    assert the_task(run, "contact").due_at == cst_end_of("2026-05-20")
    assert the_task(run, "home_visit").due_at == cst_end_of("2026-07-20")
    assert run.data()["visits_done"] == 1


def test_003_3_four_idle_months_of_a_green_child_escalate_both_duties() -> None:
    """003 §三 4: four months without activity → the missed contact and the missed quarterly visit are escalated
    separately to the township supervisor, each once."""
    run = start([], "2026-01-31", JAN_31)
    fired: list[str] = []
    for month in ("2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"):
        fired += run.fire_timers(now=cst_end_of(month) + timedelta(hours=1)).fired_timers
    assert fired == ["contact_overdue", "visit_overdue"]
    assert open_ids(run) == ["contact", "home_visit", "supervise_contact_overdue", "supervise_visit_overdue"]
    assert the_task(run, "supervise_visit_overdue").name == "督办逾期入户走访"
    assert the_task(run, "supervise_contact_overdue").name == "督办逾期联系"
    assert {t.role for t in run.open_tasks() if t.bpmn_id.startswith("supervise")} == {"township_supervisor"}


@pytest.mark.parametrize(
    ("facts", "duty", "due_day"),
    [
        (["suspected_dropout"], "visit", "2026-02-28"),  # yellow: at least monthly (§三 2)
        (["orphan"], "visit", "2026-03-31"),  # blue: at least every two months (§三 3)
        ([], "visit", "2026-04-30"),  # green: a home visit every three months (§三 4)
        ([], "contact", "2026-02-28"),  # green: contact at least monthly (§三 4)
    ],
)
def test_003_3_every_colour_duty_has_its_deadline_and_one_escalation(
    facts: list[str], duty: str, due_day: str
) -> None:
    """003 §三 1–4: each colour's duty is due by its calendar deadline (CST) and escalates once when missed."""
    run = start(facts, "2026-01-31", JAN_31)
    bpmn_id = "home_visit" if duty == "visit" else "contact"
    due = cst_end_of(due_day)
    assert the_task(run, bpmn_id).due_at == due
    fired = run.fire_timers(now=due - timedelta(minutes=1)).fired_timers
    assert f"{duty}_overdue" not in fired
    assert f"{duty}_overdue" in run.fire_timers(now=due + timedelta(seconds=1)).fired_timers
    escalation = the_task(run, f"supervise_{duty}_overdue")
    assert escalation.role == "township_supervisor" and escalation.due_at == due + timedelta(
        seconds=1, days=5
    )
    later = [t for d in (3, 20) for t in run.fire_timers(now=due + timedelta(days=d)).fired_timers]
    assert f"{duty}_overdue" not in later
    assert [t.bpmn_id for t in run.open_tasks()].count(f"supervise_{duty}_overdue") == 1


def test_a_contact_that_finds_a_worse_situation_brings_a_visit_within_a_month() -> None:
    run = start([], "2026-01-31", JAN_31)
    contact(run, "2026-02-20", ["suspected_dropout"])
    assert open_ids(run) == ["home_visit"]
    assert the_task(run, "home_visit").due_at == cst_end_of("2026-03-20")


# --- overdue visits escalate once ---------------------------------------------------------------------
def test_a_missed_visit_escalates_exactly_once_to_the_township_supervisor() -> None:
    clock = FixedClock(JAN_31)
    run = start(["suspected_dropout"], "2026-01-31", clock.now())
    due = cst_end_of("2026-02-28")
    clock.set(due - timedelta(minutes=1))
    assert run.fire_timers(now=clock.now()).fired_timers == []
    clock.set(due + timedelta(seconds=1))
    assert run.fire_timers(now=clock.now()).fired_timers == ["visit_overdue"]
    escalation = the_task(run, "supervise_visit_overdue")
    assert (escalation.name, escalation.role) == ("督办逾期入户走访", "township_supervisor")
    assert escalation.due_at == clock.now() + timedelta(days=5)
    for days in (1, 10, 40):
        assert run.fire_timers(now=clock.now() + timedelta(days=days)).fired_timers == []
    assert open_ids(run) == ["home_visit", "supervise_visit_overdue"]  # the visit is still owed
    supervise(run, clock.now())
    visit(run, "2026-03-05", ["suspected_dropout"])
    assert the_task(run, "home_visit").due_at == cst_end_of("2026-04-05")  # from the actual visit
    assert run.next_due_at() == cst_end_of("2026-04-05")


def test_a_missed_contact_escalates_too() -> None:
    run = start([], "2026-01-31", JAN_31)
    assert run.fire_timers(now=cst_end_of("2026-02-28") + timedelta(hours=1)).fired_timers == [
        "contact_overdue"
    ]
    assert open_ids(run) == ["contact", "home_visit", "supervise_contact_overdue"]
    assert run.fire_timers(now=cst_end_of("2026-03-31")).fired_timers == []


# --- red: immediate intervention ---------------------------------------------------------------------
def _intervention_start_form():
    folder = BPMN_DIR / "guardianship_intervention"
    return parse_process(
        "guardianship_intervention", read_folder(folder), "test-gi-for-risk-visits"
    ).forms.require("start")


def check_intervention_payload(payload: dict[str, Any]) -> None:
    _intervention_start_form().validate(payload)
    assert payload["reporter_type"] == "village_director"
    assert payload["child_known"] is True


def test_risk_facts_use_the_report_situations_of_the_intervention() -> None:
    form = _intervention_start_form()
    situations = {option["const"] for option in form.fields["situation"]["oneOf"]}
    field = PROCESS.forms.require("start").fields["risk_facts"]
    facts = {option["const"] for option in field["items"]["oneOf"]}
    assert facts == set(RED + YELLOW + BLUE) and facts <= situations


def test_red_at_the_start_throws_the_intervention_message_and_ends_tracking() -> None:
    run = start(
        ["living_alone", "orphan"],
        "2026-03-01",
        datetime(2026, 3, 2, 1, tzinfo=UTC),
        facts_note="独自居住，无人照料。",
    )
    assert run.status == "completed"
    assert run.open_tasks() == []
    [message] = run.take_messages()
    assert message.name == "start:guardianship_intervention"
    assert message.payload == {
        "reporter_type": "village_director",
        "situation": "living_alone",
        "without_guardian": True,
        "immediate_danger": True,
        "child_known": True,
        "child_name": "小华",
        "location_description": "住所：甲镇乙村 3 组 12 号",
        "incident_date": "2026-03-01",
        "description": "儿童主任跟踪服务中发现高风险情形，需即时介入处置。独自居住，无人照料。",
    }
    check_intervention_payload(message.payload)
    assert run.take_messages() == []  # each message is handed over once


def test_red_found_at_a_visit_throws_the_message() -> None:
    run = start(["parent_addicted"], "2026-01-31", JAN_31)
    assert the_task(run, "home_visit").due_at == cst_end_of("2026-03-31")
    assert run.take_messages() == []
    complete(
        run,
        "home_visit",
        {
            "visit_date": "2026-02-15",
            "child_seen": True,
            "carer_present": True,
            "findings": "身上有多处伤痕。",
            "risk_facts": ["violence", "parent_addicted"],
            "tracking_outcome": "continue",
        },
        datetime(2026, 2, 15, 3, tzinfo=UTC),
    )
    assert run.status == "completed"
    [message] = run.take_messages()
    assert message.payload["situation"] == "violence"
    assert message.payload["without_guardian"] is False
    assert message.payload["description"].endswith("身上有多处伤痕。")
    assert message.payload["incident_date"] == "2026-02-15"
    check_intervention_payload(message.payload)
    assert run.data()["tracking_outcome"] == "referred_to_intervention"


# --- the end of tracking ------------------------------------------------------------------------------
@pytest.mark.parametrize("outcome", ["turned_18", "moved_away", "no_longer_eligible"])
def test_tracking_ends_when_the_child_is_no_longer_tracked(outcome: str) -> None:
    run = start(["orphan"], "2026-01-31", JAN_31)
    visit(run, "2026-03-20", ["orphan"], outcome=outcome)
    assert run.status == "completed"
    assert run.data()["tracking_outcome"] == outcome
    assert run.take_messages() == []


def test_a_long_description_is_cut_to_what_the_intervention_form_takes() -> None:
    run = start(["abuse"], "2026-03-01", JAN_31, facts_note="很" * 2000)
    [message] = run.take_messages()
    assert len(message.payload["description"]) == 2000
    check_intervention_payload(message.payload)


def test_tracking_can_end_at_a_contact() -> None:
    run = start([], "2026-01-31", JAN_31)
    contact(run, "2026-02-20", [], outcome="moved_away")
    assert run.status == "completed"


def test_forms_refuse_unknown_facts_and_outcomes() -> None:
    from workflows.infra.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        PROCESS.forms.require("home_visit").validate(
            {
                "visit_date": "2026-02-01",
                "child_seen": True,
                "carer_present": True,
                "findings": "",
                "risk_facts": ["left_behind"],
                "tracking_outcome": "continue",
            }
        )
    with pytest.raises(ValidationFailed):
        PROCESS.forms.require("contact").validate(
            {
                "contact_date": "2026-02-01",
                "contact_method": "phone",
                "spoke_with_child": True,
                "contact_findings": "",
                "risk_facts": [],
                "tracking_outcome": "finished",
            }
        )


def test_a_stored_case_restores_and_carries_on() -> None:
    run = start(["suspected_dropout"], "2026-01-31", JAN_31)
    run.fire_timers(now=cst_end_of("2026-03-01"))
    state = json.loads(json.dumps(run.dump()))
    again = CaseRun.restore(PROCESS, state, case_id=run.case_id)
    assert again.digest() == run.digest()
    assert sorted(t.bpmn_id for t in again.open_tasks()) == ["home_visit", "supervise_visit_overdue"]
    visit(again, "2026-03-02", ["orphan"])
    assert the_task(again, "home_visit").due_at == cst_end_of("2026-05-02")
    # the visit ended the period: its escalation is settled and withdrawn with it
    assert sorted(t.bpmn_id for t in again.open_tasks()) == ["home_visit"]


def test_no_labels_in_titles() -> None:
    for name, text in FILES.items():
        assert "留守儿童" not in text and "困境儿童" not in text, name


def test_every_sequence_flow_is_taken() -> None:
    flows = model_flows(FOLDER / "process.bpmn")
    taken: set[str] = set()
    # yellow → missed visit escalated → blue → green contact (missed, escalated) → contacts → visit ends it
    run = start(["suspected_dropout"], "2026-01-31", JAN_31)
    run.fire_timers(now=cst_end_of("2026-03-01"))
    supervise(run, cst_end_of("2026-03-01"))
    visit(run, "2026-03-02", ["orphan"])
    visit(run, "2026-04-30", [])
    run.fire_timers(now=cst_end_of("2026-05-31"))
    supervise(run, cst_end_of("2026-05-31"), duty="contact")
    contact(run, "2026-06-01", [])
    contact(run, "2026-07-01", [])
    visit(run, "2026-07-20", [], outcome="turned_18")
    assert run.status == "completed"
    taken |= taken_flows(run.workflow, flows)
    # green → a contact ends it; red at the start
    run = start([], "2026-01-31", JAN_31)
    contact(run, "2026-02-20", [], outcome="moved_away")
    taken |= taken_flows(run.workflow, flows)
    run = start(["missing"], "2026-01-31", JAN_31)
    taken |= taken_flows(run.workflow, flows)
    assert set(flows) - taken == set()
