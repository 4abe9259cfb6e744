"""The hot lane (``api.hot``) answers the task list, claim, unclaim, completion and health check without
FastAPI's per-request machinery. Every answer must be the one the FastAPI routes give: each request below
goes to an app with the lane and to one without it, on the same database, and the answers are compared."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from api import hot
from api.hot import HotLane
from api.main import create_app
from api.routes import tasks as task_routes
from tests.support.clock import START
from tests.support.models import DATA, publish_folder
from tests.tasks.conftest import VILLAGE, add_places_and_people, bearer_tokens, start_village_cases
from workflows.infra.clock import FixedClock
from workflows.infra.db import create_all, make_engine
from workflows.infra.models import CaseEvent, HumanTask
from workflows.infra.settings import Settings

SECRET = "h" * 40
CASES = 6


class Apps:
    def __init__(self, lane: TestClient, plain: TestClient, engine: Any, tokens: dict[str, str]) -> None:
        self.lane, self.plain, self.engine, self.tokens = lane, plain, engine, tokens

    def auth(self, who: str = "gz_director") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def ready(self) -> list[str]:
        with Session(self.engine) as session:
            return list(
                session.scalars(
                    select(HumanTask.id).where(HumanTask.status == "ready").order_by(HumanTask.created_at)
                )
            )

    def events(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(CaseEvent)) or 0


def _without_lane(app: FastAPI) -> FastAPI:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not HotLane]
    return app


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[Apps]:
    url = f"sqlite:///{tmp_path / 'lane.db'}"
    engine = make_engine(url)
    create_all(engine)
    clock = FixedClock(START)
    with Session(engine) as session:
        publish_folder(session, DATA / "review_demo", now=START)
        add_places_and_people(session, START)
        start_village_cases(session, START, CASES)
        tokens = bearer_tokens(session, secret=SECRET, now=START)
        session.commit()
    engine.dispose()
    settings = Settings(database_url=url, secret_key=SECRET)
    lane_app = create_app(settings, clock=clock, prepare=False)
    plain_app = _without_lane(create_app(settings, clock=clock, prepare=False))
    with TestClient(lane_app) as lane, TestClient(plain_app) as plain:
        yield Apps(lane, plain, lane_app.state.sessionmaker.kw["bind"], tokens)


def _answer(response: Any) -> tuple[int, bytes, dict[str, str | None]]:
    """Status, the body's bytes and the headers a client reads."""
    names = ("content-type", "content-length", "www-authenticate")
    return response.status_code, response.content, {name: response.headers.get(name) for name in names}


def test_the_lane_answers_the_hot_requests_itself(apps: Apps, monkeypatch: pytest.MonkeyPatch) -> None:
    through_fastapi: list[str] = []
    original = task_routes.as_signed_in

    async def spy(request: Any, *args: Any, **kwargs: Any) -> Any:
        through_fastapi.append(request.url.path)
        return await original(request, *args, **kwargs)

    monkeypatch.setattr(task_routes, "as_signed_in", spy)
    first, second = apps.ready()[:2]
    for client in (apps.lane, apps.plain):
        task = first if client is apps.lane else second
        assert client.get("/api/health").json() == {"status": "ok"}
        assert client.get("/api/tasks?limit=10&mine=false", headers=apps.auth()).status_code == 200
        assert client.post(f"/api/tasks/{task}/claim", headers=apps.auth()).status_code == 200
        assert client.post(f"/api/tasks/{task}/unclaim", headers=apps.auth()).status_code == 200
        done = client.post(f"/api/tasks/{task}/complete", headers=apps.auth(), json={"data": {"score": 60}})
        assert done.status_code == 200
        if client is apps.lane:
            assert through_fastapi == []
    assert len(through_fastapi) == 4  # the app without the lane: list, claim, unclaim, complete


