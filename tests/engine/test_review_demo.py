"""Every path of the small test process, without a database: gateway, parallel branch, timer, DMN."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from tests.conftest import START
from tests.support.flows import model_flows, taken_flows
from tests.support.models import DATA, read_model
from workflows.engine import CaseRun, parse_process
from workflows.infra.clock import FixedClock

FILES = read_model("review_demo")
PROCESS = parse_process("review_demo", FILES, "test-review-demo")


def _start(clock: FixedClock) -> CaseRun:
    return CaseRun.start(PROCESS, case_id=str(uuid.uuid4()), data={"child_name": "小明"}, now=clock.now())


def _finish(run: CaseRun, bpmn_id: str, clock: FixedClock) -> None:
    task = next(t for t in run.open_tasks() if t.bpmn_id == bpmn_id)
    run.complete(task.id, {f"{bpmn_id}_result": "已核实"}, now=clock.now())


def _open(run: CaseRun) -> list[str]:
    return sorted(t.bpmn_id for t in run.open_tasks())


def high_path(clock: FixedClock, *, late: bool) -> CaseRun:
    run = _start(clock)
    run.complete(run.open_tasks()[0].id, {"score": 95}, now=clock.now())
    assert _open(run) == ["center_check", "police_check"]
    if late:
        clock.advance(hours=25)
        assert run.fire_timers(now=clock.now()).fired_timers == ["check_overdue"]
        assert _open(run) == ["center_check", "escalate", "police_check"]
        _finish(run, "escalate", clock)
    _finish(run, "police_check", clock)
    _finish(run, "center_check", clock)
    assert _open(run) == ["close"]
    _finish(run, "close", clock)
    return run


def test_start_runs_the_script_and_stamps_the_due_time(clock: FixedClock) -> None:
    run = _start(clock)
    [task] = run.open_tasks()
    assert (task.bpmn_id, task.name, task.role) == ("intake", "登记", "village_director")
    assert task.due_at == START + timedelta(days=3)
    assert run.data() == {"child_name": "小明", "deadline_hours": 24}


def test_high_score_runs_both_checks_in_parallel_then_closes(clock: FixedClock) -> None:
    run = high_path(clock, late=False)
    assert run.status == "completed"
    assert run.data()["level"] == "high"
    assert run.next_due_at() is None


def test_timer_fires_once_when_the_clock_passes_the_deadline(clock: FixedClock) -> None:
    run = _start(clock)
    run.complete(run.open_tasks()[0].id, {"score": 80}, now=clock.now())
    assert run.next_due_at() == START + timedelta(hours=24)
    clock.advance(hours=23)
    assert run.fire_timers(now=clock.now()).fired_timers == []
    clock.advance(hours=2)
    assert run.fire_timers(now=clock.now()).fired_timers == ["check_overdue"]
    assert run.fire_timers(now=clock.now() + timedelta(days=30)).fired_timers == []
    assert _open(run).count("escalate") == 1
    assert run.next_due_at() is None


@pytest.mark.parametrize(
    ("score", "level", "open_after"),
    [(79, "mid", ["close"]), (50, "mid", ["close"]), (49, "low", []), (0, "low", [])],
)
def test_decision_table_routes_by_score(
    clock: FixedClock, score: int, level: str, open_after: list[str]
) -> None:
    run = _start(clock)
    run.complete(run.open_tasks()[0].id, {"score": score}, now=clock.now())
    assert run.data()["level"] == level
    assert _open(run) == open_after


def test_decision_table_examples_hold(clock: FixedClock) -> None:
    for example in json.loads((DATA / "review_demo" / "grade.examples.json").read_text()):
        run = _start(FixedClock(START))
        run.complete(run.open_tasks()[0].id, example["inputs"], now=START)
        assert {k: run.data()[k] for k in example["expected"]} == example["expected"]


def test_same_inputs_give_same_task_ids_and_state(clock: FixedClock) -> None:
    case_id = str(uuid.uuid4())
    runs = []
    for _ in range(2):
        run = CaseRun.start(PROCESS, case_id=case_id, data={"child_name": "小明"}, now=START)
        run.complete(run.open_tasks()[0].id, {"score": 90}, now=START)
        runs.append(run)
    assert [t.id for t in runs[0].open_tasks()] == [t.id for t in runs[1].open_tasks()]
    assert runs[0].dump() == runs[1].dump()
    assert runs[0].digest() == runs[1].digest()


def test_serialized_state_refers_to_the_version_and_round_trips(clock: FixedClock) -> None:
    run = _start(clock)
    state = run.dump()
    assert state["spec_ref"] == PROCESS.content_hash
    assert "spec" not in state["workflow"] and "subprocess_specs" not in state["workflow"]
    stored = json.loads(json.dumps(state))
    again = CaseRun.restore(PROCESS, stored, case_id=run.case_id)
    assert again.digest() == run.digest()
    assert stored == json.loads(json.dumps(state))  # the stored state is not touched
    handed_over = CaseRun.restore(PROCESS, stored, case_id=run.case_id, owned=True)  # no copy: the sweep
    assert handed_over.digest() == run.digest() and handed_over.dump() == again.dump()
    for one in (again, handed_over):  # and both go on alike
        one.complete(one.open_tasks()[0].id, {"score": 60}, now=START)
    assert again.dump() == handed_over.dump()


def test_every_sequence_flow_is_taken(clock: FixedClock) -> None:
    flows = model_flows(DATA / "review_demo" / "process.bpmn")
    taken: set[str] = set()
    taken |= taken_flows(high_path(FixedClock(START), late=True).workflow, flows)
    for score in (60, 10):
        run = _start(FixedClock(START))
        run.complete(run.open_tasks()[0].id, {"score": score}, now=START)
        if run.open_tasks():
            _finish(run, "close", FixedClock(START))
        taken |= taken_flows(run.workflow, flows)
    assert set(flows) - taken == set()
