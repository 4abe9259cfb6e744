"""Statutory documents issued from a case, and attachments uploaded to it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from api.deps import ActorDep, ClockDep, SessionDep
from api.schemas.common import ERRORS, FILE_ANSWER, HTML_ANSWER, RowId
from workflows.cases import views
from workflows.infra.clock import iso_utc
from workflows.infra.errors import ValidationFailed
from workflows.infra.models import Attachment, Case, Document
from workflows.papers import documents

router = APIRouter(tags=["文书与附件 documents"])


class IssueIn(BaseModel):
    kind: str


def _document(d: Document) -> dict[str, Any]:
    return {
        "id": d.id,
        "kind": d.kind,
        "title": d.title,
        "sha256": d.sha256,
        "pdf_sha256": d.pdf_sha256,
        "created_at": iso_utc(d.created_at),
        "created_by": d.created_by,
    }


def _attachment(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "sha256": a.sha256,
        "uploaded_at": iso_utc(a.uploaded_at),
        "uploaded_by": a.uploaded_by,
    }


@router.get("/api/documents/kinds")
def kinds(actor: ActorDep) -> list[dict[str, str]]:
    """可出具的文书种类。"""
    return [{"kind": k, "title": v.title, "audience": v.audience} for k, v in documents.KINDS.items()]


@router.post("/api/cases/{case_id}/documents", status_code=201, responses=ERRORS)
def issue(
    case_id: str, body: IssueIn, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> dict[str, Any]:
    """根据案件出具文书（内容哈希记入案件日志）。"""
    return _document(
        documents.issue(session=session, clock=clock, actor=actor, case_id=case_id, kind=body.kind)
    )


@router.get("/api/cases/{case_id}/papers", responses=ERRORS)
def papers(case_id: str, session: SessionDep, actor: ActorDep) -> dict[str, Any]:
    """案件的文书和附件清单。"""
    docs, files = documents.case_papers(session=session, actor=actor, case_id=case_id)
    return {"documents": [_document(d) for d in docs], "attachments": [_attachment(a) for a in files]}


@router.get("/api/documents/{document_id}", responses={**ERRORS, 200: HTML_ANSWER})
def show(
    document_id: RowId, request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> HTMLResponse:
    """文书全文（可打印的 HTML；访问会被记录）。"""
    document = documents.read_document(
        session=session, clock=clock, actor=actor, document_id=document_id, endpoint=f"GET {request.url.path}"
    )
    return HTMLResponse(
        document.content,
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "script-src 'none'"},
    )


@router.get("/api/documents/{document_id}/pdf", responses=ERRORS)
def show_pdf(
    document_id: RowId, request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> Response:
    """文书的 PDF 版本（A4；其 sha256 记入案件日志；访问会被记录）。"""
    document = documents.read_document(
        session=session, clock=clock, actor=actor, document_id=document_id, endpoint=f"GET {request.url.path}"
    )
    return Response(
        documents.pdf_bytes(document),
        media_type="application/pdf",
        headers=documents.pdf_response_headers(document),
    )


@router.post("/api/cases/{case_id}/attachments", status_code=201, responses=ERRORS)
def upload(
    case_id: str,
    kind: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
    session: SessionDep,
    clock: ClockDep,
    actor: ActorDep,
) -> dict[str, Any]:
    """上传附件（PDF/JPG/PNG，不超过 10 MB；哈希记入案件日志）。"""
    content = file.file.read(documents.MAX_ATTACHMENT_BYTES + 1)
    if len(content) > documents.MAX_ATTACHMENT_BYTES:
        raise ValidationFailed("附件不能超过 10 MB", code="attachment_size")
    attachment = documents.add_attachment(
        session=session,
        clock=clock,
        actor=actor,
        case_id=case_id,
        kind=kind,
        filename=file.filename or "附件",
        content_type=file.content_type or "",
        content=content,
    )
    return _attachment(attachment)


@router.get("/api/attachments/{attachment_id}", responses={**ERRORS, 200: FILE_ANSWER})
def download(
    attachment_id: RowId, request: Request, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> Response:
    """下载附件（访问会被记录）。"""
    attachment = documents.get_attachment(session=session, actor=actor, attachment_id=attachment_id)
    views.record_access(
        session,
        clock=clock,
        actor=actor,
        endpoint=f"GET {request.url.path}",
        case=session.get(Case, attachment.case_id),
    )
    return Response(
        attachment.content,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''attachment-{attachment.id}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
