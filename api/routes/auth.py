"""Sign-in: OAuth2 password flow issuing expiring bearer tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import ClockDep, CurrentUser, SessionDep, SettingsDep
from api.schemas.common import ERRORS, TokenOut
from api.security import issue_token, sign_in
from workflows.infra.clock import iso_utc
from workflows.infra.models import User
from workflows.people import accounts
from workflows.people.accounts import authenticate
from workflows.people.roles import role_label

router = APIRouter(prefix="/api/auth", tags=["登录 auth"])


def user_out(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "roles": user.roles,
        "role_labels": [role_label(r) for r in user.roles],
        "jurisdiction_code": user.jurisdiction_code,
        "active": user.active,
        "certified": user.certified,
        "certificate_no": user.certificate_no,
    }


@router.post("/token", response_model=TokenOut, responses=ERRORS)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """用户名和密码换取访问令牌（多次失败后需等待）。"""
    user = sign_in(
        request.app.state.sign_in_limiter,
        lambda: authenticate(session=session, username=form.username, password=form.password),
        session=session,
        username=form.username,
        address=request.client.host if request.client else "",
        now=clock.now(),
    )
    value, expires = issue_token(
        user_id=user.id,
        token_version=user.token_version,
        secret=settings.signing_keys,
        now=clock.now(),
        minutes=settings.token_minutes,
    )
    return {
        "access_token": value,
        "token_type": "bearer",
        "expires_at": iso_utc(expires),
        "user": user_out(user),
    }


@router.post("/logout", status_code=204, responses=ERRORS)
def logout(user: CurrentUser, session: SessionDep, clock: ClockDep) -> None:
    """注销：本账号已签发的全部令牌立即失效。"""
    accounts.sign_out(session=session, clock=clock, user=user)


@router.get("/me", responses=ERRORS)
def me(user: CurrentUser) -> dict[str, Any]:
    """当前登录的账号。"""
    return user_out(user)
