"""The hot routes (task list, claim, completion) run a request in one transaction on SQLite, sign-in check
included: the list in a reader that never queues behind a writer, a claim or completion in one write
transaction (no separate transaction for the sign-in check: each costs a BEGIN, a COMMIT and a connection
check-out)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from api.main import create_app
from tests.support.clock import START
from tests.support.models import DATA, publish_folder
from tests.tasks.conftest import add_places_and_people, bearer_tokens, start_village_cases
from workflows.infra.clock import FixedClock
from workflows.infra.db import create_all, make_engine
from workflows.infra.settings import Settings

SECRET = "k" * 40


@pytest.fixture
def app_on_file(tmp_path: Path) -> Iterator[tuple[TestClient, Any, dict[str, str]]]:
    """The API on a SQLite file (real transactions), two cases waiting for the village director."""
    url = f"sqlite:///{tmp_path / 'hot.db'}"
    engine = make_engine(url)
    create_all(engine)
    clock = FixedClock(START)
    with Session(engine) as session:
        publish_folder(session, DATA / "review_demo", now=START)
        add_places_and_people(session, START)
        start_village_cases(session, START, 2)
        token = bearer_tokens(session, secret=SECRET, now=START)["gz_director"]
        session.commit()
    engine.dispose()
    app = create_app(Settings(database_url=url, secret_key=SECRET), clock=clock, prepare=False)
    with TestClient(app) as client:
        yield client, app.state.sessionmaker.kw["bind"], {"Authorization": f"Bearer {token}"}


def _begins(engine: Any) -> list[str]:
    seen: list[str] = []
    event.listen(
        engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *rest: (
            seen.append(statement) if statement.startswith("BEGIN") else None
        ),
    )
    return seen


def test_a_list_claim_and_completion_each_run_in_one_transaction(app_on_file) -> None:
    client, engine, headers = app_on_file
    begins = _begins(engine)
    listed = client.get("/api/tasks", headers=headers)
    assert listed.status_code == 200 and len(listed.json()["items"]) == 2
    assert begins == ["BEGIN"]  # sign-in check and list: one reader
    begins.clear()
    task_id = listed.json()["items"][0]["id"]
    assert client.post(f"/api/tasks/{task_id}/claim", headers=headers).status_code == 200
    assert begins == ["BEGIN IMMEDIATE"]
    begins.clear()
    done = client.post(f"/api/tasks/{task_id}/complete", headers=headers, json={"data": {"score": 60}})
    assert done.status_code == 200, done.text
    assert begins == ["BEGIN IMMEDIATE"]


def test_the_list_does_not_wait_for_a_writer(app_on_file) -> None:
    client, engine, headers = app_on_file
    holding, release = threading.Event(), threading.Event()
    waited: list[bool] = []

    def writer() -> None:
        with engine.begin() as conn:  # holds SQLite's write lock (and the process's writer turn)
            conn.execute(text("UPDATE users SET display_name = display_name"))
            holding.set()
            waited.append(release.wait(5))  # False: the list waited for this commit

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        response = client.get("/api/tasks", headers=headers)
    finally:
        release.set()
        thread.join(20)
    assert waited == [True]  # answered while the writer still held the lock
    assert response.status_code == 200 and len(response.json()["items"]) == 2


def test_a_revoked_token_writes_nothing(app_on_file) -> None:
    client, engine, headers = app_on_file
    task_id = client.get("/api/tasks", headers=headers).json()["items"][0]["id"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET token_version = token_version + 1"))
    refused = client.post(f"/api/tasks/{task_id}/claim", headers=headers)
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"
    with engine.connect() as conn:
        row = conn.execute(text("SELECT status, claimed_at FROM human_tasks WHERE id = :t"), {"t": task_id})
        assert tuple(row.one()) == ("ready", None)


def test_the_hot_routes_are_tried_first_and_no_other_route_serves_their_requests(tmp_path: Path) -> None:
    """The health check and the task routes are matched first; moving them there changed nothing, as no
    other route matches any of their requests."""
    from starlette.routing import Match

    from api.routes import tasks

    app = create_app(
        Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", secret_key=SECRET), prepare=False
    )
    routes = app.router.routes
    first = sorted(
        getattr(r, "path", None) or str(id(getattr(r, "original_router", None))) for r in routes[:2]
    )
    assert first == sorted(["/api/health", str(id(tasks.router))])
    requests = [("GET", "/api/health"), ("GET", "/api/tasks")] + [
        (method, f"/api/tasks/t-1{tail}")
        for method, tail in [("GET", ""), ("POST", "/claim"), ("POST", "/unclaim"), ("POST", "/complete")]
    ]
    for method, path in requests:
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "app": app}
        assert any(r.matches(dict(scope))[0] == Match.FULL for r in routes[:2]), (method, path)
        others = [r for r in routes[2:] if r.matches(dict(scope))[0] == Match.FULL]
        assert others == [], (method, path, others)
