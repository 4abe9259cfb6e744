"""The hot lane: the most frequent requests answered without FastAPI's per-request machinery.

A caseworker's day is the task list, claim and complete; under load these are nearly every request, and
FastAPI's routing, dependency solving, request and response models cost more CPU per request than the
action itself (profiled under 16 clients: a third of the API's time). ``HotLane`` is an ASGI middleware
inside the body-size cap and the JSON guard; it answers

- ``GET /api/health``,
- ``GET /api/tasks`` (the worklist),
- ``POST /api/tasks/{id}/claim``, ``.../unclaim`` and ``.../complete``,

when a request has the plain, well-formed shape clients send (a bearer token or none, the documented
query keys with simple values, a JSON object body). It runs the same work as the FastAPI routes
(``api.routes.tasks.*_work``: sign-in check, work, commit in one transaction, ``api.deps.run_signed_in``)
and maps errors as ``api.errors`` does. Every other request, and any of these with an unusual shape (a
malformed body, a bad query value, another content type, an over-long header), goes on to FastAPI
unchanged, which answers it, or refuses it with its usual message.

The work runs on the event loop's own thread, as a synchronous worker process would run it: a few
milliseconds of CPU and statements that wait for nothing a request of this process holds. Handing it to
a thread and back cost more CPU than the rest of the request outside the work (a thread hop: queue,
wake-up, the interpreter lock changing hands, caches cold on the other core), and under 16 clients the
API did a quarter to a third more work per completion that way. Concurrency comes from the worker
processes (``shouhu serve --workers``), each answering one such request at a time. What would make it
wait is bounded: on SQLite a claim or completion begins only if the write lock is free at that moment
(``NO_WAIT``); when a thread of this process or another process (the scheduler) holds it, the request
waits for it in the thread pool, as the FastAPI routes do. On PostgreSQL the API's connections wait at
most ``api.main.LOCK_WAIT_SECONDS`` for a row lock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from pydantic import TypeAdapter
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.concurrency import run_in_threadpool

from api import errors
from api.deps import run_signed_in
from api.limits import read_body, replaying, send_json
from api.routes import tasks
from api.schemas.common import OFFSET_MAX
from workflows.infra.db import WriteTurnBusy
from workflows.infra.errors import DomainError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_TASK_ACTION = re.compile(r"/api/tasks/([^/]+)/(claim|unclaim|complete)")
_HEALTH = b'{"status":"ok"}'
_LIST_KEYS = {"process_key", "mine", "limit", "offset", "after"}
_TRUE, _FALSE = {"true", "1"}, {"false", "0"}
_DIGITS = re.compile(r"[0-9]{1,10}")  # ASCII only: int() also reads other scripts' digits
IDEMPOTENCY_KEY_MAX = 128  # as the route declares it


class _Unusual(Exception):
    """The request is not of the plain shape this lane serves: FastAPI answers it (``receive`` gives the
    body again when the lane has read it)."""

    def __init__(self, receive: Receive | None = None) -> None:
        super().__init__()
        self.receive = receive


class HotLane:
    def __init__(self, app: Any, state: Any) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            path, method = scope["path"], scope["method"]
            try:
                if path == "/api/tasks" and method == "GET":
                    await self._list(scope, send)
                    return
                if method == "POST" and path.startswith("/api/tasks/"):
                    matched = _TASK_ACTION.fullmatch(path)
                    if matched is not None:
                        await self._action(scope, receive, send, matched[1], matched[2])
                        return
                elif path == "/api/health" and method == "GET":
                    await send_json(send, 200, _HEALTH)
                    return
            except _Unusual as unusual:
                await self.app(scope, unusual.receive or receive, send)
                return
        await self.app(scope, receive, send)

    async def _list(self, scope: Scope, send: Send) -> None:
        query = _list_query(scope["query_string"])
        work = tasks.list_work(**query)
        await self._run(scope, send, work, read_only=True)

    async def _action(self, scope: Scope, receive: Receive, send: Send, task_id: str, verb: str) -> None:
        clock = self.state.clock
        if verb != "complete":
            await self._run(scope, send, tasks.claim_work(task_id, clock, claim=verb == "claim"))
            return
        raw = await read_body(receive)
        if raw is None:
            raise _Unusual  # a disconnect: FastAPI's route sees it as it would
        replay = replaying(raw, receive)
        headers = _headers(scope, replay)
        # exactly as clients send it; any other spelling goes to FastAPI (and the JSON guard) unchanged
        if headers.get(b"content-type", b"").split(b";")[0].strip() != b"application/json":
            raise _Unusual(replay)
        key = headers.get(b"idempotency-key")
        if key is not None and (len(key) > IDEMPOTENCY_KEY_MAX or not key.isascii()):
            raise _Unusual(replay)
        data = _form_data(raw, replay)
        work = tasks.complete_work(task_id, clock, data, key.decode() if key is not None else None)
        await self._run(scope, send, work, headers=headers)

    async def _run(
        self,
        scope: Scope,
        send: Send,
        work: tasks.Work,
        *,
        read_only: bool = False,
        headers: dict[bytes, bytes] | None = None,
    ) -> None:
        token = _bearer(headers if headers is not None else _headers(scope, None))
        try:
            try:
                result = run_signed_in(self.state, token, work, read_only, True)
            except WriteTurnBusy:  # SQLite's write lock is taken: wait for it in the thread pool
                result = await run_in_threadpool(run_signed_in, self.state, token, work, read_only)
        except (DomainError, IntegrityError, OperationalError) as exc:
            response = errors.response_for(exc)
            await send_json(send, response.status_code, bytes(response.body), response.raw_headers)
            return
        await send_json(send, 200, _dumps(result))


def _headers(scope: Scope, replay: Receive | None) -> dict[bytes, bytes]:
    """The request's headers by lower-case name; a repeated header the lane reads is left to FastAPI."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in found and name in (b"authorization", b"content-type", b"idempotency-key"):
            raise _Unusual(replay)
        found[name] = value
    return found


