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
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": _TOO_LARGE})
