"""A child's file (一人一档): basic data, guardians and carer, categories, cases, papers, timeline; printable.

When the child registry (``workflows/children/registry.py``) holds a file with this reference, its data and work log
come first; the cases that carry the same ``child_ref`` are always read through ``views`` (logged).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from api.web import formfields
from api.web.core import PageDep, WebRoute, verify_csrf
from api.web.papers import case_papers
from workflows.cases import views
from workflows.children import registry
from workflows.children.file_view import child_file, timeline_text
from workflows.children.finder import find_children
from workflows.infra.clock import iso_utc
from workflows.infra.errors import PermissionDenied, ValidationFailed
from workflows.infra.models import AccessLog, Case, Child

router = APIRouter(route_class=WebRoute, include_in_schema=False, dependencies=[Depends(verify_csrf)])
RECORD_LABELS = {
    "child_registered": "建立档案",
    "child_updated": "修改档案",
    "child_visit": "走访",
    "child_assistance": "帮扶",
    "child_problem": "发现问题",
    "child_solution": "解决措施",
    "child_note": "工作记录",
    "child_case_linked": "关联案件",
    "child_merged_in": "合并档案（并入）",
    "child_merged_away": "合并档案（已并入其他档案）",
}


@router.get("/children", response_class=HTMLResponse)
def child_index(page: PageDep, q: str = Query("", max_length=64), ref: str = "") -> Response:
    """The files of my area by name, searched by name, file number or ID number; children of recent cases."""
    text = (q or ref).strip()
    if text and (page.session.get(Child, text) is not None or _case_child(page, text)):
        return RedirectResponse(f"/children/{quote(text, safe='')}", status_code=303)
    files: list[Any] = []
    total = 0
    if page.actor.has_any(*registry.READERS):
        files, total = find_children(
            session=page.session,
            clock=page.clock,
            actor=page.actor,
            text=text,
            endpoint=page.endpoint,
            limit=100,
        )
    if text and len(files) == 1:
        return RedirectResponse(f"/children/{quote(files[0].id, safe='')}", status_code=303)
    summaries, _ = views.case_list(session=page.session, actor=page.actor, limit=200)
    known = {f.id for f in files}
    recent: dict[str, dict[str, str | None]] = {}
    for case in summaries if not text else []:
        if case["child_ref"] and case["child_ref"] not in recent and case["child_ref"] not in known:
            recent[case["child_ref"]] = {
                "case_no": case["case_no"],
                "risk_colour": case["risk_colour"],
                "updated_at": case["updated_at"],
            }
    return page.render(
        "children.html",
        title="儿童档案",
        recent=recent,
        files=files,
        total=total,
        q=text,
        keeper=page.actor.has_any(*registry.KEEPERS),
    )


def _case_child(page: PageDep, ref: str) -> bool:
    """A child known only from cases (no registry file yet), by the reference the cases carry."""
    return (
        page.session.scalar(
            select(Case.id)
            .where(Case.child_ref == ref, Case.jurisdiction_code.startswith(page.actor.jurisdiction))
            .limit(1)
        )
        is not None
    )


def _person(entry: Any) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    relation = f"（{entry['relation']}）" if entry.get("relation") else ""
    phone = f" {entry['phone']}" if entry.get("phone") else ""
    return f"{entry.get('name', '')}{relation}{phone}"


def _registered(page: PageDep, child_ref: str, reason: str | None) -> dict[str, Any] | None:
    """The registry's file for this reference (read logged), with the full ID number only for a reason."""
    if page.session.get(Child, child_ref) is None:  # a report about a child not yet registered
        return None
    record = registry.file_view(
        session=page.session, clock=page.clock, actor=page.actor, child_id=child_ref, endpoint=page.endpoint
    )
    data = dict(record.data)
    if reason is not None:
        data["id_number"] = registry.reveal_id_number(
            session=page.session,
            clock=page.clock,
            actor=page.actor,
            child_id=child_ref,
            reason=reason,
            endpoint=page.endpoint,
        )
    basic = [
        ("档案编号", data.get("file_no")),
        ("姓名", data.get("name")),
        ("性别", registry.GENDERS.get(data.get("gender") or "", data.get("gender"))),
        ("出生日期", formfields.day(data.get("birth_date"))),
        ("公民身份号码", data.get("id_number")),
        ("户口性质", registry.HOUSEHOLDS.get(data.get("household") or "", data.get("household"))),
        ("住址", data.get("address")),
    ]
    people = [("监护人", _person(g)) for g in data.get("guardians") or []]
    if data.get("carer"):
        people.append(("受委托照护人", _person(data["carer"])))
    log = [
        {
            "occurred_at": iso_utc(r.occurred_at),
            "seq": r.seq,
            "case_no": "",
            "actor": r.actor,
            "what": RECORD_LABELS.get(r.type, r.type)
            + (f"：{r.payload['text']}" if r.payload.get("text") else "")
            + (f"（理由：{r.payload['reason']}）" if r.payload.get("reason") else ""),
        }
        for r in record.records
    ]
    return {
        "file_no": data.get("file_no"),
        "basic": [(k, str(v)) for k, v in basic if v],
        "people": people,
        "categories": [("类别", "、".join(data.get("categories") or []))] if data.get("categories") else [],
        "colour": data.get("risk_colour"),
        "log": log,
        "notes": [("备注", data["notes"])] if data.get("notes") else [],
        "id_number": data.get("id_number"),
        "masked": reason is None,
    }


