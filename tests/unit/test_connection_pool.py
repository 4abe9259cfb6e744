"""Pooled connections are kept, not opened per request: a request that found every pooled connection in use
used to open one of its own and close it afterwards (on PostgreSQL a new server process and a password
exchange each time), and the API ran more requests at once than the pool held."""

from __future__ import annotations

import threading
from pathlib import Path

from anyio import to_thread
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.main import create_app
from workflows.infra.db import make_engine
from workflows.infra.settings import POOL_SIZE, Settings

AT_ONCE = 12  # more than SQLAlchemy's default pool of 5, fewer than the process's pool


def _hold_at_once(engine, n: int) -> None:
    """``n`` threads each holding a connection at the same moment, then giving it back."""
    together = threading.Barrier(n, timeout=10)
    failures: list[BaseException] = []

    def hold() -> None:
        try:
            connection = engine.raw_connection()  # checked out of the pool as a request's session does
            try:
                together.wait()
            finally:
                connection.close()  # back to the pool
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=hold) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


def test_connections_used_at_once_stay_open_for_the_next_requests(tmp_path: Path) -> None:
    assert POOL_SIZE >= AT_ONCE
    engine = make_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    opened: list[object] = []
    event.listen(engine, "connect", lambda conn, record: opened.append(conn))
    _hold_at_once(engine, AT_ONCE)
    assert len(opened) == AT_ONCE
    _hold_at_once(engine, AT_ONCE)  # the same load again: every connection comes from the pool
    _hold_at_once(engine, AT_ONCE)
    assert len(opened) == AT_ONCE
    engine.dispose()


def test_the_api_works_on_no_more_requests_at_once_than_its_pool_holds(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}",
        secret_key="k" * 40,
        db_pool_size=7,
    )
    app = create_app(settings, prepare=False)

    async def thread_limit() -> dict[str, int]:
        return {"tokens": int(to_thread.current_default_thread_limiter().total_tokens)}

    app.add_api_route("/_test/thread-limit", thread_limit)
    app.router.routes.insert(0, app.router.routes.pop())  # before the pages' catch-all routes
    with TestClient(app) as client:
        # the thread pool's threads and the event loop (api/hot.py works on it) together: the pool's size
        assert client.get("/_test/thread-limit").json() == {"tokens": 6}
    assert app.state.sessionmaker.kw["bind"].pool.size() == 7
