"""(e) One long case: the cost of its 1st, 50th and 500th action, and the size of its stored state.

A risk-visits case (分级分色跟踪) is visited again and again, as a blue-graded child is for years: each
visit completes the home-visit task through the services (one transaction each, SQLite file). The cost
of an action must not grow with the case's history. Usage: python -m bench longcase [--size small]
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from bench.report import Figure
from bench.setup import DIRECTOR, STEP, VILLAGE, cst_day, ms, risk_start_data, services, sqlite_db, visit_data
from workflows.cases import human_tasks
from workflows.cases import lifecycle as cases
from workflows.infra.models import Case

START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
REPEAT = 5  # actions measured around each mark: the median of them


def figures(size: str) -> list[Figure]:
    marks = (1, 50, 500) if size == "full" else (1, 50, 150)
    with sqlite_db() as engine:
        sessions, clock = services(engine, START)
        with sessions() as session:
            case_id = cases.start_case(
                session=session,
                clock=clock,
                actor=DIRECTOR,
                process_key="risk_visits",
                data=risk_start_data(cst_day(START)),
                jurisdiction_code=VILLAGE,
            ).case.id
            session.commit()
        costs: dict[int, list[float]] = {m: [] for m in marks}
        cpu_costs: dict[int, list[float]] = {m: [] for m in marks}
        sizes: dict[int, int] = {}
        failed: tuple[int, str] | None = None
        for n in range(1, marks[-1] + REPEAT):
            clock.advance(STEP)
            with sessions() as session:
                [task] = human_tasks.list_tasks(session=session, actor=DIRECTOR).items
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
                    failed = (n, type(exc).__name__)
                    break
                session.commit()
                elapsed = time.perf_counter() - t0
                cpu = time.process_time() - c0
            for mark in marks:
                if mark <= n < mark + REPEAT:
                    costs[mark].append(elapsed)
                    cpu_costs[mark].append(cpu)
                if n == mark:
                    with sessions() as session:
                        sizes[mark] = len(json.dumps(session.get(Case, case_id).state))
    first = sorted(costs[marks[0]])[REPEAT // 2]
    cpu_first = sorted(cpu_costs[marks[0]])[REPEAT // 2]
    result = []
    if failed is not None:
        result.append(
            Figure(
                "longcase", f"action #{failed[0]} failed ({failed[1]})", failed[0], "actions", "", "", False
            )
        )
    for mark in marks:
        if len(costs[mark]) < REPEAT:
            continue
        cost, cpu = sorted(costs[mark])[REPEAT // 2], sorted(cpu_costs[mark])[REPEAT // 2]
        goal = "≤ 1.2 × 1st" if mark == marks[-1] else ""
        met = cpu <= 1.2 * cpu_first if mark == marks[-1] else None  # CPU time: the machine is shared
        result.append(
            Figure(
                "longcase",
                f"action #{mark} (median of {REPEAT})",
                ms(cost),
                "ms",
                goal,
                f"{cost / first:.2f} × 1st; CPU {ms(cpu):.1f} ms = {cpu / cpu_first:.2f} × 1st",
                met,
            )
        )
    for mark in sorted(sizes):
        result.append(Figure("longcase", f"stored state after action #{mark}", sizes[mark] / 1024, "KB"))
    return result
