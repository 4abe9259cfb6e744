"""Request dependencies: one session per request committed once, the clock, the signed-in actor."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.security import read_token
from workflows.infra.clock import Clock
from workflows.infra.db import NO_WAIT, READ_ONLY
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


# built once: ``session.get`` would build and key a new statement on every request
_USER_BY_ID = select(User).where(User.id == bindparam("pk"))
# a Core statement on the table: run on the session's connection it skips the ORM's execution layer, which
# cost twice the statement itself (the sign-in check runs on every request)
_USERS = User.__table__.c
_ACTOR_BY_ID = select(
    _USERS.username,
    _USERS.display_name,
    _USERS.roles,
    _USERS.jurisdiction_code,
    _USERS.certified,
    _USERS.active,
    _USERS.token_version,
).where(_USERS.id == bindparam("pk"))


def current_user(
    session: SessionDep, clock: ClockDep, settings: SettingsDep, token: Annotated[str | None, Depends(oauth2)]
) -> User:
    """The active user of a valid bearer token whose version is current."""
    return signed_in_user(session, clock, settings, token)


def signed_in_user(session: Session, clock: Clock, settings: Settings, token: str | None) -> User:
    """``current_user`` on a given session."""
    return cast(
        User, _signed_in(session, clock, settings, token, lambda pk: session.scalars(_USER_BY_ID, pk))
    )


def signed_in_actor(
    session: Session, clock: Clock, settings: Settings, token: str | None, *, in_work: bool = False
) -> Actor:
    """The actor of a valid token, read as the few columns it needs (no account object is built).
    ``in_work``: the check is the first read of the transaction the request's work goes on in (the caller
    began it in the mode the work needs), never a transaction of its own."""
    row = _signed_in(
        session,
        clock,
        settings,
        token,
        lambda pk: session.connection().execute(_ACTOR_BY_ID, pk),
        in_work=in_work,
    )
    return actor_for(row)


def _signed_in(
    session: Session,
    clock: Clock,
    settings: Settings,
    token: str | None,
    read: Callable[[Any], Any],
    *,
    in_work: bool = False,
) -> Any:
    if not token:
        raise Unauthenticated("请先登录", code="not_authenticated")
    user_id, version = read_token(token, secret=settings.signing_keys, now=clock.now())
    # For a dependency on SQLite the check is a read of its own, ended before the endpoint: the endpoint
    # may run later on another thread, and the check must not hold SQLite's write lock meanwhile. On
    # PostgreSQL (no such lock), and for work that runs at once on the same thread (``as_signed_in``), it is
    # the first read of the request's one transaction: a second transaction would cost a connection
    # check-out, a BEGIN and a COMMIT (on PostgreSQL each a round trip).
    separate = not in_work and session.get_bind().dialect.name == "sqlite"
    if separate and not session.in_transaction():
        session.connection(execution_options=READ_ONLY)
    user = read({"pk": user_id}).first()
    if separate:
        session.commit()
    if user is None or not user.active or user.token_version != version:
        raise Unauthenticated("登录已失效，请重新登录", code="token_revoked")
    return user


TokenDep = Annotated[str | None, Depends(oauth2)]
Work = TypeVar("Work")


async def as_signed_in(
    request: Request,
    token: str | None,
    work: Callable[[Session, Actor], Work],
    *,
    read_only: bool = False,
) -> Work:
    """Check the token, run ``work`` and commit, all in one trip to the thread pool and in one transaction,
    on the request's own session: the same steps as ``SessionDep`` + ``ActorDep`` + a plain endpoint, with
    one thread hand-off instead of two (each costs more than the sign-in check itself). For the most
    frequent routes (``api.hot`` serves them the same way without FastAPI)."""
    return await run_in_threadpool(run_signed_in, request.app.state, token, work, read_only)


def run_signed_in(
    state: Any,
    token: str | None,
    work: Callable[[Session, Actor], Work],
    read_only: bool = False,
    no_wait: bool = False,
) -> Work:
    """In the calling thread: the sign-in check, ``work`` and the commit in one transaction on a session of
    its own. ``read_only``: the work writes nothing, so on SQLite the transaction is a reader that waits for
    no writer (otherwise it holds SQLite's write lock from the sign-in check on). ``no_wait``: on SQLite,
    raise ``WriteTurnBusy`` before anything is read when the write lock is taken, instead of waiting."""
    with state.sessionmaker() as session:
        try:
            if read_only:
                session.connection(execution_options=READ_ONLY)
            elif no_wait:
                session.connection(execution_options=NO_WAIT)
            # otherwise, on SQLite, the write lock is taken before the account is read: a signed but
            # revoked token holds it for that one read, then rolls back
            actor = signed_in_actor(session, state.clock, state.settings, token, in_work=True)
            result = work(session, actor)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        return result


CurrentUser = Annotated[User, Depends(current_user)]


async def current_actor(user: CurrentUser) -> Actor:
    return actor_for(user)


ActorDep = Annotated[Actor, Depends(current_actor)]
