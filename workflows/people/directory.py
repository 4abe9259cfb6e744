"""People as others read them: real name with unit and role, never a login name (one place for it)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.infra.models import Place, User
from workflows.people.roles import role_label

SYSTEM_NAMES = {"system": "系统（自动）", "": "系统（自动）"}
UNKNOWN = "（未登记的人员）"


def person_labels(session: Session, usernames: Iterable[str | None]) -> dict[str, str]:
    """username → "王芳（龙水镇金龙村 · 儿童主任）" for each account; system and unknown names said plainly."""
    wanted = {u for u in usernames if u}
    users = session.scalars(select(User).where(User.username.in_(sorted(wanted)))).all() if wanted else []
    codes = {u.jurisdiction_code for u in users}
    places = (
        dict(
            session.execute(select(Place.code, Place.name).where(Place.code.in_(sorted(codes))))
            .tuples()
            .all()
        )
        if codes
        else {}
    )
    labels = {name: SYSTEM_NAMES.get(name, UNKNOWN) for name in wanted}
    for user in users:
        unit = places.get(user.jurisdiction_code, "")
        roles = "、".join(role_label(r) for r in user.roles)
        labels[user.username] = f"{user.display_name}（{' · '.join(p for p in (unit, roles) if p)}）"
    return labels


class People:
    """A per-request cache of person labels, for templates: ``person(username)``."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache: dict[str, str] = {}

    def load(self, usernames: Iterable[str | None]) -> None:
        missing = [u for u in usernames if u and u not in self.cache]
        if missing:
            self.cache.update(person_labels(self.session, missing))

    def __call__(self, username: str | None) -> str:
        if not username:
            return SYSTEM_NAMES[""]
        self.load([username])
        return self.cache[username]
