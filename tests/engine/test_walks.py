"""The inlined tree walks (workflows/engine/walks.py) against SpiffWorkflow's own: on real trees, pruned and
unpruned, with subprocesses, for every filter and option the iterators take, the same tasks in the same order
and the same depth left behind; and whole cases run to the same stored states and digests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator  # type: ignore[import-untyped]
from SpiffWorkflow.util.task import TaskIterator, TaskState  # type: ignore[import-untyped]

from tests.engine.guardianship_scenarios import SCENARIOS
from tests.engine.test_guardianship_intervention import play
from tests.engine.test_risk_visits import JAN_31, PROCESS, supervise, visit
from workflows.engine import CaseRun, runs, walks
from workflows.infra.clock import FixedClock

STATES = [
    *(1 << i for i in range(9)),
    TaskState.FINISHED_MASK,
    TaskState.DEFINITE_MASK,
    TaskState.PREDICTED_MASK,
    TaskState.NOT_FINISHED_MASK,
    TaskState.ANY_MASK,
    TaskState.READY | TaskState.WAITING | TaskState.STARTED,
]


@contextmanager
def originals() -> Iterator[None]:
    walks.uninstall()
    try:
        yield
    finally:
        walks.install()


def risk_visits_run(visits: int) -> CaseRun:
    data = {"child_ref": "C-1", "child_name": "小华", "address": "甲村", "risk_facts": ["orphan"]}
    run = CaseRun.start(
        PROCESS,
        case_id=str(uuid.uuid4()),
        data={**data, "last_visit_date": "2026-01-20", "facts_note": ""},
        now=JAN_31,
    )
    run.fire_timers(now=JAN_31 + timedelta(days=70))
    for n in range(visits):
        visit(run, f"2026-{4 + n // 2:02d}-{10 + 10 * (n % 2):02d}", ["orphan"])
    return run


def trees(monkeypatch: pytest.MonkeyPatch | None) -> list[Any]:
    """Workflows as the engine leaves them (pruned), and with their whole history kept (deep trees)."""
    runs_ = [risk_visits_run(3)]
    scenario = next(s for s in SCENARIOS.values() if any(k == "__timer__" for k, _ in s["steps"]))
    runs_.append(play(scenario, FixedClock(JAN_31)))
    if monkeypatch is not None:
        with monkeypatch.context() as m:
            m.setattr(runs, "prune", lambda workflow, into: None)
            runs_.append(risk_visits_run(6))
            runs_.append(play(scenario, FixedClock(JAN_31)))
    return [run.workflow for run in runs_]


def walk(iterator: Any) -> tuple[list[str], int, int]:
    """(the task ids in the order given, the depth left, the tasks still queued) — everything observable."""
    ids = [str(task.id) for task in iterator]
    return ids, iterator.depth, len(iterator.task_list)


def options(workflow: Any) -> Iterator[tuple[type, Any, dict[str, Any]]]:
    all_tasks = list(workflow.get_tasks())
    names = sorted({t.task_spec.name for t in all_tasks})[:6]
    lanes = sorted({t.task_spec.lane for t in all_tasks if getattr(t.task_spec, "lane", None)})
    starts = [workflow.task_tree, *all_tasks[1 : len(all_tasks) : max(1, len(all_tasks) // 4)]]
    for first in starts:
        for state in STATES:
            yield BpmnTaskIterator, first, {"state": state}
            yield TaskIterator, first, {"state": state}
            yield BpmnTaskIterator, first, {"state": state, "manual": True}
            yield BpmnTaskIterator, first, {"state": state, "manual": False, "skip_subprocesses": True}
        for depth in (0, 1, 2, 3, 5, 8):
            yield BpmnTaskIterator, first, {"max_depth": depth}
            yield TaskIterator, first, {"max_depth": depth, "state": TaskState.NOT_FINISHED_MASK}
            yield BpmnTaskIterator, first, {"max_depth": depth, "depth_first": False}
            yield TaskIterator, first, {"max_depth": depth, "depth_first": False}
        for name in names:
            yield BpmnTaskIterator, first, {"spec_name": name}
            yield BpmnTaskIterator, first, {"end_at_spec": name}
            yield TaskIterator, first, {"end_at_spec": name, "state": TaskState.NOT_FINISHED_MASK}
        for lane in lanes:
            yield BpmnTaskIterator, first, {"lane": lane, "state": TaskState.READY}
        yield BpmnTaskIterator, first, {"updated_ts": all_tasks[len(all_tasks) // 2].last_state_change}


def test_every_walk_gives_the_same_tasks_in_the_same_order(monkeypatch: pytest.MonkeyPatch) -> None:
    compared = 0
    for workflow in trees(monkeypatch):
        for sub in [workflow, *workflow.subprocesses.values()]:
            for cls, first, kwargs in options(sub):
                fast = walk(cls(first, **kwargs))
                with originals():
                    slow = walk(cls(first, **kwargs))
                assert fast == slow, (cls.__name__, first.task_spec.name, kwargs)
                compared += 1
    assert compared > 1000


def test_get_tasks_answers_as_the_walk_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """The quick answer from the few tasks in a state (and the walk it falls back to) against the walk."""
    compared = 0
    for workflow in trees(monkeypatch):
        for sub in [workflow, *workflow.subprocesses.values()]:
            all_tasks = sub.get_tasks()
            names = sorted({t.task_spec.name for t in all_tasks})
            for state in STATES:
                for extra in (
                    {},
                    {"manual": True},
                    {"manual": False},
                    *({"spec_name": n} for n in names[:4]),
                ):
                    kwargs = {"state": state, **extra}
                    fast = [str(t.id) for t in sub.get_tasks(**kwargs)]
                    with originals():
                        slow = [str(t.id) for t in sub.get_tasks(**kwargs)]
                    assert fast == slow, kwargs
                    compared += 1
            for name in names:
                fast = [str(t.id) for t in sub.get_tasks(spec_name=name)]
                with originals():
                    assert fast == [str(t.id) for t in sub.get_tasks(spec_name=name)]
    assert compared > 500


def test_task_children_and_filters_match_the_originals(monkeypatch: pytest.MonkeyPatch) -> None:
    for workflow in trees(None):
        for task in workflow.get_tasks():
            fast = task.children
            with originals():
                assert task.children == fast
            task.children = fast  # the setter is SpiffWorkflow's
            assert task.children == fast


def comparable(run: CaseRun) -> tuple[str, str]:
    state = json.dumps(run.dump(), sort_keys=True, default=lambda o: {"class": type(o).__name__, **vars(o)})
    return state, run.digest()


def steps(case_id: str) -> list[tuple[str, str]]:
    """A risk-visits case through an escalation and a few visits, stored state and digest after each."""
    data = {"child_ref": "C-1", "child_name": "小华", "address": "甲村", "risk_facts": ["orphan"]}
    run = CaseRun.start(
        PROCESS, case_id=case_id, data={**data, "last_visit_date": "2026-01-20", "facts_note": ""}, now=JAN_31
    )
    seen = [comparable(run)]
    run.fire_timers(now=JAN_31 + timedelta(days=70))
    seen.append(comparable(run))
    supervise(run, JAN_31 + timedelta(days=71))
    seen.append(comparable(run))
    for day in ("2026-04-12", "2026-06-01", "2026-07-20"):
        visit(run, day, ["orphan"])
        seen.append(comparable(run))
    return seen


def test_a_case_runs_to_the_same_states_with_either_walk() -> None:
    case_id = str(uuid.uuid4())
    fast = steps(case_id)
    with originals():
        slow = steps(case_id)
    assert fast == slow
