"""Cases: start, read, history, corrections, messages, verify."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from api.deps import ActorDep, ClockDep, SessionDep
from api.schemas.common import ERRORS, CaseStart, Correction, MessageIn, Offset
from workflows.cases import lifecycle as cases
from workflows.cases import replay, views

router = APIRouter(prefix="/api/cases", tags=["案件 cases"])


@router.post("", status_code=201, responses=ERRORS)
def start_case(
    body: CaseStart, request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> dict[str, Any]:
    """按已发布的流程开启案件（开始表单校验后）。"""
    outcome = cases.start_case(
        session=session,
        clock=clock,
        actor=actor,
        process_key=body.process_key,
        data=body.data,
        jurisdiction_code=body.jurisdiction_code,
        child_ref=body.child_ref,
    )
    if not actor.has_any(*cases.CASE_READERS):  # a department reporting a case follows only its own tasks
        return views.case_summary(outcome.case)
    return views.case_view(
        session=session,
        clock=clock,
        actor=actor,
        case_id=outcome.case.id,
        endpoint=f"POST {request.url.path}",
    )


@router.get("", responses=ERRORS)
def list_cases(
    session: SessionDep,
    actor: ActorDep,
    process_key: str | None = None,
    status: str | None = None,
    limit: int = Query(50, ge=1, le=200),
    offset: Offset = 0,
) -> dict[str, Any]:
    """本人辖区内的案件（摘要）。"""
    items, total = views.case_list(
        session=session, actor=actor, process_key=process_key, status=status, limit=limit, offset=offset
    )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/{case_id}", responses=ERRORS)
def get_case(
    case_id: str, request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> dict[str, Any]:
    """案件状态、当前任务和本人可见的数据（访问会被记录）。"""
    return views.case_view(
        session=session, clock=clock, actor=actor, case_id=case_id, endpoint=f"GET {request.url.path}"
    )


@router.get("/{case_id}/history", responses=ERRORS)
def history(
    case_id: str, request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> list[dict[str, Any]]:
    """案件日志（按顺序，含哈希链）。"""
    return views.history_view(
        session=session, clock=clock, actor=actor, case_id=case_id, endpoint=f"GET {request.url.path}"
    )


@router.post("/{case_id}/corrections", responses=ERRORS)
def correct(
    case_id: str, body: Correction, request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> dict[str, Any]:
    """更正已提交的数据（须填写理由；原始记录保留）。"""
    cases.get_case(session=session, actor=actor, case_id=case_id)
    cases.correct_data(
        session=session, clock=clock, actor=actor, case_id=case_id, changes=body.changes, reason=body.reason
    )
    return views.case_view(
        session=session, clock=clock, actor=actor, case_id=case_id, endpoint=f"POST {request.url.path}"
    )


@router.post("/{case_id}/messages", responses=ERRORS)
def message(
    case_id: str, body: MessageIn, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> dict[str, Any]:
    """向正在等待消息的案件发送消息（如其他部门的回复）。"""
    cases.get_case(session=session, actor=actor, case_id=case_id)
    outcome = cases.send_message(
        session=session, clock=clock, actor=actor, case_id=case_id, name=body.name, payload=body.payload
    )
    return views.case_summary(outcome.case)


@router.post("/{case_id}/verify", responses=ERRORS)
def verify(case_id: str, session: SessionDep, actor: ActorDep) -> dict[str, Any]:
    """核验：哈希链完整，且按日志重放可得到相同的案件。"""
    return replay.verify(session=session, actor=actor, case_id=case_id).as_dict()
