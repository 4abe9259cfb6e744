"""Processes for the crash test: an API worker (uvicorn factory) and a scheduler loop (sweep + drain).

Both read a fast clock shared through the environment: one real second is one hour of case time, so
24-hour deadlines fall due while clients are still completing tasks. Everything is on 127.0.0.1.

    python -m uvicorn tests.integration.crash_app:api --factory --port P
    python -m tests.integration.crash_app          (the scheduler loop, until killed)
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from tasks import jobs
from workflows.infra.db import make_engine, make_sessionmaker
from workflows.infra.settings import Settings
from workflows.ops import wiring

SPEED = 3600.0  # case seconds per real second


class FastClock:
    """Case time = T0 + (real time since EPOCH) × SPEED; the same in every process."""

    def __init__(self) -> None:
        self.t0 = datetime.fromisoformat(os.environ["CRASH_T0"]).astimezone(UTC)
        self.epoch = float(os.environ["CRASH_EPOCH"])

    def now(self) -> datetime:
        return self.t0 + timedelta(seconds=(time.time() - self.epoch) * SPEED)


def api() -> FastAPI:
    from api.main import create_app

    wiring.install()
    settings = Settings(database_url=os.environ["CRASH_DB"], secret_key=os.environ["CRASH_SECRET"])
    engine = make_engine(settings.database_url, pool_size=4)
    return create_app(settings, sessions=make_sessionmaker(engine), clock=FastClock(), prepare=False)


def scheduler() -> None:
    wiring.install()
    sessions = make_sessionmaker(make_engine(os.environ["CRASH_DB"], pool_size=2))
    clock = FastClock()
    while True:
        jobs.sweep_timers(sessions=sessions, clock=clock, limit=50)
        jobs.deliver_notifications(sessions=sessions, clock=clock, webhook=None, batch=5)
        time.sleep(0.1)


if __name__ == "__main__":
    scheduler()
