"""The pages' session cookie: signed with the secret key; names the user, their token version, a CSRF token.

The cookie is HttpOnly and SameSite=Lax, and Secure outside demo mode. A change of the user's token version
(roles, place, deactivation, password) revokes it, as it revokes API tokens. Before sign-in the cookie carries
only a CSRF token, so the sign-in form is protected too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Response

COOKIE = "shouhu_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_PURPOSE = b"shouhu-web-session:"  # a cookie is never a valid API token, nor the other way round


@dataclass(frozen=True)
class WebSession:
    csrf: str
    user_id: int | None = None
    token_version: int | None = None
    expires: int = 0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(body: str, secret: str) -> str:
    return _b64(hmac.new(secret.encode(), _PURPOSE + body.encode(), hashlib.sha256).digest())


def new_session(
    *, now: datetime, minutes: int, user_id: int | None = None, token_version: int | None = None
) -> WebSession:
    """A fresh session with a new CSRF token (a new one at every sign-in)."""
    return WebSession(
        secrets.token_urlsafe(24), user_id, token_version, int((now + timedelta(minutes=minutes)).timestamp())
    )


def encode(session: WebSession, *, secret: str) -> str:
    body = _b64(
        json.dumps(
            {
                "csrf": session.csrf,
                "uid": session.user_id,
                "ver": session.token_version,
                "exp": session.expires,
            },
            separators=(",", ":"),
        ).encode()
    )
    return f"{body}.{_sign(body, secret)}"


def decode(
    value: str | None, *, secret: str, now: datetime, allow_expired: bool = False
) -> WebSession | None:
    """The session in a cookie value when its signature holds and (unless allowed) it has not expired."""
    if not value or "." not in value:
        return None
    body, signature = value.rsplit(".", 1)
    if not hmac.compare_digest(_sign(body, secret), signature):
        return None
    try:
        claims = json.loads(_unb64(body))
        session = WebSession(str(claims["csrf"]), claims.get("uid"), claims.get("ver"), int(claims["exp"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if allow_expired or session.expires > now.timestamp() else None


def set_cookie(response: Response, session: WebSession, *, secret: str, secure: bool, now: datetime) -> None:
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