# (method, path, who, body, extra headers): refused or read-only requests, which change nothing
TASK = "{task}"
SAME_EITHER_WAY = {
    "list": ("GET", "/api/tasks", "gz_director", None, {}),
    "list, every key": (
        "GET",
        "/api/tasks?process_key=review_demo&mine=1&limit=2&offset=1",
        "gz_director",
        None,
        {},
    ),
    "list, next page": ("GET", "/api/tasks?limit=2&after=2099-01-01T00:00:00", "gz_director", None, {}),
    "list, unknown key": ("GET", "/api/tasks?colour=red", "gz_director", None, {}),
    "list, repeated key": ("GET", "/api/tasks?limit=1&limit=3", "gz_director", None, {}),
    "list, limit 0": ("GET", "/api/tasks?limit=0", "gz_director", None, {}),
    "list, limit 201": ("GET", "/api/tasks?limit=201", "gz_director", None, {}),
    "list, limit not a number": ("GET", "/api/tasks?limit=ten", "gz_director", None, {}),
    "list, offset negative": ("GET", "/api/tasks?offset=-1", "gz_director", None, {}),
    "list, mine yes": ("GET", "/api/tasks?mine=yes", "gz_director", None, {}),
    "list, mine maybe": ("GET", "/api/tasks?mine=maybe", "gz_director", None, {}),
    "list, after too long": ("GET", "/api/tasks?after=" + "x" * 121, "gz_director", None, {}),
    "list, no token": ("GET", "/api/tasks", None, None, {}),
    "list, forged token": ("GET", "/api/tasks", None, None, {"Authorization": "Bearer abc.def"}),
    "list, basic auth": ("GET", "/api/tasks", None, None, {"Authorization": "Basic Z3o6eA=="}),
    "list, inactive account": ("GET", "/api/tasks", "gz_gone", None, {}),
    "list, trainee": ("GET", "/api/tasks", "gz_trainee", None, {}),
    "list, police": ("GET", "/api/tasks", "gz_police", None, {}),
    "claim, unknown task": ("POST", "/api/tasks/no-such-task/claim", "gz_director", None, {}),
    "claim, other village": ("POST", f"/api/tasks/{TASK}/claim", "gz_neighbour", None, {}),
    "claim, no token": ("POST", f"/api/tasks/{TASK}/claim", None, None, {}),
    "unclaim, not claimed": ("POST", f"/api/tasks/{TASK}/unclaim", "gz_director", None, {}),
    "complete, trainee": ("POST", f"/api/tasks/{TASK}/complete", "gz_trainee", {"data": {"score": 60}}, {}),
    "complete, form refuses": (
        "POST",
        f"/api/tasks/{TASK}/complete",
        "gz_director",
        {"data": {"score": 101}},
        {},
    ),
    "complete, undeclared field": (
        "POST",
        f"/api/tasks/{TASK}/complete",
        "gz_director",
        {"data": {"score": 60, "__builtins__": {}}},
        {},
    ),
    "complete, no data": ("POST", f"/api/tasks/{TASK}/complete", "gz_director", {}, {}),
    "complete, data a list": ("POST", f"/api/tasks/{TASK}/complete", "gz_director", {"data": [1]}, {}),
    "complete, body a list": ("POST", f"/api/tasks/{TASK}/complete", "gz_director", [{"data": {}}], {}),
    "complete, broken JSON": ("POST", f"/api/tasks/{TASK}/complete", "gz_director", b'{"data": {', {}),
    "complete, NaN": ("POST", f"/api/tasks/{TASK}/complete", "gz_director", b'{"data": {"score": NaN}}', {}),
    "complete, huge integer": (
        "POST",
        f"/api/tasks/{TASK}/complete",
        "gz_director",
        b'{"data": {"score": 123456789012345678901234567890}}',
        {},
    ),
    "complete, empty body": ("POST", f"/api/tasks/{TASK}/complete", "gz_director", b"", {}),
    "complete, not JSON": (
        "POST",
        f"/api/tasks/{TASK}/complete",
        "gz_director",
        b"score=60",
        {"Content-Type": "application/x-www-form-urlencoded"},
    ),
    "complete, too deep": (
        "POST",
        f"/api/tasks/{TASK}/complete",
        "gz_director",
        b'{"data": {"note": ' + b"[" * 40 + b"]" * 40 + b"}}",
        {},
    ),
    "complete, key too long": (
        "POST",
        f"/api/tasks/{TASK}/complete",
        "gz_director",
        {"data": {"score": 60}},
        {"Idempotency-Key": "k" * 129},
    ),
    "complete, unknown task": (
        "POST",
        "/api/tasks/nope/complete",
        "gz_director",
        {"data": {"score": 60}},
        {},
    ),
    "list, two spaces after Bearer": ("GET", "/api/tasks", None, None, {"Authorization": "Bearer  {token}"}),
    "list, limit superscript two": ("GET", "/api/tasks?limit=%C2%B2", "gz_director", None, {}),
    "list, limit Arabic-Indic three": ("GET", "/api/tasks?limit=%D9%A3", "gz_director", None, {}),
    "complete, JSON with charset": (
        "POST",
        f"/api/tasks/{TASK}/complete",
        "gz_director",
        {"data": {"score": 101}},
        {"Content-Type": "application/json; charset=utf-8"},
    ),
    "complete, upper-case content type": (
        "POST",
        f"/api/tasks/{TASK}/complete",
        "gz_director",
        {"data": {"score": 101}},
        {"Content-Type": "Application/JSON"},
    ),
    "health": ("GET", "/api/health", None, None, {}),
    "health, head": ("HEAD", "/api/health", None, None, {}),
    "tasks, wrong method": ("DELETE", "/api/tasks", "gz_director", None, {}),
}


