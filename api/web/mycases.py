"""我的案件: the cases I reported, worked on, or follow in my area, found by number, child's name, status, colour."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

from api.web.core import PageDep, WebRoute, verify_csrf
from workflows.cases.lifecycle import CASE_READERS
from workflows.cases.search import COLOURS, SCOPES, STATUSES, CaseQuery, find_cases, overdue_tasks
from workflows.infra.models import Place

router = APIRouter(route_class=WebRoute, include_in_schema=False, dependencies=[Depends(verify_csrf)])
PAGE_SIZE = 20


@router.get("/cases", response_class=HTMLResponse)
def my_cases(
    page: PageDep,
    scope: str = "",
    q: str = Query("", max_length=64),
    status: str = "",
    colour: str = "",
    village: str = Query("", max_length=12),
    p: int = Query(1, ge=1, le=10_000),
) -> Response:
    """Three scopes (a department that only acts on request has no "area"); the area is the default."""
    reader = page.actor.has_any(*CASE_READERS)
    scopes = {k: v for k, v in SCOPES.items() if reader or k != "area"}
    scope = scope if scope in scopes else ("area" if reader else "worked")
    query = CaseQuery(
        scope=scope,
        text=q,
        status=status if status in STATUSES else "",
        colour=colour if colour in COLOURS else "",
        village=village,
    )
    rows, total = find_cases(
        session=page.session,
        clock=page.clock,
        actor=page.actor,
        query=query,
        endpoint=page.endpoint,
        limit=PAGE_SIZE,
        offset=(p - 1) * PAGE_SIZE,
    )
    return page.render(
        "cases.html",
        title="我的案件",
        place=page.session.get(Place, village) if village else None,
        rows=rows,
        total=total,
        query=query,
        scopes=scopes,
        statuses=STATUSES,
        p=p,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
    )


@router.get("/overview/overdue", response_class=HTMLResponse)
def overdue_list(page: PageDep, village: str = Query("", max_length=12), visits: int = 0) -> Response:
    """The overdue tasks (or visits) an overview number counts, most overdue first; each opens its case."""
    items = overdue_tasks(
        session=page.session, clock=page.clock, actor=page.actor, village=village, visits=bool(visits)
    )
    place = page.session.get(Place, village)
    return page.render(
        "overdue.html",
        title="逾期走访" if visits else "逾期待办",
        items=items,
        place=place.name if place else "",
        now=page.clock.now(),
    )
