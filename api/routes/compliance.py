"""Compliance: signed checkpoints on demand, and a case's export file for an outside reviewer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import ActorDep, ClockDep, SessionDep
from api.schemas.common import ERRORS
from workflows.infra import keys as signing
from workflows.infra.clock import iso_utc
from workflows.log import checkpoints
from workflows.ops.export import export_case
from workflows.people.access import require_role

router = APIRouter(tags=["合规 compliance"])


def signing_keys(request: Request) -> signing.SigningKeys:
    """The checkpoint keys of this app (loaded once; outside the database)."""
    state = request.app.state
    if getattr(state, "signing_keys", None) is None:
        state.signing_keys = signing.load(state.settings)
    return state.signing_keys  # type: ignore[no-any-return]


def _summary(cp: Any) -> dict[str, Any]:
    return {
        "id": cp.id,
        "created_at": iso_utc(cp.created_at),
        "cases": cp.cases,
        "merkle_root": cp.merkle_root,
        "key_id": cp.key_id,
        "public_key": cp.public_key,
        "signature": cp.signature,
    }


@router.post("/api/checkpoints", status_code=201, responses=ERRORS)
def record_checkpoint(
    request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> dict[str, Any]:
    """立即记录全部案件日志末端的签名检查点（合规审计员）。"""
    require_role(actor, "auditor", action="记录检查点")
    cp = checkpoints.record(
        session=session, keys=signing_keys(request), now=clock.now(), actor=actor.username
    )
    return _summary(cp)


@router.get("/api/checkpoints/latest", responses=ERRORS)
def latest_checkpoint(session: SessionDep, actor: ActorDep) -> dict[str, Any] | None:
    """最近一次签名检查点（不含案件清单）。"""
    require_role(
        actor,
        "auditor",
        "county_civil_affairs",
        "city_civil_affairs",
        "province_civil_affairs",
        action="查看检查点",
    )
    cp = checkpoints.latest(session)
    return _summary(cp) if cp is not None else None


@router.get("/api/cases/{case_id}/export", responses=ERRORS)
def export(case_id: str, request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep) -> Response:
    """案件核验文件（日志、流程版本文件、文书哈希、检查点证明；签名），供外部审查，可用 shouhu verify-export 离线核验。"""
    raw = export_case(session=session, clock=clock, actor=actor, keys=signing_keys(request), case_id=case_id)
    return Response(
        raw,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="case-{case_id}.shouhu.json"'},
    )
