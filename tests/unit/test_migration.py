"""Moving running cases between versions: the engine helper without a database, then the service and
replay on one."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.conftest import START
from tests.support.model_edits import (
    edit_bpmn,
    renamed,
    review_demo,
    with_report_after_escalation,
    without_police_check,
)
from tests.unit.test_services import CENTER, DIRECTOR, POLICE, only_task, start
from workflows.cases import human_tasks, migration, replay
from workflows.cases import lifecycle as cases
from workflows.engine import CaseRun, ParsedProcess, migrate_run, parse_process
from workflows.infra.clock import FixedClock
from workflows.infra.errors import PermissionDenied, ValidationFailed
from workflows.infra.models import Case, CaseEvent, HumanTask
from workflows.people.access import Actor
from workflows.processes import registry

MODELER = Actor("modeler", frozenset({"process_admin"}), "50")
AUDITOR = Actor("auditor", frozenset({"auditor"}), "50")
COUNTY = Actor("county", frozenset({"county_civil_affairs"}), "500111")
V1 = parse_process("review_demo", review_demo(), "migration-v1")


def _parsed(files: dict[str, str]) -> ParsedProcess:
    return parse_process("review_demo", files, registry.content_hash(files, []))


def _at_checks(clock: FixedClock) -> CaseRun:
    run = CaseRun.start(V1, case_id=str(uuid.uuid4()), data={"child_name": "小明"}, now=clock.now())
    run.complete(run.open_tasks()[0].id, {"score": 95}, now=clock.now())
    clock.advance(hours=5)
    return run


def _canonical(run: CaseRun) -> str:
    return json.dumps(run.dump(), sort_keys=True)


# --- the engine helper ----------------------------------------------------------------------------
def test_open_tasks_and_pending_timer_survive_the_move(clock: FixedClock) -> None:
    run = _at_checks(clock)
    before = {t.id: (t.bpmn_id, t.due_at) for t in run.open_tasks()}
    due, done = run.next_due_at(), run.completed_user_tasks()
    report = migrate_run(run, _parsed(renamed(review_demo(), "police_check", "公安核实")), now=clock.now())
    assert (
        report.safe and report.changed == ["police_check"] and len(report.kept) == 3
    )  # two tasks and the timer
    assert {t.id: (t.bpmn_id, t.due_at) for t in run.open_tasks()} == before
    assert {t.name for t in run.open_tasks()} == {"公安核实", "救助机构核查"}
    assert run.next_due_at() == due == START + timedelta(hours=24)
    assert run.completed_user_tasks() == done


def test_the_move_is_deterministic_for_replay(clock: FixedClock) -> None:
    run = _at_checks(clock)
    stored = CaseRun.restore(V1, run.dump(), case_id=run.case_id)
    target = _parsed(with_report_after_escalation(review_demo()))
    assert (
        migrate_run(run, target, now=clock.now()).safe and migrate_run(stored, target, now=clock.now()).safe
    )
    assert _canonical(run) == _canonical(stored)


def test_a_new_step_after_the_timer_is_taken_once_the_timer_fires(clock: FixedClock) -> None:
    run = _at_checks(clock)
    migrate_run(run, _parsed(with_report_after_escalation(review_demo())), now=clock.now())
    clock.set(START + timedelta(hours=25))
    assert run.fire_timers(now=clock.now()).fired_timers == ["check_overdue"]
    escalate = next(t for t in run.open_tasks() if t.bpmn_id == "escalate")
    run.complete(escalate.id, {"escalate_result": "已督办"}, now=clock.now())
    assert "report_back" in {t.bpmn_id for t in run.open_tasks()}


def test_a_case_at_an_escalation_keeps_it(clock: FixedClock) -> None:
    run = _at_checks(clock)
    clock.set(START + timedelta(hours=25))
    run.fire_timers(now=clock.now())
    before = sorted((t.id, t.bpmn_id) for t in run.open_tasks())
    assert migrate_run(run, _parsed(renamed(review_demo(), "escalate", "督办处理")), now=clock.now()).safe
    assert sorted((t.id, t.bpmn_id) for t in run.open_tasks()) == before


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        (without_police_check(review_demo()), "当前环节“公安核查”（police_check）在新版本中不存在"),
        (
            edit_bpmn(review_demo(), "deadline_hours = 24", "deadline_hours = 48"),
            "已完成的环节“设定期限”（setup）在新版本中被修改（script）",
        ),
        (
            edit_bpmn(
                review_demo(),
                '<bpmn:lane id="lane_police" name="police">',
                '<bpmn:lane id="lane_police" name="court">',
            ),
            "当前环节“公安核查”（police_check）在新版本中改由其他角色办理（police → court）",
        ),
    ],
    ids=["current_step_missing", "finished_step_changed", "role_changed"],
)
def test_unsafe_moves_are_refused_with_a_reason_and_change_nothing(
    clock: FixedClock, files: dict[str, str], reason: str
) -> None:
    run = _at_checks(clock)
    before = _canonical(run)
    report = migrate_run(run, _parsed(files), now=clock.now())
    assert not report.safe and reason in report.reasons, report.reasons
    assert _canonical(run) == before


# --- the service and replay -----------------------------------------------------------------------
def _version(session: Session, files: dict[str, str], note: str) -> int:
    return registry.register(
        session, key="review_demo", files=files, source="uploaded", actor="modeler", now=START, note=note
    ).id


def _case_at_checks(session: Session, clock: FixedClock) -> Case:
    case = start(session, clock)
    human_tasks.complete(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        task_id=only_task(session, DIRECTOR).id,
        data={"score": 90},
    )
    human_tasks.claim(session=session, clock=clock, actor=POLICE, task_id=only_task(session, POLICE).id)
    clock.advance(hours=3)
    return case


def _verify(session: Session, case: Case) -> replay.Report:
    session.expire_all()
    return replay.verify(session=session, actor=AUDITOR, case_id=case.id)


def test_a_dry_run_writes_nothing(session: Session, clock: FixedClock) -> None:
    case = _case_at_checks(session, clock)
    target = _version(session, renamed(review_demo(), "police_check", "公安核实"), "改名")
    seq = case.last_event_seq
    [result] = migration.migrate(
        session=session,
        clock=clock,
        actor=MODELER,
        process_key="review_demo",
        to_version_id=target,
        case_ids=[case.id],
    )
    assert result.safe and not result.migrated
    session.expire_all()
    assert session.get(Case, case.id).last_event_seq == seq


def test_replay_switches_versions_at_the_migration_event(session: Session, clock: FixedClock) -> None:
    case = _case_at_checks(session, clock)
    target = _version(session, with_report_after_escalation(review_demo()), "加回报")
    migration.migrate(
        session=session,
        clock=clock,
        actor=MODELER,
        process_key="review_demo",
        to_version_id=target,
        case_ids=[case.id],
        dry_run=False,
    )
    clock.advance(hours=30)
    cases.fire_due_timers(session=session, clock=clock, case_id=case.id)
    for actor, step in ((COUNTY, "escalate"), (COUNTY, "report_back")):
        task = next(
            t for t in human_tasks.list_tasks(session=session, actor=actor).items if t.bpmn_id == step
        )
        human_tasks.complete(
            session=session, clock=clock, actor=actor, task_id=task.id, data={"escalate_result": "完成"}
        )
    for actor in (POLICE, CENTER):
        task = only_task(session, actor)
        human_tasks.complete(
            session=session,
            clock=clock,
            actor=actor,
            task_id=task.id,
            data={f"{task.bpmn_id}_result": "完成"},
        )
    types = [
        e.type
        for e in session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
        )
    ]
    assert types.index("case_migrated") < types.index("timer_fired")
    report = _verify(session, case)
    assert report.ok, report.problem


def test_verify_names_a_case_pinned_to_another_version_than_its_log(
    session: Session, clock: FixedClock
) -> None:
    case = _case_at_checks(session, clock)
    old = case.process_version_id
    target = _version(session, renamed(review_demo(), "police_check", "公安核实"), "改名")
    migration.migrate(
        session=session,
        clock=clock,
        actor=MODELER,
        process_key="review_demo",
        to_version_id=target,
        case_ids=[case.id],
        dry_run=False,
    )
    assert _verify(session, case).ok
    session.execute(update(Case).where(Case.id == case.id).values(process_version_id=old))
    report = _verify(session, case)
    assert not report.ok and "版本" in report.problem


def test_claims_and_due_times_stay_on_the_rows(session: Session, clock: FixedClock) -> None:
    case = _case_at_checks(session, clock)
    rows = {
        r.id: (r.assignee, r.claimed_at, r.due_at, r.created_at)
        for r in session.scalars(
            select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "ready")
        )
    }
    target = _version(session, renamed(review_demo(), "police_check", "公安核实"), "改名")
    migration.migrate(
        session=session,
        clock=clock,
        actor=MODELER,
        process_key="review_demo",
        to_version_id=target,
        case_ids=[case.id],
        dry_run=False,
    )
    session.expire_all()
    after = {
        r.id: (r.assignee, r.claimed_at, r.due_at, r.created_at)
        for r in session.scalars(
            select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "ready")
        )
    }
    assert after == rows and any(a[0] == "police" for a in after.values())


def test_only_process_administrators_migrate(session: Session, clock: FixedClock) -> None:
    case = _case_at_checks(session, clock)
    with pytest.raises(PermissionDenied):
        migration.migrate(
            session=session,
            clock=clock,
            actor=DIRECTOR,
            process_key="review_demo",
            to_version_id=case.process_version_id,
            case_ids=[case.id],
        )


def test_a_case_already_on_the_version_is_not_moved(session: Session, clock: FixedClock) -> None:
    case = _case_at_checks(session, clock)
    with pytest.raises(ValidationFailed) as info:
        migration.migrate(
            session=session,
            clock=clock,
            actor=MODELER,
            process_key="review_demo",
            to_version_id=case.process_version_id,
            case_ids=[case.id],
            dry_run=False,
        )
    assert "已在该版本" in info.value.message
