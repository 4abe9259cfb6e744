"""One action on a case = one transaction: state, task rows and log events written together.

The case row is updated first with a compare-and-set on its version column, before anything else
is written, so a lost race leaves nothing behind and the action is simply re-run on the fresh row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from workflows.cases import messages
from workflows.engine import _PARSED, CaseRun, OpenTask, ParsedProcess
from workflows.infra.errors import Conflict, ModelError, NotFound
from workflows.infra.models import Case, CaseEvent, HumanTask, OutboxMessage, ProcessVersion
from workflows.infra.overview_columns import risk_colour
from workflows.infra.queueing import fill_listing_columns
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
    now: datetime | None = None  # the instant the action was logged at (see ``not_before``)


# A step runs the action on the restored case at the instant it is logged at (its third argument).
Step = Callable[[Case, CaseRun, datetime], list[NewEvent]]


def not_before(now: datetime, last: datetime | None) -> datetime:
    """The instant an action is logged at: the caller's reading of the clock, or the case's last update if
    that is later. A caller reads the clock before its transaction; when another action on the case commits
    in between (a lost compare-and-set on PostgreSQL, or two servers' clocks), the retried action follows it
    in the log and must not be logged earlier: the log's time never goes backwards."""
    return last if last is not None and last > now else now


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
        case = by_id(session, Case, _CASE_BY_ID, case_id)
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
    """Run ``step`` on the case, first firing its due timers; retry on a stale version. Completed tasks in
    ``task_updates`` get ``completed_at`` = the instant the action is logged at."""
    for attempt in range(MAX_ATTEMPTS):
        case = load_case(session, case_id, fresh=attempt > 0)
        if check is not None:
            check(case)
        if case.status != "running" and not allow_closed:
            raise Conflict("该案件已结束，不能再办理", code="case_closed")
        at = not_before(now, case.updated_at)
        run = CaseRun.restore(process_of(session, case), case.state, case_id=case.id)
        before = {t.id: t for t in run.open_tasks()}
        items: list[NewEvent] = []
        if fire_due and case.status == "running" and case.next_due_at is not None and case.next_due_at < at:
            fired = run.fire_timers(now=at)
            if fired.fired_timers:  # a sweep that lost the race, or a deadline not yet reached, logs nothing
                items.append(
                    NewEvent("timer_fired", "system", {"fired": fired.fired_timers, "digest": run.digest()})
                )
        items.extend(step(case, run, at))
        planned, sent = messages.plan(run)
        items.extend(sent)
        if not items:  # nothing happened (e.g. another sweep fired these timers first): write nothing
            return Outcome(case=case, run=run, now=at)
        updates = {tid: {**upd, "completed_at": at} for tid, upd in (task_updates or {}).items()}
        try:
            outcome = _write(session, case, run, before, items, now=at, task_updates=updates)
        except _Stale:
            continue
        messages.dispatch(session, at, case, planned)
        outcome.now = at
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
    events, values = staged_values(case, run, items, now=now)
    result = session.connection().execute(
        _case_update(tuple(values)), {"b_id": case.id, "b_version": case.version, **values}
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _Stale
    for key, value in values.items():
        set_committed_value(case, key, value)
    insert_events(session, events)
    after = {t.id: t for t in run.open_tasks()}
    gone = [tid for tid in before if tid not in after]
    completed = {tid: upd for tid, upd in task_updates.items() if tid in gone}
    for tid, upd in completed.items():
        update_tasks(session, [tid], {"status": "completed", **upd})
    cancelled = [tid for tid in gone if tid not in completed]
    if cancelled:
        update_tasks(session, cancelled, {"status": "cancelled", "completed_at": now})
    new_rows = [task_row(case, t, now) for tid, t in after.items() if tid not in before]
    insert_tasks(session, new_rows)
    insert_notices(session, notifications.rows(case, new_rows, items, now))
    session.flush()
    return Outcome(case=case, run=run, events=items, new_tasks=new_rows)


def staged_values(
    case: Case, run: CaseRun, items: list[NewEvent], *, now: datetime
) -> tuple[list[CaseEvent], dict[str, Any]]:
    """An action's chained events and the case row's new values (pure: nothing is written yet)."""
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
    return events, values


# The rows an action writes are plain table statements on the session's connection (same transaction),
# each statement built once (its cache key is computed once, not per request). The case and task UPDATEs set
# the rows loaded in the session by hand (set_committed_value), so the ORM's bulk-update machinery, which
# would re-evaluate the criteria against every loaded object, would only cost time; new events, task rows
# and notices are inserted without passing through the unit of work (the objects handed back to the caller
# are not added to the session: they are already written).
_CASES = cast(Table, Case.__table__)
_TASKS = cast(Table, HumanTask.__table__)
_INSERT_EVENT = insert(cast(Table, CaseEvent.__table__))
_INSERT_TASK = insert(_TASKS)
_INSERT_NOTICE = insert(cast(Table, OutboxMessage.__table__))
_EVENT_COLUMNS = ("case_id", "seq", "type", "actor", "occurred_at", "payload", "prev_hash", "hash")
_TASK_COLUMNS = tuple(c.key for c in _TASKS.columns)
_HEAD = select(
    _CASES.c.version, _CASES.c.status, _CASES.c.last_event_seq, _CASES.c.last_event_hash, _CASES.c.updated_at
).where(_CASES.c.id == bindparam("case_id"))
_BUMP = (
    update(_CASES)
    .where(_CASES.c.id == bindparam("case_id"), _CASES.c.version == bindparam("old_version"))
    .values(
        version=bindparam("new_version"),
        updated_at=bindparam("now"),
        last_event_seq=bindparam("seq"),
        last_event_hash=bindparam("head"),
    )
)


@functools.cache
def _case_update(columns: tuple[str, ...]) -> Any:
    """The compare-and-set UPDATE of a case row setting ``columns``, built once per set of columns."""
    where = (_CASES.c.id == bindparam("b_id"), _CASES.c.version == bindparam("b_version"))
    return update(_CASES).where(*where).values({key: bindparam(key) for key in columns})


_CASE_BY_ID = select(Case).where(Case.id == bindparam("pk"))
_TASK_BY_ID = select(HumanTask).where(HumanTask.id == bindparam("pk"))
_UPDATE_TASK = update(_TASKS).where(_TASKS.c.id == bindparam("pk"))


def by_id(session: Session, entity: Any, statement: Any, pk: str) -> Any:
    """``session.get`` with a statement built once: the object already in the session, else one SELECT."""
    loaded = session.identity_map.get(identity_key(entity, pk))
    if loaded is not None:
        return loaded
    return session.scalars(statement, {"pk": pk}).first()


_TASK_WITH_CASE = (
    select(HumanTask, Case).join(Case, Case.id == HumanTask.case_id).where(HumanTask.id == bindparam("pk"))
)


def get_task_row(session: Session, task_id: str) -> HumanTask | None:
    return cast(HumanTask | None, by_id(session, HumanTask, _TASK_BY_ID, task_id))


def get_task_with_case(session: Session, task_id: str) -> tuple[HumanTask, Case] | None:
    """A task row and its case by one statement (or from the session when both are loaded). The caller
    holds the case: the session keeps only weak references to what it loaded."""
    task = session.identity_map.get(identity_key(HumanTask, task_id))
    if task is not None:
        return task, load_case(session, task.case_id)
    row = session.execute(_TASK_WITH_CASE, {"pk": task_id}).first()
    return None if row is None else (row[0], row[1])


def event_rows(events: list[CaseEvent]) -> list[dict[str, Any]]:
    """Chained events as the rows to insert."""
    return [{key: getattr(e, key) for key in _EVENT_COLUMNS} for e in events]


def task_rows(tasks: list[HumanTask]) -> list[dict[str, Any]]:
    """New tasks as the rows to insert, with their work-list columns (what the ORM fills on its inserts)."""
    for task in tasks:
        fill_listing_columns(task)
    return [{key: getattr(t, key) for key in _TASK_COLUMNS} for t in tasks]


def insert_events(session: Session, events: list[CaseEvent]) -> None:
    """INSERT chained events (one statement, executemany for several)."""
    if events:
        session.connection().execute(_INSERT_EVENT, event_rows(events))


def insert_tasks(session: Session, tasks: list[HumanTask]) -> None:
    """INSERT new task rows with their work-list columns (the place prefixes, the queue instant)."""
    if tasks:
        session.connection().execute(_INSERT_TASK, task_rows(tasks))


def insert_notices(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(_INSERT_NOTICE, rows)


def record(
    session: Session,
    *,
    case_id: str,
    now: datetime,
    items: list[NewEvent],
    check: Callable[[], None] | None = None,
) -> datetime:
    """Log events that change no workflow state (claims, hand-overs) on a running case: the case's version,
    log head and update time move by compare-and-set in the same transaction, its workflow is neither read
    nor rewritten. ``check`` runs again after a lost race. Returns the instant the events were logged at
    (``not_before``)."""
    for attempt in range(MAX_ATTEMPTS):
        if attempt and check is not None:
            check()
        head = session.connection().execute(_HEAD, {"case_id": case_id}).first()
        if head is None:
            raise NotFound("找不到该案件", code="case_not_found")
        if head.status != "running":
            raise Conflict("该案件已结束，不能再办理", code="case_closed")
        at = not_before(now, head.updated_at)
        events = chain(
            case_id, last_seq=head.last_event_seq, last_hash=head.last_event_hash, now=at, items=items
        )
        values = {
            "version": head.version + 1,
            "updated_at": at,
            "last_event_seq": events[-1].seq,
            "last_event_hash": events[-1].hash,
        }
        bumped = session.connection().execute(
            _BUMP,
            {
                "case_id": case_id,
                "old_version": head.version,
                "new_version": values["version"],
                "now": at,
                "seq": values["last_event_seq"],
                "head": values["last_event_hash"],
            },
        )
        if bumped.rowcount != 1:  # type: ignore[attr-defined]
            continue
        insert_events(session, events)
        loaded = session.identity_map.get(identity_key(Case, case_id))
        if loaded is not None:
            for key, value in values.items():
                set_committed_value(loaded, key, value)
        return at
    raise Conflict("案件正被他人同时办理，请刷新后重试", code="case_busy")


def update_tasks(session: Session, task_ids: list[str], values: dict[str, Any]) -> None:
    """UPDATE task rows by id; the ones loaded in this session take the new values as committed."""
    if len(task_ids) == 1:
        session.connection().execute(_UPDATE_TASK, {"pk": task_ids[0], **values})
    else:
        session.connection().execute(update(_TASKS).where(_TASKS.c.id.in_(task_ids)).values(**values))
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
    insert_events(session, events)
    rows = [task_row(case, t, now) for t in run.open_tasks()]
    insert_tasks(session, rows)
    insert_notices(session, notifications.rows(case, rows, items, now))
    session.flush()
    messages.dispatch(session, now, case, planned)
    return Outcome(case=case, run=run, events=items, new_tasks=rows)
