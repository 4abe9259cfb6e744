"""Cases running on the versions before the statutory rework (tests/data/previous/<key>) keep working on
their pinned version; moving them to the new version is refused wherever workflows/cases/migration.py's
rule (every finished step unchanged, every open step still there) does not hold."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from workflows.engine import CaseRun, ParsedProcess, migrate_run, parse_process
from workflows.processes.registry import read_folder

ROOT = Path(__file__).resolve().parents[2]


def versions(key: str) -> tuple[ParsedProcess, ParsedProcess]:
    old = parse_process(key, read_folder(ROOT / "tests" / "data" / "previous" / key), f"previous-{key}")
    new = parse_process(key, read_folder(ROOT / "bpmn" / key), f"reworked-{key}")
    return old, new


def stored(run: CaseRun, process: ParsedProcess) -> CaseRun:
    return CaseRun.restore(process, json.loads(json.dumps(run.dump())), case_id=run.case_id)


def do(run: CaseRun, bpmn_id: str, data: dict, now: datetime) -> None:  # type: ignore[type-arg]
    [task] = [t for t in run.open_tasks() if t.bpmn_id == bpmn_id]
    run.complete(task.id, data, now=now)


def test_benefit_transition_cases_stay_on_their_version_and_finish_there() -> None:
    old, new = versions("benefit_transition")
    now = datetime(2026, 3, 31, 1, tzinfo=UTC)
    start = {"child_ref": "C-1", "child_name": "小芳", "category": "orphan", "support_end_date": "2026-03-31"}
    run = CaseRun.start(old, case_id=str(uuid.uuid4()), data={**start, "exit_reason": "收养"}, now=now)
    do(run, "enrol_assistance", {"assessment_date": "2026-03-31", "assistance_enrolled": []}, now)
    do(
        run,
        "record_transition",
        {"decision_date": "2026-03-31", "decision_ref": "x", "monthly_amount": 1},
        now,
    )
    report = migrate_run(stored(run, old), new, now=now)
    assert not report.safe
    assert any("setup" in r for r in report.reasons) and any("transition_period" in r for r in report.reasons)
    run = stored(run, old)  # pinned: the old version's timer and review still run
    assert run.fire_timers(now=datetime(2026, 9, 30, 1, tzinfo=UTC)).fired_timers == ["transition_period"]
    do(
        run,
        "review_transition",
        {"review_date": "2026-09-30", "review_outcome": "end_support", "assistance_types": []},
        now,
    )
    assert run.status == "completed"


def test_risk_visits_cases_stay_on_their_version_and_carry_on_there() -> None:
    old, new = versions("risk_visits")
    now = datetime(2026, 1, 31, 2, tzinfo=UTC)
    start = {"child_ref": "C-1", "child_name": "小华", "address": "某村", "risk_facts": [], "facts_note": ""}
    run = CaseRun.start(
        old, case_id=str(uuid.uuid4()), data={**start, "last_visit_date": "2026-01-31"}, now=now
    )
    assert [t.bpmn_id for t in run.open_tasks()] == ["contact"]
    report = migrate_run(stored(run, old), new, now=now)
    assert not report.safe and report.reasons
    run = stored(run, old)
    fired = run.fire_timers(now=now + timedelta(days=40)).fired_timers
    assert fired == ["contact_overdue"] and "supervise_overdue" in [t.bpmn_id for t in run.open_tasks()]


def test_worker_onboarding_cases_stay_on_their_version() -> None:
    old, new = versions("worker_onboarding")
    now = datetime(2026, 3, 2, 1, tzinfo=UTC)
    data = {"post": "village_director", "username": "zhang_li", "real_name": "张丽", "workplace": "石马村"}
    run = CaseRun.start(old, case_id=str(uuid.uuid4()), data=data, now=now)
    assert [t.bpmn_id for t in run.open_tasks()] == ["appoint_director"]
    report = migrate_run(stored(run, old), new, now=now)
    assert not report.safe and any("set_parameters" in r for r in report.reasons)
    run = stored(run, old)
    appointment = {"appointment_date": "2026-03-02", "background": "committee_member", "post_basis": "first"}
    do(run, "appoint_director", appointment, now)
    assert [t.bpmn_id for t in run.open_tasks()] == ["register_worker"]


def test_guardianship_cases_stay_on_their_version_and_finish_there() -> None:
    """A red case at the police step on the previous version: moving it would skip the new intake rules, so
    migration is refused; on its own version it carries on to the assessment."""
    old, new = versions("guardianship_intervention")
    now = datetime(2026, 3, 2, 1, tzinfo=UTC)
    report = {
        "reporter_type": "public",
        "situation": "violence",
        "without_guardian": False,
        "immediate_danger": True,
        "child_known": True,
        "location_description": "某村",
        "description": "邻居反映儿童被打。",
    }
    run = CaseRun.start(old, case_id=str(uuid.uuid4()), data=report, now=now)
    review = {
        "intake_decision": "accept",
        "situation": "violence",
        "without_guardian": False,
        "immediate_danger": True,
    }
    do(run, "review_report", review, now)
    assert [t.bpmn_id for t in run.open_tasks()] == ["emergency_response_police"]
    moved = migrate_run(stored(run, old), new, now=now)
    assert not moved.safe and any("set_parameters" in r for r in moved.reasons)
    run = stored(run, old)
    police = {
        "police_arrived_at": "2026-03-02T09:40:00+08:00",
        "child_located": True,
        "child_safe": True,
        "police_measures": ["stop_harm"],
        "criminal_case_filed": False,
        "police_note": "已制止。",
    }
    do(run, "emergency_response_police", police, now)
    assert [t.bpmn_id for t in run.open_tasks()] == ["assess_guardianship"]
