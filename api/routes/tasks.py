"""Human tasks: the worklist, a task with its form, claim, unclaim, complete.

The list, claim, unclaim and complete requests are usually served by ``api.hot`` without FastAPI's
per-request machinery; both call the same work below (``*_work``), so the two ways give the same answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from sqlalchemy.orm import Session

from api.deps import ActorDep, ClockDep, SessionDep, TokenDep, as_signed_in
from api.schemas.common import ERRORS, Offset, TaskComplete
from workflows.cases import human_tasks, views
from workflows.infra.clock import Clock
from workflows.people.access import Actor

router = APIRouter(prefix="/api/tasks", tags=["任务 tasks"])

Work = Callable[[Session, Actor], dict[str, Any]]

# the worklist's query bounds (the route declares them; api.hot reads the same query by them)
LIMIT_DEFAULT, LIMIT_MAX, AFTER_MAX = 50, 200, 120


def list_work(*, process_key: str | None, mine: bool, limit: int, offset: int, after: str | None) -> Work:
    def work(session: Session, actor: Actor) -> dict[str, Any]:
        page = human_tasks.list_tasks(
            session=session,
            actor=actor,
            process_key=process_key,
            mine=mine,
            limit=limit,
            offset=offset,
            after=after,
        )
        return {
            "items": [views.task_summary(t) for t in page.items],
            "total": page.total,
            "total_more": page.more,
            "next": page.next,
            "limit": limit,
            "offset": offset,
            "certified": actor.certified,
        }

    return work


def claim_work(task_id: str, clock: Clock, *, claim: bool = True) -> Work:
    act = human_tasks.claim if claim else human_tasks.unclaim
    return lambda session, actor: views.task_summary(
        act(session=session, clock=clock, actor=actor, task_id=task_id)
    )


def complete_work(task_id: str, clock: Clock, data: dict[str, Any], idempotency_key: str | None) -> Work:
    return lambda session, actor: human_tasks.complete(
        session=session,
        clock=clock,
        actor=actor,
        task_id=task_id,
        data=data,
        idempotency_key=idempotency_key,
    )


@router.get("", responses=ERRORS)
async def list_tasks(
    request: Request,
    token: TokenDep,
    process_key: str | None = None,
    mine: bool = False,
    limit: int = Query(LIMIT_DEFAULT, ge=1, le=LIMIT_MAX),
    offset: Offset = 0,
    after: str | None = Query(None, max_length=AFTER_MAX),
) -> dict[str, Any]:
    """本人角色和辖区的待办（含本人已认领的），按期限排序。

    翻页：把上一页的 ``next`` 作为 ``after`` 传入（按期限接续，不重不漏）；``offset`` 仍可用。
    ``total`` 最多数到 1000，更多时 ``total_more`` 为 true。
    """
    work = list_work(process_key=process_key, mine=mine, limit=limit, offset=offset, after=after)
    return await as_signed_in(request, token, work, read_only=True)


@router.get("/{task_id}", responses=ERRORS)
def get_task(
    task_id: str, request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> dict[str, Any]:
    """任务详情、表单（JSON Schema）和案件背景（访问会被记录）。"""
    return views.task_view(
        session=session, clock=clock, actor=actor, task_id=task_id, endpoint=f"GET {request.url.path}"
    )


@router.post("/{task_id}/claim", responses=ERRORS)
async def claim(task_id: str, request: Request, clock: ClockDep, token: TokenDep) -> dict[str, Any]:
    """认领任务。"""
    return await as_signed_in(request, token, claim_work(task_id, clock))


@router.post("/{task_id}/unclaim", responses=ERRORS)
async def unclaim(task_id: str, request: Request, clock: ClockDep, token: TokenDep) -> dict[str, Any]:
    """退回认领。"""
    return await as_signed_in(request, token, claim_work(task_id, clock, claim=False))


@router.post("/{task_id}/complete", responses=ERRORS)
async def complete(
    task_id: str,
    body: TaskComplete,
    request: Request,
    clock: ClockDep,
    token: TokenDep,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> dict[str, Any]:
    """提交表单并办结任务；同一 Idempotency-Key 重试返回第一次的结果。"""
    return await as_signed_in(request, token, complete_work(task_id, clock, body.data, idempotency_key))
