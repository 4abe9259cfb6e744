"""救助保障与过渡期 (P8): enrolment, the 6-calendar-month transition after leaving basic living support."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.flows import model_flows, taken_flows
from workflows.engine import CaseRun, parse_process
from workflows.infra.errors import ValidationFailed
from workflows.processes.registry import read_folder

FOLDER = Path(__file__).resolve().parents[2] / "bpmn" / "benefit_transition"
FILES = read_folder(FOLDER)
PROCESS = parse_process("benefit_transition", FILES, "test-benefit-transition")


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00").astimezone(UTC)


def the_task(run: CaseRun, bpmn_id: str):
    [task] = [t for t in run.open_tasks() if t.bpmn_id == bpmn_id]
    return task


def complete(run: CaseRun, bpmn_id: str, data: dict[str, Any], now: datetime) -> None:
    PROCESS.forms.require(bpmn_id).validate(data)
    run.complete(the_task(run, bpmn_id).id, data, now=now)


def start_transition(end_date: str, category: str = "orphan") -> CaseRun:
    data = {
        "child_ref": "C-0004",
        "child_name": "小芳",
        "category": category,
        "support_end_date": end_date,
        "exit_reason": "被依法收养",
    }
    PROCESS.forms.require("start").validate(data)
    now = cst(end_date + "T09:00:00")
    run = CaseRun.start(PROCESS, case_id=str(uuid.uuid4()), data=data, now=now)
    task = the_task(run, "enrol_assistance")
    assert (task.name, task.role) == ("核查纳入救助保障", "county_civil_affairs")
    complete(
        run,
        "enrol_assistance",
        {"assessment_date": end_date, "assistance_enrolled": ["medical_assistance"]},
        now,
    )
    task = the_task(run, "record_transition")
    assert (task.name, task.role) == ("作出过渡期决定", "county_civil_affairs")
    complete(
        run,
        "record_transition",
        {"decision_date": end_date, "decision_ref": "民〔2026〕12号", "monthly_amount": 1500},
        now,
    )
    return run


@pytest.mark.parametrize(
    ("end_date", "transition_end"),
    [
        ("2026-03-31", "2026-09-30T00:00:00"),
        ("2026-08-31", "2027-02-28T00:00:00"),
        ("2027-08-31", "2028-02-29T00:00:00"),
        ("2026-01-15", "2026-07-15T00:00:00"),
    ],
)
def test_the_transition_lasts_six_calendar_months_cst(end_date: str, transition_end: str) -> None:
    run = start_transition(end_date)
    assert run.open_tasks() == []
    assert run.next_due_at() == cst(transition_end)
    assert run.fire_timers(now=cst(transition_end) - timedelta(seconds=1)).fired_timers == []
    assert run.open_tasks() == []
    later = cst(transition_end) + timedelta(hours=1)
    assert run.fire_timers(now=later).fired_timers == ["transition_period"]
    task = the_task(run, "review_transition")
    assert (task.name, task.role, task.due_at) == (
        "过渡期满复核",
        "county_civil_affairs",
        later + timedelta(days=15),
    )


def test_review_ends_support() -> None:
    run = start_transition("2026-03-31", category="de_facto_unattended")
    later = cst("2026-09-30T09:00:00")
    run.fire_timers(now=later)
    complete(
        run,
        "review_transition",
        {"review_date": "2026-09-30", "review_outcome": "end_support", "assistance_types": []},
        later,
    )
    assert run.status == "completed"
    assert run.data()["review_outcome"] == "end_support"


def test_review_re_enrols() -> None:
    run = start_transition("2026-03-31")
    later = cst("2026-10-08T09:00:00")
    run.fire_timers(now=later)
    complete(
        run,
        "review_transition",
        {
            "review_date": "2026-10-08",
            "review_outcome": "enrol_minimum_living",
            "assistance_types": ["minimum_living"],
        },
        later,
    )
    assert run.status == "completed"


def test_only_orphans_and_de_facto_unattended_children_have_a_transition() -> None:
    with pytest.raises(ValidationFailed):
        PROCESS.forms.require("start").validate(
            {
                "child_ref": "C",
                "child_name": "小芳",
                "category": "poor_family",
                "support_end_date": "2026-03-31",
                "exit_reason": "",
            }
        )


def test_every_sequence_flow_is_taken() -> None:
    flows = model_flows(FOLDER / "process.bpmn")
    taken: set[str] = set()
    for outcome in ("end_support", "enrol_other_assistance"):
        run = start_transition("2026-03-31")
        later = cst("2026-10-01T09:00:00")
        run.fire_timers(now=later)
        complete(
            run,
            "review_transition",
            {
                "review_date": "2026-10-01",
                "review_outcome": outcome,
                "assistance_types": ["temporary_assistance"],
            },
            later,
        )
        assert run.status == "completed"
        taken |= taken_flows(run.workflow, flows)
    assert set(flows) - taken == set()
