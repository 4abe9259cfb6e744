"""A long-running duty costs the same at its 500th step as at its 1st: the engine drops finished history
from the task tree (the log keeps it), and replay, verify and migration still hold."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.engine.test_risk_visits import FOLDER
from tests.unit.test_services import DIRECTOR, VILLAGE
from workflows.cases import human_tasks, replay
from workflows.cases import lifecycle as cases
from workflows.engine import CaseRun, parse_process
from workflows.engine import runs as engine_runs
from workflows.infra.clock import CST, FixedClock
from workflows.infra.models import Case, CaseEvent, HumanTask
from workflows.processes.registry import read_folder

RISK = parse_process("risk_visits", read_folder(FOLDER), "test-pruning-risk-visits")
STEP = timedelta(days=20)


def _visit(day: str) -> dict[str, object]:
    return {
        "visit_date": day,
        "child_seen": True,
        "carer_present": True,
        "findings": "生活正常",
        "risk_facts": ["orphan"],
        "tracking_outcome": "continue",
    }


def _start_data(day: str) -> dict[str, object]:
    return {
        "child_ref": "C-0001",
        "child_name": "小华",
        "address": "甲镇乙村 3 组 12 号",
        "risk_facts": ["orphan"],
        "last_visit_date": day,
        "facts_note": "",
    }


def _day(instant: datetime) -> str:
    return instant.astimezone(CST).date().isoformat()


def _visit_once(run: CaseRun, now: datetime) -> None:
    [task] = [t for t in run.open_tasks() if t.bpmn_id == "home_visit"]
    run.complete(task.id, _visit(_day(now)), now=now)


def test_the_stored_state_stops_growing_and_restoring_each_step_changes_nothing() -> None:
    now = datetime(2026, 1, 5, 2, tzinfo=UTC)
    case_id = str(uuid.uuid4())
    kept = CaseRun.start(RISK, case_id=case_id, data=_start_data(_day(now)), now=now)  # stays in memory
    kept.take_messages()
    stored = json.loads(json.dumps(kept.dump()))
    sizes = []
    for step in range(1, 301):
        now += STEP
        _visit_once(kept, now)
        run = CaseRun.restore(RISK, stored, case_id=case_id)  # the service's way: restore, act, dump
        _visit_once(run, now)
        kept.take_messages(), run.take_messages()  # as the service does before storing the state
        stored = json.loads(json.dumps(run.dump()))
        assert run.digest() == kept.digest()
        assert sorted((t.id, t.due_at) for t in run.open_tasks()) == sorted(
            (t.id, t.due_at) for t in kept.open_tasks()
        )
        if step in (10, 300):
            sizes.append((len(stored["workflow"]["tasks"]), len(json.dumps(stored))))
    assert sizes[0][0] == sizes[1][0]  # as many tasks after 300 visits as after 10
    assert sizes[1][1] < sizes[0][1] * 1.1
    assert run.completed_count() == 300 and stored["pruned"]["done"] >= 299
    assert "grade" in stored["pruned"]["steps"]  # each finished element, once, with what followed it


def test_pruned_and_unpruned_runs_log_the_same_digests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Logs written before pruning existed hold digests of the unpruned engine: replay must match them."""
    now = datetime(2026, 1, 5, 2, tzinfo=UTC)
    case_id = str(uuid.uuid4())
    pruned = CaseRun.start(RISK, case_id=case_id, data=_start_data(_day(now)), now=now)
    with monkeypatch.context() as patch:
        patch.setattr(engine_runs, "prune", lambda workflow, into: None)
        whole = CaseRun.start(RISK, case_id=case_id, data=_start_data(_day(now)), now=now)
    for step in range(40):
        now += STEP
        if step % 7 == 3:  # now and then a deadline passes first
            due = pruned.next_due_at()
            assert due is not None and due == whole.next_due_at()
            now = max(now, due + timedelta(hours=1))
            fired = pruned.fire_timers(now=now).fired_timers
            with monkeypatch.context() as patch:
                patch.setattr(engine_runs, "prune", lambda workflow, into: None)
                assert whole.fire_timers(now=now).fired_timers == fired
            assert pruned.digest() == whole.digest()
        _visit_once(pruned, now)
        with monkeypatch.context() as patch:
            patch.setattr(engine_runs, "prune", lambda workflow, into: None)
            _visit_once(whole, now)
        assert pruned.digest() == whole.digest(), step
        assert pruned.completed_count() == whole.completed_count()
    assert len(pruned.workflow.tasks) < len(whole.workflow.tasks) / 5


def test_a_deadline_still_fires_with_the_current_data_after_pruning() -> None:
    now = datetime(2026, 1, 5, 2, tzinfo=UTC)
    run = CaseRun.start(RISK, case_id=str(uuid.uuid4()), data=_start_data(_day(now)), now=now)
    for _ in range(30):
        now += STEP
        _visit_once(run, now)
    run.correct({"address": "新地址 1 号"}, now=now)
    due = run.next_due_at()
    assert due is not None
    assert run.fire_timers(now=due + timedelta(seconds=1)).fired_timers == ["visit_overdue"]
    [supervise] = [t for t in run.open_tasks() if t.bpmn_id == "supervise_visit_overdue"]
    task = run.workflow.get_task_from_id(uuid.UUID(supervise.id))
    assert task.data["address"] == "新地址 1 号"


def _long_case(session: Session, clock: FixedClock, visits: int) -> Case:
    case = cases.start_case(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        process_key="risk_visits",
        data=_start_data(_day(clock.now())),
        jurisdiction_code=VILLAGE,
    ).case
    for _ in range(visits):
        clock.advance(STEP)
        task = session.scalar(
            select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "ready")
        )
        human_tasks.complete(
            session=session, clock=clock, actor=DIRECTOR, task_id=task.id, data=_visit(_day(clock.now()))
        )
    return case


def test_a_500_visit_case_verifies_by_replay(session: Session, clock: FixedClock) -> None:
    case = _long_case(session, clock, 500)
    assert len(case.state["workflow"]["tasks"]) < 20
    report = replay.verify_case(session, case)
    assert report.ok and report.events == 501, report.as_dict()


def test_a_case_stored_before_pruning_carries_on_and_verifies(
    session: Session, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:  # the engine as it was: the whole history in the tree
        patch.setattr(engine_runs, "prune", lambda workflow, into: None)
        case = _long_case(session, clock, 40)
    assert len(case.state["workflow"]["tasks"]) > 150
    clock.advance(STEP)
    task = session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "ready"))
    human_tasks.complete(
        session=session, clock=clock, actor=DIRECTOR, task_id=task.id, data=_visit(_day(clock.now()))
    )
    assert len(case.state["workflow"]["tasks"]) < 20
    report = replay.verify_case(session, case)
    assert report.ok and report.events == 42, report.as_dict()


def test_tampering_with_a_pruned_visit_is_still_found(session: Session, clock: FixedClock) -> None:
    case = _long_case(session, clock, 30)
    event = session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.seq == 5))
    event.payload = {**event.payload, "data": {**event.payload["data"], "findings": "改过"}}
    session.flush()
    report = replay.verify_case(session, case)
    assert not report.ok and report.seq == 5
