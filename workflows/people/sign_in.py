"""Sign-in throttling shared by every worker: failures are rows in ``sign_in_failures``.

After ``per_user`` failures for one username within the window (or ``per_address`` from one address), the
next attempt is refused before the password is checked, until the oldest failure leaves the window. The
moment an account becomes locked is an account event (``sign_in_locked``), so administrators see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from workflows.infra.clock import iso_utc
from workflows.infra.errors import Unauthenticated
from workflows.infra.models import AccountEvent, User
from workflows.infra.sign_in_failures import SignInFailure


def _user_key(username: str) -> str:
    return "user:" + username.strip().lower()[:150]


@dataclass(frozen=True)
class SignInThrottle:
    per_user: int = 5
    per_address: int = 30
    window: timedelta = timedelta(minutes=15)

    def _keys(self, username: str, address: str) -> list[tuple[str, int]]:
        return [(_user_key(username), self.per_user), ("address:" + address[:150], self.per_address)]

    def check(self, session: Session, *, username: str, address: str, now: datetime) -> None:
        """Refuse before the password is checked when a key has failed too often lately."""
        for key, limit in self._keys(username, address):
            recent = session.execute(
                select(func.count(), func.min(SignInFailure.at)).where(
                    SignInFailure.key == key, SignInFailure.at > now - self.window
                )
            ).one()
            if recent[0] >= limit:
                wait = int((recent[1] + self.window - now).total_seconds() // 60) + 1
                raise Unauthenticated(f"登录失败次数过多，请 {wait} 分钟后再试", code="too_many_attempts")

    def failed(self, session: Session, *, username: str, address: str, now: datetime) -> None:
        """Count a failure (the caller commits it even though the request fails); log a new lock."""
        session.execute(delete(SignInFailure).where(SignInFailure.at < now - self.window * 4))
        for key, _limit in self._keys(username, address):
            session.add(SignInFailure(key=key, at=now))
        session.flush()
        count = session.scalar(
            select(func.count()).where(
                SignInFailure.key == _user_key(username), SignInFailure.at > now - self.window
            )
        )
        account = session.scalar(select(User.username).where(User.username == username.strip()))
        if count == self.per_user and account is not None:
            session.add(
                AccountEvent(
                    at=now,
                    actor="system",
                    username=account,
                    type="sign_in_locked",
                    payload={
                        "failures": count,
                        "address": address[:150],
                        "until": iso_utc(now + self.window),
                    },
                )
            )
            session.flush()

    def succeeded(self, session: Session, *, username: str) -> None:
        session.execute(delete(SignInFailure).where(SignInFailure.key == _user_key(username)))
