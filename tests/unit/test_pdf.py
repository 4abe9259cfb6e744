"""Every statutory paper is issued as a PDF too (WeasyPrint, CJK fonts embedded); its hash is stored and logged."""

from __future__ import annotations

import hashlib
import re
import zlib

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.unit.test_documents import SAMPLE
from tests.unit.test_services import DIRECTOR, start
from workflows.infra.clock import FixedClock
from workflows.infra.errors import NotFound
from workflows.infra.models import CaseEvent, Document
from workflows.papers import documents
from workflows.papers.pdf import render_pdf


def _inflated(pdf: bytes) -> bytes:
    """The PDF with its compressed streams (object streams hold the font dictionaries) inflated."""
    parts = [pdf]
    for match in re.finditer(rb"stream\r?\n", pdf):
        try:
            parts.append(zlib.decompressobj().decompress(pdf[match.end() :]))
        except zlib.error:
            continue
    return b"".join(parts)


def is_cjk_pdf(pdf: bytes) -> bool:
    """A whole PDF, with a Noto CJK face embedded (the Chinese text is not left to a fallback glyph)."""
    return pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF") and b"NotoSerifCJK" in _inflated(pdf)


@pytest.mark.parametrize("kind", sorted(documents.KINDS))
def test_every_kind_renders_to_a_pdf_with_chinese_fonts(kind: str) -> None:
    pdf = render_pdf(documents.render(kind, dict(SAMPLE)))
    assert is_cjk_pdf(pdf) and b"/Type /Page" in _inflated(pdf)


def test_issued_papers_store_the_pdf_and_log_its_hash(session: Session, clock: FixedClock) -> None:
    case = start(session, clock)
    for kind in sorted(documents.KINDS):
        document = documents.issue(session=session, clock=clock, actor=DIRECTOR, case_id=case.id, kind=kind)
        assert document.pdf is not None and is_cjk_pdf(document.pdf)
        assert document.pdf_sha256 == hashlib.sha256(document.pdf).hexdigest()
        event = session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq.desc()).limit(1)
        ).one()
        assert event.type == "document_issued" and event.payload["pdf_sha256"] == document.pdf_sha256
        assert documents.pdf_bytes(document) == document.pdf


def test_a_paper_without_pdf_says_so(session: Session, clock: FixedClock) -> None:
    with pytest.raises(NotFound):
        documents.pdf_bytes(Document(kind="x", title="x", content="", sha256="", pdf=None))


def test_pdf_download_is_logged(client, login, session: Session, clock: FixedClock) -> None:  # type: ignore[no-untyped-def]
    case = start(session, clock)
    document = documents.issue(
        session=session, clock=clock, actor=DIRECTOR, case_id=case.id, kind="report_receipt"
    )
    response = client.get(f"/api/documents/{document.id}/pdf", headers=login("director"))
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(response.content).hexdigest() == document.pdf_sha256
    assert client.get(f"/api/documents/{document.id}/pdf", headers=login("neighbour")).status_code == 404
    listed = client.get(f"/api/cases/{case.id}/papers", headers=login("director")).json()
    assert listed["documents"][0]["pdf_sha256"] == document.pdf_sha256
