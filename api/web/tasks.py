"""My tasks (待办), a task with its form, claim, drafts and completion; the case page."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from api.web import formfields
from api.web.core import COLOURS, PageDep, WebRoute, notifications, verify_csrf
from api.web.papers import case_papers
from workflows.cases import drafts, human_tasks, views
from workflows.cases.cards import case_facts
from workflows.cases.listing import COUNT_CAP
from workflows.cases.worklist import process_choices, worklist
from workflows.children.file_view import declared_fields, timeline_text
from workflows.infra.errors import ValidationFailed
from workflows.infra.models import Case, HumanTask

router = APIRouter(route_class=WebRoute, include_in_schema=False, dependencies=[Depends(verify_csrf)])
PAGE_SIZE = 20
IDEMPOTENCY_FIELD = "idempotency_key"


async def read_form(request: Request) -> FormData:
    """The submitted form (read once, in the event loop; the sync page functions then use it)."""
    return await request.form()


FormDep = Annotated[FormData, Depends(read_form)]


@router.get("/tasks", response_class=HTMLResponse)
def task_list(
    page: PageDep, process: str = "", colour: str = "", p: int = Query(1, ge=1, le=10_000)
) -> Response:
    colour = colour if colour in (*COLOURS, "none") else ""
    items, total = worklist(
        session=page.session,
        clock=page.clock,
        actor=page.actor,
        process_key=process or None,
        colour=colour or None,
        limit=PAGE_SIZE,
        offset=(p - 1) * PAGE_SIZE,
    )
    inbox = None
    if page.actor.certified:
        inbox = notifications.list_inbox(session=page.session, actor=page.actor, unread_only=True, limit=3)
    return page.render(
        "tasks.html",
        title="我的待办",
        items=items,
        facts=case_facts(page.session, [item.task.case_id for item in items]),
        total=f"{COUNT_CAP}+" if total > COUNT_CAP else total,
        p=p,
        pages=max((min(total, COUNT_CAP) + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        process=process,
        colour=colour,
        processes=process_choices(session=page.session),
        inbox=inbox,
    )


def _task_page(
    page: PageDep,
    task_id: str,
    *,
    values: formfields.Raw | None = None,
    errors: dict[str, str] | None = None,
    message: str = "",
    key: str | None = None,
    status: int = 200,
) -> Response:
    view = views.task_view(
        session=page.session, clock=page.clock, actor=page.actor, task_id=task_id, endpoint=page.endpoint
    )
    draft_at = None
    if values is None:
        draft = drafts.get_draft(session=page.session, actor=page.actor, task_id=task_id)
        if draft is not None and view["status"] == "ready":
            values, draft_at = draft.form_values, draft.updated_at
    declared = declared_fields(session=page.session, case_id=view["case_id"])
    return page.render(
        "task.html",
        steps=_earlier_steps(page, view["case_id"]),
        status=status,
        title=view["name"],
        task=view,
        fields=formfields.fields_of(view["form"], values=values, errors=errors),
        context=formfields.describe(view["case"]["data"], declared),
        message=message,
        idempotency_key=key or str(uuid.uuid4()),
        draft_at=draft_at,
    )


def _earlier_steps(page: PageDep, case_id: str) -> list[dict[str, Any]]:
    """The steps already done in the case (what was decided before, by whom), oldest first."""
    done = page.session.execute(
        select(HumanTask.name, HumanTask.completed_by, HumanTask.completed_at)
        .where(HumanTask.case_id == case_id, HumanTask.status == "completed")
        .order_by(HumanTask.completed_at, HumanTask.id)
    ).all()
    return [{"what": f"办结：{name}", "actor": who, "occurred_at": at} for name, who, at in done]


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(task_id: str, page: PageDep) -> Response:
    return _task_page(page, task_id)


@router.post("/tasks/{task_id}/claim")
def claim(task_id: str, page: PageDep) -> Response:
    human_tasks.claim(session=page.session, clock=page.clock, actor=page.actor, task_id=task_id)
    return RedirectResponse(f"/tasks/{task_id}", status_code=303)


@router.post("/tasks/{task_id}/unclaim")
def unclaim(task_id: str, page: PageDep) -> Response:
    human_tasks.unclaim(session=page.session, clock=page.clock, actor=page.actor, task_id=task_id)
    return RedirectResponse(f"/tasks/{task_id}", status_code=303)


def _submitted(page: PageDep, task_id: str, form: FormData) -> tuple[dict[str, Any], formfields.Raw]:
    task = human_tasks.get_task(session=page.session, actor=page.actor, task_id=task_id)
    schema = human_tasks.form_of(page.session, task).schema
    raw = formfields.raw_values(schema, form)
    return formfields.to_data(schema, raw), raw


@router.post("/tasks/{task_id}/draft", response_class=HTMLResponse)
def save_draft(task_id: str, page: PageDep, form: FormDep) -> Response:
    """Autosave (htmx, on change): keep what was typed; answer with a short status line.

    The first save claims an unclaimed task: starting to fill it in is the moment colleagues should see
    that someone is on it (an explicit claim button was a step people skipped, since completing works
    without it).
    """
    _, raw = _submitted(page, task_id, form)
    draft = drafts.save_draft(
        session=page.session, clock=page.clock, actor=page.actor, task_id=task_id, values=raw
    )
    claimed = ""
    task = human_tasks.get_task(session=page.session, actor=page.actor, task_id=task_id)
    if task.assignee is None and task.status == "ready":
        human_tasks.claim(session=page.session, clock=page.clock, actor=page.actor, task_id=task_id)
        claimed = "，此任务已由您认领"
    saved = formfields.when(draft.updated_at)[-5:]
    return HTMLResponse(f'<span class="ok">草稿已自动保存（{saved}）{claimed}</span>')


@router.post("/tasks/{task_id}/complete", response_class=HTMLResponse)
def complete(task_id: str, page: PageDep, form: FormDep) -> Response:
    """Submit the form; a validation error shows the form again with a Chinese message beside each field."""
    data, raw = _submitted(page, task_id, form)
    key = str(form.get(IDEMPOTENCY_FIELD) or "")[:128] or None
    try:
        with page.session.begin_nested():  # a refused completion leaves nothing behind but the draft
            human_tasks.complete(
                session=page.session,
                clock=page.clock,
                actor=page.actor,
                task_id=task_id,
                data=data,
                idempotency_key=key,
            )
    except ValidationFailed as exc:
        drafts.save_draft(
            session=page.session, clock=page.clock, actor=page.actor, task_id=task_id, values=raw
        )
        fields = (exc.details or {}).get("fields") if isinstance(exc.details, dict) else None
        return _task_page(
            page,
            task_id,
            values=raw,
            errors=fields or {},
            key=key,
            status=422,
            message="表单填写有误，请按提示修改后再提交。" if fields else exc.message,
        )
    drafts.discard_drafts(session=page.session, task_id=task_id)
    return RedirectResponse(f"/tasks/{task_id}/done", status_code=303)


@router.get("/tasks/{task_id}/done", response_class=HTMLResponse)
def task_done(task_id: str, page: PageDep) -> Response:
    """After completion (post/redirect/get): when it was done and what comes next; reopening is harmless."""
    task = human_tasks.get_task(session=page.session, actor=page.actor, task_id=task_id)
    if task.status != "completed" or task.completed_at is None:
        return RedirectResponse(f"/tasks/{task_id}", status_code=303)
    case = page.session.get(Case, task.case_id)
    assert case is not None
    following = page.session.scalars(
        select(HumanTask)
        .where(HumanTask.case_id == case.id, HumanTask.created_at >= task.completed_at)
        .order_by(HumanTask.created_at, HumanTask.id)
    ).all()
    result = {
        "completed_at": task.completed_at,
        "completed_by": task.completed_by,
        "next_tasks": [t for t in following if t.status == "ready"],
        "case_status": case.status,
        "case_id": case.id,
        "case_no": case.case_no,
    }
    return page.render("task_done.html", title="已办结", task=task, result=result)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(case_id: str, page: PageDep) -> Response:
    """A case: its data, open tasks and timeline; printable (every read is logged)."""
    view = views.case_view(
        session=page.session, clock=page.clock, actor=page.actor, case_id=case_id, endpoint=page.endpoint
    )
    events = views.history_view(
        session=page.session, clock=page.clock, actor=page.actor, case_id=case_id, endpoint=page.endpoint
    )
    declared = declared_fields(session=page.session, case_id=case_id)
    return page.render(
        "case.html",
        title=f"案件 {view['case_no']}",
        case=view,
        events=timeline_text(session=page.session, events=events),
        context=formfields.describe(view["data"], declared),
        papers=case_papers(page, [view]),
    )
