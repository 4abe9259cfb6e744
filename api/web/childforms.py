"""Children's files from the pages: open a file, change it (with a reason), both with the ID-number check.

The registry (``workflows/children/registry.py``) validates; the pages turn its field errors into Chinese
messages beside each field and answer a saved form with a redirect to the file (post/redirect/get).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from api.web.core import PageDep, WebRoute, verify_csrf
from api.web.formfields import iso_date
from api.web.tasks import FormDep
from workflows.children import registry
from workflows.infra.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from workflows.infra.models import Child, Place

router = APIRouter(route_class=WebRoute, include_in_schema=False, dependencies=[Depends(verify_csrf)])
CATEGORIES = (
    "留守儿童",
    "孤儿",
    "事实无人抚养儿童",
    "低保、特困等困难家庭儿童",
    "重度残疾儿童",
    "国家监护儿童",
    "其他困境儿童",
)
TEXT = registry.TEXT_FIELDS
PEOPLE = ("guardian", "carer")
PERSON_PARTS = registry.PERSON_PARTS


def _villages(page: PageDep) -> list[tuple[str, str]]:
    rows = page.session.scalars(
        select(Place)
        .where(Place.level == "village", Place.code.startswith(page.actor.jurisdiction))
        .order_by(Place.code)
    )
    return [(p.code, p.name) for p in rows]


def _values_of(child: Child) -> dict[str, Any]:
    values: dict[str, Any] = {k: getattr(child, k) or "" for k in TEXT}
    values["id_number"] = ""  # never put the full number into a form: left empty, it stays unchanged
    values["categories"] = list(child.categories or [])
    guardian = (child.guardians or [{}])[0]
    for who, entry in (("guardian", guardian), ("carer", child.carer or {})):
        for part in PERSON_PARTS:
            values[f"{who}_{part}"] = str((entry or {}).get(part) or "")
    return values


def _from_form(form: FormData) -> tuple[dict[str, Any], dict[str, Any]]:
    """(raw values to show again, data for the registry)."""
    values: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in TEXT}
    values["categories"] = [c for c in form.getlist("categories") if c in CATEGORIES]
    for who in PEOPLE:
        for part in PERSON_PARTS:
            values[f"{who}_{part}"] = str(form.get(f"{who}_{part}") or "").strip()
    data: dict[str, Any] = {k: values[k] for k in TEXT}
    data["birth_date"] = iso_date(values["birth_date"])
    data["id_number"] = values["id_number"].replace(" ", "").upper()
    data["categories"] = values["categories"]
    people = {who: {p: values[f"{who}_{p}"] for p in PERSON_PARTS if values[f"{who}_{p}"]} for who in PEOPLE}
    data["guardians"] = [people["guardian"]] if people["guardian"] else []
    data["carer"] = people["carer"] or None
    return values, data


def _form(
    page: PageDep,
    *,
    child: Child | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    message: str = "",
    status: int = 200,
) -> Response:
    return page.render(
        "child_form.html",
        status=status,
        title="修改儿童档案" if child else "新建儿童档案",
        child=child,
        values=values,
        errors=errors or {},
        message=message,
        villages=_villages(page),
        categories=CATEGORIES,
        genders=registry.GENDERS,
        households=registry.HOUSEHOLDS,
    )


def _person_errors(fields: dict[str, str]) -> dict[str, str]:
    """The registry names lists (guardians, carer); the form names the part a person can correct."""
    moved = dict(fields)
    if "guardians" in moved:
        moved["guardian_name"] = moved.pop("guardians")
    if "carer" in moved:
        moved["carer_name"] = moved.pop("carer")
    return moved


def _refused(exc: ValidationFailed | Conflict | PermissionDenied) -> tuple[dict[str, str], str]:
    details = exc.details if isinstance(exc.details, dict) else {}
    given = details.get("fields")
    fields: dict[str, str] = dict(given) if isinstance(given, dict) else {}
    if exc.code == "child_duplicate":
        fields = {"id_number": exc.message}
    message = "表单填写有误，请按提示修改后再保存。" if fields else exc.message
    return _person_errors(fields), message


def _keeper(page: PageDep) -> None:
    if not page.actor.has_any(*registry.KEEPERS):
        raise PermissionDenied("只有儿童主任、乡镇（街道）儿童督导员和县级民政部门可以建立或修改儿童档案")


@router.get("/children/new", response_class=HTMLResponse)
def new_child(page: PageDep) -> Response:
    _keeper(page)
    villages = _villages(page)
    return _form(page, child=None, values={"village_code": villages[0][0] if len(villages) == 1 else ""})


@router.post("/children/new", response_class=HTMLResponse)
def create_child(page: PageDep, form: FormDep) -> Response:
    _keeper(page)
    values, data = _from_form(form)
    data = {k: v for k, v in data.items() if v not in ("", None, [])}
    try:
        with page.session.begin_nested():
            child = registry.register(session=page.session, clock=page.clock, actor=page.actor, data=data)
    except (ValidationFailed, Conflict, PermissionDenied) as exc:
        fields, message = _refused(exc)
        return _form(page, child=None, values=values, errors=fields, message=message, status=422)
    return RedirectResponse(f"/children/{quote(child.id, safe='')}?saved=1", status_code=303)


def _child(page: PageDep, child_id: str) -> Child:
    _keeper(page)
    child = page.session.get(Child, child_id)
    if child is None or not page.actor.sees(child.village_code):
        raise NotFound("找不到该儿童档案", code="child_not_found")
    return child


@router.get("/children/{child_id}/edit", response_class=HTMLResponse)
def edit_child(child_id: str, page: PageDep) -> Response:
    child = _child(page, child_id)
    return _form(page, child=child, values=_values_of(child))


@router.post("/children/{child_id}/edit", response_class=HTMLResponse)
def update_child(child_id: str, page: PageDep, form: FormDep) -> Response:
    child = _child(page, child_id)
    values, data = _from_form(form)
    values["reason"] = str(form.get("reason") or "").strip()
    _, old = _from_form_values(_values_of(child))
    changes = {k: (v if v not in ("", []) else None) for k, v in data.items() if v != old.get(k)}
    if not data["id_number"]:
        changes.pop("id_number", None)  # left empty: the number on file stays
    if not changes:
        return RedirectResponse(f"/children/{quote(child.id, safe='')}", status_code=303)
    missing: dict[str, str] = {
        k: "此项为必填项" for k in ("name", "village_code") if k in changes and not changes[k]
    }
    if missing:
        message = "表单填写有误，请按提示修改后再保存。"
        return _form(page, child=child, values=values, errors=missing, message=message, status=422)
    try:
        with page.session.begin_nested():
            registry.update_file(
                session=page.session,
                clock=page.clock,
                actor=page.actor,
                child_id=child.id,
                changes=changes,
                reason=values["reason"],
            )
    except (ValidationFailed, Conflict, PermissionDenied) as exc:
        fields, message = _refused(exc)
        return _form(page, child=child, values=values, errors=fields, message=message, status=422)
    return RedirectResponse(f"/children/{quote(child.id, safe='')}?saved=1", status_code=303)


class _Values:
    """The stored values as a form would submit them (to find what a submission changed)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def get(self, key: str) -> Any:
        value = self.values.get(key)
        return value if not isinstance(value, list) else None

    def getlist(self, key: str) -> list[Any]:
        value = self.values.get(key)
        return list(value) if isinstance(value, list) else []


def _from_form_values(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return _from_form(_Values(values))  # type: ignore[arg-type]
