"""The FastAPI application: create_app wires settings, database, clock, routes and error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from api import errors, web
from api.deps import install_commit_in_endpoint_thread
from api.hot import HotLane
from api.limits import BodyLimit, JsonGuard
from api.routes import (
    auth,
    cases,
    children,
    compliance,
    documents,
    notifications,
    processes,
    tasks,
    users,
    versions,
)
from api.schemas.common import only_declared_media
from api.security import SignInLimiter
from workflows.infra.clock import Clock, SystemClock
from workflows.infra.db import limit_lock_waits, make_engine, make_sessionmaker
from workflows.infra.settings import Settings, get_settings
from workflows.ops import bootstrap, wiring

# How long an API request waits for a database row lock before it is refused (503, nothing written).
LOCK_WAIT_SECONDS = 5.0


def create_app(
    settings: Settings | None = None,
    *,
    sessions: sessionmaker[Session] | None = None,
    clock: Clock | None = None,
    prepare: bool = True,
) -> FastAPI:
    """Build the app; with ``prepare`` the schema is migrated and bundled models registered at start-up."""
    wiring.install()
    settings = settings or get_settings()
    clock = clock or SystemClock()
    engine = None
    if sessions is None:
        engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
        sessions = make_sessionmaker(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # one thread fewer than pooled connections: the event loop itself works the hot requests
        # (api/hot.py) on a connection of its own; a route with a separate sign-in hand-off can, under
        # heavy load, still take one of the pool's overflow connections
        to_thread.current_default_thread_limiter().total_tokens = max(1, settings.db_pool_size - 1)
        if engine is not None:
            if prepare:
                bootstrap.prepare(engine, bpmn_dir=settings.bpmn_dir, clock=clock)
                engine.dispose()  # the migrations' connections: the requests' get the limit below
            # the task routes run on the worker's event loop (api/hot.py), where a wait holds up every
            # request of the worker: none waits long for a row another transaction has locked (start-up
            # migrations, above, still wait as long as they need)
            limit_lock_waits(engine, LOCK_WAIT_SECONDS)
        yield
        if engine is not None:
            engine.dispose()

    app = FastAPI(
        title="守护 Shouhu",
        version="0.1.0",
        lifespan=lifespan,
        description="儿童保护法定流程的案件引擎 API。错误返回 {code, message, details}，message 为中文。",
    )
    app.state.settings, app.state.sessionmaker, app.state.clock = settings, sessions, clock
    app.state.sign_in_limiter = SignInLimiter()
    app.add_middleware(HotLane, state=app.state)  # innermost: it sees bodies the two below have checked
    app.add_middleware(JsonGuard)  # inside the size cap: it reads only bodies that fit
    app.add_middleware(BodyLimit)
    errors.install(app)
    for module in (auth, processes, cases, tasks, users, notifications, children, documents, compliance):
        app.include_router(module.router)
    versions.install(app)  # process models: versions, migrations, the modeler page
    web.install(app)  # the caseworkers' pages (HTML), after the API routes

    documented = app.openapi
    app.openapi = lambda: only_declared_media(documented())  # type: ignore[method-assign]

    @app.get("/api/health", tags=["系统 system"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    install_commit_in_endpoint_thread(app.routes)
    _hot_routes_first(app)
    return app


def _hot_routes_first(app: FastAPI) -> None:
    """Try the health check and the task routes (list, detail, claim, unclaim, complete) before the rest: a
    request is matched against the routes in order, every route of every router before its own (the health
    check came last, after about a hundred, ≈ 0.16 ms a request). No other route matches their requests, so
    which route serves a request does not change (tests/unit/test_hot_route_transactions.py); the OpenAPI
    document lists them first."""
    routes = app.router.routes
    hot = [
        r
        for r in routes
        if getattr(r, "path", None) == "/api/health" or getattr(r, "original_router", None) is tasks.router
    ]
    routes[:] = hot + [r for r in routes if not any(r is h for h in hot)]


def app_factory() -> FastAPI:
    """Entry point for uvicorn --factory: settings from the environment."""
    return create_app()
