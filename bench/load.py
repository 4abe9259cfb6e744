"""Part (b): 16 clients claiming and completing over HTTP, PostgreSQL with the documented multi-worker
set-up (``shouhu serve --workers 2``) and SQLite with one worker, each on a fresh database.

Each client is a village director with cases of the test process ``review_demo`` in their own village:
they list their tasks, then claim and complete each (the completion of the first step opens the second,
which they claim and complete too). Figures: completions per second over the run, latency percentiles
of the completion request, error codes, the API processes' CPU time per completion, and (part f) the
largest API process's resident memory after the load. The full size runs each database three times, in
turn, and prints the median of each figure with the three runs' values beside it.
"""

from __future__ import annotations

import collections
import statistics
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


_RUNS: dict[str, list[list[Run]]] = {}
# Runs per database in the full size, PostgreSQL and SQLite in turn, each on a fresh database and server: the
# rate of one run on this machine moves by a third from one minute to the next, so the figures are medians.
REPEATS = 3


def runs(size: str) -> list[list[Run]]:
    """The runs of each database, PostgreSQL (when reachable) then SQLite, measured once per size and
    shared with the rss part; the databases alternate, so a slow spell of the machine falls on both."""
    if size in _RUNS:
        return _RUNS[size]
    # enough cases that no client runs out of work before the end at 450 completions/s
    seconds, cases, repeats = (40.0, 800, REPEATS) if size == "full" else (8.0, 25, 1)
    pg: list[Run] = []
    lite: list[Run] = []
    for _ in range(repeats):
        with serving.pg_database() as pg_url:
            if pg_url:
                pg.append(run_load(pg_url, "PostgreSQL", workers=PG_WORKERS, seconds=seconds, cases=cases))
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/load.db"
            lite.append(run_load(url, "SQLite", workers=1, seconds=seconds, cases=cases))
    if not pg:
        print("（没有可用的 PostgreSQL：SHOUHU_BENCH_PG_URL / .ci/pg.env；只测 SQLite）", flush=True)
    _RUNS[size] = [series for series in (pg, lite) if series]
    return _RUNS[size]


def where(series: list[Run]) -> str:
    first = series[0]
    return f"{first.database}, {first.workers} worker{'s' if first.workers > 1 else ''}"


def _each(values: list[float], unit: str) -> str:
    return "" if len(values) < 2 else "runs: " + ", ".join(f"{v:.1f}" for v in values) + f" {unit}"


def _median(values: list[float]) -> tuple[float, list[float]]:
    return statistics.median(values), values


def _figures_of(series: list[Run]) -> list[Figure]:
    """Each figure is the median of the runs (the runs' own values beside it); errors are summed."""
    pg = series[0].database == "PostgreSQL"
    name = where(series)
    completions = [run.ok("complete") for run in series]  # each run's, sorted once
    claims = [run.ok("claim") for run in series]
    rate, rates = _median(
        [len(d) / r.wall if r.wall else 0.0 for r, d in zip(series, completions, strict=True)]
    )
    p50, _ = _median([percentile_ms(d, 0.5) for d in completions])
    p95, p95s = _median([percentile_ms(d, 0.95) for d in completions])
    p99, p99s = _median([percentile_ms(d, 0.99) for d in completions])
    claim95, _ = _median([percentile_ms(c, 0.95) for c in claims])
    claim50, _ = _median([percentile_ms(c, 0.5) for c in claims])
    cpu, cpus = _median(
        [1000 * r.cpu_seconds / max(len(d), 1) for r, d in zip(series, completions, strict=True)]
    )
    errors: collections.Counter[str] = collections.Counter()
    for run in series:
        errors.update(run.errors())
    done = sum(map(len, completions))
    seconds = sum(run.wall for run in series)
    counted = [f"median of {len(series)} runs", _each(rates, "/s")] if len(series) > 1 else []
    return [
        Figure(
            "load",
            f"{name}: completions/s",
            rate,
            "/s",
            "≥ 300" if pg else "",
            "; ".join([*counted, f"{done} in {seconds:.1f} s", HOW]),
            rate >= 300 if pg else None,
        ),
        Figure("load", f"{name}: completion p50", p50, "ms", "", ""),
        Figure(
            "load",
            f"{name}: completion p95",
            p95,
            "ms",
            "≤ 100 ms" if pg else "",
            _each(p95s, "ms"),
            p95 <= 100 if pg else None,
        ),
        Figure("load", f"{name}: completion p99", p99, "ms", "", _each(p99s, "ms")),
        Figure("load", f"{name}: claim p95", claim95, "ms", "", f"claim p50 {claim50:.1f} ms"),
        Figure(
            "load",
            f"{name}: errors",
            float(sum(errors.values())),
            "requests",
            "0",
            ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "none",
            not errors,
        ),
        Figure(
            "load",
            f"{name}: API CPU per completion",
            cpu,
            "ms",
            "",
            "claim + complete + list share, all API processes"
            + (f"; {_each(cpus, 'ms')}" if len(cpus) > 1 else ""),
        ),
    ]


def figures(size: str) -> list[Figure]:
    started = time.monotonic()
    out = [figure for series in runs(size) for figure in _figures_of(series)]
    print(f"(load: {time.monotonic() - started:.0f} s)", flush=True)
    return out
