"""Part (b): 16 clients claiming and completing over HTTP, PostgreSQL with the documented multi-worker
set-up (``shouhu serve --workers 2``) and SQLite with one worker, each on a fresh database.

Each client is a village director with cases of the test process ``review_demo`` in their own village:
they list their tasks, then claim and complete each (the completion of the first step opens the second,
which they claim and complete too). Figures: completions per second over the run, latency percentiles
of the completion request, error codes, the API processes' CPU time per completion, and (part f) the
largest API process's resident memory after the load.
"""

from __future__ import annotations

import collections
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import clients, serving
from bench.report import Figure

CLIENTS = 16
CLIENT_PROCESSES = 2
PG_WORKERS = 2  # the documented set-up on this 2-core machine (docs/operations.md 3.2)
HOW = f"{CLIENTS} clients = {CLIENT_PROCESSES} processes × {CLIENTS // CLIENT_PROCESSES} threads, keep-alive http.client"


@dataclass
class Run:
    database: str
    workers: int
    wall: float
    samples: list[clients.Sample]
    cpu_seconds: float
    rss_mb: list[float] = field(default_factory=list)

    def ok(self, kind: str) -> list[float]:
        return sorted(s.seconds for s in self.samples if s.kind == kind and s.status == 200)

    def errors(self) -> dict[str, int]:
        counts = collections.Counter(f"{s.kind} {s.status}" for s in self.samples if s.status != 200)
        return dict(counts)


def percentile_ms(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def run_load(url: str, database: str, *, workers: int, seconds: float, cases: int) -> Run:
    """Seed, serve, drive the clients for ``seconds``; the server is stopped before this returns."""
    serving.seed(url, clients=CLIENTS, cases_per_client=cases)
    with (
        tempfile.TemporaryDirectory() as tmp,
        serving.Server(url, workers=workers, log=Path(tmp) / "log") as srv,
    ):
        before: dict[str, float] = {}
        samples, wall = clients.drive(
            srv.port,
            clients=CLIENTS,
            processes=CLIENT_PROCESSES,
            seconds=seconds,
            on_start=lambda: before.update(cpu=serving.cpu_seconds(srv.worker_pids())),
        )
        pids = srv.worker_pids()
        cpu = serving.cpu_seconds(pids) - before["cpu"]
        rss = [serving.rss_mb(pid) for pid in pids]
    return Run(database, workers, wall, samples, cpu, rss)


_RUNS: dict[str, list[Run]] = {}


def runs(size: str) -> list[Run]:
    """PostgreSQL (when reachable) and SQLite, measured once per size and shared with the rss part."""
    if size in _RUNS:
        return _RUNS[size]
    seconds, cases = (40.0, 400) if size == "full" else (8.0, 25)
    out = []
    with serving.pg_database() as pg_url:
        if pg_url:
            out.append(run_load(pg_url, "PostgreSQL", workers=PG_WORKERS, seconds=seconds, cases=cases))
        else:
            print("（没有可用的 PostgreSQL：SHOUHU_BENCH_PG_URL / .ci/pg.env；只测 SQLite）", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out.append(run_load(f"sqlite:///{tmp}/load.db", "SQLite", workers=1, seconds=seconds, cases=cases))
    _RUNS[size] = out
    return out


def _figures_of(run: Run) -> list[Figure]:
    done = run.ok("complete")
    rate = len(done) / run.wall if run.wall else 0.0
    p95 = percentile_ms(done, 0.95)
    pg = run.database == "PostgreSQL"
    where = f"{run.database}, {run.workers} worker{'s' if run.workers > 1 else ''}"
    errors = run.errors()
    claim = run.ok("claim")
    return [
        Figure(
            "load",
            f"{where}: completions/s",
            rate,
            "/s",
            "≥ 300" if pg else "",
            f"{len(done)} in {run.wall:.1f} s; {HOW}",
            rate >= 300 if pg else None,
        ),
        Figure("load", f"{where}: completion p50", percentile_ms(done, 0.5), "ms", "", ""),
        Figure(
            "load",
            f"{where}: completion p95",
            p95,
            "ms",
            "≤ 100 ms" if pg else "",
            "",
            p95 <= 100 if pg else None,
        ),
        Figure("load", f"{where}: completion p99", percentile_ms(done, 0.99), "ms", "", ""),
        Figure(
            "load",
            f"{where}: claim p95",
            percentile_ms(claim, 0.95),
            "ms",
            "",
            f"claim p50 {percentile_ms(claim, 0.5):.1f} ms",
        ),
        Figure(
            "load",
            f"{where}: errors",
            float(sum(errors.values())),
            "requests",
            "0",
            ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "none",
            not errors,
        ),
        Figure(
            "load",
            f"{where}: API CPU per completion",
            1000 * run.cpu_seconds / max(len(done), 1),
            "ms",
            "",
            "claim + complete + list share, all API processes",
        ),
    ]


def figures(size: str) -> list[Figure]:
    started = time.monotonic()
    out = [figure for run in runs(size) for figure in _figures_of(run)]
    print(f"(load: {time.monotonic() - started:.0f} s)", flush=True)
    return out
