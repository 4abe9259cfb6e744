"""Case services on a database: start, list, claim, complete, idempotency, corrections, timers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.cases import human_tasks
from workflows.cases import lifecycle as cases
from workflows.infra.clock import FixedClock
from workflows.infra.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from workflows.infra.models import Case, CaseEvent, HumanTask
from workflows.people.access import SYSTEM, Actor

VILLAGE = "500111101201"
DIRECTOR = Actor("director", frozenset({"village_director"}), VILLAGE)
POLICE = Actor("police", frozenset({"police"}), "500111")
CENTER = Actor("center", frozenset({"protection_center"}), "500111")
NEIGHBOUR = Actor("neighbour", frozenset({"village_director"}), "500111101202")
SUPERVISOR = Actor("supervisor", frozenset({"township_supervisor"}), "500111101")


def start(session: Session, clock: FixedClock) -> Case:
    outcome = cases.start_case(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        process_key="review_demo",
        data={"child_name": "小明", "reporter_name": "张三"},
        jurisdiction_code=VILLAGE,
    )
    return outcome.case


def only_task(session: Session, actor: Actor) -> HumanTask:
    [task] = human_tasks.list_tasks(session=session, actor=actor).items
    return task


def grade(session: Session, clock: FixedClock, score: int) -> None:
    """The director completes the waiting intake task with a score."""
    human_tasks.complete(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        task_id=only_task(session, DIRECTOR).id,
        data={"score": score},
    )


def events(session: Session, case: Case) -> list[str]:
    return [
        e.type
        for e in session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
        )
    ]


def test_start_writes_case_task_row_and_first_event(session: Session, clock: FixedClock) -> None:
    case = start(session, clock)
    session.flush()
    assert case.status == "running" and case.business_key.startswith("RD-20260302-")
    task = only_task(session, DIRECTOR)
    assert (task.bpmn_id, task.name, task.role, task.jurisdiction_code) == (
        "intake",
        "登记",
        "village_director",
        VILLAGE,
    )
    assert task.due_at == clock.now() + timedelta(days=3)
    assert events(session, case) == ["case_started"]


def test_start_form_refuses_unknown_fields_in_chinese(session: Session, clock: FixedClock) -> None:
    with pytest.raises(ValidationFailed) as info:
        cases.start_case(
            session=session,
            clock=clock,
            actor=DIRECTOR,
            process_key="review_demo",
            data={"child_name": "小明", "__builtins__": {}},
            jurisdiction_code=VILLAGE,
        )
    assert info.value.details["fields"]["__builtins__"] == "表单中没有“__builtins__”这一项，不能提交"
    with pytest.raises(ValidationFailed) as info:
        cases.start_case(
            session=session,
            clock=clock,
            actor=DIRECTOR,
            process_key="review_demo",
            data={},
            jurisdiction_code=VILLAGE,
        )
    assert info.value.details["fields"] == {"child_name": "此项为必填项"}


def test_complete_validates_the_form_with_field_messages(session: Session, clock: FixedClock) -> None:
    start(session, clock)
    task = only_task(session, DIRECTOR)
    with pytest.raises(ValidationFailed) as info:
        human_tasks.complete(
            session=session, clock=clock, actor=DIRECTOR, task_id=task.id, data={"score": "很高", "extra": 1}
        )
    assert info.value.details["fields"] == {
        "extra": "表单中没有“extra”这一项，不能提交",
        "score": "应填写整数",
    }
    with pytest.raises(ValidationFailed) as info:
        human_tasks.complete(
            session=session, clock=clock, actor=DIRECTOR, task_id=task.id, data={"score": 101}
        )
    assert info.value.details["fields"] == {"score": "不能大于 100"}


def test_complete_moves_the_case_on_in_one_set_of_rows(session: Session, clock: FixedClock) -> None:
    case = start(session, clock)
    task = only_task(session, DIRECTOR)
    result = human_tasks.complete(
        session=session, clock=clock, actor=DIRECTOR, task_id=task.id, data={"score": 90}
    )
    session.flush()
    assert sorted(t["bpmn_id"] for t in result["next_tasks"]) == ["center_check", "police_check"]
    assert session.get(HumanTask, task.id).status == "completed"
    assert only_task(session, POLICE).bpmn_id == "police_check"
    assert case.version == 2 and case.next_due_at == clock.now() + timedelta(hours=24)
    assert events(session, case) == ["case_started", "task_completed"]


def test_completing_twice_is_a_conflict_and_logs_once(session: Session, clock: FixedClock) -> None:
    case = start(session, clock)
    task = only_task(session, DIRECTOR)
    human_tasks.complete(session=session, clock=clock, actor=DIRECTOR, task_id=task.id, data={"score": 10})
    with pytest.raises(Conflict, match="已办结"):
        human_tasks.complete(
            session=session, clock=clock, actor=DIRECTOR, task_id=task.id, data={"score": 10}
        )
    assert events(session, case).count("task_completed") == 1


def test_idempotency_key_returns_the_first_result(session: Session, clock: FixedClock) -> None:
    case = start(session, clock)
    task = only_task(session, DIRECTOR)
    first = human_tasks.complete(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        task_id=task.id,
        data={"score": 60},
        idempotency_key="k-1",
    )
    session.flush()
    clock.advance(minutes=1)
    again = human_tasks.complete(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        task_id=task.id,
        data={"score": 60},
        idempotency_key="k-1",
    )
    assert again == first
    assert events(session, case).count("task_completed") == 1
    with pytest.raises(Conflict, match="幂等键"):
        human_tasks.complete(
            session=session,
            clock=clock,
            actor=DIRECTOR,
            task_id=task.id,
            data={"score": 61},
            idempotency_key="k-1",
        )


def test_jurisdiction_and_role_rules(session: Session, clock: FixedClock) -> None:
    start(session, clock)
    task = only_task(session, DIRECTOR)
    assert human_tasks.list_tasks(session=session, actor=NEIGHBOUR).total == 0
    with pytest.raises(NotFound):
        human_tasks.get_task(session=session, actor=NEIGHBOUR, task_id=task.id)
    with pytest.raises(PermissionDenied, match="儿童主任"):
        human_tasks.complete(session=session, clock=clock, actor=POLICE, task_id=task.id, data={"score": 1})


def test_uncertified_worker_sees_nothing_and_is_refused(session: Session, clock: FixedClock) -> None:
    start(session, clock)
    task = only_task(session, DIRECTOR)
    trainee = Actor("trainee", frozenset({"village_director"}), VILLAGE, certified=False)
    assert human_tasks.list_tasks(session=session, actor=trainee).total == 0
    for call in (human_tasks.claim, human_tasks.complete):
        kwargs = {"data": {"score": 1}} if call is human_tasks.complete else {}
        with pytest.raises(PermissionDenied, match="岗前培训"):
            call(session=session, clock=clock, actor=trainee, task_id=task.id, **kwargs)


def test_claim_hides_the_task_from_others_and_unclaim_returns_it(session: Session, clock: FixedClock) -> None:
    case = start(session, clock)
    task = only_task(session, DIRECTOR)
    colleague = Actor("colleague", frozenset({"village_director"}), VILLAGE)
    human_tasks.claim(session=session, clock=clock, actor=DIRECTOR, task_id=task.id)
    assert human_tasks.list_tasks(session=session, actor=colleague).total == 0
    with pytest.raises(Conflict, match="已由 director 认领"):
        human_tasks.complete(
            session=session, clock=clock, actor=colleague, task_id=task.id, data={"score": 1}
        )
    human_tasks.unclaim(session=session, clock=clock, actor=DIRECTOR, task_id=task.id)
    assert human_tasks.list_tasks(session=session, actor=colleague).total == 1
    assert events(session, case) == ["case_started", "task_claimed", "task_unclaimed"]


def test_listing_never_deserializes_a_workflow(
    session: Session, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        start(session, clock)
    from workflows import engine

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("listing deserialized a workflow")

    monkeypatch.setattr(engine.CaseRun, "restore", classmethod(refuse))
    monkeypatch.setattr(engine._SERIALIZER, "from_dict", refuse)
    page = human_tasks.list_tasks(
        session=session,
        actor=SUPERVISOR.__class__("d2", frozenset({"village_director"}), "500111101"),
        limit=2,
    )
    assert page.total == 3 and len(page.items) == 2


def test_tasks_are_ordered_by_due_time(session: Session, clock: FixedClock) -> None:
    start(session, clock)
    clock.advance(hours=-5)
    start(session, clock)
    items = human_tasks.list_tasks(session=session, actor=DIRECTOR).items
    assert [t.due_at for t in items] == sorted(t.due_at for t in items)


def test_due_timer_is_fired_by_the_sweep_once(session: Session, clock: FixedClock) -> None:
    case = start(session, clock)
    grade(session, clock, 99)
    session.flush()
    assert cases.due_cases(session=session, clock=clock) == []
    clock.advance(hours=24, seconds=1)
    assert [cid for _, cid in cases.due_cases(session=session, clock=clock)] == [case.id]
    outcome = cases.fire_due_timers(session=session, clock=clock, case_id=case.id)
    session.flush()
    assert outcome is not None and outcome.events[0].payload["fired"] == ["check_overdue"]
    assert cases.fire_due_timers(session=session, clock=clock, case_id=case.id) is None
    assert cases.due_cases(session=session, clock=clock) == []
    county = Actor("county", frozenset({"county_civil_affairs"}), "500111")
    assert only_task(session, county).bpmn_id == "escalate"
    assert events(session, case).count("timer_fired") == 1


def test_acting_on_a_case_fires_its_due_timers_first(session: Session, clock: FixedClock) -> None:
    case = start(session, clock)
    grade(session, clock, 99)
    clock.advance(days=2)
    human_tasks.complete(
        session=session,
        clock=clock,
        actor=CENTER,
        task_id=only_task(session, CENTER).id,
        data={"center_check_result": "好"},
    )
    assert events(session, case)[-2:] == ["timer_fired", "task_completed"]


def test_correction_is_a_new_event_and_keeps_the_original(session: Session, clock: FixedClock) -> None:
    case = start(session, clock)
    grade(session, clock, 60)
    with pytest.raises(ValidationFailed, match="理由"):
        cases.correct_data(
            session=session,
            clock=clock,
            actor=DIRECTOR,
            case_id=case.id,
            changes={"child_name": "小红"},
            reason=" ",
        )
    with pytest.raises(ValidationFailed) as info:
        cases.correct_data(
            session=session,
            clock=clock,
            actor=DIRECTOR,
            case_id=case.id,
            changes={"nonsense": 1, "score": "x"},
            reason="录入错误",
        )
    assert set(info.value.details["fields"]) == {"nonsense", "score"}
    cases.correct_data(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        case_id=case.id,
        changes={"child_name": "小红"},
        reason="姓名录入错误",
    )
    session.flush()
    assert case.data["child_name"] == "小红"
    log = cases.history(session=session, actor=DIRECTOR, case_id=case.id)
    assert log[0].payload["data"]["child_name"] == "小明"
    assert (
        log[-1].payload["previous"] == {"child_name": "小明"} and log[-1].payload["reason"] == "姓名录入错误"
    )


def test_a_stale_version_is_retried_when_the_task_is_still_ready(session: Session, clock: FixedClock) -> None:
    """Two parallel branches: a concurrent change to the case must not fail the other branch."""
    case = start(session, clock)
    grade(session, clock, 99)
    session.flush()
    police_task, center_task = only_task(session, POLICE), only_task(session, CENTER)
    version_seen = case.version
    human_tasks.complete(
        session=session,
        clock=clock,
        actor=POLICE,
        task_id=police_task.id,
        data={"police_check_result": "已出警"},
    )
    session.flush()
    # make the in-memory row look as it did before the police completion: the CAS fails once, then retries
    from sqlalchemy.orm.attributes import set_committed_value

    set_committed_value(case, "version", version_seen)
    human_tasks.complete(
        session=session,
        clock=clock,
        actor=CENTER,
        task_id=center_task.id,
        data={"center_check_result": "已安置"},
    )
    session.flush()
    assert case.version == version_seen + 2
    assert events(session, case).count("task_completed") == 3


def test_system_actor_sees_every_jurisdiction(session: Session, clock: FixedClock) -> None:
    start(session, clock)
    assert human_tasks.list_tasks(session=session, actor=SYSTEM).total >= 1
    assert session.scalar(select(func.count()).select_from(Case)) >= 1


def test_opening_a_case_or_task_fires_its_due_timers(session: Session, clock: FixedClock) -> None:
    from workflows.cases import views

    case = start(session, clock)
    grade(session, clock, 99)
    clock.advance(hours=25)
    views.task_view(
        session=session, clock=clock, actor=POLICE, task_id=only_task(session, POLICE).id, endpoint="t"
    )
    assert events(session, case)[-1] == "timer_fired"
    county = Actor("county", frozenset({"county_civil_affairs"}), "500111")
    assert only_task(session, county).bpmn_id == "escalate"
    view = views.case_view(session=session, clock=clock, actor=county, case_id=case.id, endpoint="t")
    assert "escalate" in [t["bpmn_id"] for t in view["open_tasks"]]


def test_a_correction_survives_a_deadline_firing_later(session: Session, clock: FixedClock) -> None:
    case = start(session, clock)
    grade(session, clock, 90)
    cases.correct_data(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        case_id=case.id,
        changes={"child_name": "小刚"},
        reason="更正",
    )
    clock.advance(hours=30)
    cases.fire_due_timers(session=session, clock=clock, case_id=case.id)
    assert case.data["child_name"] == "小刚"
    from workflows.cases import views

    county = Actor("county", frozenset({"county_civil_affairs"}), "500111")
    escalate = only_task(session, county)
    view = views.task_view(session=session, clock=clock, actor=county, task_id=escalate.id, endpoint="t")
    assert view["case"]["data"]["child_name"] == "小刚"
