"""Part (f): resident memory of the API processes after the load of part (b) (run by it if not yet run)."""

from __future__ import annotations

from bench import load
from bench.report import Figure


def figures(size: str) -> list[Figure]:
    out = []
    for run in load.runs(size):
        worst = max(run.rss_mb, default=0.0)
        where = f"{run.database}, {run.workers} worker{'s' if run.workers > 1 else ''}"
        out.append(
            Figure(
                "rss",
                f"{where}: largest API process after the load",
                worst,
                "MB",
                "≤ 200 MB",
                "all: " + ", ".join(f"{mb:.0f}" for mb in sorted(run.rss_mb)) + " MB",
                worst <= 200,
            )
        )
    return out
