"""Documents and attachments of cases, to view or print from the pages (each read is logged)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from api.schemas.common import RowId
from api.web.core import PageDep, WebRoute, verify_csrf
from workflows.cases import views
from workflows.infra.models import Case
from workflows.papers import documents

router = APIRouter(route_class=WebRoute, include_in_schema=False, dependencies=[Depends(verify_csrf)])


def case_papers(page: PageDep, cases: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The documents and attachments of the given (already visible) cases."""
    found: dict[str, Any] = {"documents": [], "attachments": [], "case_keys": {}}
    for case in cases:
        docs, files = documents.case_papers(session=page.session, actor=page.actor, case_id=case["id"])
        found["documents"] += docs
        found["attachments"] += files
        found["case_keys"][case["id"]] = case["case_no"]
    return found


@router.get("/documents/{document_id}", response_class=HTMLResponse)
def show_document(document_id: RowId, page: PageDep) -> Response:
    """The document's stored text, printable as it was issued."""
    document = documents.read_document(
        session=page.session,
        clock=page.clock,
        actor=page.actor,
        document_id=document_id,
        endpoint=page.endpoint,
    )
    return HTMLResponse(document.content, headers={"Content-Security-Policy": "script-src 'none'"})


@router.get("/documents/{document_id}/pdf")
def show_document_pdf(document_id: RowId, page: PageDep) -> Response:
    """The document as PDF (A4), as it was issued."""
    document = documents.read_document(
        session=page.session,
        clock=page.clock,
        actor=page.actor,
        document_id=document_id,
        endpoint=page.endpoint,
    )
    return Response(
        documents.pdf_bytes(document),
        media_type="application/pdf",
        headers=documents.pdf_response_headers(document),
    )


@router.get("/attachments/{attachment_id}")
def show_attachment(attachment_id: RowId, page: PageDep) -> Response:
    attachment = documents.get_attachment(session=page.session, actor=page.actor, attachment_id=attachment_id)
    views.record_access(
        page.session,
        clock=page.clock,
        actor=page.actor,
        endpoint=page.endpoint,
        case=page.session.get(Case, attachment.case_id),
    )
    name = quote(attachment.filename)
    return Response(
        attachment.content,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
