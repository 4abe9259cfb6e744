"""One action on a case = one transaction: state, task rows and log events written together.

The case row is updated first with a compare-and-set on its version column, before anything else
is written, so a lost race leaves nothing behind and the action is simply re-run on the fresh row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from workflows.cases import messages
from workflows.engine import _PARSED, CaseRun, OpenTask, ParsedProcess
from workflows.infra.errors import Conflict, ModelError, NotFound
from workflows.infra.models import Case, HumanTask, ProcessVersion
from workflows.infra.overview_columns import risk_colour
from workflows.log.events import NewEvent, chain
from workflows.outbox import notifications
from workflows.processes import registry
from workflows.sandbox.values import case_data_problem

MAX_ATTEMPTS = 5


@dataclass
class Outcome:
    """What an action produced, returned to the caller after the rows are staged."""

    case: Case
    run: CaseRun
    events: list[NewEvent] = field(default_factory=list)
    new_tasks: list[HumanTask] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)


Step = Callable[[Case, CaseRun], list[NewEvent]]


class _Stale(Exception):
    pass


def process_of(session: Session, case: Case) -> ParsedProcess:
    """The parsed version a case is pinned to; no query when it is already parsed."""
    ref = (case.state or {}).get("spec_ref")
    if ref and ref in _PARSED:
        return _PARSED[ref]
    version = session.get(ProcessVersion, case.process_version_id)
    if version is None:
        raise NotFound("案件所用的流程版本不存在", code="version_missing")
    return registry.parsed(session, version)


def load_case(session: Session, case_id: str, *, fresh: bool = False) -> Case:
    """The case row (re-read from the database when ``fresh``, else from the session when loaded)."""
    if fresh:
        case = session.scalars(
            select(Case).where(Case.id == case_id).execution_options(populate_existing=True)
        ).first()
    else:
        case = session.get(Case, case_id)
    if case is None:
        raise NotFound("找不到该案件", code="case_not_found")
    return case


def act(
    session: Session,
    *,
    case_id: str,
    now: datetime,
    actor: str,
    step: Step,
    check: Callable[[Case], None] | None = None,
    task_updates: dict[str, dict[str, Any]] | None = None,
    fire_due: bool = True,
    allow_closed: bool = False,
) -> Outcome:
    """Run ``step`` on the case, first firing its due timers; retry on a stale version."""
    for attempt in range(MAX_ATTEMPTS):
        case = load_case(session, case_id, fresh=attempt > 0)
        if check is not None:
            check(case)
        if case.status != "running" and not allow_closed:
            raise Conflict("该案件已结束，不能再办理", code="case_closed")
        run = CaseRun.restore(process_of(session, case), case.state, case_id=case.id)
        before = {t.id: t for t in run.open_tasks()}
        items: list[NewEvent] = []
        if fire_due and case.status == "running" and case.next_due_at is not None and case.next_due_at < now:
            fired = run.fire_timers(now=now)
            if fired.fired_timers:  # a sweep that lost the race, or a deadline not yet reached, logs nothing
                items.append(
                    NewEvent("timer_fired", "system", {"fired": fired.fired_timers, "digest": run.digest()})
                )
        items.extend(step(case, run))
        planned, sent = messages.plan(run)
        items.extend(sent)
        if not items:  # nothing happened (e.g. another sweep fired these timers first): write nothing
            return Outcome(case=case, run=run)
        try:
            outcome = _write(session, case, run, before, items, now=now, task_updates=task_updates or {})
        except _Stale:
            continue
        messages.dispatch(session, now, case, planned)
        return outcome
    raise Conflict("案件正被他人同时办理，请刷新后重试", code="case_busy")


def _write(
    session: Session,
    case: Case,
    run: CaseRun,
    before: dict[str, Any],
    items: list[NewEvent],
    *,
    now: datetime,
    task_updates: dict[str, dict[str, Any]],
) -> Outcome:
    _bounded_data(run)
    status = run.status
    if status == "completed" and case.status != "completed":
        items.append(NewEvent("case_completed", "system", {"digest": run.digest()}))
    events = chain(
        case.id, last_seq=case.last_event_seq, last_hash=case.last_event_hash, now=now, items=items
    )
    values: dict[str, Any] = {
        "version": case.version + 1,
        "state": run.dump(),
        "data": run.data(),
        "status": status,
        "next_due_at": run.next_due_at() if status == "running" else None,
        "updated_at": now,
        "last_event_seq": events[-1].seq if events else case.last_event_seq,
        "last_event_hash": events[-1].hash if events else case.last_event_hash,
    }
    if status == "completed" and case.status != "completed":
        values["completed_at"] = now
    values["risk_colour"] = risk_colour(values["data"])  # the overview's column, in the same UPDATE
    cases = cast(Table, Case.__table__)
    result = session.connection().execute(
        update(cases).where(cases.c.id == case.id, cases.c.version == case.version).values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _Stale
    for key, value in values.items():
        set_committed_value(case, key, value)
    session.add_all(events)
    after = {t.id: t for t in run.open_tasks()}
    gone = [tid for tid in before if tid not in after]
    completed = {tid: upd for tid, upd in task_updates.items() if tid in gone}
    for tid, upd in completed.items():
        update_tasks(session, [tid], {"status": "completed", **upd})
    cancelled = [tid for tid in gone if tid not in completed]
    if cancelled:
        update_tasks(session, cancelled, {"status": "cancelled", "completed_at": now})
    new_rows = [task_row(case, t, now) for tid, t in after.items() if tid not in before]
    session.add_all(new_rows)
    notifications.stage(session, case, new_rows, items, now)
    session.flush()
    return Outcome(case=case, run=run, events=items, new_tasks=new_rows)


# The case and task UPDATEs are plain table statements on the session's connection (same transaction): the
# rows they touch are set in the session by hand (set_committed_value), so the ORM's bulk-update machinery,
# which would re-evaluate the criteria against every loaded object, would only cost time.


def update_tasks(session: Session, task_ids: list[str], values: dict[str, Any]) -> None:
    """UPDATE task rows by id; the ones loaded in this session take the new values as committed."""
    tasks = cast(Table, HumanTask.__table__)
    which = tasks.c.id == task_ids[0] if len(task_ids) == 1 else tasks.c.id.in_(task_ids)
    session.connection().execute(update(tasks).where(which).values(**values))
    for task_id in task_ids:
        loaded = session.identity_map.get(identity_key(HumanTask, task_id))
        if loaded is not None:
            for key, value in values.items():
                set_committed_value(loaded, key, value)


def task_row(case: Case, task: OpenTask, now: datetime) -> HumanTask:
    """The row a ready user task becomes: its lane is the role, the case's place is where."""
    return HumanTask(
        id=task.id,
        case_id=case.id,
        process_key=case.process_key,
        bpmn_id=task.bpmn_id,
        name=task.name,
        role=task.role or "",
        jurisdiction_code=case.jurisdiction_code,
        status="ready",
        due_at=task.due_at,
        created_at=now,
    )


