"""The outbox (written with the action), its delivery to inboxes and the webhook, and the due-time scan."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tasks import jobs
from tasks.flows import deliver_notifications, timer_sweep
from tasks.runtime import Runtime
from tests.tasks.conftest import VILLAGE
from workflows.cases import human_tasks
from workflows.cases import lifecycle as cases
from workflows.infra.clock import FixedClock
from workflows.infra.models import Case, CaseEvent, HumanTask, InboxItem, OutboxMessage
from workflows.outbox import notifications
from workflows.outbox.notifications import PostResult, Webhook
from workflows.people.access import SYSTEM, Actor

DIRECTOR = Actor("gz_director", frozenset({"village_director"}), VILLAGE)


def start(session: Session, clock: FixedClock) -> Case:
    return cases.start_case(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        process_key="review_demo",
        data={"child_name": "小明", "reporter_name": "张三"},
        jurisdiction_code=VILLAGE,
    ).case


def outbox(session: Session, case: Case) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.case_id == case.id)
            .order_by(OutboxMessage.id)
            .execution_options(populate_existing=True)
        )
    )


def inbox(session: Session, case: Case) -> list[tuple[str, str]]:
    rows = session.execute(
        select(InboxItem.username, InboxItem.kind).where(InboxItem.case_id == case.id).order_by(InboxItem.id)
    )
    return [(u, k) for u, k in rows]


def complete(session: Session, clock: FixedClock, bpmn_id: str, data: dict) -> None:
    task = session.scalar(
        select(HumanTask).where(
            HumanTask.bpmn_id == bpmn_id, HumanTask.status == "ready", HumanTask.jurisdiction_code == VILLAGE
        )
    )
    human_tasks.complete(session=session, clock=clock, actor=SYSTEM, task_id=task.id, data=data)


def test_a_new_task_is_staged_in_the_same_transaction(gz: Session, clock: FixedClock) -> None:
    case = start(gz, clock)
    [message] = outbox(gz, case)
    assert (message.kind, message.title, message.role) == (
        "task_assigned",
        "新待办：登记",
        "village_director",
    )
    assert message.dedupe_key.startswith("task_assigned:") and message.delivered_at is None
    assert "小明" not in message.title + message.body and case.case_no in message.body
    assert message.created_at == clock.now()


def test_delivery_reaches_exactly_the_people_who_may_work_the_task(
    gz: Session, clock: FixedClock, runtime: Runtime
) -> None:
    case = start(gz, clock)
    report = deliver_notifications.fn()
    assert report["messages"] >= 1
    # certified and active, jurisdiction covering the village: the director and the township supervisor
    assert inbox(gz, case) == [("gz_director", "task_assigned"), ("gz_supervisor", "task_assigned")]
    assert all(m.delivered_at == clock.now() and m.inbox_at == clock.now() for m in outbox(gz, case))
    deliver_notifications.fn()
    assert len(inbox(gz, case)) == 2  # delivered once


def test_a_red_case_past_24_hours_escalates_once_and_tells_county_civil_affairs_once(
    gz: Session, clock: FixedClock, runtime: Runtime
) -> None:
    case = start(gz, clock)
    complete(gz, clock, "intake", {"score": 95})  # high → police and protection center checks, 24 h timer
    deliver_notifications.fn()
    clock.advance(hours=24, minutes=1)
    assert timer_sweep.fn()["fired"] == 1
    assert timer_sweep.fn()["fired"] == 0
    escalations = [m for m in outbox(gz, case) if m.kind == "escalation"]
    assert [(m.title, m.role) for m in escalations] == [("督办提醒：督办", "county_civil_affairs")]
    deliver_notifications.fn()
    clock.advance(hours=48)
    timer_sweep.fn()
    deliver_notifications.fn()
    assert [k for u, k in inbox(gz, case) if u == "gz_county"] == ["escalation"]
    assert not [u for u, k in inbox(gz, case) if u == "gz_other_county"]
    fired = gz.scalar(
        select(func.count())
        .select_from(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.type == "timer_fired")
    )
    assert fired == 1


def test_due_soon_and_overdue_are_each_staged_once(gz: Session, clock: FixedClock, runtime: Runtime) -> None:
    case = start(gz, clock)  # intake is due in 3 days
    assert jobs.scan_due_tasks(sessions=runtime.sessions, clock=clock) == 0
    clock.advance(days=2, hours=1)
    assert notifications.scan_due(session=gz, clock=clock) == 1
    assert notifications.scan_due(session=gz, clock=clock) == 0
    clock.advance(days=1)
    assert notifications.scan_due(session=gz, clock=clock) == 1
    assert notifications.scan_due(session=gz, clock=clock) == 0
    kinds = [m.kind for m in outbox(gz, case)]
    assert kinds == ["task_assigned", "task_due_soon", "task_overdue"]
    overdue = outbox(gz, case)[-1]
    assert overdue.title == "已逾期：登记" and "2026-03-05 09:00" in overdue.body


def test_a_claimed_task_notifies_only_its_claimant(gz: Session, clock: FixedClock, runtime: Runtime) -> None:
    case = start(gz, clock)
    task = gz.scalar(select(HumanTask).where(HumanTask.case_id == case.id))
    human_tasks.claim(session=gz, clock=clock, actor=DIRECTOR, task_id=task.id)
    deliver_notifications.fn()
    clock.advance(days=4)
    notifications.scan_due(session=gz, clock=clock)
    deliver_notifications.fn()
    assert [(u, k) for u, k in inbox(gz, case) if k == "task_overdue"] == [("gz_director", "task_overdue")]


def test_webhook_gets_ids_and_the_title_but_no_child_data(
    gz: Session, clock: FixedClock, runtime: Runtime
) -> None:
    posted: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content))
        return httpx.Response(204)

    case = start(gz, clock)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        report = jobs.deliver_notifications(
            sessions=runtime.sessions, clock=clock, webhook=Webhook("http://127.0.0.1:9/hook"), client=client
        )
    mine = [p for p in posted if p["case_id"] == case.id]
    assert report.webhook_failures == 0 and len(mine) == 1
    body = mine[0]
    assert body["kind"] == "task_assigned" and body["title"] == "新待办：登记"
    assert body["recipients"] == ["gz_director", "gz_supervisor"]
    assert "小明" not in json.dumps(body, ensure_ascii=False) and "张三" not in json.dumps(
        body, ensure_ascii=False
    )
    assert outbox(gz, case)[0].attempts == 1


def test_a_failing_webhook_is_retried_later_and_the_inbox_is_written_once(
    gz: Session, clock: FixedClock, runtime: Runtime
) -> None:
    answers = iter([500, 500, 500, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers))

    case = start(gz, clock)
    hook = Webhook("http://127.0.0.1:9/hook", retries=2, backoff=0)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:

        def drain() -> jobs.DeliveryReport:
            return jobs.deliver_notifications(
                sessions=runtime.sessions, clock=clock, webhook=hook, client=client
            )

        _only_this_case(gz, case, clock)
        assert drain().webhook_failures == 1
        [message] = outbox(gz, case)
        assert (message.attempts, message.last_error, message.delivered_at) == (3, "HTTP 500", None)
        assert message.retry_at == clock.now() + timedelta(minutes=8) and len(inbox(gz, case)) == 2
        assert drain().messages == 0  # not before retry_at
        clock.advance(minutes=9)
        assert drain().messages == 1
    [message] = outbox(gz, case)
    assert message.attempts == 4 and message.last_error is None and message.delivered_at == clock.now()
    assert len(inbox(gz, case)) == 2


def _only_this_case(session: Session, case: Case, clock: FixedClock) -> None:
    """Mark every other pending row delivered, so the mock transport sees this case's row alone."""
    from sqlalchemy import update

    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.case_id != case.id, OutboxMessage.delivered_at.is_(None))
        .values(delivered_at=clock.now())
    )


