"""The compliance officers' pages: a case's history with its diagram and replay, verify, export."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import or_, select

from api.routes.compliance import signing_keys
from api.web import formfields
from api.web.core import TEMPLATES, PageDep, WebRoute, verify_csrf
from workflows.cases import compliance, history, replay
from workflows.children import access_report
from workflows.infra.clock import iso_utc
from workflows.infra.models import Case, Place
from workflows.ops.export import EXPORTERS, export_case

router = APIRouter(route_class=WebRoute, include_in_schema=False, dependencies=[Depends(verify_csrf)])
STATUS_LABELS = {"running": "办理中", "completed": "已办结", "cancelled": "已取消"}


@router.get("/cases/{case_id}/history", response_class=HTMLResponse)
def history_page(case_id: str, page: PageDep) -> Response:
    """The timeline, deadlines and the replayable diagram of a case (the read is logged)."""
    found = history.case_history(
        session=page.session, clock=page.clock, actor=page.actor, case_id=case_id, endpoint=page.endpoint
    )
    case = found["case"]
    fields = history.declared_fields(session=page.session, case=case)
    for entry in found["entries"]:
        entry["described"] = formfields.describe(entry["data"], fields)
        entry["corrections"] = [
            (
                str((fields.get(name) or {}).get("title") or name),
                formfields.show(name, fields.get(name), before) if before not in (None, "") else "（空）",
                formfields.show(name, fields.get(name), after),
            )
            for name, before, after in entry["corrections"]
        ]
    response = page.render(
        "history.html",
        title=f"案件 {case.case_no} 的历史",
        case=case,
        status_label=STATUS_LABELS.get(case.status, case.status),
        entries=found["entries"],
        deadlines=found["deadlines"],
        versions=found["versions"],
        may_verify=page.actor.has_any(*replay.VERIFIERS),
        may_export=page.actor.has_any(*EXPORTERS),
    )
    response.headers["Cache-Control"] = "no-store"  # a child's data: not kept in the browser's cache
    return response


@router.get("/cases/{case_id}/history/state")
def state_after(case_id: str, seq: int, page: PageDep) -> Response:
    """The case right after event ``seq``, replayed on the pinned version (JSON for the page's slider)."""
    state = history.state_after(
        session=page.session,
        clock=page.clock,
        actor=page.actor,
        case_id=case_id,
        seq=seq,
        endpoint=page.endpoint,
    )
    described = formfields.describe(state.pop("data"), state.pop("fields"))
    body: dict[str, Any] = {
        **state,
        "status_label": STATUS_LABELS.get(state["status"], state["status"]),
        "data": described,
        "open_tasks": [
            {**t, "due": formfields.when(t["due_at"]) if t["due_at"] else ""} for t in state["open_tasks"]
        ],
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/cases/{case_id}/history/diagram/{version}")
def diagram(case_id: str, version: str, page: PageDep) -> Response:
    """The BPMN file of a version this case ran on."""
    xml = history.diagram(session=page.session, actor=page.actor, case_id=case_id, version=version)
    return Response(xml, media_type="application/xml", headers={"Cache-Control": "private, max-age=3600"})


@router.post("/cases/{case_id}/history/verify", response_class=HTMLResponse)
def verify(case_id: str, page: PageDep) -> Response:
    """Run verify now and show the result in Chinese (the first diverging event)."""
    report = replay.verify(session=page.session, actor=page.actor, case_id=case_id)
    return TEMPLATES.TemplateResponse(
        page.request,
        "_verify_result.html",
        {
            "report": report,
            "checked_at": iso_utc(page.clock.now()),
            "event_label": history.EVENT_LABELS.get(report.event_type or "", report.event_type),
        },
    )


@router.get("/cases/{case_id}/history/export")
def export(case_id: str, page: PageDep) -> Response:
    """The signed export file for an outside reviewer (shouhu verify-export checks it offline)."""
    raw = export_case(
        session=page.session,
        clock=page.clock,
        actor=page.actor,
        keys=signing_keys(page.request),
        case_id=case_id,
    )
    return Response(
        raw,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="case-{case_id}.shouhu.json"'},
    )


@router.get("/compliance", response_class=HTMLResponse)
def overview_page(page: PageDep, place: str | None = None, q: str | None = None) -> Response:
    """Deadlines missed and cases open too long, per place one level down; each number links to its cases."""
    if q:
        found = page.session.scalar(
            select(Case).where(or_(Case.case_no == q.strip(), Case.business_key == q.strip()))
        )
        if found is not None and page.actor.sees(found.jurisdiction_code):
            return RedirectResponse(f"/cases/{found.id}/history", status_code=303)
    here, rows = compliance.overview(session=page.session, clock=page.clock, actor=page.actor, place=place)
    return page.render(
        "compliance.html",
        title="合规概览",
        here=here,
        rows=rows,
        metrics=compliance.METRICS,
        q=q or "",
        not_found=bool(q),
    )


@router.get("/compliance/cases", response_class=HTMLResponse)
def cases_behind_page(page: PageDep, place: str, metric: str) -> Response:
    """The cases behind one number of the overview, each linking to its history."""
    found = compliance.cases_behind(
        session=page.session, clock=page.clock, actor=page.actor, place=place, metric=metric
    )
    return page.render(
        "compliance_cases.html",
        title="合规概览明细",
        findings=found,
        metric_label=compliance.METRICS[metric],
        place=page.session.get(Place, place),
        place_code=place,
    )


@router.get("/compliance/access", response_class=HTMLResponse)
def access_page(page: PageDep, case: str | None = None, child: str | None = None, days: int = 30) -> Response:
    """Who read this case or child's file, when, in which role; unusual reads flagged."""
    reads = access_report.access_report(
        session=page.session,
        clock=page.clock,
        actor=page.actor,
        endpoint=page.endpoint,
        case_id=case,
        child_ref=child,
        days=days,
    )
    subject = page.session.get(Case, case) if case else None
    return page.render(
        "access_report.html",
        title="查阅记录",
        reads=reads,
        subject_case=subject,
        child=child,
        days=days,
        flagged=sum(1 for r in reads if r.flags),
    )
