"""Statutory documents rendered from a case, and uploaded attachments; each recorded in the case log by hash.

Documents handed to a family, a reporter or the public never carry the labels 留守儿童 / 困境儿童
(标签化): a render that would is refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.cases import lifecycle as cases
from workflows.cases import views
from workflows.cases.actions import act
from workflows.infra.clock import CST, Clock
from workflows.infra.errors import ModelError, NotFound, ValidationFailed
from workflows.infra.models import Attachment, Case, Document, Place
from workflows.log.events import NewEvent
from workflows.papers.pdf import pdf_with_hash
from workflows.papers.rendering import environment, labels_in
from workflows.people.access import Actor, require_certified, require_role
from workflows.people.roles import role_label

ISSUERS = (
    "village_director",
    "township_supervisor",
    "county_civil_affairs",
    "city_civil_affairs",
    "protection_center",
    "welfare_institution",
    "procuratorate",
)
ATTACHMENT_TYPES = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ATTACHMENT_KINDS = {
    "signed_agreement": "签署的协议",
    "court_ruling": "法院裁判文书",
    "photo": "照片",
    "certificate": "证明材料",
    "other": "其他材料",
}


@dataclass(frozen=True)
class Kind:
    title: str
    template: str
    audience: str  # family | public | court | department | staff
    build: Callable[[Case, dict[str, Any], dict[str, str]], dict[str, Any]]


def _today(now: datetime) -> str:
    return now.astimezone(CST).strftime("%Y年%m月%d日")


def _place(session: Session, code: str) -> str:
    names = []
    for length in (2, 4, 6, 9, 12):
        place = session.get(Place, code[:length]) if len(code) >= length else None
        if place is not None:
            names.append(place.name)
    return " ".join(dict.fromkeys(names)) or code


def _receipt(case: Case, data: dict[str, Any], ctx: dict[str, str]) -> dict[str, Any]:
    return {
        "business_key": case.business_key,
        "case_no": case.case_no,
        "received_at": ctx["created"],
        "handling_unit": ctx["place"] + " 未成年人救助保护机构",
    }


def _petition(case: Case, data: dict[str, Any], ctx: dict[str, str]) -> dict[str, Any]:
    return {
        "court_name": ctx["place"] + " 人民法院",
        "applicant": ctx["place"] + " 民政部门",
        "respondent": data.get("respondent"),
        "child_name": data.get("child_name"),
        "business_key": case.business_key,
        "case_no": case.case_no,
        "grounds": data.get("petition_grounds") or "（见案件材料）",
        "procuratorate_support": data.get("procuratorate_decision") == "support",
    }


def _entrustment(case: Case, data: dict[str, Any], ctx: dict[str, str]) -> dict[str, Any]:
    return {
        "parents": data.get("parents_names"),
        "carer_name": data.get("carer_name") or data.get("relative_name"),
        "carer_relation": data.get("carer_relation") or data.get("relative_relationship"),
        "child_name": data.get("child_name"),
        "term": data.get("entrustment_term"),
    }


def _certificate(case: Case, data: dict[str, Any], ctx: dict[str, str]) -> dict[str, Any]:
    supervisor = data.get("post") in ("township_supervisor", "supervisor")
    return {
        "worker_name": data.get("real_name") or data.get("worker_name") or data.get("display_name") or "",
        "post_label": "儿童督导员" if supervisor else "儿童主任",
        "place": ctx["place"],
        "trainer": ctx["place"] + (" 市级民政部门" if supervisor else " 县级民政部门"),
        "passed_on": data.get("assessment_date") or data.get("passed_on") or ctx["date"],
        "number": data.get("certificate_no"),
    }


def _handover(case: Case, data: dict[str, Any], ctx: dict[str, str]) -> dict[str, Any]:
    listed = data.get("accepted_children") or data.get("children") or []
    return {
        "from_institution": data.get("county_institution") or data.get("institution_name") or ctx["place"],
        "to_institution": data.get("city_institution") or "市级儿童福利机构",
        "business_key": case.business_key,
        "case_no": case.case_no,
        "children": [
            {"child_ref": c.get("child_ref", ""), "name": c.get("name", "")}
            for c in listed
            if isinstance(c, dict)
        ],
    }


def _referral(case: Case, data: dict[str, Any], ctx: dict[str, str]) -> dict[str, Any]:
    departments = data.get("departments") or data.get("receiving_departments") or []
    label = (
        "、".join(role_label(d) for d in departments) if isinstance(departments, list) else str(departments)
    )
    return {
        "department_label": label or "有关部门",
        "business_key": case.business_key,
        "case_no": case.case_no,
        "reason": data.get("reason_text") or data.get("referral_reason") or "（见转介材料）",
        "reply_by": data.get("reply_by") or "规定期限",
        "contact": ctx["place"] + " 儿童督导员",
    }


KINDS: dict[str, Kind] = {
    "report_receipt": Kind("强制报告受理回执", "report_receipt.html.j2", "public", _receipt),
    "petition_protection_order": Kind(
        "人身安全保护令申请书", "petition_protection_order.html.j2", "court", _petition
    ),
    "petition_revoke_guardianship": Kind(
        "撤销监护人资格申请书", "petition_revoke_guardianship.html.j2", "court", _petition
    ),
    "entrustment_agreement": Kind("委托照护协议", "entrustment_agreement.html.j2", "family", _entrustment),
    "training_certificate": Kind("儿童主任培训合格证", "training_certificate.html.j2", "staff", _certificate),
    "transfer_handover_list": Kind("儿童移交清单", "transfer_handover_list.html.j2", "staff", _handover),
    "referral_notice": Kind("转介通知书", "referral_notice.html.j2", "department", _referral),
}


def render(kind: str, context: dict[str, Any]) -> str:
    """Render a document kind; refuse a text that labels the child."""
    spec = KINDS.get(kind)
    if spec is None:
        raise NotFound(f"没有这种文书：{kind}", code="document_kind_unknown")
    context = {"number": None, "date": "", **context, "title": context.get("title") or spec.title}
    html = environment().get_template(f"documents/{spec.template}").render(**context)
    found = labels_in(html)
    if found:
        raise ModelError(
            f"文书“{spec.title}”含有标签化用语（{'、'.join(found)}），已拒绝生成", code="document_labelled"
        )
    return html


def issue(*, session: Session, clock: Clock, actor: Actor, case_id: str, kind: str) -> Document:
    """Render a document from a case, store it with its sha256, and log `document_issued` in the case."""
    require_role(actor, *ISSUERS, action="出具文书")
    require_certified(actor, "出具文书")
    case = cases.get_case(session=session, actor=actor, case_id=case_id)
    now = clock.now()
    ctx = {
        "place": _place(session, case.jurisdiction_code),
        "date": _today(now),
        "created": _today(case.created_at),
    }
    spec = KINDS.get(kind)
    if spec is None:
        raise NotFound(f"没有这种文书：{kind}", code="document_kind_unknown")
    context = {"date": ctx["date"], **spec.build(case, dict(case.data or {}), ctx)}
    html = render(kind, context)
    digest = hashlib.sha256(html.encode("utf-8")).hexdigest()
    pdf, pdf_digest = pdf_with_hash(html)
    document = Document(
        kind=kind,
        title=spec.title,
        jurisdiction_code=case.jurisdiction_code,
        period=now.astimezone(CST).strftime("%Y-%m-%d"),
        content=html,
        sha256=digest,
        created_at=now,
        created_by=actor.username,
        case_id=case.id,
        pdf=pdf,
        pdf_sha256=pdf_digest,
    )
    session.add(document)
    session.flush()
    payload = {
        "document_id": document.id,
        "kind": kind,
        "title": spec.title,
        "sha256": digest,
        "pdf_sha256": pdf_digest,
    }
    _log_paper(session, case, now, actor, "document_issued", payload)
    return document


def _log_paper(
    session: Session, case: Case, now: datetime, actor: Actor, kind: str, payload: dict[str, Any]
) -> None:
    """A paper's event in the case log (closed cases too): the workflow is untouched, the chain moves on."""
    act(
        session,
        case_id=case.id,
        now=now,
        actor=actor.username,
        fire_due=False,
        step=lambda c, r, at: [NewEvent(kind, actor.username, payload)],
        allow_closed=True,
    )