def test_a_claimed_row_is_not_claimed_again_and_a_stale_finish_does_nothing(
    gz: Session, clock: FixedClock
) -> None:
    case = start(gz, clock)
    _only_this_case(gz, case, clock)
    [mine] = notifications.claim(session=gz, clock=clock, worker="a:1")
    assert notifications.claim(session=gz, clock=clock, worker="b:1") == []
    clock.advance(minutes=11)  # drainer a died: its lease ran out
    [taken] = notifications.claim(session=gz, clock=clock, worker="b:2")
    assert taken.id == mine.id
    assert (
        notifications.finish(
            session=gz, clock=clock, message_id=mine.id, worker="a:1", result=PostResult(True)
        )
        is None
    )
    assert (
        notifications.finish(
            session=gz, clock=clock, message_id=mine.id, worker="b:2", result=PostResult(True)
        )
        == 2
    )
    assert (
        notifications.finish(
            session=gz, clock=clock, message_id=mine.id, worker="b:2", result=PostResult(True)
        )
        is None
    )
    assert len(inbox(gz, case)) == 2


def test_post_webhook_reports_timeouts_as_the_last_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        result = notifications.post_webhook(
            Webhook("http://127.0.0.1:9/", retries=1, backoff=0), {"id": 1}, client=client
        )
    assert not result.ok and result.attempts == 2 and result.error == "ConnectTimeout: timed out"
