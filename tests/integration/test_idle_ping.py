"""Pooled PostgreSQL connections are checked by a round trip only after sitting idle
(``workflows.infra.db.ping_idle_connections``): one returned moments ago is used as it is, one idle longer
is pinged and, when the server has closed it meanwhile, replaced before the request sees it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, NullPool, text

from tests.integration.conftest import pg_url
from workflows.infra import db
from workflows.infra.db import make_engine


@pytest.fixture
def engine(pg_engine: Engine) -> Iterator[Engine]:  # pg_engine: skip (or fail in CI) without a server
    made = make_engine(str(pg_url()), pool_size=1, max_overflow=0)
    yield made
    made.dispose()


def _pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    real = engine.dialect.do_ping

    def counted(dbapi_conn: Any) -> bool:
        pings.append(1)
        return bool(real(dbapi_conn))

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


def _backend(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _idle_for(engine: Engine, seconds: float) -> None:
    """Make the pooled connection look returned ``seconds`` ago."""
    record = engine.pool._pool.queue[0]  # type: ignore[attr-defined]
    record.info[db._RETURNED_AT] -= seconds


def test_a_connection_returned_moments_ago_is_used_without_a_ping(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = _pings(engine, monkeypatch)
    first = _backend(engine)
    for _ in range(5):
        assert _backend(engine) == first
    assert pings == []
    _idle_for(engine, db.PING_AFTER_IDLE_SECONDS + 1)
    assert _backend(engine) == first
    assert pings == [1]


def test_an_idle_connection_the_server_closed_is_replaced_before_use(engine: Engine) -> None:
    first = _backend(engine)
    admin = make_engine(str(pg_url()), poolclass=NullPool, pool_pre_ping=False)
    with admin.begin() as conn:
        # waits (up to 5 s) until the backend has exited
        assert conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": first}).scalar_one()
    admin.dispose()
    _idle_for(engine, db.PING_AFTER_IDLE_SECONDS + 1)
    second = _backend(engine)  # no error reaches the caller
    assert second != first