def add_attachment(
    *,
    session: Session,
    clock: Clock,
    actor: Actor,
    case_id: str,
    kind: str,
    filename: str,
    content_type: str,
    content: bytes,
) -> Attachment:
    """Store an uploaded file (PDF, JPEG or PNG, at most 10 MB) and log `attachment_added` with its sha256."""
    require_role(actor, *ISSUERS, "police", "court", action="上传附件")
    require_certified(actor, "上传附件")
    case = cases.get_case(session=session, actor=actor, case_id=case_id)
    if kind not in ATTACHMENT_KINDS:
        raise ValidationFailed(
            "附件类型应为：" + "、".join(ATTACHMENT_KINDS.values()), code="attachment_kind"
        )
    if not content or len(content) > MAX_ATTACHMENT_BYTES:
        raise ValidationFailed("附件不能为空，且不能超过 10 MB", code="attachment_size")
    if content_type not in ATTACHMENT_TYPES or not _looks_like(content_type, content):
        raise ValidationFailed(
            "只能上传 PDF、JPG 或 PNG 文件（文件内容须与类型相符，不能夹带网页或脚本）",
            code="attachment_type",
        )
    now = clock.now()
    digest = hashlib.sha256(content).hexdigest()
    attachment = Attachment(
        case_id=case.id,
        kind=kind,
        filename=clean_filename(filename),
        content_type=content_type,
        size=len(content),
        sha256=digest,
        content=content,
        uploaded_by=actor.username,
        uploaded_at=now,
    )
    session.add(attachment)
    session.flush()
    payload = {
        "attachment_id": attachment.id,
        "kind": kind,
        "filename": attachment.filename,
        "content_type": content_type,
        "size": len(content),
        "sha256": digest,
    }
    _log_paper(session, case, now, actor, "attachment_added", payload)
    return attachment


