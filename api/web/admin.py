"""The supervisor's overview, the user administrator's accounts, and the person's notifications."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from api.schemas.common import RowId
from api.web.core import PageDep, WebRoute, notifications, verify_csrf
from api.web.tasks import FormDep
from workflows.cases import handover
from workflows.cases.worklist import overview
from workflows.infra.errors import Conflict, PermissionDenied, ValidationFailed
from workflows.infra.models import Place
from workflows.people import accounts
from workflows.people.access import require_role
from workflows.people.roles import ROLES

router = APIRouter(route_class=WebRoute, include_in_schema=False, dependencies=[Depends(verify_csrf)])
USERS_PAGE = 50


@router.get("/overview", response_class=HTMLResponse)
def overview_page(page: PageDep) -> Response:
    board = overview(session=page.session, clock=page.clock, actor=page.actor)
    return page.render("overview.html", title="辖区概览", board=board)


def _places(page: PageDep) -> list[tuple[str, str]]:
    rows = page.session.scalars(
        select(Place).where(Place.code.startswith(page.actor.jurisdiction)).order_by(Place.code)
    )
    return [(p.code, p.name) for p in rows] or [(page.actor.jurisdiction, page.actor.jurisdiction)]


@router.get("/users", response_class=HTMLResponse)
def users_page(page: PageDep, p: int = Query(1, ge=1, le=10_000)) -> Response:
    users, total = accounts.list_users(
        session=page.session, actor=page.actor, limit=USERS_PAGE, offset=(p - 1) * USERS_PAGE
    )
    names = dict(_places(page))
    return page.render(
        "users.html",
        title="账号管理",
        users=users,
        total=total,
        p=p,
        places=names,
        pages=max((total + USERS_PAGE - 1) // USERS_PAGE, 1),
    )


def _user_form(
    page: PageDep,
    *,
    user: Any = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    message: str = "",
    status: int = 200,
) -> Response:
    if values is None:
        values = (
            {
                "display_name": user.display_name,
                "roles": user.roles,
                "jurisdiction_code": user.jurisdiction_code,
                "phone": user.phone or "",
                "username": user.username,
                "certified": user.certified,
            }
            if user
            else {"roles": [], "jurisdiction_code": page.actor.jurisdiction}
        )
    return page.render(
        "user_form.html",
        status=status,
        title="修改账号" if user else "新建账号",
        account=user,
        values=values,
        errors=errors or {},
        message=message,
        roles=ROLES,
        places=_places(page),
    )


@router.get("/users/new", response_class=HTMLResponse)
def new_user(page: PageDep) -> Response:
    accounts.list_users(session=page.session, actor=page.actor, limit=1)  # the role check, before any form
    return _user_form(page)


def _fields_of(exc: ValidationFailed | Conflict | PermissionDenied) -> dict[str, str]:
    details = exc.details if isinstance(exc.details, dict) else {}
    fields = details.get("fields")
    if isinstance(fields, dict):
        return fields
    return {"username": exc.message} if exc.code == "username_taken" else {}


@router.post("/users", response_class=HTMLResponse)
def create_user(page: PageDep, form: FormDep) -> Response:
    require_role(page.actor, "user_admin", action="管理账号")  # the role before the form is read
    username = str(form.get("username") or "").strip()
    display_name = str(form.get("display_name") or "")
    roles = [str(r) for r in form.getlist("roles")]
    phone = str(form.get("phone") or "").strip()
    code = str(form.get("jurisdiction_code") or "")
    certified = form.get("certified") == "on"
    values: dict[str, Any] = {
        "username": username,
        "display_name": display_name,
        "roles": roles,
        "phone": phone,
        "jurisdiction_code": code,
        "certified": certified,
    }
    password = str(form.get("password") or "")
    try:
        with page.session.begin_nested():
            accounts.create_user(
                session=page.session,
                clock=page.clock,
                actor=page.actor,
                username=username,
                display_name=display_name,
                roles=roles,
                jurisdiction_code=code,
                password=password,
                certified=certified,
                phone=phone or None,
            )
    except (ValidationFailed, Conflict, PermissionDenied) as exc:
        fields = _fields_of(exc)
        message = "账号信息填写有误，请按各项提示修改后再保存。" if fields else exc.message
        return _user_form(page, values=values, errors=fields, message=message, status=422)
    return RedirectResponse("/users?created=" + username, status_code=303)


@router.get("/users/{user_id}", response_class=HTMLResponse)
def edit_user(user_id: RowId, page: PageDep) -> Response:
    return _user_form(page, user=accounts.get_user(session=page.session, actor=page.actor, user_id=user_id))


@router.post("/users/{user_id}", response_class=HTMLResponse)
def update_user(user_id: RowId, page: PageDep, form: FormDep) -> Response:
    user = accounts.get_user(session=page.session, actor=page.actor, user_id=user_id)
    roles = [str(r) for r in form.getlist("roles")]
    change = accounts.UserChange(
        display_name=str(form.get("display_name") or "") or None,
        roles=roles if roles != user.roles else None,
        jurisdiction_code=str(form.get("jurisdiction_code") or "") or None,
        phone=str(form.get("phone") or "").strip() or None,
        password=str(form.get("password") or "") or None,
    )
    values = {
        "display_name": change.display_name or "",
        "roles": roles,
        "phone": change.phone or "",
        "jurisdiction_code": change.jurisdiction_code or user.jurisdiction_code,
        "username": user.username,
    }
    errors = accounts.account_errors(display_name=change.display_name or "", roles=roles, phone=change.phone)
    if change.password is not None and len(change.password) < accounts.MIN_PASSWORD:
        errors["password"] = f"密码至少 {accounts.MIN_PASSWORD} 个字符"
    if errors:
        message = "账号信息填写有误，请按各项提示修改后再保存。"
        return _user_form(page, user=user, values=values, errors=errors, message=message, status=422)
    try:
        with page.session.begin_nested():
            handover.change_account(
                session=page.session, clock=page.clock, actor=page.actor, user_id=user_id, change=change
            )
    except (ValidationFailed, Conflict, PermissionDenied) as exc:
        return _user_form(
            page, user=user, values=values, errors=_fields_of(exc), message=exc.message, status=422
        )
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/active")
def set_active(user_id: RowId, page: PageDep, form: FormDep) -> Response:
    """Deactivate (or reactivate) an account; it is signed out everywhere at once."""
    active = form.get("active") == "true"
    handover.change_account(
        session=page.session,
        clock=page.clock,
        actor=page.actor,
        user_id=user_id,
        change=accounts.UserChange(active=active),
    )
    return RedirectResponse("/users", status_code=303)


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(page: PageDep, p: int = Query(1, ge=1, le=10_000)) -> Response:
    inbox = notifications.list_inbox(session=page.session, actor=page.actor, limit=50, offset=(p - 1) * 50)
    return page.render("notifications.html", title="通知", inbox=inbox, p=p)


@router.post("/notifications/read-all")
def read_all(page: PageDep) -> Response:
    notifications.mark_all_read(session=page.session, clock=page.clock, actor=page.actor)
    return RedirectResponse("/notifications", status_code=303)


@router.post("/notifications/{item_id}/open")
def open_notification(item_id: RowId, page: PageDep) -> Response:
    """Mark a notice read and go to its task (or back to the list)."""
    item = notifications.mark_read(session=page.session, clock=page.clock, actor=page.actor, item_id=item_id)
    return RedirectResponse(f"/tasks/{item.task_id}" if item.task_id else "/notifications", status_code=303)
