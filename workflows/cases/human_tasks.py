"""Human-task use cases: list, claim, unclaim, complete (keyword-only, no commit)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from workflows.cases.actions import (
    act,
    get_task_row,
    get_task_with_case,
    load_case,
    process_of,
    record,
    update_tasks,
)
from workflows.cases.listing import (
    COUNT_CAP,
    READY,
    Branch,
    Cursor,
    bounded_count,
    page_rows,
    place_condition,
)
from workflows.engine import CaseRun
from workflows.forms.validator import Form
from workflows.infra.clock import Clock, iso_utc
from workflows.infra.errors import Conflict, NotFound, PermissionDenied
from workflows.infra.models import Case, HumanTask, IdempotencyKey, User
from workflows.log.events import NewEvent
from workflows.people.access import Actor, require_certified, require_visible
from workflows.people.roles import role_label


@dataclass
class TaskPage:
    items: list[HumanTask]
    total: int  # counted up to listing.COUNT_CAP
    more: bool = False  # there are more than COUNT_CAP
    next: str | None = None  # the cursor of the page after this one (``after=``), None on the last page


def uncovered_villages(session: Session, township: str) -> list[str]:
    """Villages under a township with village-director work waiting but no certified, active director."""
    waiting = set(
        session.scalars(
            select(HumanTask.jurisdiction_code)
            .distinct()
            .where(
                READY,
                HumanTask.role == "village_director",
                HumanTask.jurisdiction_code.startswith(township),
            )
        )
    )
    if not waiting:
        return []
    directors = [
        u.jurisdiction_code
        for u in session.scalars(
            select(User).where(
                User.active.is_(True), User.certified.is_(True), User.jurisdiction_code.startswith(township)
            )
        )
        if "village_director" in u.roles
    ]
    return sorted(code for code in waiting if not any(code.startswith(d) for d in directors))


def may_work(session: Session, actor: Actor, task: HumanTask) -> bool:
    """The actor holds the task's role, or stands in for a village that has no certified director."""
    if actor.has_any(task.role):
        return True
    return (
        task.role == "village_director"
        and "township_supervisor" in actor.roles
        and task.jurisdiction_code in uncovered_villages(session, actor.jurisdiction)
    )


def work_branches(session: Session, actor: Actor, status: str = "ready") -> list[Branch] | None:
    """The index ranges of the tasks an actor may work: each of their roles in their place, and the villages
    without a certified director a township supervisor stands in for; None before certification."""
    if not actor.certified:
        return None
    place = place_condition(actor.jurisdiction)
    branches = [Branch(role, place, status) for role in sorted(actor.roles)]
    stands_in = "township_supervisor" in actor.roles and "village_director" not in actor.roles
    if stands_in and not actor.is_system:
        villages = uncovered_villages(session, actor.jurisdiction)
        if villages:
            branches.append(Branch("village_director", HumanTask.jurisdiction_code.in_(villages), status))
    return branches


def work_filter(actor: Actor, *, mine: bool = False, process_key: str | None = None) -> Any:
    """Within the ranges: unclaimed or the actor's own (only their own when ``mine``), of one process."""
    # written on an expression so that no planner takes the assignee index (almost every row is unclaimed)
    # instead of the list's own range
    cond: Any = func.coalesce(HumanTask.assignee, "").in_(["", actor.username])
    if mine:
        cond &= HumanTask.assignee == actor.username
    if process_key:
        cond &= HumanTask.process_key == process_key
    return cond


def list_tasks(
    *,
    session: Session,
    actor: Actor,
    process_key: str | None = None,
    status: str = "ready",
    mine: bool = False,
    limit: int = 50,
    offset: int = 0,
    after: str | None = None,
) -> TaskPage:
    """Ready (or claimed) tasks for the actor's roles and jurisdiction, by due time; no workflow is loaded.

    ``after`` (the ``next`` of the previous page) continues after its last row and ignores ``offset``.
    """
    branches = work_branches(session, actor, status)
    if branches is None:
        return TaskPage([], 0)
    extra = work_filter(actor, mine=mine, process_key=process_key)
    cursor = Cursor.parse(after) if after else None
    limit = min(max(limit, 1), 200)
    rows = page_rows(
        session,
        branches,
        lambda cond: select(HumanTask).where(cond),
        extra=extra,
        limit=limit,
        offset=0 if cursor else max(offset, 0),
        cursor=cursor,
    )
    items = [row[0] for row in rows]
    total = bounded_count(session, branches, extra=extra)
    following = Cursor.of(items[-1]).text() if len(items) == limit else None
    return TaskPage(items, min(total, COUNT_CAP), total > COUNT_CAP, following)


def get_task(*, session: Session, actor: Actor, task_id: str) -> HumanTask:
    """A task the actor may see: 404 outside their jurisdiction, 403 for another role."""
    task = get_task_row(session, task_id)
    if task is None:
        raise NotFound("找不到该任务", code="task_not_found")
    _require_visible_task(session, actor, task)
    return task


def _task_and_case(*, session: Session, actor: Actor, task_id: str) -> tuple[HumanTask, Case]:
    """``get_task`` with the task's case, read by the same statement."""
    found = get_task_with_case(session, task_id)
    if found is None:
        raise NotFound("找不到该任务", code="task_not_found")
    _require_visible_task(session, actor, found[0])
    return found


def _require_visible_task(session: Session, actor: Actor, task: HumanTask) -> None:
    require_visible(actor, task.jurisdiction_code, "任务")
    require_certified(actor, "查看案件任务")
    if not may_work(session, actor, task):
        raise PermissionDenied(
            f"该任务由{role_label(task.role)}办理，您的角色无权办理",
            code="role_required",
            details={"roles": [task.role]},
        )


