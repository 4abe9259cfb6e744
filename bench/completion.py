"""Task completion: through the services and over HTTP vs the bare engine round trip, in one run.

Bare round trip = select the state row, deserialize, complete the task, run engine steps, serialize,
update the row, commit. Services = human_tasks.complete plus the commit. HTTP = POST .../complete from
one client over a keep-alive connection to the API served as documented (``shouhu serve``: uvicorn in its
own process, loopback), sequentially. Same process model, same SQLite file settings, same machine, same run;
each path's first ``WARM_UP`` completions are left out of its figures.
Usage: python -m bench.completion [N]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, Text, event, select, update
from sqlalchemy.orm import Session

from bench import serving
from bench.clients import Client
from bench.report import Figure
from workflows.cases import human_tasks
from workflows.engine import CaseRun
from workflows.infra.clock import SystemClock
from workflows.infra.db import create_all, make_engine, make_sessionmaker
from workflows.infra.models import HumanTask
from workflows.ops import wiring
from workflows.people.access import Actor
from workflows.processes import registry

MODEL = serving.MODEL


# Completions (and health checks) done first on each path and left out of its figures: the first ones compile
# and cache every statement, import what is imported lazily and warm the caches, costs paid once per process.
WARM_UP = 20


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


@dataclass
class PathResult:
    samples: list[float]  # wall seconds per completion
    statements: float  # SQL statements per completion (NaN: in another process, not counted)
    cpu_ms: float  # CPU per completion of the process doing the work (robust on a busy machine)


def _timed(
    items: list[Any],
    one: Callable[[Any], None],
    cpu_seconds: Callable[[], float] = time.process_time,
    engine: Any = None,
) -> PathResult:
    """``one`` on each item, the first ``WARM_UP`` left out: the wall seconds of each, the CPU per item as
    ``cpu_seconds`` reads it (this process, or the server's), and with ``engine`` the SQL statements it ran
    per item (NaN without: they run in another process)."""
    for item in items[:WARM_UP]:
        one(item)
    measured = items[WARM_UP:]
    counter = StatementCounter(engine) if engine is not None else None
    samples = []
    cpu = cpu_seconds()
    for item in measured:
        t0 = time.perf_counter()
        one(item)
        samples.append(time.perf_counter() - t0)
    cpu_ms = (cpu_seconds() - cpu) * 1000 / len(measured)
    return PathResult(samples, counter.count / len(measured) if counter else float("nan"), cpu_ms)


class StatementCounter:
    def __init__(self, engine: Any) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._hit)

    def _hit(self, *args: Any) -> None:
        self.count += 1


def bench_bare(engine: Any, process: Any, n: int) -> PathResult:
    meta = MetaData()
    table = Table("bare_states", meta, Column("id", String(36), primary_key=True), Column("state", Text))
    meta.create_all(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for _ in range(WARM_UP + n):
            case_id = str(uuid.uuid4())
            run = CaseRun.start(process, case_id=case_id, data={"child_name": "甲"}, now=now)
            conn.execute(table.insert().values(id=case_id, state=json.dumps(run.dump())))
        ids = [r.id for r in conn.execute(select(table.c.id))]

    def one(case_id: str) -> None:
        with engine.begin() as conn:
            state = json.loads(conn.execute(select(table.c.state).where(table.c.id == case_id)).scalar_one())
            run = CaseRun.restore(process, state, case_id=case_id)
            task = run.open_tasks()[0]
            run.complete(task.id, {"score": 60}, now=datetime.now(UTC))
            conn.execute(update(table).where(table.c.id == case_id).values(state=json.dumps(run.dump())))

    return _timed(ids, one, engine=engine)


def _ready_tasks(engine: Any) -> list[str]:
    """Every ready task (a worklist page holds at most 200), oldest first."""
    with Session(engine) as session:
        return list(
            session.scalars(
                select(HumanTask.id).where(HumanTask.status == "ready").order_by(HumanTask.created_at)
            )
        )


def bench_services(engine: Any, n: int) -> PathResult:
    serving.seed(str(engine.url), clients=1, cases_per_client=WARM_UP + n)
    task_ids = _ready_tasks(engine)
    sessions = make_sessionmaker(engine)
    clock = SystemClock()
    director = Actor(serving.client_name(0), frozenset({"village_director"}), serving.village_of(0))

    def one(task_id: str) -> None:
        with sessions() as session:
            human_tasks.complete(
                session=session, clock=clock, actor=director, task_id=task_id, data={"score": 60}
            )
            session.commit()

    return _timed(task_ids, one, engine=engine)


HTTP_FLOOR = "HTTP GET /api/health (no database: uvicorn and the middleware; the hot lane answers it)"
HTTP_COMPLETE = "HTTP POST /api/tasks/{id}/complete (uvicorn, loopback)"


def bench_http(engine: Any, n: int) -> dict[str, PathResult]:
    """One client over a keep-alive connection to the API served as documented (uvicorn, loopback): the
    completions, and first the floor of any request on the same server (a route that reads nothing)."""
    url = str(engine.url)
    serving.seed(url, clients=1, cases_per_client=WARM_UP + n)
    task_ids = _ready_tasks(engine)
    engine.dispose()
    with serving.Server(url, workers=1) as server:
        client = Client(server.port, 0)
        client.login()
        floor = _timed(
            list(range(WARM_UP + 2 * n)), lambda _: _health(client), lambda: server_cpu_seconds(server)
        )
        body = json.dumps({"data": {"score": 60}}).encode()

        def one(task_id: str) -> None:
            done = client.request(
                "complete",
                "POST",
                f"/api/tasks/{task_id}/complete",
                body,
                **{"Content-Type": "application/json"},
            )
            assert done is not None, client.samples[-1]

        # statements: counted in-process by the services path
        completions = _timed(task_ids, one, lambda: server_cpu_seconds(server))
    return {HTTP_FLOOR: floor, HTTP_COMPLETE: completions}


def _health(client: Client) -> None:
    assert client.request("health", "GET", "/api/health") is not None


def server_cpu_seconds(server: serving.Server) -> float:
    return serving.cpu_seconds(server.worker_pids())


def _fresh_engine(folder: Path, name: str) -> Any:
    return make_engine(f"sqlite:///{folder / name}.db")


def measure(n: int) -> dict[str, PathResult]:
    """Each path's completion times and SQL statements per completion, measured in one run."""
    wiring.install()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = _fresh_engine(folder, "bare")
        create_all(engine)
        with Session(engine) as session:
            version = registry.register(
                session,
                key="review_demo",
                files=registry.read_folder(MODEL),
                source="bundled",
                actor="system",
                now=datetime.now(UTC),
            )
            process = registry.parsed(session, version)
            session.commit()
        runs: dict[str, Callable[[], PathResult]] = {
            "bare engine round trip": lambda: bench_bare(engine, process, n),
            "services (human_tasks.complete + commit)": lambda: bench_services(
                _fresh_engine(folder, "svc"), n
            ),
        }
        results = {name: fn() for name, fn in runs.items()}
        return results | bench_http(_fresh_engine(folder, "http"), n)


def figures(size: str) -> list[Figure]:
    """Part (a) of the suite: each path's median (wall) and CPU per completion beside the bare round trip."""
    results = measure(300 if size == "full" else 60)
    bare = results["bare engine round trip"]
    bare_ms, bare_cpu = _median_ms(bare.samples), bare.cpu_ms
    out = []
    for name, result in results.items():
        median = _median_ms(result.samples)
        http = name == HTTP_COMPLETE
        goal = "≤ 1.5 × bare" if http else ""
        label = name if result.statements != result.statements else f"{name} ({result.statements:.0f} SQL)"
        ref = f"bare {bare_ms:.2f} ms; ratio {median / bare_ms:.1f}"
        out.append(
            Figure("completion", label, median, "ms", goal, ref, median <= 1.5 * bare_ms if http else None)
        )
        out.append(
            Figure(
                "completion",
                f"{name}: CPU per {'request' if name == HTTP_FLOOR else 'completion'}",
                result.cpu_ms,
                "ms",
                goal,
                f"bare {bare_cpu:.2f} ms; ratio {result.cpu_ms / bare_cpu:.1f}",
                result.cpu_ms <= 1.5 * bare_cpu if http else None,
            )
        )
    return out


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 200
    results = measure(n)
    bare = _median_ms(results["bare engine round trip"].samples)
    print(f"task completion, {n} completions each, SQLite file (WAL), one run")
    print(f"{'path':58} {'median ms':>10} {'ratio':>7} {'CPU ms':>8} {'SQL':>5}")
    for name, result in results.items():
        median = _median_ms(result.samples)
        print(f"{name:58} {median:10.2f} {median / bare:7.2f} {result.cpu_ms:8.2f} {result.statements:5.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
