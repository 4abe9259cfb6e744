"""Who read a child's file or a case, when, in which role; unusual reads flagged.

Flags: a read outside working hours (Beijing time, weekdays 08:00–18:00), and a read inside a burst (one
person reading more than ``BURST_FILES`` different children's files or cases within ``BURST_WINDOW``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from workflows.cases import lifecycle as cases
from workflows.cases.views import record_access
from workflows.infra.clock import CST, Clock
from workflows.infra.errors import NotFound
from workflows.infra.models import AccessLog, Case, Child
from workflows.people.access import Actor, require_role, require_visible
from workflows.people.directory import person_labels
from workflows.people.roles import role_label

REVIEWERS = ("auditor", "county_civil_affairs", "city_civil_affairs", "province_civil_affairs")
WORK_START, WORK_END = 8, 18
BURST_FILES = 20
BURST_WINDOW = timedelta(minutes=10)
MAX_ROWS = 500


@dataclass
class Read:
    at: datetime
    username: str
    who: str
    roles: str
    endpoint: str
    purpose: str
    case_id: str | None
    child_ref: str | None
    flags: list[str] = field(default_factory=list)


def outside_hours(at: datetime) -> bool:
    """Outside Beijing working hours: a weekend, or before 08:00 / from 18:00 on a weekday."""
    local = at.astimezone(CST)
    return local.weekday() >= 5 or not (WORK_START <= local.hour < WORK_END)


def _subject(row: AccessLog) -> str | None:
    return row.child_ref or row.case_id


def burst_instants(reads: list[AccessLog]) -> set[int]:
    """Ids of reads that fall in a window where one person read more than BURST_FILES different files."""
    flagged: set[int] = set()
    by_user: dict[str, list[AccessLog]] = {}
    for row in sorted(reads, key=lambda r: (r.username, r.at, r.id)):
        by_user.setdefault(row.username, []).append(row)
    for rows in by_user.values():
        window: deque[AccessLog] = deque()
        counts: dict[str, int] = {}
        for row in rows:
            window.append(row)
            if (s := _subject(row)) is not None:
                counts[s] = counts.get(s, 0) + 1
            while window and row.at - window[0].at > BURST_WINDOW:
                old = window.popleft()
                if (s := _subject(old)) is not None:
                    counts[s] -= 1
                    if not counts[s]:
                        del counts[s]
            if len(counts) > BURST_FILES:
                flagged.update(r.id for r in window)
    return flagged


def access_report(
    *,
    session: Session,
    clock: Clock,
    actor: Actor,
    endpoint: str,
    case_id: str | None = None,
    child_ref: str | None = None,
    days: int = 30,
) -> list[Read]:
    """The reads of one case or child's file (or, with neither, everything the actor oversees), newest first."""
    require_role(actor, *REVIEWERS, action="查看访问记录")
    since = clock.now() - timedelta(days=max(1, min(days, 366)))
    cond = AccessLog.at >= since
    if case_id:
        case = cases.get_case(session=session, actor=actor, case_id=case_id)
        record_access(session, clock=clock, actor=actor, endpoint=endpoint, case=case, purpose="查阅访问记录")
        cond &= AccessLog.case_id == case.id
    elif child_ref:
        child = session.get(Child, child_ref)
        if child is None:
            raise NotFound("找不到该儿童档案", code="child_not_found")
        require_visible(actor, child.village_code, "儿童档案")
        cond &= AccessLog.child_ref == child.id
    else:
        visible_cases = select(Case.id).where(Case.jurisdiction_code.startswith(actor.jurisdiction))
        visible_children = select(Child.id).where(Child.village_code.startswith(actor.jurisdiction))
        cond &= or_(AccessLog.case_id.in_(visible_cases), AccessLog.child_ref.in_(visible_children))
    rows = list(session.scalars(select(AccessLog).where(cond).order_by(AccessLog.at.desc()).limit(MAX_ROWS)))
    return _annotate(session, rows)


def _annotate(session: Session, rows: list[AccessLog]) -> list[Read]:
    if not rows:
        return []
    # the readers' other reads around these, so a burst across many files shows on each of them
    start, end = min(r.at for r in rows) - BURST_WINDOW, max(r.at for r in rows) + BURST_WINDOW
    users = {r.username for r in rows}
    around = list(
        session.scalars(
            select(AccessLog).where(AccessLog.username.in_(users), AccessLog.at >= start, AccessLog.at <= end)
        )
    )
    bursts = burst_instants(around)
    labels = person_labels(session, users)
    reads = []
    for row in rows:
        flags = []
        if outside_hours(row.at):
            flags.append("非工作时间")
        if row.id in bursts:
            flags.append(
                f"短时间内查阅大量档案（{int(BURST_WINDOW.total_seconds() // 60)} 分钟内超过 {BURST_FILES} 名儿童）"
            )
        roles = "、".join(role_label(r) for r in row.roles.split(",") if r) or "（未记录）"
        reads.append(
            Read(
                row.at,
                row.username,
                labels.get(row.username, row.username),
                roles,
                row.endpoint,
                row.purpose,
                row.case_id,
                row.child_ref,
                flags,
            )
        )
    return reads