def _require_workable(actor: Actor, task: HumanTask) -> None:
    require_certified(actor, "认领或办理案件任务")
    if task.status != "ready":
        word = "已办结" if task.status == "completed" else "已取消"
        raise Conflict(
            f"该任务{word}，请刷新待办列表", code="task_not_ready", details={"status": task.status}
        )
    if task.assignee and task.assignee != actor.username:
        raise Conflict(
            f"该任务已由 {task.assignee} 认领",
            code="task_claimed_by_other",
            details={"assignee": task.assignee},
        )


def form_of(session: Session, task: HumanTask, case: Case | None = None) -> Form:
    """The JSON-schema form a task is completed with."""
    case = case or load_case(session, task.case_id)
    return process_of(session, case).forms.require(task.bpmn_id)


def _set_claim(*, session: Session, clock: Clock, actor: Actor, task_id: str, claim: bool) -> HumanTask:
    task = get_task(session=session, actor=actor, task_id=task_id)
    _require_workable(actor, task)
    now = clock.now()
    if claim and task.assignee == actor.username:
        return task
    if not claim and task.assignee is None:
        return task

    def check() -> None:  # re-read after losing a race: someone may have claimed or finished the task
        session.refresh(task)
        _require_workable(actor, task)

    etype = "task_claimed" if claim else "task_unclaimed"
    event = NewEvent(etype, actor.username, {"task_id": task.id, "bpmn_id": task.bpmn_id})
    at = record(session, case_id=task.case_id, now=now, items=[event], check=check)
    values = {"assignee": actor.username if claim else None, "claimed_at": at if claim else None}
    update_tasks(session, [task.id], values)
    return task


def claim(*, session: Session, clock: Clock, actor: Actor, task_id: str) -> HumanTask:
    """Take a ready task so that others see it is being worked on."""
    return _set_claim(session=session, clock=clock, actor=actor, task_id=task_id, claim=True)


def unclaim(*, session: Session, clock: Clock, actor: Actor, task_id: str) -> HumanTask:
    """Give a claimed task back to the pool."""
    return _set_claim(session=session, clock=clock, actor=actor, task_id=task_id, claim=False)


def complete(
    *,
    session: Session,
    clock: Clock,
    actor: Actor,
    task_id: str,
    data: dict[str, Any],
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Complete a task with form-validated data; a repeated idempotency key returns the first result."""
    request_hash = (  # only a repeated key is compared with it
        hashlib.sha256(
            json.dumps({"task_id": task_id, "data": data}, sort_keys=True, default=str).encode()
        ).hexdigest()
        if idempotency_key
        else ""
    )
    first = _first_result(session, actor, idempotency_key, request_hash)
    if first is not None:
        return first
    try:
        return _complete(
            session=session,
            clock=clock,
            actor=actor,
            task_id=task_id,
            data=data,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
    except Conflict:
        # the same key raced in from another request that has committed since: give its result
        first = _first_result(session, actor, idempotency_key, request_hash)
        if first is not None:
            return first
        raise


def _first_result(
    session: Session, actor: Actor, key: str | None, request_hash: str
) -> dict[str, Any] | None:
    if not key:
        return None
    stored = session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.actor == actor.username, IdempotencyKey.key == key)
    )
    if stored is None:
        return None
    if stored.request_hash != request_hash:
        raise Conflict("该幂等键已用于另一个不同的提交", code="idempotency_key_reused")
    return dict(stored.result)


def _complete(
    *,
    session: Session,
    clock: Clock,
    actor: Actor,
    task_id: str,
    data: dict[str, Any],
    idempotency_key: str | None,
    request_hash: str,
) -> dict[str, Any]:
    task, case = _task_and_case(session=session, actor=actor, task_id=task_id)  # the case held here so
    _require_workable(actor, task)  # that the action below finds it in the session
    clean = form_of(session, task, case).validate(data)
    now = clock.now()

    attempts = 0

    def check(case: Case) -> None:
        nonlocal attempts
        require_visible(actor, case.jurisdiction_code, "任务")
        attempts += 1
        if attempts > 1:  # re-read after losing a race: someone may have claimed or finished the task
            session.refresh(task)
            _require_workable(actor, task)

    def step(case: Case, run: CaseRun, at: datetime) -> list[NewEvent]:
        if task.id not in {t.id for t in run.open_tasks()}:
            raise Conflict("该任务已办结或已被取消，请刷新待办列表", code="task_not_ready")
        run.complete(task.id, clean, now=at)
        return [
            NewEvent(
                "task_completed",
                actor.username,
                {"task_id": task.id, "bpmn_id": task.bpmn_id, "data": clean, "digest": run.digest()},
            )
        ]

    outcome = act(
        session,
        case_id=task.case_id,
        now=now,
        actor=actor.username,
        step=step,
        check=check,
        task_updates={task.id: {"completed_by": actor.username}},
    )
    set_committed_value(task, "status", "completed")
    result = {
        "task_id": task.id,
        "case_id": outcome.case.id,
        "case_status": outcome.case.status,
        "completed_at": iso_utc(outcome.now or now),
        "next_tasks": [
            {
                "id": t.id,
                "bpmn_id": t.bpmn_id,
                "name": t.name,
                "role": t.role,
                "due_at": iso_utc(t.due_at) if t.due_at else None,
            }
            for t in outcome.new_tasks
        ],
    }
    if idempotency_key:
        session.add(
            IdempotencyKey(
                actor=actor.username,
                key=idempotency_key,
                action="complete_task",
                request_hash=request_hash,
                result=result,
                created_at=now,
            )
        )
        session.flush()
    return result
