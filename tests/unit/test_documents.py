"""Every statutory document renders without labels; issuing and uploading are logged by hash."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.unit.test_services import DIRECTOR, start
from workflows.cases.replay import verify_case
from workflows.infra.clock import FixedClock
from workflows.infra.errors import ModelError, ValidationFailed
from workflows.infra.models import Case, CaseEvent
from workflows.papers import documents

SAMPLE = {
    "business_key": "GI-20260302-ABCDEF12",
    "case_no": "大足-2026-000012",
    "received_at": "2026年03月02日",
    "handling_unit": "大足区",
    "court_name": "大足区人民法院",
    "applicant": "大足区民政局",
    "respondent": "某某",
    "child_name": "小明",
    "grounds": "多次实施家庭暴力。",
    "procuratorate_support": True,
    "parents": "张某、李某",
    "carer_name": "王某",
    "carer_relation": "祖母",
    "term": "一年",
    "worker_name": "赵某",
    "post_label": "儿童主任",
    "place": "金龙村",
    "trainer": "大足区民政局",
    "passed_on": "2026-03-01",
    "from_institution": "县儿童福利院",
    "to_institution": "市儿童福利院",
    "children": [{"child_ref": "C-1", "name": "甲"}],
    "department_label": "教育部门",
    "reason": "疑似辍学",
    "reply_by": "2026年03月17日",
    "contact": "督导员",
    "number": "No.1",
    "date": "2026年03月02日",
}


@pytest.mark.parametrize("kind", sorted(documents.KINDS))
def test_every_document_renders_without_labelling_terms(kind: str) -> None:
    html = documents.render(kind, dict(SAMPLE))
    assert documents.KINDS[kind].title in html
    assert "留守儿童" not in html and "困境儿童" not in html


def test_a_labelled_text_is_refused() -> None:
    with pytest.raises(ModelError, match="标签化"):
        documents.render("referral_notice", {**SAMPLE, "reason": "该儿童为留守儿童"})


def test_issued_document_is_stored_and_logged_with_its_hash(session: Session, clock: FixedClock) -> None:
    case = start(session, clock)
    document = documents.issue(
        session=session, clock=clock, actor=DIRECTOR, case_id=case.id, kind="report_receipt"
    )
    assert document.sha256 == hashlib.sha256(document.content.encode()).hexdigest()
    assert case.case_no in document.content and "张三" not in document.content
    event = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq.desc())
    ).first()
    assert event.type == "document_issued" and event.payload["sha256"] == document.sha256
    assert verify_case(session, session.get(Case, case.id)).ok


def test_attachments_are_limited_and_logged(session: Session, clock: FixedClock) -> None:
    case = start(session, clock)
    pdf = b"%PDF-1.4 signed agreement\n%%EOF\n"
    with pytest.raises(ValidationFailed, match="PDF"):
        documents.add_attachment(
            session=session,
            clock=clock,
            actor=DIRECTOR,
            case_id=case.id,
            kind="signed_agreement",
            filename="a.exe",
            content_type="application/pdf",
            content=b"MZ...",
        )
    with pytest.raises(ValidationFailed, match="10 MB"):
        documents.add_attachment(
            session=session,
            clock=clock,
            actor=DIRECTOR,
            case_id=case.id,
            kind="photo",
            filename="big.png",
            content_type="image/png",
            content=b"\x89PNG" + b"0" * documents.MAX_ATTACHMENT_BYTES,
        )
    made = documents.add_attachment(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        case_id=case.id,
        kind="signed_agreement",
        filename="协议.pdf",
        content_type="application/pdf",
        content=pdf,
    )
    assert made.sha256 == hashlib.sha256(pdf).hexdigest() and made.size == len(pdf)
    docs, files = documents.case_papers(session=session, actor=DIRECTOR, case_id=case.id)
    assert [f.id for f in files] == [made.id]
    assert verify_case(session, session.get(Case, case.id)).ok
