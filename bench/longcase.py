"""(e) One long case: the cost of its 1st, 50th and 500th action, and the size of its stored state.

A risk-visits case (分级分色跟踪) is visited again and again, as a blue-graded child is for years: each
visit completes the home-visit task through the services (one transaction each, SQLite file). The cost
of an action must not grow with the case's history. Usage: python -m bench longcase [--size small]
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from bench.report import Figure
from bench.setup import (
    DIRECTOR,
    STEP,
    cst_day,
    median,
    ms,
    services,
    sqlite_db,
    start_tracking,
    visit_data,
)
from workflows.cases import human_tasks
from workflows.infra.models import Case

START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
ROUNDS = 9  # actions measured at each mark: the median of them


def figures(size: str) -> list[Figure]:
    marks = (1, 50, 500) if size == "full" else (1, 50, 150)
    with sqlite_db() as engine:
        sessions, clock = services(engine, START)
        ids = [start_tracking(sessions, clock) for _ in marks]  # one case per mark
        failed: tuple[int, str] | None = None
        # bring each case up to its mark (not measured), the longest first
        for case_id, mark in zip(ids, marks, strict=True):
            for n in range(1, mark):
                clock.advance(STEP)
                if isinstance(done := _act(sessions, clock, case_id), str):
                    failed = failed or (n, done)
                    break
        sizes = {mark: _state_size(sessions, case_id) for case_id, mark in zip(ids, marks, strict=True)}
        # then the actions #mark … #mark+ROUNDS-1 of the cases in turn: a drift of the machine's speed over
        # the run reaches every mark alike
        costs: dict[int, list[float]] = {m: [] for m in marks}
        cpu_costs: dict[int, list[float]] = {m: [] for m in marks}
        for _ in range(ROUNDS if failed is None else 0):
            for case_id, mark in zip(ids, marks, strict=True):
                clock.advance(STEP)
                if isinstance(done := _act(sessions, clock, case_id), str):
                    failed = failed or (mark, done)
                    break
                costs[mark].append(done[0])
                cpu_costs[mark].append(done[1])
    result = []
    if failed is not None:
        result.append(
            Figure(
                "longcase", f"action #{failed[0]} failed ({failed[1]})", failed[0], "actions", "", "", False
            )
        )
        return result
    first, cpu_first = median(costs[marks[0]]), median(cpu_costs[marks[0]])
    for mark in marks:
        cost, cpu = median(costs[mark]), median(cpu_costs[mark])
        goal = "≤ 1.2 × 1st" if mark == marks[-1] else ""
        met = cpu <= 1.2 * cpu_first if mark == marks[-1] else None  # CPU time: the machine is shared
        result.append(
            Figure(
                "longcase",
                f"action #{mark} (median of #{mark}–#{mark + ROUNDS - 1}, the cases in turn)",
                ms(cost),
                "ms",
                goal,
                f"{cost / first:.2f} × 1st; CPU {ms(cpu):.1f} ms = {cpu / cpu_first:.2f} × 1st",
                met,
            )
        )
    for mark in sorted(sizes):
        result.append(Figure("longcase", f"stored state before action #{mark}", sizes[mark] / 1024, "KB"))
    return result


def _act(sessions: Any, clock: Any, case_id: str) -> tuple[float, float] | str:
    """Complete the case's open visit (one transaction): the completion's and commit's wall and CPU seconds,
    or the error's name if it failed."""
    with sessions() as session:
        [task] = [
            t for t in human_tasks.list_tasks(session=session, actor=DIRECTOR).items if t.case_id == case_id
        ]
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            human_tasks.complete(
                session=session,
                clock=clock,
                actor=DIRECTOR,
                task_id=task.id,
                data=visit_data(cst_day(clock.now())),
            )
        except RecursionError as exc:  # the unpruned task tree grew too deep to walk
            return type(exc).__name__
        session.commit()
        return time.perf_counter() - t0, time.process_time() - c0


def _state_size(sessions: Any, case_id: str) -> int:
    with sessions() as session:
        return len(json.dumps(session.get(Case, case_id).state))
