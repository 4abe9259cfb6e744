"""(d) The timer sweep: 10,000 due timers fired by one sweep, each exactly once (checked).

Risk-visits cases (分级分色跟踪) whose home visit is overdue: one is started through the services, the
others are copies of it (rows, log and task rows with their own ids, written with executemany), so the
set-up takes seconds. One sweep (``tasks.jobs.sweep_timers``, as the scheduled flow runs it, with its
helper processes for a backlog) must fire every case's deadline once: the escalation task, the timer_fired event and the notice; a second sweep
must find nothing. SQLite file. Usage: python -m bench sweep [--size small]
"""

from __future__ import annotations

import json
import resource
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from bench.report import Figure
from bench.setup import services, sqlite_db, start_tracking
from tasks import jobs
from workflows.infra.clock import FixedClock
from workflows.infra.models import Case, CaseEvent, HumanTask
from workflows.log.events import GENESIS, event_hash

START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
LATER = START + timedelta(days=75)  # the blue visit (two months) is overdue


def _row(obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__mapper__.column_attrs}


def clone_cases(sessions: Any, template_id: str, n: int) -> list[str]:
    """``n`` copies of a just-started case: the same state with the copy's own task ids, a valid chain."""
    with sessions() as session:
        template = session.get(Case, template_id)
        [event] = session.scalars(select(CaseEvent).where(CaseEvent.case_id == template_id))
        tasks = list(session.scalars(select(HumanTask).where(HumanTask.case_id == template_id)))
        state_text, case_row, event_row = json.dumps(template.state), _row(template), _row(event)
        task_rows = [_row(t) for t in tasks]
        seq = template.state["task_seq"]
    old_ns = uuid.UUID(template_id)
    ids: list[str] = []
    for start in range(0, n, 1000):
        case_rows, event_rows, new_tasks = [], [], []
        for i in range(start, min(start + 1000, n)):
            new_id = str(uuid.uuid4())
            new_ns = uuid.UUID(new_id)
            mapping = {
                str(uuid.uuid5(old_ns, str(k))): str(uuid.uuid5(new_ns, str(k))) for k in range(1, seq + 1)
            }
            text = state_text
            for old, new in mapping.items():
                text = text.replace(old, new)
            payload = dict(event_row["payload"], business_key=f"RV-BENCH-{i:07d}")
            digest = event_hash(
                case_id=new_id,
                seq=1,
                type=event_row["type"],
                actor=event_row["actor"],
                occurred_at=event_row["occurred_at"],
                payload=payload,
                prev_hash=GENESIS,
            )
            case_rows.append(
                {
                    **case_row,
                    "id": new_id,
                    "business_key": payload["business_key"],
                    "case_no": f"基准-{i:07d}",
                    "state": json.loads(text),
                    "last_event_hash": digest,
                }
            )
            event_rows.append(
                {**event_row, "id": None, "case_id": new_id, "payload": payload, "hash": digest}
            )
            new_tasks.extend({**t, "id": mapping[t["id"]], "case_id": new_id} for t in task_rows)
            ids.append(new_id)
        with sessions() as session:
            session.execute(insert(Case), case_rows)
            session.execute(
                insert(CaseEvent), [{k: v for k, v in r.items() if k != "id"} for r in event_rows]
            )
            session.execute(insert(HumanTask), new_tasks)
            session.commit()
    return ids


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (the sweep's helpers, joined when it ends)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def figures(size: str) -> list[Figure]:
    n = 10_000 if size == "full" else 1_000
    with sqlite_db() as engine:
        sessions, clock = services(engine, START)
        template = start_tracking(sessions, clock)
        ids = [template, *clone_cases(sessions, template, n - 1)]
        later = FixedClock(LATER)
        w0, c0, h0 = time.perf_counter(), time.process_time(), _children_cpu()
        report = jobs.sweep_timers(sessions=sessions, clock=later)
        seconds = time.perf_counter() - w0
        cpu, helpers_cpu = time.process_time() - c0, _children_cpu() - h0
        again = jobs.sweep_timers(sessions=sessions, clock=later)
        with sessions() as session:
            fired = dict(
                session.execute(
                    select(CaseEvent.case_id, func.count())
                    .where(CaseEvent.type == "timer_fired")
                    .group_by(CaseEvent.case_id)
                ).all()
            )
            escalations = session.scalar(  # cases with an escalation to the township supervisor
                select(func.count(func.distinct(HumanTask.case_id))).where(
                    HumanTask.bpmn_id.like("supervise_%")
                )
            )
    once = sum(1 for cid in ids if fired.get(cid) == 1)
    exact = once == n and len(fired) == n and escalations == n and again.fired == 0 and not report.failed
    return [
        Figure(
            "sweep",
            f"{n:,} due timers, one sweep",
            seconds,
            "s",
            "≤ 30 s" if n == 10_000 else "",
            f"{report.fired / seconds:,.0f} timers/s",
            seconds <= 30 if n == 10_000 else None,
        ),
        Figure(
            "sweep",
            "CPU per case (sweep process + helper processes)",
            (cpu + helpers_cpu) / n * 1000,
            "ms",
            "",
            f"sweep process {cpu:.1f} s, helpers {helpers_cpu:.1f} s ({jobs.SWEEP_HELPERS} processes)",
            None,
        ),
        Figure(
            "sweep",
            "fired exactly once (timer_fired events, escalation tasks)",
            once,
            "cases",
            f"= {n:,}",
            f"second sweep fired {again.fired}; failed {len(report.failed)}",
            exact,
        ),
    ]
