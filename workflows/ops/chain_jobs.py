"""The chain-only check of every case, shared among processes.

The cases' chains are independent, so ``shouhu verify-all --chain-only --jobs N`` checks them in N processes:
this one and N − 1 forked helpers, each with a connection of its own and every N-th case of the list, on
PostgreSQL. The helpers take the caller's snapshot (``pg_export_snapshot``; the caller reads in REPEATABLE
READ), so they read the database as the list of heads was read and a case acted on meanwhile is not reported
broken. On SQLite, and on PostgreSQL when the caller does not read in REPEATABLE READ, the check runs in this
process alone: SQLite keeps its locks per process, so a forked child must not share this process's open
database, and a helper started afresh costs more than it saves on a database of SQLite's size. The findings
come back in the cases' order, as the check in one process gives them.
"""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine, NullPool, text
from sqlalchemy.orm import Session

from workflows.cases.replay import Report
from workflows.log.chaincheck import check_case_chain

Head = tuple[str, str, int, str]  # case id, case number, last event seq, last event hash
MIN_SHARE = 50  # fewer cases per process than this are not worth a process
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9A-F]+)?")


@dataclass
class Checked:
    total: int = 0  # cases
    events: int = 0
    # (place in the list of heads, case number, report): the place puts the helpers' findings back in order
    failed: list[tuple[int, str, Report]] = field(default_factory=list)


def repeatable_read(session: Session) -> None:
    """Read the whole check from one snapshot on PostgreSQL (call before the session's first statement)."""
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def check_heads(session: Session, heads: Iterable[Head], jobs: int) -> Checked:
    """Check the chain of every case in ``heads`` (read in this session's transaction) in ``jobs`` processes;
    in this process alone (the heads streamed, not held) when one is asked for or the database cannot be
    shared as the caller reads it."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    if jobs <= 1 or not _shareable(session, engine):
        return _check(session, enumerate(heads))
    numbered = list(enumerate(heads))
    jobs = min(jobs, len(numbered) // MIN_SHARE)
    if jobs <= 1:
        return _check(session, numbered)
    snapshot = session.execute(text("SELECT pg_export_snapshot()")).scalar_one()
    if not _SNAPSHOT_ID.fullmatch(snapshot):
        raise ValueError(f"unexpected snapshot id {snapshot!r}")
    url = engine.url.render_as_string(hide_password=False)
    shares = [numbered[i::jobs] for i in range(jobs)]
    # a forked helper leaves the caller's pooled connections alone (psycopg closes a connection only in the
    # process that opened it)
    with ProcessPoolExecutor(
        max_workers=jobs - 1,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_forget_pool,
        initargs=(engine,),
    ) as pool:
        helpers = [pool.submit(_check_elsewhere, url, snapshot, share) for share in shares[1:]]
        results = [_check(session, shares[0]), *(h.result() for h in helpers)]
    merged = Checked(sum(r.total for r in results), sum(r.events for r in results))
    merged.failed = sorted((f for r in results for f in r.failed), key=lambda f: f[0])
    return merged


def _shareable(session: Session, engine: Any) -> bool:
    """Whether helpers can read what this session reads: PostgreSQL in REPEATABLE READ (its snapshot can be
    exported)."""
    if engine.dialect.name != "postgresql":
        return False
    isolation = session.execute(text("SHOW transaction_isolation")).scalar_one()
    return isolation in ("repeatable read", "serializable")


def _check(session: Session, numbered: Iterable[tuple[int, Head]]) -> Checked:
    checked = Checked()
    for place, (case_id, case_no, last_seq, last_hash) in numbered:
        head = SimpleNamespace(id=case_id, last_event_seq=last_seq, last_event_hash=last_hash)
        problem, count = check_case_chain(session, head)
        checked.total += 1
        checked.events += count
        if problem is not None:
            checked.failed.append(
                (place, case_no, Report(case_id, False, count, problem.reason, problem.seq))
            )
    return checked


def _forget_pool(engine: Any) -> None:
    """In a forked helper: leave the caller's pooled connections alone (they belong to the caller)."""
    engine.dispose(close=False)


def _check_elsewhere(url: str, snapshot: str, numbered: list[tuple[int, Head]]) -> Checked:
    from workflows.infra.db import make_engine

    engine = make_engine(url, poolclass=NullPool, pool_pre_ping=False)
    try:
        with Session(engine) as session:
            # the first statement of the transaction; the id was checked to be one
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            session.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
            return _check(session, numbered)
    finally:
        engine.dispose()
