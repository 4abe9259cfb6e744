"""The timer sweep's batches: the due timers of many cases fired with one write transaction per batch.

Each case is still one action: its state, its chained events, its task rows and its notices are written
together and only if its row still has the version the work was computed from. A batch goes in two steps:

1. ``prepare`` (no write lock held): the batch's case rows are read in one query; each case's workflow is
   restored, its due timers fired, and everything it will write computed, exactly as ``actions.act`` would.
   A case whose step fails is reported and left as it was (the next sweep tries it again).
2. ``write`` (in the batch's transaction): the versions of the prepared cases are read again with their rows
   locked (``FOR UPDATE`` on PostgreSQL; on SQLite the transaction already holds the write lock). Every case
   still at the version read in step 1 is written with one statement per table for the whole batch; a case
   changed meanwhile (a person acted on it, another sweep fired it) is handed back, and the caller runs it
   through the ordinary action path (``lifecycle.fire_due_timers``) in a savepoint of its own, which
   re-reads it and fires only what is still due. So is a case whose timers throw messages to other cases.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from workflows.cases import actions
from workflows.engine import CaseRun
from workflows.infra.models import Case, CaseEvent, HumanTask, OutboxMessage
from workflows.log.events import NewEvent
from workflows.outbox import notifications


@dataclass
class Fired:
    """One case's writes, computed from its row at ``version``."""

    case_id: str
    version: int
    now: datetime
    values: dict[str, Any]
    events: list[dict[str, Any]]  # rows, ready to insert (plain data: a batch may be computed elsewhere)
    new_tasks: list[dict[str, Any]]
    cancelled: list[str]
    notices: list[dict[str, Any]]


@dataclass
class Prepared:
    """A batch after step 1: cases to write, cases for the action path, cases with nothing due, failures."""

    fired: list[Fired] = field(default_factory=list)
    by_action: list[str] = field(default_factory=list)
    idle: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (case id, the error's traceback)
    taken: int = 0  # how many of the ids given were looked at (the rest: out of time)


def prepare(
    session: Session,
    case_ids: list[str],
    *,
    now: Callable[[], datetime],
    go_on: Callable[[], bool] = lambda: True,
) -> Prepared:
    """Compute the writes of each case in ``case_ids`` (in order) while ``go_on()`` says so."""
    rows = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(case_ids)))}
    batch = Prepared()
    for case_id in case_ids:
        if not go_on():
            break
        batch.taken += 1
        case = rows.get(case_id)
        if case is None:
            batch.idle.append(case_id)
            continue
        try:
            outcome = fire_case(session, case, now())
        except Exception:  # noqa: BLE001 - one broken case must not stop the others
            batch.failed.append((case_id, traceback.format_exc()))
            continue
        if outcome is None:
            batch.idle.append(case_id)
        elif outcome == "action":
            batch.by_action.append(case_id)
        else:
            batch.fired.append(cast(Fired, outcome))
    return batch


def fire_case(session: Session, case: Case, now: datetime) -> Fired | str | None:
    """What firing the case's due timers writes (None: nothing is due; "action": use the action path)."""
    if case.status != "running" or case.next_due_at is None or case.next_due_at >= now:
        return None
    if case.updated_at is not None and case.updated_at > now:  # acted on since ``now``: its events may not
        return "action"  # go back in time; the action path reads the clock again
    # the row was read for this alone (``prepare``) and its state is not read again
    run = CaseRun.restore(actions.process_of(session, case), case.state, case_id=case.id, owned=True)
    before = {t.id for t in run.open_tasks()}
    fired = run.fire_timers(now=now)
    if run.take_messages():  # messages to other cases are carried out by the action path only
        return "action"
    if not fired.fired_timers:
        return None
    items = [NewEvent("timer_fired", "system", {"fired": fired.fired_timers, "digest": run.digest()})]
    events, values = actions.staged_values(case, run, items, now=now)
    values.setdefault("completed_at", case.completed_at)
    after = run.open_tasks()
    new_tasks = [actions.task_row(case, t, now) for t in after if t.id not in before]
    open_now = {t.id for t in after}
    return Fired(
        case_id=case.id,
        version=case.version,
        now=now,
        values=values,
        events=actions.event_rows(events),
        new_tasks=actions.task_rows(new_tasks),
        cancelled=[tid for tid in before if tid not in open_now],
        notices=notifications.rows(case, new_tasks, items, now),
    )


def write(session: Session, fired: list[Fired], *, lock: Sequence[str] = ()) -> list[str]:
    """Write every prepared case still at its version; return the ids of the others (changed meanwhile).

    The rows of the batch (with ``lock``: the cases the caller goes on to run through the action path)
    are locked in one statement in the order of their ids, so that two sweeps never wait on each other
    in a circle."""
    if not fired and not lock:
        return []
    ids = sorted({f.case_id for f in fired} | set(lock))
    locked = select(Case.id, Case.version).where(Case.id.in_(ids)).order_by(Case.id).with_for_update()
    current: dict[str, int] = {case_id: version for case_id, version in session.execute(locked)}
    fresh = [f for f in fired if current.get(f.case_id) == f.version]
    if fresh:
        _write_rows(session, fresh)
    return [f.case_id for f in fired if current.get(f.case_id) != f.version]


def _write_rows(session: Session, fresh: list[Fired]) -> None:
    conn = session.connection()
    cases, tasks = cast(Table, Case.__table__), cast(Table, HumanTask.__table__)
    events, outbox = cast(Table, CaseEvent.__table__), cast(Table, OutboxMessage.__table__)
    columns = sorted(fresh[0].values)  # every case sets the same columns (fire_case)
    if any(sorted(f.values) != columns for f in fresh):
        raise RuntimeError("timer sweep: the cases of a batch set different columns")
    stmt = (
        update(cases)
        .where(cases.c.id == bindparam("b_id"), cases.c.version == bindparam("b_version"))
        .values({key: bindparam(key) for key in columns})
    )
    rows = [{"b_id": f.case_id, "b_version": f.version, **f.values} for f in fresh]
    result = conn.execute(stmt, rows)
    if result.rowcount not in (len(rows), -1):  # the rows are locked: only a bug gets here
        raise RuntimeError(f"timer sweep: {result.rowcount} of {len(rows)} case rows updated")
    conn.execute(insert(events), [e for f in fresh for e in f.events])
    cancelled = [{"b_id": tid, "b_now": f.now} for f in fresh for tid in f.cancelled]
    if cancelled:
        cancel = update(tasks).where(tasks.c.id == bindparam("b_id"))
        conn.execute(cancel.values(status="cancelled", completed_at=bindparam("b_now")), cancelled)
    new_tasks = [t for f in fresh for t in f.new_tasks]
    if new_tasks:
        conn.execute(insert(tasks), new_tasks)
    notices = [n for f in fresh for n in f.notices]
    if notices:
        conn.execute(insert(outbox), notices)
