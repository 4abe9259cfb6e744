"""What every page shares: templates, the signed-in person, CSRF on every POST, errors as Chinese pages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import ClockDep, SessionDep, SettingsDep
from api.errors import http_error_json, status_of
from api.web import formfields
from api.web import session as cookies
from workflows.cases.lifecycle import CASE_READERS
from workflows.cases.worklist import OVERVIEW_ROLES
from workflows.infra.clock import Clock
from workflows.infra.errors import DomainError, PermissionDenied
from workflows.infra.models import User
from workflows.infra.settings import REPO_ROOT, Settings
from workflows.outbox import notifications
from workflows.people.access import Actor
from workflows.people.accounts import actor_for
from workflows.people.directory import People
from workflows.people.roles import CASEWORK_ROLES, ROLES, role_label

TEMPLATES = Jinja2Templates(directory=str(REPO_ROOT / "templates" / "pages"))
TEMPLATES.env.filters["when"] = formfields.when
TEMPLATES.env.filters["due"] = formfields.due_in
TEMPLATES.env.filters["day"] = formfields.day
TEMPLATES.env.globals["role_label"] = role_label
TEMPLATES.env.globals["ROLE_LABELS"] = ROLES
COLOURS = {"red": "红", "yellow": "黄", "blue": "蓝", "green": "绿"}
TEMPLATES.env.globals["COLOURS"] = COLOURS
STATIC_DIR = REPO_ROOT / "web" / "static"
HTMX_DIR = REPO_ROOT / "web" / "node_modules" / "htmx.org" / "dist"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
CASE_ROLES = CASEWORK_ROLES
COMPLIANCE_ROLES = ("auditor", "county_civil_affairs", "city_civil_affairs", "province_civil_affairs")


class LoginRequired(Exception):
    """No valid session: the person is sent to the sign-in page (and back afterwards)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    titles = {
        400: "请求有误",
        401: "请先登录",
        403: "无权操作",
        404: "找不到页面",
        405: "无法打开该地址",
        409: "操作冲突",
        413: "内容过大",
        422: "填写有误",
    }
    return TEMPLATES.TemplateResponse(
        request,
        "error.html",
        {"title": titles.get(status, "出错了"), "message": message, "nav": [], "user": None},
        status_code=status,
    )


HTTP_PAGE_MESSAGES = {
    404: "找不到该页面，可能地址有误或内容已被移除。",
    405: "该地址只用于提交表单，不能直接打开。",
    413: "提交的内容过大（上限 12 MB），请删减后重试。",
}
# a form's address opened directly (a reload, a bookmark): the page the form belongs to
PAGE_BEHIND = {"/reports": "/reports/new", "/logout": "/login", "/login": "/login"}


def page_behind(path: str) -> str:
    """The page whose form posts to ``path``: its parent address, or a named one."""
    if path in PAGE_BEHIND:
        return PAGE_BEHIND[path]
    if path.startswith("/notifications/"):
        return "/notifications"
    return path.rsplit("/", 1)[0] or "/"


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """HTTP-level failures: JSON under /api; elsewhere a Chinese page, or the form's page for a GET."""
    if request.url.path.startswith("/api"):
        return http_error_json(exc)
    if exc.status_code == 405 and request.method in ("GET", "HEAD"):
        return RedirectResponse(page_behind(request.url.path), status_code=303)
    message = HTTP_PAGE_MESSAGES.get(exc.status_code, "请求无法处理，请返回重试。")
    return error_page(request, exc.status_code, message)


def _login_redirect(request: Request, message: str) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"/login?next={quote(target)}" + ("&expired=1" if message else "")
    if request.headers.get("HX-Request"):
        # stay on the page: what was typed is still there to keep, only the autosave failed
        return HTMLResponse(
            '<span class="warn">登录已失效，草稿未能保存；请先复制填写的内容，再重新登录</span>'
        )
    return RedirectResponse(url, status_code=303)