def _file_page(
    page: PageDep,
    child_ref: str,
    *,
    reason: str | None = None,
    status: int = 200,
    error: str = "",
    saved: bool = False,
) -> Response:
    registered = _registered(page, child_ref, reason)
    record = child_file(
        session=page.session,
        clock=page.clock,
        actor=page.actor,
        child_ref=child_ref,
        endpoint=page.endpoint,
        reveal_reason=reason if registered is None else None,
        require_cases=registered is None,
    )
    data, fields = record["data"], record["fields"]
    shown = set(record["basic"]) | set(record["categories"]) | set(record["people"])
    # the reporter is protected: never part of a child's file, which may be printed and handed on
    shown |= {k for k, schema in fields.items() if schema.get("x-confidential")}
    context: dict[str, Any] = {
        "basic": formfields.describe(data, fields, record["basic"], unmask=record["revealed"]),
        "categories": formfields.describe(
            data, fields, [c for c in record["categories"] if c != "risk_colour"]
        ),
        "people": formfields.describe(data, fields, record["people"]),
        "other": formfields.describe(data, fields, [k for k in data if k not in shown]),
        "colour": data.get("risk_colour"),
        "id_number": data.get("child_id_number"),
        "revealed": record["revealed"],
        "file_no": None,
    }
    timeline = timeline_text(session=page.session, events=record["timeline"])
    if registered is not None:
        context.update(
            basic=registered["basic"],
            people=registered["people"] + context["people"],
            categories=registered["categories"] + context["categories"],
            other=registered["notes"] + context["other"],
            file_no=registered["file_no"],
            colour=registered["colour"] or context["colour"],
            id_number=registered["id_number"],
            revealed=not registered["masked"],
        )
        timeline = sorted(timeline + registered["log"], key=lambda e: e["occurred_at"], reverse=True)
    return page.render(
        "child.html",
        status=status,
        title="儿童档案",
        record=record,
        timeline=timeline,
        papers=case_papers(page, record["cases"]),
        reveal_error=error,
        saved=saved,
        editable=registered is not None and page.actor.has_any(*registry.KEEPERS),
        **context,
    )


REVEAL_PREFIXES = ("查看身份证号：", "查看完整身份证号：")  # registry file; a case-only child
REVEAL_MINUTES = 10


def _reveal_reason(page: PageDep, child_ref: str, grant: int | None) -> str | None:
    """The reason of this person's own reveal of this file a few minutes ago (access-log row ``grant``)."""
    row = page.session.get(AccessLog, grant) if grant else None
    if (
        row is None
        or row.username != page.actor.username
        or row.child_ref != child_ref
        or not row.purpose.startswith(REVEAL_PREFIXES)
        or row.at < page.clock.now() - timedelta(minutes=REVEAL_MINUTES)
    ):
        return None
    return row.purpose.split("：", 1)[1]


@router.get("/children/{child_ref}", response_class=HTMLResponse)
def child_page(child_ref: str, page: PageDep, shown: int | None = None, saved: int = 0) -> Response:
    """The file; after a reveal (``shown``) the full number again for a few minutes, each showing logged."""
    reason = _reveal_reason(page, child_ref, shown)
    return _file_page(page, child_ref, reason=reason, saved=bool(saved))


@router.post("/children/{child_ref}/reveal", response_class=HTMLResponse)
def reveal_id(child_ref: str, page: PageDep, reason: Annotated[str, Form()] = "") -> Response:
    """Reveal the full ID number for a stated reason (access log), then show it by post/redirect/get."""
    try:
        with page.session.begin_nested():
            _file_page(page, child_ref, reason=reason)
    except (ValidationFailed, PermissionDenied) as exc:
        return _file_page(
            page, child_ref, status=422 if isinstance(exc, ValidationFailed) else 403, error=exc.message
        )
    grant = page.session.scalar(
        select(AccessLog.id)
        .where(AccessLog.username == page.actor.username, AccessLog.child_ref == child_ref)
        .where(
            AccessLog.purpose.startswith(REVEAL_PREFIXES[0])
            | AccessLog.purpose.startswith(REVEAL_PREFIXES[1])
        )
        .order_by(AccessLog.id.desc())
        .limit(1)
    )
    return RedirectResponse(f"/children/{quote(child_ref, safe='')}?shown={grant}", status_code=303)