_MAGIC = {"application/pdf": b"%PDF-", "image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
# A file a browser could also read as a page (a polyglot): HTML or script markup anywhere in it.
_MARKUP = re.compile(
    rb"<\s*(?:!doctype\s+html|html|head|body|script|iframe|svg|object|embed)[\s>/]", re.IGNORECASE
)


def _looks_like(content_type: str, content: bytes) -> bool:
    """The file is what it claims: its magic number, its ending, and no HTML or script inside."""
    if not content.startswith(_MAGIC[content_type]) or _MARKUP.search(content):
        return False
    tail = content[-1024:].rstrip()
    ends = {
        "application/pdf": b"%%EOF" in tail,
        "image/jpeg": tail.endswith(b"\xff\xd9"),
        "image/png": tail.endswith(b"IEND\xaeB`\x82"),
    }
    return ends[content_type]


def clean_filename(name: str) -> str:
    """A file name without a path, control characters or leading dots (at most 200 characters)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*').strip().lstrip(".")
    return base[-200:] or "附件"


def case_papers(*, session: Session, actor: Actor, case_id: str) -> tuple[list[Document], list[Attachment]]:
    """The documents and attachments of a case the actor may see."""
    require_certified(actor, "查看案件文书和附件")
    case = cases.get_case(session=session, actor=actor, case_id=case_id)
    documents = list(
        session.scalars(select(Document).where(Document.case_id == case.id).order_by(Document.id))
    )
    attachments = list(
        session.scalars(select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id))
    )
    return documents, attachments


def get_document(*, session: Session, actor: Actor, document_id: int) -> Document:
    require_certified(actor, "查看案件文书")
    document = session.get(Document, document_id)
    if document is None or document.case_id is None:
        raise NotFound("找不到该文书", code="document_not_found")
    cases.get_case(session=session, actor=actor, case_id=document.case_id)
    return document


def read_document(
    *, session: Session, clock: Clock, actor: Actor, document_id: int, endpoint: str
) -> Document:
    """A document as a person reads it (text or PDF): the access rules, then one access-log row for its case."""
    document = get_document(session=session, actor=actor, document_id=document_id)
    views.record_access(
        session, clock=clock, actor=actor, endpoint=endpoint, case=session.get(Case, document.case_id)
    )
    return document


def pdf_response_headers(document: Document) -> dict[str, str]:
    """How a paper's PDF is served: shown in the browser, named by its number."""
    return {"Content-Disposition": f'inline; filename="document-{document.id}.pdf"'}


def pdf_bytes(document: Document) -> bytes:
    """The stored PDF of a paper (papers issued before PDFs were kept have none)."""
    if document.pdf is None:
        raise NotFound("该文书出具时尚未生成 PDF 版本，请打印网页版本", code="document_pdf_missing")
    return document.pdf


def get_attachment(*, session: Session, actor: Actor, attachment_id: int) -> Attachment:
    require_certified(actor, "查看案件附件")
    attachment = session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound("找不到该附件", code="attachment_not_found")
    cases.get_case(session=session, actor=actor, case_id=attachment.case_id)
    return attachment
