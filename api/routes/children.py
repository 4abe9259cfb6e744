"""Children's files (一人一档): register, read (ID masked), reveal with a reason, update, link, merge, import, export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import ActorDep, ClockDep, SessionDep
from api.schemas.common import CSV_ANSWER, ERRORS, Offset
from workflows.cases import views
from workflows.children import exchange as child_import
from workflows.children import links
from workflows.children import registry as children
from workflows.infra.clock import iso_utc
from workflows.infra.errors import ValidationFailed
from workflows.infra.models import Child

router = APIRouter(prefix="/api/children", tags=["儿童档案 children"])
MAX_IMPORT_BYTES = 5 * 1024 * 1024


class ChildUpdate(BaseModel):
    changes: dict[str, Any]
    reason: str = Field(description="修改理由（必填）")


class Reason(BaseModel):
    reason: str


class Entry(BaseModel):
    kind: str = Field(description="visit / assistance / problem / solution / note")
    text: str
    date: str | None = None


class MergeIn(BaseModel):
    keep_id: str
    merge_id: str
    reason: str


class LinkIn(BaseModel):
    case_id: str


def _summary(child: Child) -> dict[str, Any]:
    return {
        "id": child.id,
        "file_no": child.file_no,
        "name": child.name,
        "village_code": child.village_code,
        "risk_colour": child.risk_colour,
        "status": child.status,
        "id_number": views.mask_id(child.id_number),
    }


def _file(view: children.ChildFile) -> dict[str, Any]:
    return {
        **view.data,
        "records": [
            {
                "seq": r.seq,
                "type": r.type,
                "actor": r.actor,
                "occurred_at": iso_utc(r.occurred_at),
                "payload": children.masked_payload(r.payload),
                "hash": r.hash,
            }
            for r in view.records
        ],
        "cases": [views.case_summary(c) for c in view.cases],
    }


@router.get("", responses=ERRORS)
def list_children(
    session: SessionDep,
    actor: ActorDep,
    village_code: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> dict[str, Any]:
    """本人辖区内的儿童档案（摘要，身份证号已隐去）。"""
    items, total = children.list_children(
        session=session, actor=actor, village_code=village_code, limit=limit, offset=offset
    )
    return {"items": [_summary(c) for c in items], "total": total}


@router.post("", status_code=201, responses=ERRORS)
def register(
    data: dict[str, Any], request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> dict[str, Any]:
    """建立儿童档案（身份证号可不填；填写时校验校验位）。"""
    child = children.register(session=session, clock=clock, actor=actor, data=data)
    return _file(
        children.file_view(
            session=session, clock=clock, actor=actor, child_id=child.id, endpoint=f"POST {request.url.path}"
        )
    )


@router.post("/import", responses=ERRORS)
def import_file(
    file: Annotated[UploadFile, File()], session: SessionDep, clock: ClockDep, actor: ActorDep
) -> dict[str, Any]:
    """从 CSV 或 Excel 导入档案：逐行校验，有任何一行出错则全部不导入。"""
    content = file.file.read(MAX_IMPORT_BYTES + 1)  # a plain def: the import runs in the thread pool
    if len(content) > MAX_IMPORT_BYTES:
        raise ValidationFailed("导入文件不能超过 5 MB", code="import_too_large")
    made = child_import.import_files(
        session=session, clock=clock, actor=actor, filename=file.filename or "", content=content
    )
    return {"imported": len(made), "items": [_summary(c) for c in made]}


@router.get("/export", responses={**ERRORS, 200: CSV_ANSWER})
def export(
    request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep, village_code: str | None = None
) -> Response:
    """导出档案（季度核实更新用，身份证号已隐去）。"""
    text = child_import.export_csv(
        session=session,
        clock=clock,
        actor=actor,
        village_code=village_code,
        endpoint=f"GET {request.url.path}",
    )
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="children.csv"'},
    )


@router.post("/merge", responses=ERRORS)
def merge(body: MergeIn, session: SessionDep, clock: ClockDep, actor: ActorDep) -> dict[str, Any]:
    """合并重复档案（案件转到保留的档案，双方都留有记录）。"""
    return _summary(
        links.merge(
            session=session,
            clock=clock,
            actor=actor,
            keep_id=body.keep_id,
            merge_id=body.merge_id,
            reason=body.reason,
        )
    )


@router.get("/{child_id}", responses=ERRORS)
def get_file(
    child_id: str, request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> dict[str, Any]:
    """一人一档：基本信息（身份证号已隐去）、记录、全部案件（访问会被记录）。"""
    return _file(
        children.file_view(
            session=session, clock=clock, actor=actor, child_id=child_id, endpoint=f"GET {request.url.path}"
        )
    )


@router.patch("/{child_id}", responses=ERRORS)
def update(
    child_id: str, body: ChildUpdate, request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> dict[str, Any]:
    """修改档案（须填写理由；旧值保留在记录中）。"""
    children.update_file(
        session=session, clock=clock, actor=actor, child_id=child_id, changes=body.changes, reason=body.reason
    )
    return _file(
        children.file_view(
            session=session, clock=clock, actor=actor, child_id=child_id, endpoint=f"PATCH {request.url.path}"
        )
    )


@router.post("/{child_id}/entries", status_code=201, responses=ERRORS)
def add_entry(
    child_id: str, body: Entry, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> dict[str, str]:
    """记录走访、帮扶、发现的问题或解决办法。"""
    children.add_entry(
        session=session,
        clock=clock,
        actor=actor,
        child_id=child_id,
        kind=body.kind,
        text=body.text,
        when=body.date,
    )
    return {"status": "ok"}


@router.post("/{child_id}/reveal-id", responses=ERRORS)
def reveal(
    child_id: str, body: Reason, request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> dict[str, Any]:
    """查看完整身份证号（须说明理由，记入访问日志）。"""
    number = children.reveal_id_number(
        session=session,
        clock=clock,
        actor=actor,
        child_id=child_id,
        reason=body.reason,
        endpoint=f"POST {request.url.path}",
    )
    return {"id_number": number}


@router.post("/{child_id}/cases", responses=ERRORS)
def link(
    child_id: str, body: LinkIn, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> dict[str, Any]:
    """把报告时尚未建档的儿童的案件关联到此档案。"""
    return views.case_summary(
        links.link_case(session=session, clock=clock, actor=actor, case_id=body.case_id, child_id=child_id)
    )
