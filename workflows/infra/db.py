"""Engine and session factory; SQLite (WAL, foreign keys) by default, PostgreSQL by URL."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, QueuePool, create_engine, event, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from workflows.infra import place_counts, sign_in_failures  # noqa: F401 - register their tables
from workflows.infra.models import Base  # importing the models registers every table
from workflows.infra.settings import POOL_SIZE

__all__ = ["Base", "create_all", "make_engine", "make_sessionmaker", "unit_of_work"]


# A transaction that only reads: on SQLite it begins DEFERRED (a WAL reader that waits for no one) instead of
# taking the write lock up front. Only for work that writes nothing: SQLite cannot upgrade such a transaction
# once another writer has committed. Use: ``session.connection(execution_options=READ_ONLY)`` first.
READ_ONLY = {"shouhu_read_only": True}
# A writing transaction that must not wait: on SQLite, when the write lock is taken (by a thread of this
# process or by another process) it is not begun and ``WriteTurnBusy`` is raised. No effect on PostgreSQL.
# Use: ``session.connection(execution_options=NO_WAIT)`` first.
NO_WAIT = {"shouhu_no_wait": True}
WRITE_WAIT_SECONDS = 30


class WriteTurnBusy(Exception):
    """A ``NO_WAIT`` transaction found SQLite's write lock taken; nothing was begun."""


class _WriterTurns:
    """One writing transaction at a time per process, handed over at once to the next thread.

    SQLite allows one writer; a BEGIN IMMEDIATE that finds the lock taken is retried by SQLite's busy
    handler after sleeps growing to 100 ms, so under load some requests waited seconds while the lock was
    free. Threads of one process queue here instead and wake as soon as the writer commits. Other processes
    (scheduler, a second worker) still meet at SQLite's own lock, which remains the guarantee.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def connection_class(self) -> type[sqlite3.Connection]:
        turns = self

        class TurnTakingConnection(sqlite3.Connection):
            holds_turn = False

            def take_turn(self) -> None:
                if not self.holds_turn:
                    # past the wait, carry on without a turn: SQLite's busy timeout still protects the data
                    self.holds_turn = turns.lock.acquire(timeout=WRITE_WAIT_SECONDS)

            def try_turn(self) -> bool:
                if not self.holds_turn:
                    self.holds_turn = turns.lock.acquire(blocking=False)
                return self.holds_turn

            def give_turn(self) -> None:
                if self.holds_turn:
                    self.holds_turn = False
                    turns.lock.release()

            def commit(self) -> None:
                try:
                    super().commit()
                finally:
                    self.give_turn()

            def rollback(self) -> None:
                try:
                    super().rollback()
                finally:
                    self.give_turn()

            def close(self) -> None:
                try:
                    super().close()
                finally:
                    self.give_turn()

        return TurnTakingConnection


def read_json(text: str | bytes) -> Any:
    """JSON columns are read with orjson, several times faster than the standard parser on a case's state
    (which every action reads); what orjson refuses but the standard writer may have stored (NaN, Infinity,
    integers past 64 bits) is read by the standard parser. Columns are still written by ``json.dumps``."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _begin_without_waiting(conn: Any, dbapi: Any) -> None:
    """BEGIN IMMEDIATE only if this process's write turn and SQLite's lock are both free at once."""
    if hasattr(dbapi, "try_turn") and not dbapi.try_turn():
        raise WriteTurnBusy
    dbapi.execute("PRAGMA busy_timeout = 0")
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException as exc:
        if hasattr(dbapi, "give_turn"):
            dbapi.give_turn()
        cause = getattr(exc, "orig", None)
        if getattr(cause, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise WriteTurnBusy from exc
        raise
    finally:
        dbapi.execute(f"PRAGMA busy_timeout = {WRITE_WAIT_SECONDS * 1000}")


def _queue_pooled(url: str) -> bool:
    """Whether SQLAlchemy pools this URL's connections in a queue (files and servers; not in-memory SQLite)."""
    parsed = make_url(url)
    # a DefaultDialect subclass: get_pool_class is not on the Dialect protocol
    dialect: Any = parsed.get_dialect()
    return issubclass(dialect.get_pool_class(parsed), QueuePool)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite files get WAL and foreign keys so readers never block the writer. Pooled
    engines keep ``POOL_SIZE`` connections unless told otherwise."""
    kwargs.setdefault("json_deserializer", read_json)
    if "poolclass" not in kwargs and _queue_pooled(url):
        kwargs.setdefault("pool_size", POOL_SIZE)
        kwargs.setdefault("pool_use_lifo", True)  # the connection used last, its caches warm, goes out first
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault(
            "connect_args",
            {
                "check_same_thread": False,
                "timeout": WRITE_WAIT_SECONDS,
                "factory": _WriterTurns().connection_class(),
            },
        )
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy, not the driver, opens transactions
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            options = conn.get_execution_options()
            if options.get("shouhu_read_only"):
                conn.exec_driver_sql("BEGIN")
                return
            # Take the write lock up front: a case is read and then written in one transaction, and a
            # deferred transaction would fail (SQLITE_BUSY_SNAPSHOT) instead of waiting its turn.
            dbapi = conn.connection.dbapi_connection
            if options.get("shouhu_no_wait"):
                _begin_without_waiting(conn, dbapi)
                return
            if hasattr(dbapi, "take_turn"):
                dbapi.take_turn()
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                if hasattr(dbapi, "give_turn"):
                    dbapi.give_turn()
                raise

        return engine
    if "pool_pre_ping" in kwargs:
        return create_engine(url, **kwargs)
    engine = create_engine(url, **kwargs)
    ping_idle_connections(engine)
    return engine


# A pooled server connection idle longer than this is checked by a round trip before it is used again (the
# server may have restarted or closed it meanwhile); one returned to the pool more recently is not: under
# load every check-out finds a connection returned moments before, and checking each (``pool_pre_ping``)
# cost a round trip to the server per request.
PING_AFTER_IDLE_SECONDS = 2.0
_RETURNED_AT = "shouhu_returned_at"


def ping_idle_connections(engine: Engine) -> None:
    """Check a connection before use when it has been idle past ``PING_AFTER_IDLE_SECONDS``; a dead one is
    replaced by a new connection before the request sees it (SQLAlchemy's pool retries the check-out)."""

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_conn: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is not None and time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # noqa: BLE001 - any failure: the pool discards it and connects anew
            raise DisconnectionError(f"an idle pooled connection no longer answers: {exc}") from exc


def limit_lock_waits(engine: Engine, seconds: float) -> None:
    """On PostgreSQL, a statement of this engine's connections waits at most ``seconds`` for a lock another
    transaction holds, then fails (``lock_timeout``; the API answers 503 and nothing is written). No effect
    on SQLite, whose writers wait at most ``WRITE_WAIT_SECONDS`` for their turn."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "connect")
    def _limit(dbapi_conn: Any, _record: Any) -> None:
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True  # a session setting, outside any transaction
        try:
            cursor = dbapi_conn.cursor()
            cursor.execute(f"SET lock_timeout = {int(seconds * 1000)}")
            cursor.close()
        finally:
            dbapi_conn.autocommit = autocommit


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (one request, one commit)."""
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


@contextmanager
def unit_of_work(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commits when the block ends, rolls back when it raises."""
    session = sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def create_all(engine: Engine) -> None:
    """Create every table (tests and the embedded default); Alembic migrates existing databases."""
    Base.metadata.create_all(engine)
