"""Signed, expiring bearer tokens; a user's token version revokes every token issued before a change."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta

from workflows.errors import Unauthenticated


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(
    *, user_id: int, token_version: int, secret: str, now: datetime, minutes: int
) -> tuple[str, datetime]:
    """A token naming the user and their token version, valid for ``minutes``."""
    expires = now + timedelta(minutes=minutes)
    body = _b64(
        json.dumps(
            {"sub": user_id, "ver": token_version, "exp": int(expires.timestamp())}, separators=(",", ":")
        ).encode()
    )
    signature = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}", expires


def read_token(token: str, *, secret: str, now: datetime) -> tuple[int, int]:
    """(user id, token version) of a valid, unexpired token; Unauthenticated otherwise."""
    invalid = Unauthenticated("登录已失效，请重新登录", code="token_invalid")
    try:
        body, signature = token.split(".", 1)
        expected = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature):
            raise invalid
        claims = json.loads(_unb64(body))
    except (ValueError, json.JSONDecodeError):
        raise invalid from None
    if int(claims.get("exp", 0)) <= now.timestamp():
        raise Unauthenticated("登录已过期，请重新登录", code="token_expired")
    return int(claims["sub"]), int(claims["ver"])
