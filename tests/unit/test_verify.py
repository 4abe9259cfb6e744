"""Verify: the chain is intact and replay reproduces the case; every kind of tampering is named."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from tests.unit.test_services import CENTER, DIRECTOR, POLICE, grade, only_task, start
from workflows.cases import human_tasks, replay
from workflows.cases import lifecycle as cases
from workflows.infra.clock import FixedClock
from workflows.infra.errors import PermissionDenied
from workflows.infra.models import Case, CaseEvent
from workflows.people.access import Actor

AUDITOR = Actor("auditor", frozenset({"auditor"}), "50")


def finished_case(session: Session, clock: FixedClock) -> Case:
    case = start(session, clock)
    human_tasks.claim(session=session, clock=clock, actor=DIRECTOR, task_id=only_task(session, DIRECTOR).id)
    clock.advance(minutes=5)
    human_tasks.complete(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        task_id=only_task(session, DIRECTOR).id,
        data={"score": 90, "note": "邻居反映"},
    )
    clock.advance(hours=30)
    cases.fire_due_timers(session=session, clock=clock, case_id=case.id)
    cases.correct_data(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        case_id=case.id,
        changes={"child_name": "小刚"},
        reason="姓名有误",
    )
    county = Actor("county", frozenset({"county_civil_affairs"}), "500111")
    for actor in (POLICE, CENTER, county):
        task = only_task(session, actor)
        human_tasks.complete(
            session=session,
            clock=clock,
            actor=actor,
            task_id=task.id,
            data={f"{task.bpmn_id}_result": "完成"},
        )
    human_tasks.complete(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        task_id=only_task(session, DIRECTOR).id,
        data={"close_result": "结案"},
    )
    session.flush()
    assert case.status == "completed"
    return case


def half_case(session: Session, clock: FixedClock) -> Case:
    case = start(session, clock)
    grade(session, clock, 85)
    human_tasks.claim(session=session, clock=clock, actor=POLICE, task_id=only_task(session, POLICE).id)
    return case


def check(session: Session, case: Case) -> replay.Report:
    session.expire_all()
    return replay.verify(session=session, actor=AUDITOR, case_id=case.id)


def test_finished_and_half_finished_cases_verify(session: Session, clock: FixedClock) -> None:
    for case in (finished_case(session, clock), half_case(session, clock)):
        report = check(session, case)
        assert report.ok, report.problem


def test_only_verifying_roles_may_verify(session: Session, clock: FixedClock) -> None:
    case = half_case(session, clock)
    with pytest.raises(PermissionDenied):
        replay.verify(session=session, actor=DIRECTOR, case_id=case.id)


def _event(session: Session, case: Case, etype: str) -> CaseEvent:
    return session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.type == etype).order_by(CaseEvent.seq)
    ).first()


def test_changed_payload_is_named(session: Session, clock: FixedClock) -> None:
    case = finished_case(session, clock)
    event = _event(session, case, "task_completed")
    payload = dict(event.payload, data={**event.payload["data"], "score": 10})
    session.execute(update(CaseEvent).where(CaseEvent.id == event.id).values(payload=payload))
    report = check(session, case)
    assert not report.ok and report.seq == event.seq and report.event_type == "task_completed"
    assert "内容被改动" in report.problem


def test_changed_actor_is_named(session: Session, clock: FixedClock) -> None:
    case = finished_case(session, clock)
    event = _event(session, case, "data_corrected")
    session.execute(update(CaseEvent).where(CaseEvent.id == event.id).values(actor="someone_else"))
    report = check(session, case)
    assert not report.ok and report.seq == event.seq


def test_changed_time_is_named(session: Session, clock: FixedClock) -> None:
    case = finished_case(session, clock)
    event = _event(session, case, "timer_fired")
    session.execute(
        update(CaseEvent)
        .where(CaseEvent.id == event.id)
        .values(occurred_at=event.occurred_at - timedelta(hours=1))
    )
    report = check(session, case)
    assert not report.ok and report.seq == event.seq and report.event_type == "timer_fired"


def test_deleted_last_event_is_named(session: Session, clock: FixedClock) -> None:
    case = finished_case(session, clock)
    last = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq.desc())
    ).first()
    session.execute(delete(CaseEvent).where(CaseEvent.id == last.id))
    report = check(session, case)
    assert not report.ok and report.seq == last.seq and "缺失" in report.problem


def test_changed_state_alone_is_named(session: Session, clock: FixedClock) -> None:
    case = half_case(session, clock)
    state = case.state
    workflow = dict(state["workflow"])
    root = workflow["tasks"][workflow["root"]]
    root["data"] = {**root["data"], "child_name": "被改动"}
    session.execute(update(Case).where(Case.id == case.id).values(state={**state, "workflow": workflow}))
    report = check(session, case)
    assert not report.ok and report.seq is None and "存储的案件" in report.problem


def test_changed_case_data_alone_is_named(session: Session, clock: FixedClock) -> None:
    case = half_case(session, clock)
    session.execute(update(Case).where(Case.id == case.id).values(data={**case.data, "score": 1}))
    report = check(session, case)
    assert not report.ok and "case_data" in report.problem


def test_forged_event_with_rehashed_chain_fails_replay(session: Session, clock: FixedClock) -> None:
    """Someone who rewrites a payload and recomputes every hash still cannot fool the replay."""
    from workflows.log.events import event_hash

    case = finished_case(session, clock)
    events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
    ).all()
    target = next(e for e in events if e.type == "task_completed")
    prev = events[target.seq - 2].hash
    for event in events[target.seq - 1 :]:
        payload = event.payload
        if event.id == target.id:
            payload = dict(payload, data={**payload["data"], "score": 55})
        new_hash = event_hash(
            case_id=case.id,
            seq=event.seq,
            type=event.type,
            actor=event.actor,
            occurred_at=event.occurred_at,
            payload=payload,
            prev_hash=prev,
        )
        session.execute(
            update(CaseEvent)
            .where(CaseEvent.id == event.id)
            .values(payload=payload, prev_hash=prev, hash=new_hash)
        )
        prev = new_hash
    session.execute(update(Case).where(Case.id == case.id).values(last_event_hash=prev))
    report = check(session, case)
    assert not report.ok and report.seq == target.seq and "不一致" in report.problem


def test_changed_claim_row_is_named(session: Session, clock: FixedClock) -> None:
    case = half_case(session, clock)
    from workflows.infra.models import HumanTask

    session.execute(
        update(HumanTask)
        .where(HumanTask.case_id == case.id, HumanTask.assignee.is_not(None))
        .values(assignee="intruder")
    )
    report = check(session, case)
    assert not report.ok and "human_tasks" in report.problem


@pytest.mark.parametrize(
    ("table", "values", "where_ready", "field"),
    [
        ("case", {"next_due_at": None}, None, "next_due_at"),
        ("case", {"child_ref": "someone-else"}, None, "child_ref"),
        ("case", {"jurisdiction_code": "500112"}, None, "jurisdiction_code"),
        ("task", {"role": "education"}, True, "human_tasks"),
        ("task", {"jurisdiction_code": "500112"}, True, "human_tasks"),
        ("task", {"completed_by": "intruder"}, False, "human_tasks_completed"),
    ],
)
def test_rows_that_decide_who_works_what_and_when_are_verified(
    session: Session, clock: FixedClock, table: str, values: dict, where_ready: bool | None, field: str
) -> None:
    from workflows.infra.models import HumanTask

    case = half_case(session, clock)
    if table == "case":
        session.execute(update(Case).where(Case.id == case.id).values(**values))
    else:
        status = "ready" if where_ready else "completed"
        session.execute(
            update(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == status).values(**values)
        )
    report = check(session, case)
    assert not report.ok and report.details.get("field") == field, report.problem
