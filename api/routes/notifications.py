"""The signed-in person's notifications (站内通知): list, mark read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from api.deps import ActorDep, ClockDep, SessionDep
from api.schemas.common import ERRORS, Offset, RowId
from workflows.outbox import notifications

router = APIRouter(prefix="/api/notifications", tags=["通知 notifications"])


@router.get("", responses=ERRORS)
def list_notifications(
    session: SessionDep,
    actor: ActorDep,
    unread_only: bool = False,
    limit: int = Query(50, ge=1, le=200),
    offset: Offset = 0,
) -> dict[str, Any]:
    """本人的站内通知：未读在前，新的在前。"""
    page = notifications.list_inbox(
        session=session, actor=actor, unread_only=unread_only, limit=limit, offset=offset
    )
    return {
        "items": [notifications.summary(i) for i in page.items],
        "total": page.total,
        "unread": page.unread,
        "limit": limit,
        "offset": offset,
    }


@router.post("/read-all", responses=ERRORS)
def read_all(session: SessionDep, clock: ClockDep, actor: ActorDep) -> dict[str, int]:
    """把本人的全部未读通知标为已读。"""
    return {"marked": notifications.mark_all_read(session=session, clock=clock, actor=actor)}


@router.post("/{item_id}/read", responses=ERRORS)
def read(item_id: RowId, session: SessionDep, clock: ClockDep, actor: ActorDep) -> dict[str, Any]:
    """把一条通知标为已读。"""
    return notifications.summary(
        notifications.mark_read(session=session, clock=clock, actor=actor, item_id=item_id)
    )
