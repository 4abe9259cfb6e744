"""Read models for the caseworkers' pages: the worklist with risk colours, and the supervisor's overview.

Both read only rows (``human_tasks``, ``cases``, ``places``), never a workflow, and show no child's
personal data (business keys, task names, colours, counts), so they write no access-log rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from workflows.cases.human_tasks import work_branches, work_filter
from workflows.cases.listing import bounded_count, page_rows
from workflows.infra.clock import Clock
from workflows.infra.models import Case, HumanTask, Place, ProcessDefinition
from workflows.infra.overview_columns import RISK_COLOURS, place_groups, place_match, ready
from workflows.infra.place_counts import PlaceCaseCount
from workflows.people.access import Actor, require_role
from workflows.people.staffing import EXTRA_DIRECTOR_ABOVE, VillageStaffing, village_staffing

COLOURS = RISK_COLOURS
OVERVIEW_ROLES = (
    "township_supervisor",
    "county_civil_affairs",
    "city_civil_affairs",
    "province_civil_affairs",
)


def risk_colour_of() -> Any:
    """A case's risk colour: the column kept with its data (one of ``COLOURS``, or NULL for 未分级)."""
    return Case.risk_colour


@dataclass
class WorkItem:
    task: HumanTask
    case_no: str
    process_name: str
    risk_colour: str | None
    overdue: bool


def worklist(
    *,
    session: Session,
    clock: Clock,
    actor: Actor,
    process_key: str | None = None,
    colour: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[WorkItem], int]:
    """The tasks ``human_tasks.list_tasks`` gives the actor, with case colours and a colour filter.

    The total is counted up to ``listing.COUNT_CAP + 1`` (more than the cap: show "1000+").
    """
    branches = work_branches(session, actor)
    if branches is None:
        return [], 0
    extra = work_filter(actor, process_key=process_key)
    colour_expr = risk_colour_of()
    if colour == "none":
        extra &= colour_expr.is_(None)
    elif colour:
        extra &= colour_expr == colour

    def build(cond: Any) -> Any:
        return (
            select(HumanTask, Case.case_no, colour_expr, ProcessDefinition.name)
            .join(Case, Case.id == HumanTask.case_id)
            .outerjoin(ProcessDefinition, ProcessDefinition.key == HumanTask.process_key)
            .where(cond)
        )

    rows = page_rows(
        session, branches, build, extra=extra, limit=min(max(limit, 1), 200), offset=max(offset, 0)
    )
    join = (lambda stmt: stmt.join(Case, Case.id == HumanTask.case_id)) if colour else None
    total = bounded_count(session, branches, extra=extra, join=join)
    now = clock.now()
    items = [
        WorkItem(
            task, key, name or task.process_key, colour_value, task.due_at is not None and task.due_at < now
        )
        for task, key, colour_value, name in rows
    ]
    return items, total


def process_choices(*, session: Session) -> list[tuple[str, str]]:
    """(key, Chinese name) of every process definition, for filters and menus."""
    rows = session.execute(
        select(ProcessDefinition.key, ProcessDefinition.name).order_by(ProcessDefinition.key)
    )
    return [(key, name) for key, name in rows]


@dataclass
class PlaceRow:
    code: str
    name: str
    parent_name: str
    colours: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLOURS, 0))
    running: int = 0
    unrated: int = 0  # 未分级: running cases without a colour, so the colours add up to ``running``
    overdue_tasks: int = 0
    overdue_visits: int = 0
    staffing: VillageStaffing | None = None  # children in care and directors (003 §五(五)16)

    @property
    def behind(self) -> int:
        return self.overdue_tasks + self.overdue_visits

    @property
    def needs_extra_director(self) -> bool:
        return self.staffing is not None and self.staffing.needs_extra_director


@dataclass
class Overview:
    rows: list[PlaceRow]
    has_visits: bool
    as_of: datetime
    extra_director_above: int = EXTRA_DIRECTOR_ABOVE


def visit_condition() -> Any:
    """Home visits and contacts of the risk-colour tracking (P5), and any task named as a visit."""
    return HumanTask.bpmn_id.contains("visit") | (
        (HumanTask.process_key == "risk_visits") & HumanTask.bpmn_id.in_(("home_visit", "contact"))
    )


# The running cases are read from their counts per village and colour (infra/place_counts.py: one row per
# village and colour, kept by triggers), the overdue tasks from one index range of the area, already in the
# order of their groups (infra/overview_columns.py).


def running_counts(prefix: str) -> Select[Any]:
    """(village, colour or '' for 未分级, running cases) of the area."""
    return select(PlaceCaseCount.jurisdiction_code, PlaceCaseCount.risk_colour, PlaceCaseCount.running).where(
        PlaceCaseCount.running > 0, *place_match(PlaceCaseCount, prefix)
    )


def overdue_counts(prefix: str, now: datetime) -> Select[Any]:
    """(village, is a visit, overdue ready tasks) of the area, one row per village and step."""
    return (
        select(HumanTask.jurisdiction_code, visit_condition(), func.count())
        .where(ready(HumanTask), HumanTask.due_at < now, *place_match(HumanTask, prefix))
        .group_by(*place_groups(HumanTask), HumanTask.process_key, HumanTask.bpmn_id)
    )


def overview(*, session: Session, clock: Clock, actor: Actor) -> Overview:
    """Per village in the jurisdiction: running cases by colour and overdue work, most behind first."""
    require_role(actor, *OVERVIEW_ROLES, action="查看辖区概览")
    now, prefix = clock.now(), actor.jurisdiction
    places = {p.code: p for p in session.scalars(select(Place).where(Place.code.startswith(prefix)))}
    rows: dict[str, PlaceRow] = {}

    def row(code: str) -> PlaceRow:
        if code not in rows:
            place = places.get(code)
            parent = places.get(place.parent_code or "") if place else None
            rows[code] = PlaceRow(code, place.name if place else code, parent.name if parent else "")
        return rows[code]

    for code, place in places.items():
        if place.level == "village":
            row(code)
    for code, figures in village_staffing(session, prefix).items():
        if code in rows or figures.children_in_care:
            row(code).staffing = figures
    for code, colour, count in session.execute(running_counts(prefix)):
        target = row(code)
        target.running += count
        if colour in target.colours:
            target.colours[colour] += count
        else:
            target.unrated += count
    for code, visit, count in session.execute(overdue_counts(prefix, now)):
        if visit:
            row(code).overdue_visits += count
        else:
            row(code).overdue_tasks += count
    has_visits = any(r.overdue_visits for r in rows.values()) or _any_visit(session, prefix)
    ordered = sorted(
        rows.values(),
        key=lambda r: (-r.behind, -r.needs_extra_director, -r.colours["red"], -r.running, r.code),
    )
    return Overview(ordered, has_visits, now)


def _any_visit(session: Session, prefix: str) -> bool:
    """Whether the area has a visit task at all: an open one found in the index, else any in its history."""
    is_visit = visit_condition()
    for cond in (
        (ready(HumanTask), *place_match(HumanTask, prefix)),
        (HumanTask.jurisdiction_code.startswith(prefix),),
    ):
        if session.scalar(select(HumanTask.bpmn_id).where(is_visit, *cond).limit(1)) is not None:
            return True
    return False
