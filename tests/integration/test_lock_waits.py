"""The API's own PostgreSQL connections wait at most ``api.main.LOCK_WAIT_SECONDS`` for a row lock: the
task routes run on the worker's event loop (api/hot.py), where a long wait would hold up every request of
that worker. A claim on a case whose row another transaction keeps locked is refused with 503 and writes
nothing; once the lock is gone, the same claim succeeds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

import api.main
from api.main import create_app
from tests.conftest import START
from tests.tasks.conftest import add_places_and_people, bearer_tokens, start_village_cases
from workflows.infra.clock import FixedClock
from workflows.infra.models import CaseEvent, HumanTask
from workflows.infra.settings import Settings

SECRET = "w" * 40


@pytest.fixture
def served(pg: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    monkeypatch.setattr(api.main, "LOCK_WAIT_SECONDS", 0.3)
    clock = FixedClock(START)
    with Session(pg) as session:
        add_places_and_people(session, START)
        start_village_cases(session, START, 1)
        token = bearer_tokens(session, secret=SECRET, now=START)["gz_director"]
        task = session.scalars(select(HumanTask.id).where(HumanTask.status == "ready")).one()
        session.commit()
    url = pg.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, secret_key=SECRET), clock=clock, prepare=False)
    with TestClient(app) as client:
        yield client, {"Authorization": f"Bearer {token}"}, task


def _events(pg: Engine) -> Any:
    with Session(pg) as session:
        return session.scalar(select(func.count()).select_from(CaseEvent))


def test_a_claim_on_a_locked_case_is_refused_after_the_wait_and_writes_nothing(
    pg: Engine, served: tuple[TestClient, dict[str, str], str]
) -> None:
    client, headers, task = served
    before = _events(pg)
    locked, done = threading.Event(), threading.Event()

    def hold() -> None:  # another transaction keeps the case row locked for 3 s
        with pg.connect() as holder:
            holder.execute(text("SELECT id FROM cases FOR UPDATE"))
            locked.set()
            done.wait(3)
            holder.rollback()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    started = time.monotonic()
    refused = client.post(f"/api/tasks/{task}/claim", headers=headers)
    waited = time.monotonic() - started
    done.set()
    holder.join(10)
    assert refused.status_code == 503 and refused.json()["code"] == "database_busy"  # without the limit: 200
    assert waited < 3
    assert _events(pg) == before
    claimed = client.post(f"/api/tasks/{task}/claim", headers=headers)
    assert claimed.status_code == 200 and claimed.json()["assignee"] == "gz_director"
    assert _events(pg) == before + 1
