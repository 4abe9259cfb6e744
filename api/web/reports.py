"""New mandatory report (强制报告): the quickest path from what was seen to a case in the right hands."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from api.web import formfields
from api.web.core import PageDep, WebRoute, verify_csrf
from api.web.tasks import FormDep
from workflows.cases import lifecycle as cases
from workflows.forms.validator import START_FORM
from workflows.infra.errors import NotFound, PermissionDenied, ValidationFailed
from workflows.infra.models import Case, HumanTask, Place
from workflows.people.access import require_role
from workflows.people.roles import CASEWORK_ROLES
from workflows.processes import registry

router = APIRouter(route_class=WebRoute, include_in_schema=False, dependencies=[Depends(verify_csrf)])
PROCESS = "guardianship_intervention"
# What a person must say at once; everything else is optional and folded away.
QUICK = (
    "situation",
    "immediate_danger",
    "without_guardian",
    "child_known",
    "child_name",
    "location_description",
    "description",
    "reporter_type",
)
REPORTER_TYPE_OF_ROLE = {
    "village_director": "village_director",
    "village_committee": "village_committee",
    "police": "police",
    "youth_league": "hotline_12355",
}


def _schema(page: PageDep) -> dict[str, Any]:
    version = registry.published_version(page.session, PROCESS)
    return registry.parsed(page.session, version).forms.require(START_FORM).schema


def _villages(page: PageDep) -> list[tuple[str, str]]:
    """Where the actor may file: a village worker their own village, others a village under them."""
    code = page.actor.jurisdiction
    if len(code) == 12:
        place = page.session.get(Place, code)
        return [(code, place.name if place else code)]
    rows = page.session.scalars(
        select(Place).where(Place.level == "village", Place.code.startswith(code)).order_by(Place.code)
    )
    return [(p.code, p.name) for p in rows]


def _form(
    page: PageDep,
    *,
    values: formfields.Raw | None = None,
    errors: dict[str, str] | None = None,
    village: str = "",
    child_ref: str = "",
    case_id: str = "",
    message: str = "",
    status: int = 200,
) -> Response:
    schema = _schema(page)
    if values is None:
        values = {
            "reporter_type": next((v for r, v in REPORTER_TYPE_OF_ROLE.items() if r in page.actor.roles), "")
        }
    quick = [name for name in QUICK if name in schema.get("properties", {})]
    more = [name for name in schema.get("properties", {}) if name not in quick]
    quick_fields = formfields.fields_of(schema, values=values, errors=errors, only=quick)
    more_fields = formfields.fields_of(schema, values=values, errors=errors, only=more)
    return page.render(
        "report_new.html",
        status=status,
        title="新报告",
        intro=schema.get("description", ""),
        quick=quick_fields,
        more=more_fields,
        more_open=any(f.error or f.value for f in more_fields),
        villages=_villages(page),
        village=village,
        child_ref=child_ref,
        errors=errors or {},
        case_id=case_id or str(uuid.uuid4()),
        message=message,
    )


@router.get("/reports/new", response_class=HTMLResponse)
def new_report(page: PageDep) -> Response:
    require_role(page.actor, *CASEWORK_ROLES, action="报告案件")  # not administrators, not auditors
    return _form(page)


def _receipt(page: PageDep, case: Case, *, immediate_danger: bool) -> Response:
    """The receipt: reference, time and what happens next; no child's data and no labels."""
    if case.created_by != page.actor.username:
        raise NotFound("找不到该报告", code="case_not_found")
    next_tasks = page.session.scalars(
        select(HumanTask)
        .where(HumanTask.case_id == case.id, HumanTask.status == "ready")
        .order_by(HumanTask.created_at, HumanTask.id)
    ).all()
    return page.render(
        "report_receipt.html",
        title="报告回执",
        case=case,
        next_tasks=next_tasks,
        immediate_danger=immediate_danger,
    )


def _case_id(form: FormData) -> str:
    try:
        return str(uuid.UUID(str(form.get("case_id") or "")))
    except ValueError:
        return str(uuid.uuid4())


@router.post("/reports", response_class=HTMLResponse)
def file_report(page: PageDep, form: FormDep) -> Response:
    """Start the case in the chosen village; a repeated submit shows the first receipt, not a second case."""
    require_role(page.actor, *CASEWORK_ROLES, action="报告案件")
    schema = _schema(page)
    raw = formfields.raw_values(schema, form)
    data = formfields.to_data(schema, raw)
    village, child_ref = str(form.get("village") or ""), str(form.get("child_ref") or "").strip()[:64]
    case_id = _case_id(form)
    existing = page.session.get(Case, case_id)
    if existing is not None and existing.created_by == page.actor.username:
        return RedirectResponse(f"/reports/{existing.id}", status_code=303)
    if existing is not None:  # an id that is not this person's report: never show it, start afresh
        case_id = str(uuid.uuid4())

    def again(**kwargs: Any) -> Response:
        return _form(page, values=raw, village=village, child_ref=child_ref, case_id=case_id, **kwargs)

    if village not in dict(_villages(page)):
        return again(
            errors={"village": "请选择儿童所在的村（社区）"},
            status=422,
            message="表单填写有误，请按提示修改后再提交。",
        )
    try:
        with page.session.begin_nested():
            outcome = cases.start_case(
                session=page.session,
                clock=page.clock,
                actor=page.actor,
                process_key=PROCESS,
                data=data,
                jurisdiction_code=village,
                child_ref=child_ref or None,
                case_id=case_id,
            )
    except ValidationFailed as exc:
        fields = (exc.details or {}).get("fields") if isinstance(exc.details, dict) else None
        return again(
            errors=fields or {},
            status=422,
            message="表单填写有误，请按提示修改后再提交。" if fields else exc.message,
        )
    except PermissionDenied as exc:
        return again(status=403, message=exc.message)
    return RedirectResponse(f"/reports/{outcome.case.id}", status_code=303)


@router.get("/reports/{case_id}", response_class=HTMLResponse)
def receipt(case_id: str, page: PageDep) -> Response:
    """The receipt of one's own report, to reopen or print at any time (post/redirect/get)."""
    case = page.session.get(Case, case_id)
    if case is None:
        raise NotFound("找不到该报告", code="case_not_found")
    return _receipt(page, case, immediate_danger=bool((case.data or {}).get("immediate_danger")))
