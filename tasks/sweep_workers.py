"""Helper processes that compute a large sweep's batches on the other cores (workflows/cases/sweeping.py).

Restoring a case's workflow and firing its timers is CPU work in Python, one core per process. When a sweep
finds a backlog, it starts helper processes (one per core but its own) that read their batches of a page of
due cases and compute their writes (``sweeping.prepare``, in a read-only transaction of their own), while
the sweep's own process computes batches from the other end of the page and writes every batch, each in one
transaction, with every case's version checked there. A helper writes nothing, so a helper that dies loses
no work: its batch is computed again by the sweep's process.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from workflows.cases import sweeping
from workflows.infra.db import READ_ONLY, make_engine, make_sessionmaker
from workflows.ops import wiring

_sessions: sessionmaker[Session] | None = None


def database_url(sessions: sessionmaker[Session]) -> str | None:
    """The URL helpers can open, or None when they cannot share the database (SQLite in memory)."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):  # a session on one connection (tests): its data may not be committed
        return None
    url = bind.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    return url.render_as_string(hide_password=False)


class Helpers:
    """A pool of helper processes for one sweep (started fresh: nothing inherited from the scheduler)."""

    def __init__(self, url: str, count: int) -> None:
        self.count = count
        self.broken = False  # set by the sweep when the helpers cannot be started
        self.pool = ProcessPoolExecutor(
            max_workers=count,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(url,),
        )

    def prepare(self, case_ids: list[str], *, now: datetime, deadline: float) -> Future[sweeping.Prepared]:
        return self.pool.submit(_prepare, case_ids, now, deadline)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _start(url: str) -> None:
    global _sessions
    wiring.install()
    _sessions = make_sessionmaker(make_engine(url))


def _prepare(case_ids: list[str], now: datetime, deadline: float) -> sweeping.Prepared:
    """Compute a share of a batch (time.monotonic is the same clock in every process of the machine)."""
    assert _sessions is not None
    with _sessions() as session:
        session.connection(execution_options=READ_ONLY)
        try:
            return sweeping.prepare(
                session, case_ids, now=lambda: now, go_on=lambda: time.monotonic() <= deadline
            )
        finally:
            session.rollback()
