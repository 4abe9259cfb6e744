"""Sign-in and sign-out with the session cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import ClockDep, SessionDep, SettingsDep
from api.security import sign_in
from api.web import session as cookies
from api.web.core import TEMPLATES, LoginRequired, PageDep, WebRoute, current_page, read_session, verify_csrf
from workflows.infra.errors import Unauthenticated
from workflows.people import accounts
from workflows.people.accounts import authenticate

router = APIRouter(route_class=WebRoute, include_in_schema=False, dependencies=[Depends(verify_csrf)])


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never another host) is a place to return to after sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _login_page(
    request: Request,
    clock: ClockDep,
    settings: SettingsDep,
    *,
    message: str = "",
    username: str = "",
    status: int = 200,
) -> Response:
    web = read_session(request, clock, settings)
    if web is None or web.user_id is not None:
        web = cookies.new_session(now=clock.now(), minutes=settings.token_minutes)
    response = TEMPLATES.TemplateResponse(
        request,
        "login.html",
        {
            "title": "登录",
            "csrf": web.csrf,
            "message": message,
            "username": username,
            "nav": [],
            "user": None,
            "next": _safe_next(request.query_params.get("next") or request.query_params.get("next_path")),
        },
        status_code=status,
    )
    cookies.set_cookie(response, web, secret=settings.signing_keys, secure=not settings.demo, now=clock.now())
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, session: SessionDep, clock: ClockDep, settings: SettingsDep) -> Response:
    try:
        current_page(request, session, clock, settings)
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    except LoginRequired:
        pass
    notice = "登录已失效，请重新登录" if request.query_params.get("expired") else ""
    return _login_page(request, clock, settings, message=notice)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    try:
        user = sign_in(
            request.app.state.sign_in_limiter,
            lambda: authenticate(session=session, username=username.strip(), password=password),
            session=session,
            username=username,
            address=request.client.host if request.client else "",
            now=clock.now(),
        )
    except Unauthenticated as exc:
        return _login_page(request, clock, settings, message=exc.message, username=username, status=401)
    web = cookies.new_session(
        now=clock.now(), minutes=settings.token_minutes, user_id=user.id, token_version=user.token_version
    )
    response = RedirectResponse(_safe_next(next_path), status_code=303)
    cookies.set_cookie(response, web, secret=settings.signing_keys, secure=not settings.demo, now=clock.now())
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, clock: ClockDep, settings: SettingsDep) -> Response:
    """Sign out: the session ends on the server too (every session of this account)."""
    try:
        page = current_page(request, session, clock, settings)
        accounts.sign_out(session=session, clock=clock, user=page.user)
    except LoginRequired:
        pass
    response = RedirectResponse("/login", status_code=303)
    cookies.clear_cookie(response, secure=not settings.demo)
    return response


@router.get("/")
def home(page: PageDep) -> Response:
    nav = page.nav()
    return RedirectResponse(nav[0][0] if nav else "/notifications", status_code=303)