def _bearer(headers: dict[bytes, bytes]) -> str | None:
    """The bearer token as FastAPI's OAuth2PasswordBearer reads it (none: the work refuses with 401)."""
    value = headers.get(b"authorization")
    if value is None:
        return None
    scheme, _, token = value.decode("latin-1").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _list_query(raw: bytes) -> dict[str, Any]:
    """The worklist's query in the route's types; anything it would refuse or read otherwise is unusual."""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True) if raw else []
    if (
        not raw.isascii()
        or len(pairs) != len({k for k, _ in pairs})
        or not {k for k, _ in pairs} <= _LIST_KEYS
    ):
        raise _Unusual
    given = dict(pairs)
    query: dict[str, Any] = {
        "process_key": None,
        "mine": False,
        "limit": tasks.LIMIT_DEFAULT,
        "offset": 0,
        "after": None,
    }
    if "process_key" in given:
        query["process_key"] = given["process_key"]
    if "mine" in given:
        if given["mine"] not in _TRUE | _FALSE:
            raise _Unusual
        query["mine"] = given["mine"] in _TRUE
    for name, low, high in (("limit", 1, tasks.LIMIT_MAX), ("offset", 0, OFFSET_MAX)):
        if name in given:
            value = given[name]
            if not (_DIGITS.fullmatch(value) and low <= int(value) <= high):
                raise _Unusual
            query[name] = int(value)
    if "after" in given:
        if len(given["after"]) > tasks.AFTER_MAX:
            raise _Unusual
        query["after"] = given["after"]
    return query


def _form_data(raw: bytes, replay: Receive) -> dict[str, Any]:
    """``data`` of a ``{"data": {...}}`` body, as the route's model reads it (other keys are ignored, no
    ``data`` is an empty form); a body that is not JSON or of another shape is left to FastAPI. Parsed by
    the standard parser, as FastAPI parses it: orjson would read an integer past 64 bits as a float."""
    try:
        body = json.loads(raw)
    except ValueError:  # broken JSON, or bytes that are not text
        raise _Unusual(replay) from None
    if not isinstance(body, dict):
        raise _Unusual(replay)
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise _Unusual(replay)
    return data


_ANY = TypeAdapter(Any)


def _dumps(result: Any) -> bytes:
    try:
        return orjson.dumps(result)
    except TypeError:  # a value orjson does not write: by pydantic, as FastAPI writes a response
        return _ANY.dump_json(result)
