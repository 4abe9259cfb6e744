"""A cap on request bodies, enforced before anything is parsed or spooled to disk."""

from __future__ import annotations

import json
from typing import Any

MAX_BODY_BYTES = 12 * 1024 * 1024  # a 10 MB attachment with its multipart framing
_TOO_LARGE = json.dumps(
    {
        "code": "request_too_large",
        "message": "提交的内容过大（上限 12 MB），请压缩或拆分后再提交",
        "details": None,
    },
    ensure_ascii=False,
).encode("utf-8")


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 when the declared or streamed body exceeds the cap."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _refuse(send)
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _refuse(send)


async def _refuse(send: Any) -> None:
    await send_json(send, 413, _TOO_LARGE)


MAX_JSON_DEPTH = 32  # forms are flat; a nested list of lists is a handful deep


def _refusal(code: str, message: str) -> bytes:
    return json.dumps({"code": code, "message": message, "details": None}, ensure_ascii=False).encode()


def json_problem(raw: bytes) -> tuple[str, str] | None:
    """Why a JSON body may not reach the routes (nesting too deep, text that is not valid Unicode), or None.

    Only bodies with ``\\u`` escapes or deep brackets need the full walk: a lone surrogate can only arrive
    as an escape, and nesting costs at least two bytes a level.
    """
    if b"\\u" not in raw and raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return None
    try:
        value = json.loads(raw)
    except RecursionError:
        return "request_too_deep", f"提交的内容嵌套层数过多（上限 {MAX_JSON_DEPTH} 层）"
    except ValueError:
        return None  # not JSON: the route answers with its own 422
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return "request_too_deep", f"提交的内容嵌套层数过多（上限 {MAX_JSON_DEPTH} 层）"
        if isinstance(item, str):
            if not _valid_unicode(item):
                return "text_invalid", "提交的文字中含有无效字符（不成对的代理码位），请删除后重新提交"
        elif isinstance(item, dict):
            stack.extend((k, depth + 1) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return None


def _valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class JsonGuard:
    """ASGI middleware: a JSON body nested too deep or carrying invalid Unicode is refused with 422."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers") or []) if scope["type"] == "http" else {}
        if b"json" not in headers.get(b"content-type", b""):
            await self.app(scope, receive, send)
            return
        raw = await read_body(receive)
        if raw is None:
            await self.app(scope, receive, send)  # a disconnect: let the route see it
            return
        problem = json_problem(raw)
        if problem is not None:
            await send_json(send, 422, _refusal(*problem))
            return
        await self.app(scope, replaying(raw, receive), send)


async def read_body(receive: Any) -> bytes | None:
    """The whole request body (None when the client disconnected first)."""
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def replaying(raw: bytes, receive: Any) -> Any:
    """A receive that gives a body already read once more, then whatever the client sends next."""
    delivered = False

    async def replay() -> Any:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return replay


async def send_json(
    send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A complete JSON response (``headers``: all of them, when given)."""
    if headers is None:
        headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