# the requests the lane hands on to FastAPI (the others it answers itself)
HANDED_ON = {
    "list, unknown key",
    "list, repeated key",
    "list, limit 0",
    "list, limit 201",
    "list, limit not a number",
    "list, offset negative",
    "list, mine yes",
    "list, mine maybe",
    "list, after too long",
    "list, limit superscript two",
    "list, limit Arabic-Indic three",
    "complete, data a list",
    "complete, body a list",
    "complete, broken JSON",
    "complete, empty body",
    "complete, not JSON",
    "complete, too deep",
    "complete, key too long",
    "complete, upper-case content type",
    "health, head",
    "tasks, wrong method",
}


@pytest.mark.parametrize("name", list(SAME_EITHER_WAY))
def test_refusals_and_reads_are_the_same_either_way(
    apps: Apps, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    method, path, who, body, headers = SAME_EITHER_WAY[name]
    task = apps.ready()[0]
    headers = {k: v.replace("{token}", apps.tokens["gz_director"]) for k, v in headers.items()}
    headers = {**(apps.auth(who) if who else {}), **headers}
    worked = _threads_of_work(monkeypatch)  # the lane's own work, not FastAPI's
    if body is not None:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    else:
        content = None
    events = apps.events()
    answers = [
        _answer(client.request(method, path.replace(TASK, task), headers=headers, content=content))
        for client in (apps.lane, apps.plain)
    ]
    assert answers[0] == answers[1]
    assert apps.events() == events  # nothing was written
    if name != "health":
        assert len(worked) == (0 if name in HANDED_ON else 1)


def _shape(answer: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """An action's answer with its ids and instants replaced by their order of appearance."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and (len(value) == 36 and value.count("-") == 4):
            return ids.setdefault(value, f"id{len(ids)}")
        return value

    return dict(walk(answer))


def test_actions_answer_the_same_either_way(apps: Apps) -> None:
    first, second = apps.ready()[:2]
    shapes = []
    for client, task in ((apps.lane, first), (apps.plain, second)):
        ids: dict[str, str] = {}
        claimed = client.post(f"/api/tasks/{task}/claim", headers=apps.auth())
        done = client.post(
            f"/api/tasks/{task}/complete",
            headers={**apps.auth(), "Idempotency-Key": f"key-{task}"},
            json={"data": {"score": 60, "note": "家访"}},
        )
        assert claimed.status_code == done.status_code == 200
        shapes.append((_shape(claimed.json(), ids), _shape(done.json(), ids)))
    assert shapes[0] == shapes[1]


def test_a_completion_repeated_with_its_key_gives_the_first_answer_on_either_path(apps: Apps) -> None:
    task = apps.ready()[0]
    headers = {**apps.auth(), "Idempotency-Key": "visit-0001"}
    first = apps.lane.post(f"/api/tasks/{task}/complete", headers=headers, json={"data": {"score": 70}})
    events = apps.events()
    again = [
        client.post(f"/api/tasks/{task}/complete", headers=headers, json={"data": {"score": 70}})
        for client in (apps.lane, apps.plain)
    ]
    assert first.status_code == 200
    assert [a.json() for a in again] == [first.json(), first.json()]
    assert apps.events() == events
    other = [
        _answer(client.post(f"/api/tasks/{task}/complete", headers=headers, json={"data": {"score": 71}}))
        for client in (apps.lane, apps.plain)
    ]
    assert other[0] == other[1] and other[0][0] == 409


def _threads_of_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    real = hot.run_signed_in

    def recorded(*args: Any) -> Any:
        names.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(hot, "run_signed_in", recorded)
    return names


WORKER = "AnyIO worker thread"  # the thread pool's threads


def test_the_work_runs_on_the_event_loop_thread(apps: Apps, monkeypatch: pytest.MonkeyPatch) -> None:
    names = _threads_of_work(monkeypatch)
    task = apps.ready()[0]
    assert apps.lane.get("/api/tasks", headers=apps.auth()).status_code == 200
    assert apps.lane.post(f"/api/tasks/{task}/claim", headers=apps.auth()).status_code == 200
    done = apps.lane.post(f"/api/tasks/{task}/complete", headers=apps.auth(), json={"data": {"score": 60}})
    assert done.status_code == 200
    assert len(names) == 3 and WORKER not in names


@pytest.mark.parametrize("holder_kind", ["a thread of this process", "another process"])
def test_while_the_sqlite_write_lock_is_taken_writes_wait_in_the_thread_pool(
    apps: Apps, monkeypatch: pytest.MonkeyPatch, holder_kind: str
) -> None:
    """A claim must not wait on the event loop for SQLite's write lock (a holder in this process may need
    the loop; the scheduler's batch may take a while): it waits in the thread pool while the loop answers
    other requests, then succeeds. A list (a reader) needs no lock and is answered at once."""
    names = _threads_of_work(monkeypatch)
    task = apps.ready()[0]
    held, release = threading.Event(), threading.Event()
    # another engine has its own write turns, as another process (the scheduler) would
    other = make_engine(str(apps.engine.url)) if holder_kind == "another process" else apps.engine

    def holder() -> None:
        with other.connect() as conn:
            conn.execute(text("UPDATE places SET name = name WHERE code = :c"), {"c": VILLAGE})
            held.set()
            release.wait(10)
            conn.commit()

    answers: dict[str, int] = {}

    def claim() -> None:
        answers["claim"] = apps.lane.post(f"/api/tasks/{task}/claim", headers=apps.auth()).status_code

    writer = threading.Thread(target=holder)
    writer.start()
    assert held.wait(10)
    claimer = threading.Thread(target=claim)
    claimer.start()
    claimer.join(0.5)
    assert claimer.is_alive()  # waiting for the lock
    assert apps.lane.get("/api/tasks", headers=apps.auth()).status_code == 200  # the loop is free
    release.set()
    writer.join(10)
    claimer.join(10)
    if other is not apps.engine:
        other.dispose()
    assert answers == {"claim": 200}
    # the claim tried on the loop, found the lock taken and waited in the pool; the list ran on the loop
    assert len(names) == 3 and names[1] == WORKER and WORKER not in (names[0], names[2])
