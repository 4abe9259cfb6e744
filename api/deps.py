"""Request dependencies: one session per request committed once, the clock, the signed-in actor."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.security import read_token
from workflows.infra.clock import Clock
from workflows.infra.db import READ_ONLY
from workflows.infra.errors import Unauthenticated
from workflows.infra.models import User
from workflows.infra.settings import Settings
from workflows.people.access import Actor
from workflows.people.accounts import actor_for

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's unit of work: services flush, it commits once (or rolls back on error).

    A plain endpoint commits in its own thread as it returns (``commit_in_endpoint_thread``), so no
    transaction stays open across a hop back to the event loop; whatever is still open here is committed
    in the thread pool. Making a session does no I/O, so this needs no thread of its own.
    """
    session = request.app.state.sessionmaker()
    try:
        yield session
        if session.in_transaction():
            await run_in_threadpool(session.commit)
    except BaseException:
        if session.in_transaction():
            await run_in_threadpool(session.rollback)
        raise
    finally:
        session.close()


def commit_in_endpoint_thread(call: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a plain (thread-pool) endpoint: its request session commits in the same thread when it returns."""

    @functools.wraps(call)
    def endpoint(*args: Any, **kwargs: Any) -> Any:
        result = call(*args, **kwargs)
        for value in kwargs.values():
            if isinstance(value, Session) and value.in_transaction():
                value.commit()
        return result

    return endpoint


def install_commit_in_endpoint_thread(routes: list[Any]) -> None:
    """Apply ``commit_in_endpoint_thread`` to every plain endpoint that takes the request session."""
    for route in routes:
        dependant = getattr(route, "dependant", None)
        if dependant is None or dependant.call is None or inspect.iscoroutinefunction(dependant.call):
            continue
        if any(getattr(dep, "call", None) is get_session for dep in _all_dependencies(dependant)):
            dependant.call = commit_in_endpoint_thread(dependant.call)


def _all_dependencies(dependant: Any) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep
        yield from _all_dependencies(dep)


# Dependencies that do no I/O are coroutines: FastAPI runs a plain function in the thread pool, and each
# such hop (queue, wake-up, GIL hand-over) costs more than the function itself.
async def get_clock(request: Request) -> Clock:
    return request.app.state.clock


async def get_settings(request: Request) -> Settings:
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
    user_id, version = read_token(token, secret=settings.signing_keys, now=clock.now())
    # The check is a read of its own, ended before the action: on SQLite it takes no write lock, so the
    # action's transaction (and SQLite's one writer) starts only with the endpoint's first statement.
    if not session.in_transaction():
        session.connection(execution_options=READ_ONLY)
    user = session.get(User, user_id)
    session.commit()
    if user is None or not user.active or user.token_version != version:
        raise Unauthenticated("登录已失效，请重新登录", code="token_revoked")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def current_actor(user: CurrentUser) -> Actor:
    return actor_for(user)


ActorDep = Annotated[Actor, Depends(current_actor)]
