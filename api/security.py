"""Signed, expiring bearer tokens; a user's token version revokes every token issued before a change.

Tokens and page cookies are signed by itsdangerous (HMAC-SHA1 key derivation, HMAC signature) with the
secret key; keys listed in ``SHOUHU_OLD_SECRET_KEYS`` are still accepted for verification, so a key can be
rotated without signing everybody out (docs/operations.md). Each use has its own salt: a page cookie is
never a valid API token, nor the other way round.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy.orm import Session

from workflows.infra.errors import Unauthenticated
from workflows.people.sign_in import SignInThrottle

TOKEN_SALT = "shouhu-api-token"


def serializer(secret: str | Sequence[str], salt: str) -> URLSafeSerializer:
    """Signs with the first key; verifies with any of them (itsdangerous wants oldest first). One serializer
    per set of keys and salt, built once: every request checks a token, and building one costs more than
    the check."""
    return _serializer((secret,) if isinstance(secret, str) else tuple(secret), salt)


@functools.lru_cache(maxsize=32)
def _serializer(keys: tuple[str, ...], salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(list(reversed(keys)), salt=salt)


def issue_token(
    *, user_id: int, token_version: int, secret: str | Sequence[str], now: datetime, minutes: int
) -> tuple[str, datetime]:
    """A token naming the user and their token version, valid for ``minutes``."""
    expires = now + timedelta(minutes=minutes)
    claims = {"sub": user_id, "ver": token_version, "exp": int(expires.timestamp())}
    return str(serializer(secret, TOKEN_SALT).dumps(claims)), expires


def read_token(token: str, *, secret: str | Sequence[str], now: datetime) -> tuple[int, int]:
    """(user id, token version) of a valid, unexpired token; Unauthenticated otherwise."""
    keys = (secret,) if isinstance(secret, str) else tuple(secret)
    user_id, version, expires = _verified(token, keys)
    if expires <= now.timestamp():
        raise Unauthenticated("登录已过期，请重新登录", code="token_expired")
    return user_id, version


@functools.lru_cache(maxsize=4096)
def _verified(token: str, keys: tuple[str, ...]) -> tuple[int, int, int]:
    """The claims of a token whose signature one of ``keys`` made. A signature checked once stays checked
    for the same keys (the expiry is compared on every use, the account read on every request), so a
    client's repeated token costs no HMAC work; a refused token raises and is never kept."""
    try:
        claims = _serializer(keys, TOKEN_SALT).loads(token)
        return int(claims["sub"]), int(claims["ver"]), int(claims["exp"])
    except (BadData, KeyError, TypeError, ValueError):
        raise Unauthenticated("登录已失效，请重新登录", code="token_invalid") from None


SignInLimiter = SignInThrottle  # the name the app state uses


def sign_in(
    limiter: SignInThrottle,
    authenticate: Any,
    *,
    session: Session,
    username: str,
    address: str,
    now: datetime,
) -> Any:
    """Authenticate through the throttle: refused early when throttled, failures counted for every worker.

    A failure is committed on its own (the request then fails and would roll it back otherwise).
    """
    limiter.check(session, username=username, address=address, now=now)
    try:
        user = authenticate()
    except Unauthenticated:
        limiter.failed(session, username=username, address=address, now=now)
        session.commit()
        raise
    limiter.succeeded(session, username=username)
    return user
