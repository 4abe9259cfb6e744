"""我的案件: the cases a person reported, worked on, or follows in their area; found by number or child's name.

A search by a child's name reads children's data, so it writes one access-log row (the name itself is not
logged); the results show masked names only (``cards``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from workflows.cases.cards import CaseFacts, case_facts
from workflows.cases.lifecycle import CASE_READERS
from workflows.cases.views import record_access
from workflows.cases.worklist import OVERVIEW_ROLES, risk_colour_of, visit_condition
from workflows.infra.clock import Clock
from workflows.infra.models import Case, HumanTask
from workflows.people.access import Actor, require_role

SCOPES = {"reported": "我报告的", "worked": "我办理的", "area": "辖区内"}
STATUSES = {"running": "办理中", "completed": "已办结", "cancelled": "已取消"}
COLOURS = ("red", "yellow", "blue", "green", "none")


@dataclass(frozen=True)
class CaseQuery:
    scope: str = "area"
    text: str = ""
    status: str = ""
    colour: str = ""
    village: str = ""  # a place code under the actor's jurisdiction (the overview's links)


@dataclass
class CaseRow:
    id: str
    case_no: str
    status: str
    risk_colour: str | None
    updated_at: Any
    facts: CaseFacts | None


def _scope(actor: Actor, scope: str) -> Any:
    if scope == "reported":
        return Case.created_by == actor.username
    worked = select(HumanTask.case_id).where(
        or_(HumanTask.completed_by == actor.username, HumanTask.assignee == actor.username)
    )
    if scope == "worked" or not actor.has_any(*CASE_READERS):
        return Case.id.in_(worked)
    return Case.jurisdiction_code.startswith(actor.jurisdiction)


def _text(text: str) -> Any:
    """A case number (whole or its tail: 000123, 2026-000123), the internal key, or a child's name."""
    pattern = f"%{text.replace('%', '').replace('_', '')}"
    by_name = func.coalesce(Case.data["child_name"].as_string(), "")
    return or_(
        Case.case_no.like(pattern),
        Case.case_no == text,
        Case.business_key == text.upper(),
        by_name == text,
        by_name.like(f"%{text.replace('%', '').replace('_', '')}%"),
    )


def find_cases(
    *,
    session: Session,
    clock: Clock,
    actor: Actor,
    query: CaseQuery,
    endpoint: str,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[CaseRow], int]:
    """The actor's cases of one scope, filtered; always within the actor's jurisdiction."""
    cond = Case.jurisdiction_code.startswith(actor.jurisdiction) & _scope(actor, query.scope)
    text = query.text.strip()[:64]
    if text:
        cond &= _text(text)
        if not any(ch.isdigit() for ch in text):  # a name: a read of children's data
            record_access(session, clock=clock, actor=actor, endpoint=endpoint, purpose="按儿童姓名查找案件")
    if query.village.isdigit() and query.village.startswith(actor.jurisdiction):
        cond &= Case.jurisdiction_code.startswith(query.village)
    if query.status in STATUSES:
        cond &= Case.status == query.status
    colour = risk_colour_of()
    if query.colour == "none":  # as the overview counts 未分级: no colour, or none of the four
        cond &= or_(colour.is_(None), colour.not_in(COLOURS[:4]))
    elif query.colour in COLOURS:
        cond &= colour == query.colour
    total = session.scalar(select(func.count()).select_from(Case).where(cond)) or 0
    rows = session.execute(
        select(Case.id, Case.case_no, Case.status, colour, Case.updated_at)
        .where(cond)
        .order_by(Case.updated_at.desc(), Case.id)
        .limit(min(max(limit, 1), 100))
        .offset(max(offset, 0))
    ).all()
    facts = case_facts(session, [r[0] for r in rows])
    return [CaseRow(r[0], r[1], r[2], r[3], r[4], facts.get(r[0])) for r in rows], int(total)


@dataclass
class OverdueTask:
    task: HumanTask
    case_no: str
    facts: CaseFacts | None


def overdue_tasks(
    *, session: Session, clock: Clock, actor: Actor, village: str, visits: bool, limit: int = 100
) -> list[OverdueTask]:
    """The overdue tasks (or visits) of one place, most overdue first: what the overview counted."""
    require_role(actor, *OVERVIEW_ROLES, action="查看辖区概览")
    if not village.isdigit() or not village.startswith(actor.jurisdiction):
        village = actor.jurisdiction
    kind = visit_condition()
    rows = session.execute(
        select(HumanTask, Case.case_no)
        .join(Case, Case.id == HumanTask.case_id)
        .where(
            HumanTask.status == "ready",
            HumanTask.due_at < clock.now(),
            HumanTask.jurisdiction_code.startswith(village),
            kind if visits else ~kind,
        )
        .order_by(HumanTask.due_at, HumanTask.id)
        .limit(limit)
    ).all()
    facts = case_facts(session, [t.case_id for t, _ in rows])
    return [OverdueTask(task, case_no, facts.get(task.case_id)) for task, case_no in rows]