class WebRoute(APIRoute):
    """Pages answer with HTML: a domain error becomes a Chinese error page, a missing login a redirect."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as exc:
                return _login_redirect(request, exc.message)
            except DomainError as exc:
                return error_page(request, status_of(exc), exc.message)
            except IntegrityError:
                return error_page(request, 409, "数据已被他人同时修改，本次操作未生效，请刷新后重试")
            except RequestValidationError:
                return error_page(request, 422, "请求内容有误，请返回重新填写")

        return handle


def read_session(request: Request, clock: Clock, settings: Settings) -> cookies.WebSession | None:
    return cookies.decode(request.cookies.get(cookies.COOKIE), secret=settings.signing_keys, now=clock.now())


async def verify_csrf(request: Request, clock: ClockDep, settings: SettingsDep) -> None:
    """Every state-changing request must carry the session's CSRF token (form field or htmx header)."""
    if request.method not in UNSAFE:
        return
    presented = request.headers.get(cookies.CSRF_HEADER)
    if not presented:
        form = await request.form()
        value = form.get(cookies.CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    # an expired session still proves where the form came from: the person is then asked to sign in again
    signed = cookies.decode(
        request.cookies.get(cookies.COOKIE), secret=settings.signing_keys, now=clock.now(), allow_expired=True
    )
    if not cookies.csrf_matches(signed, presented):
        raise PermissionDenied("页面已过期或来源无法确认，请刷新页面后重新提交", code="csrf_failed")


@dataclass
class Page:
    """The request as a page sees it: unit of work, clock, settings and the signed-in person."""

    request: Request
    session: Session
    clock: Clock
    settings: Settings
    user: User
    actor: Actor
    web: cookies.WebSession

    @property
    def endpoint(self) -> str:
        return f"{self.request.method} {self.request.url.path}"

    def nav(self) -> list[tuple[str, str]]:
        """Navigation for the person's roles (no labels that mark children)."""
        items = [("/tasks", "待办")] if self.actor.has_any(*CASE_ROLES) else []
        if self.actor.has_any(*CASE_ROLES, *CASE_READERS):
            items.append(("/cases", "我的案件"))
        if self.actor.has_any(*CASE_ROLES):
            items.append(("/reports/new", "新报告"))
        if self.actor.has_any(*CASE_READERS):
            items.append(("/children", "儿童档案"))
        if self.actor.has_any(*OVERVIEW_ROLES):
            items.append(("/overview", "辖区概览"))
        if self.actor.has_any(*COMPLIANCE_ROLES):
            items.append(("/compliance", "合规核查"))
        if self.actor.has_any("user_admin"):
            items.append(("/users", "账号管理"))
        if self.actor.has_any("process_admin"):
            items.append(("/modeler", "流程建模"))
        items.append(("/notifications", "通知"))
        return items

    def unread(self) -> int:
        return notifications.list_inbox(
            session=self.session, actor=self.actor, unread_only=True, limit=1
        ).unread

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        base = {
            "person": People(self.session),
            "now": self.clock.now(),
            "user": self.user,
            "actor": self.actor,
            "csrf": self.web.csrf,
            "nav": self.nav(),
            "unread": self.unread(),
            "path": self.request.url.path,
        }
        return TEMPLATES.TemplateResponse(self.request, template, {**base, **context}, status_code=status)


def current_page(request: Request, session: SessionDep, clock: ClockDep, settings: SettingsDep) -> Page:
    """The signed-in, active person whose session is not revoked; LoginRequired otherwise."""
    web = read_session(request, clock, settings)
    if web is None or web.user_id is None:
        raise LoginRequired("expired" if request.cookies.get(cookies.COOKIE) and web is None else "")
    user = session.get(User, web.user_id)
    if user is None or not user.active or user.token_version != web.token_version:
        raise LoginRequired("revoked")
    return Page(request, session, clock, settings, user, actor_for(user), web)


PageDep = Annotated[Page, Depends(current_page)]
