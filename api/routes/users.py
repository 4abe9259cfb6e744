"""Account administration within the administrator's jurisdiction."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from api.deps import ActorDep, ClockDep, SessionDep
from api.routes.auth import user_out
from api.schemas.common import ERRORS, HandOver, Offset, RowId, UserCreate, UserPatch
from workflows.cases import handover
from workflows.people import accounts

router = APIRouter(prefix="/api/users", tags=["账号 users"])


@router.get("", responses=ERRORS)
def list_users(
    session: SessionDep, actor: ActorDep, limit: int = Query(100, ge=1, le=500), offset: Offset = 0
) -> dict[str, Any]:
    """本人辖区内的账号。"""
    users, total = accounts.list_users(session=session, actor=actor, limit=limit, offset=offset)
    return {"items": [user_out(u) for u in users], "total": total}


@router.post("", status_code=201, responses=ERRORS)
def create_user(body: UserCreate, session: SessionDep, clock: ClockDep, actor: ActorDep) -> dict[str, Any]:
    """创建实名账号。"""
    user = accounts.create_user(
        session=session,
        clock=clock,
        actor=actor,
        username=body.username,
        display_name=body.display_name,
        roles=body.roles,
        jurisdiction_code=body.jurisdiction_code,
        password=body.password,
        certified=body.certified,
        phone=body.phone,
    )
    return user_out(user)


@router.get("/{user_id}", responses=ERRORS)
def get_user(user_id: RowId, session: SessionDep, actor: ActorDep) -> dict[str, Any]:
    """账号详情。"""
    return user_out(accounts.get_user(session=session, actor=actor, user_id=user_id))


@router.patch("/{user_id}", responses=ERRORS)
def update_user(
    user_id: RowId, body: UserPatch, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> dict[str, Any]:
    """修改账号（角色、辖区、停用或改密会使其已登录的令牌失效）。"""
    change = accounts.UserChange(**body.model_dump())
    return user_out(
        handover.change_account(session=session, clock=clock, actor=actor, user_id=user_id, change=change)
    )


@router.post("/{user_id}/deactivate", responses=ERRORS)
def deactivate(user_id: RowId, session: SessionDep, clock: ClockDep, actor: ActorDep) -> dict[str, Any]:
    """停用账号（立即失效）。"""
    change = accounts.UserChange(active=False)
    return user_out(
        handover.change_account(session=session, clock=clock, actor=actor, user_id=user_id, change=change)
    )


@router.post("/{user_id}/handover", responses=ERRORS)
def hand_over(
    user_id: RowId, body: HandOver, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> dict[str, Any]:
    """工作交接：把该账号已认领的任务交给接替人（不指定则退回待办池）。"""
    moved = handover.hand_over(
        session=session, clock=clock, actor=actor, user_id=user_id, successor=body.successor
    )
    return {"moved_tasks": moved, "successor": body.successor}
