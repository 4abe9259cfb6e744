"""The benchmark suite: `python -m bench [part ...] [--size small|full]`; each part is a module with
``figures(size: str) -> list[Figure]``. Benchmarks are not tests: nothing here fails on time."""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
from datetime import UTC, datetime

from bench.report import Figure, print_table
from workflows.ops import wiring

PARTS: dict[str, str] = {
    "completion": "bench.completion",  # (a) services and real HTTP vs the bare engine round trip
    "load": "bench.load",  # (b) 16 clients claiming and completing over HTTP, PostgreSQL and SQLite
    "worklist": "bench.worklist",  # (c) task lists and a case page at 1,000,000 open cases
    "sweep": "bench.sweep",  # (d) 10,000 due timers fired by one sweep, each exactly once
    "log": "bench.log",  # (e) hash-chain check throughput, 40-event verification
    "longcase": "bench.longcase",  # (e) 1st / 50th / 500th action on one long case
    "rss": "bench.rss",  # (f) API worker memory after the load
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Shouhu benchmarks")
    parser.add_argument("parts", nargs="*", help=f"parts to run (default: all): {', '.join(PARTS)}")
    parser.add_argument("--size", choices=("small", "full"), default="full")
    args = parser.parse_args(argv)
    wiring.install()
    chosen = args.parts or list(PARTS)
    unknown = [part for part in chosen if part not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    print(
        f"Shouhu benchmarks — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{platform.python_version()}, size {args.size}",
        flush=True,
    )
    figures: list[Figure] = []
    for part in chosen:
        module = importlib.import_module(PARTS[part])
        figures.extend(module.figures(args.size))
    print_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
