"""The guardianship-intervention model (监护干预), path by path, without a database."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.util.task import TaskState

from tests.conftest import START
from tests.engine.guardianship_scenarios import SCENARIOS
from tests.support.flows import model_flows, taken_flows
from workflows.engine import CaseRun, duration_of, parse_process
from workflows.infra.clock import FixedClock
from workflows.processes import validation
from workflows.processes.registry import read_folder

FOLDER = Path(__file__).resolve().parents[2] / "bpmn" / "guardianship_intervention"
PROCESS = parse_process("guardianship_intervention", read_folder(FOLDER), "test-guardianship")
FLOWS = model_flows(FOLDER / "process.bpmn")
EXAMPLES = json.loads((FOLDER / "risk_colour.examples.json").read_text(encoding="utf-8"))
RED_REPORT = (
    SCENARIOS["red_abuse_police_overdue_escalated"]["start"]
    if "red_abuse_police_overdue_escalated" in SCENARIOS
    else next(s["start"] for s in SCENARIOS.values() if any(k == "__timer__" for k, _ in s["steps"]))
)


def play(scenario: dict[str, Any], clock: FixedClock) -> CaseRun:
    """Run a scenario, checking every step's data against its form as the services would."""
    start = PROCESS.forms.require("start").validate(scenario["start"])
    run = CaseRun.start(PROCESS, case_id=str(uuid.uuid4()), data=start, now=clock.now())
    for bpmn_id, data in scenario["steps"]:
        clock.advance(minutes=30)
        if bpmn_id == "__timer__":
            clock.advance(duration_of(data))
            run.fire_timers(now=clock.now())
            continue
        ready = [t for t in run.open_tasks() if t.bpmn_id == bpmn_id]
        assert ready, f"{bpmn_id} is not ready; open: {[t.bpmn_id for t in run.open_tasks()]}"
        run.complete(ready[0].id, PROCESS.forms.require(bpmn_id).validate(data), now=clock.now())
    return run


def ended_at(run: CaseRun) -> set[str]:
    return {
        t.task_spec.bpmn_id
        for t in run.workflow.get_tasks(state=TaskState.COMPLETED)
        if getattr(t.task_spec, "bpmn_id", None) and t.task_spec.__class__.__name__ == "EndEvent"
    }


def test_model_passes_validation() -> None:
    assert validation.check(PROCESS) == []


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_reaches_its_end(name: str) -> None:
    scenario = SCENARIOS[name]
    run = play(scenario, FixedClock(START))
    assert run.status == ("completed" if scenario["expect_completed"] else "running")
    assert scenario["expect_end"] in ended_at(run)


def test_every_sequence_flow_is_taken() -> None:
    taken: set[str] = set()
    for scenario in SCENARIOS.values():
        taken |= taken_flows(play(scenario, FixedClock(START)).workflow, FLOWS)
    assert sorted(set(FLOWS) - taken) == []


def _graded(inputs: dict[str, Any]) -> dict[str, Any]:
    # the table is exercised directly: a row may test a value no form offers (the table's fallback)
    run = CaseRun.start(
        PROCESS,
        case_id=str(uuid.uuid4()),
        data=PROCESS.forms.require("start").validate(RED_REPORT),
        now=START,
    )
    review = next(t for t in run.open_tasks() if t.bpmn_id == "review_report")
    run.complete(review.id, {"intake_decision": "accept", **inputs}, now=START)
    return run.data()


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"row{i}" for i in range(len(EXAMPLES))])
def test_risk_table_row_by_row(example: dict[str, Any]) -> None:
    data = _graded(example["inputs"])
    assert {k: data[k] for k in example["expected"]} == example["expected"]


def test_red_case_escalates_once_after_24_hours() -> None:
    clock = FixedClock(START)
    run = CaseRun.start(
        PROCESS,
        case_id=str(uuid.uuid4()),
        data=PROCESS.forms.require("start").validate(RED_REPORT),
        now=clock.now(),
    )
    review = next(t for t in run.open_tasks() if t.bpmn_id == "review_report")
    run.complete(
        review.id,
        {
            "intake_decision": "accept",
            "situation": "abuse",
            "without_guardian": False,
            "immediate_danger": True,
        },
        now=clock.now(),
    )
    assert run.data()["risk_colour"] == "red"
    police = next(t for t in run.open_tasks() if t.bpmn_id == "emergency_response_police")
    assert police.role == "police"
    assert run.next_due_at() == clock.now() + timedelta(hours=24)
    clock.advance(hours=23, minutes=59)
    assert run.fire_timers(now=clock.now()).fired_timers == []
    clock.advance(minutes=2)
    assert len(run.fire_timers(now=clock.now()).fired_timers) == 1
    supervise = [t for t in run.open_tasks() if t.bpmn_id == "supervise_emergency_response"]
    assert len(supervise) == 1 and supervise[0].role == "county_civil_affairs"
    clock.advance(days=5)
    assert run.fire_timers(now=clock.now()).fired_timers == []
    assert [t.bpmn_id for t in run.open_tasks()].count("supervise_emergency_response") == 1


def test_reporter_identity_is_flagged_confidential() -> None:
    assert {"reporter_name", "reporter_phone", "reporter_org"} <= PROCESS.forms.confidential_fields(
        "reporter"
    )


def test_no_labelling_terms_in_titles() -> None:
    for form in PROCESS.forms.forms.values():
        text = json.dumps(form.schema, ensure_ascii=False)
        assert "留守儿童" not in text and "困境儿童" not in text, form.key


def test_return_home_starts_the_graded_visits() -> None:
    """Returned home under monitoring → a risk_visits case with the chosen colour (P1 → P5)."""
    from workflows.processes.registry import read_folder as read

    scenario = next(s for s in SCENARIOS.values() if s["expect_end"] == "end_home_monitoring")
    run = play(scenario, FixedClock(START))
    [message] = [m for m in run.take_messages() if m.name == "start:risk_visits"]
    visits = parse_process("risk_visits", read(FOLDER.parent / "risk_visits"), "test-rv-from-gi")
    payload = visits.forms.require("start").validate(message.payload)
    colour = next(data for bpmn_id, data in scenario["steps"] if bpmn_id == "arrange_home_monitoring")[
        "follow_up_colour"
    ]
    tracking = CaseRun.start(visits, case_id=str(uuid.uuid4()), data=payload, now=START)
    assert tracking.data()["risk_colour"] == colour