def _bounded_data(run: CaseRun) -> None:
    """The whole case data after a step stays within its bound (a model cannot grow it without end)."""
    problem = case_data_problem(run.data())
    if problem:
        raise ModelError(problem, code="case_data_too_large")


def insert_new_case(
    session: Session, case: Case, run: CaseRun, items: list[NewEvent], *, now: datetime
) -> Outcome:
    """Write a just-started case with its first events and task rows."""
    _bounded_data(run)
    planned, sent = messages.plan(run)
    items.extend(sent)
    case.state, case.data, case.status = run.dump(), run.data(), run.status
    case.next_due_at = run.next_due_at() if run.status == "running" else None
    if run.status == "completed":
        items.append(NewEvent("case_completed", "system", {"digest": run.digest()}))
        case.completed_at = now
    events = chain(case.id, last_seq=0, last_hash=case.last_event_hash, now=now, items=items)
    case.last_event_seq, case.last_event_hash = events[-1].seq, events[-1].hash
    session.add(case)
    session.flush([case])
    session.add_all(events)
    rows = [task_row(case, t, now) for t in run.open_tasks()]
    session.add_all(rows)
    notifications.stage(session, case, rows, items, now)
    session.flush()
    messages.dispatch(session, now, case, planned)
    return Outcome(case=case, run=run, events=items, new_tasks=rows)
