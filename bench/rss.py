"""Part (f): resident memory of the API processes after the load of part (b) (run by it if not yet run)."""

from __future__ import annotations

from bench import load
from bench.report import Figure


def figures(size: str) -> list[Figure]:
    out = []
    for series in load.runs(size):
        worst = max((mb for run in series for mb in run.rss_mb), default=0.0)
        each = "; ".join(", ".join(f"{mb:.0f}" for mb in sorted(run.rss_mb)) for run in series)
        out.append(
            Figure(
                "rss",
                f"{load.where(series)}: largest API process after the load",
                worst,
                "MB",
                "≤ 200 MB",
                f"all{' (each run)' if len(series) > 1 else ''}: {each} MB",
                worst <= 200,
            )
        )
    return out
