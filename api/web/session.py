"""The pages' session cookie: signed with the secret key; names the user, their token version, a CSRF token.

The cookie is HttpOnly and SameSite=Lax, and Secure outside demo mode. A change of the user's token version
(roles, place, deactivation, password) revokes it, as it revokes API tokens. Before sign-in the cookie carries
only a CSRF token, so the sign-in form is protected too.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Response
from itsdangerous import BadData

from api.security import serializer

COOKIE = "shouhu_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SALT = "shouhu-web-session"  # a cookie is never a valid API token, nor the other way round


@dataclass(frozen=True)
class WebSession:
    csrf: str
    user_id: int | None = None
    token_version: int | None = None
    expires: int = 0


def new_session(
    *, now: datetime, minutes: int, user_id: int | None = None, token_version: int | None = None
) -> WebSession:
    """A fresh session with a new CSRF token (a new one at every sign-in)."""
    return WebSession(
        secrets.token_urlsafe(24), user_id, token_version, int((now + timedelta(minutes=minutes)).timestamp())
    )


def encode(session: WebSession, *, secret: str | Sequence[str]) -> str:
    claims = {
        "csrf": session.csrf,
        "uid": session.user_id,
        "ver": session.token_version,
        "exp": session.expires,
    }
    return str(serializer(secret, SALT).dumps(claims))


def decode(
    value: str | None, *, secret: str | Sequence[str], now: datetime, allow_expired: bool = False
) -> WebSession | None:
    """The session in a cookie value when its signature holds and (unless allowed) it has not expired."""
    if not value:
        return None
    try:
        claims = serializer(secret, SALT).loads(value)
        session = WebSession(str(claims["csrf"]), claims.get("uid"), claims.get("ver"), int(claims["exp"]))
    except (BadData, ValueError, KeyError, TypeError, AttributeError):
        return None
    return session if allow_expired or session.expires > now.timestamp() else None


def set_cookie(
    response: Response, session: WebSession, *, secret: str | Sequence[str], secure: bool, now: datetime
) -> None:
    response.set_cookie(
        COOKIE,
        encode(session, secret=secret),
        max_age=max(session.expires - int(now.timestamp()), 0),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def clear_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=secure)


def csrf_matches(session: WebSession | None, presented: str | None) -> bool:
    return bool(session and presented) and hmac.compare_digest(session.csrf, str(presented))  # type: ignore[union-attr]
