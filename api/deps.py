"""Request dependencies: one session per request committed once, the clock, the signed-in actor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from api.security import read_token
from workflows.infra.clock import Clock
from workflows.infra.db import unit_of_work
from workflows.infra.errors import Unauthenticated
from workflows.infra.models import User
from workflows.infra.settings import Settings
from workflows.people.access import Actor
from workflows.people.accounts import actor_for

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: services flush, this commits once (or rolls back on error)."""
    with unit_of_work(request.app.state.sessionmaker) as session:
        yield session


def get_clock(request: Request) -> Clock:
    return request.app.state.clock


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


# scope="function": the commit runs before the response is sent, so a failed commit is never a 200.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def current_user(
    session: SessionDep, clock: ClockDep, settings: SettingsDep, token: Annotated[str | None, Depends(oauth2)]
) -> User:
    """The active user of a valid bearer token whose version is current."""
    if not token:
        raise Unauthenticated("请先登录", code="not_authenticated")
    user_id, version = read_token(token, secret=settings.secret_key, now=clock.now())
    user = session.get(User, user_id)
    if user is None or not user.active or user.token_version != version:
        raise Unauthenticated("登录已失效，请重新登录", code="token_revoked")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def current_actor(user: CurrentUser) -> Actor:
    return actor_for(user)


ActorDep = Annotated[Actor, Depends(current_actor)]
