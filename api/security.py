"""Signed, expiring bearer tokens; a user's token version revokes every token issued before a change."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import datetime, timedelta
from typing import Any

from workflows.infra.errors import Unauthenticated


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


class SignInLimiter:
    """Slows password guessing: after too many failures a username (or an address) must wait a while.

    Kept in the process's memory: with several API workers each worker counts on its own, which still
    bounds guessing to a small multiple of the limit.
    """

    def __init__(
        self, *, per_user: int = 5, per_address: int = 30, window: timedelta = timedelta(minutes=15)
    ) -> None:
        self.limits = {"user": per_user, "address": per_address}
        self.window = window
        self.failures: dict[str, list[datetime]] = {}
        self.lock = threading.Lock()

    def _keys(self, username: str, address: str) -> list[tuple[str, str]]:
        return [("user", f"user:{username.strip().lower()}"), ("address", f"address:{address}")]

    def check(self, *, username: str, address: str, now: datetime) -> None:
        """Refuse before checking the password when a key has failed too often lately."""
        with self.lock:
            for kind, key in self._keys(username, address):
                recent = [t for t in self.failures.get(key, []) if now - t < self.window]
                self.failures[key] = recent
                if len(recent) >= self.limits[kind]:
                    wait = int((recent[0] + self.window - now).total_seconds() // 60) + 1
                    raise Unauthenticated(f"登录失败次数过多，请 {wait} 分钟后再试", code="too_many_attempts")

    def failed(self, *, username: str, address: str, now: datetime) -> None:
        with self.lock:
            for _kind, key in self._keys(username, address):
                self.failures.setdefault(key, []).append(now)

    def succeeded(self, *, username: str) -> None:
        with self.lock:
            self.failures.pop(f"user:{username.strip().lower()}", None)


def sign_in(limiter: SignInLimiter, authenticate: Any, *, username: str, address: str, now: datetime) -> Any:
    """Authenticate through the limiter: refused early when throttled, failures counted."""
    limiter.check(username=username, address=address, now=now)
    try:
        user = authenticate()
    except Unauthenticated:
        limiter.failed(username=username, address=address, now=now)
        raise
    limiter.succeeded(username=username)
    return user
