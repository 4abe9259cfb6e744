"""The compliance overview per place: statutory deadlines missed, and cases open past their expected duration.

Read from rows only (``human_tasks``, ``cases``, ``places``): a step with a due time that was finished after
it, or is still open past it, is a missed deadline. No child's personal data is shown, so no access-log row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from workflows.cases.history import span
from workflows.infra.clock import Clock
from workflows.infra.errors import ValidationFailed
from workflows.infra.models import Case, HumanTask, Place, ProcessDefinition
from workflows.people.access import JURISDICTION_LENGTHS, Actor, require_role, require_visible

OVERSEERS = ("auditor", "county_civil_affairs", "city_civil_affairs", "province_civil_affairs")

# Which steps each statutory deadline is measured on (BPMN ids of the bundled models).
DEADLINES: dict[str, tuple[str, frozenset[str]]] = {
    "police_response": (
        "24小时应急处置（公安出警、临时收留）",
        frozenset({"emergency_response_police", "take_in_child"}),
    ),
    "intake_review": ("受理核实", frozenset({"review_report"})),
    "visits": (
        "走访与回访",
        frozenset({"home_visit", "contact", "periodic_check", "arrange_home_monitoring", "follow_up_carer"}),
    ),
    "referral_replies": ("转介部门反馈", frozenset()),  # every ``*_reply`` step of the referral process
}
OVERDUE_CASES = "cases_overdue"
# How long a case of each process is expected to stay open (days): beyond it, the case is listed.
EXPECTED_DAYS = {
    "guardianship_intervention": 210,
    "referral": 45,
    "child_identification": 30,
    "entrusted_care": 400,
    "institution_transfer": 90,
    "protection_entrustment": 400,
    "quarterly_verification": 100,
    "risk_list_sharing": 60,
    "annual_file_check": 60,
    "benefit_transition": 200,
    "worker_onboarding": 120,
    "risk_visits": 400,
}
METRICS = {**{k: v[0] for k, v in DEADLINES.items()}, OVERDUE_CASES: "超过预期办理时长仍未办结的案件"}


def metric_of(process_key: str, bpmn_id: str) -> str | None:
    """The deadline category a step belongs to (None: not one the overview counts)."""
    if process_key == "referral" and bpmn_id.endswith("_reply"):
        return "referral_replies"
    return next((key for key, (_, ids) in DEADLINES.items() if bpmn_id in ids), None)


def _child_length(code: str) -> int:
    return next((n for n in JURISDICTION_LENGTHS if n > len(code)), len(code))


@dataclass
class Row:
    code: str
    name: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Finding:
    metric: str
    case_id: str
    case_no: str
    process_name: str
    code: str
    step: str
    due_at: datetime | None
    text: str


def _place(actor: Actor, place: str | None) -> str:
    require_role(actor, *OVERSEERS, action="查看合规概览")
    code = place or actor.jurisdiction
    if not code.isdigit() and code != "":
        raise ValidationFailed("行政区划代码应为数字", code="place_invalid")
    require_visible(actor, code, "地区")
    return code


def findings(*, session: Session, clock: Clock, actor: Actor, place: str | None = None) -> list[Finding]:
    """Every missed deadline and every case open too long, under ``place`` (default: the actor's own)."""
    code = _place(actor, place)
    now = clock.now()
    missed = and_(
        HumanTask.due_at.is_not(None),
        or_(
            and_(HumanTask.status == "completed", HumanTask.completed_at > HumanTask.due_at),
            and_(HumanTask.status == "ready", HumanTask.due_at < now),
        ),
    )
    rows = session.execute(
        select(HumanTask, Case.case_no, ProcessDefinition.name)
        .join(Case, Case.id == HumanTask.case_id)
        .outerjoin(ProcessDefinition, ProcessDefinition.key == Case.process_key)
        .where(HumanTask.jurisdiction_code.startswith(code), missed)
        .order_by(HumanTask.due_at)
    ).all()
    found = []
    for task, key, name in rows:
        if metric_of(task.process_key, task.bpmn_id) is None or task.due_at is None:
            continue
        late = (task.completed_at or now) - task.due_at
        text = f"超时 {span(late)} 完成" if task.status == "completed" else f"已逾期 {span(late)}，尚未完成"
        metric = metric_of(task.process_key, task.bpmn_id) or ""
        found.append(
            Finding(
                metric,
                task.case_id,
                key,
                name or task.process_key,
                task.jurisdiction_code,
                task.name,
                task.due_at,
                text,
            )
        )
    found.extend(_open_too_long(session, now, code))
    return found


def _open_too_long(session: Session, now: datetime, code: str) -> list[Finding]:
    result = []
    rows = session.execute(
        select(
            Case.id,
            Case.case_no,
            Case.process_key,
            Case.jurisdiction_code,
            Case.created_at,
            ProcessDefinition.name,
        )
        .outerjoin(ProcessDefinition, ProcessDefinition.key == Case.process_key)
        .where(Case.status == "running", Case.jurisdiction_code.startswith(code))
        .order_by(Case.created_at)
    ).all()
    for case_id, key, process_key, place, created, name in rows:
        days = EXPECTED_DAYS.get(process_key)
        if days is None or now - created <= timedelta(days=days):
            continue
        over = now - created - timedelta(days=days)
        result.append(
            Finding(
                OVERDUE_CASES,
                case_id,
                key,
                name or process_key,
                place,
                "整个案件",
                created + timedelta(days=days),
                f"预期 {days} 天内办结，已超出 {span(over)}",
            )
        )
    return result


def overview(
    *, session: Session, clock: Clock, actor: Actor, place: str | None = None
) -> tuple[Place | None, list[Row]]:
    """Counts per metric for each place one level below ``place`` (and the place's own total first)."""
    code = _place(actor, place)
    length = _child_length(code)
    names = (
        {p.code: p.name for p in session.scalars(select(Place).where(Place.parent_code == code))}
        if code
        else {p.code: p.name for p in session.scalars(select(Place).where(Place.level == "province"))}
    )
    total = Row(code, "合计", {m: 0 for m in METRICS})
    rows: dict[str, Row] = {c: Row(c, n, {m: 0 for m in METRICS}) for c, n in sorted(names.items())}
    for finding in findings(session=session, clock=clock, actor=actor, place=code):
        child = finding.code[:length]
        row = rows.setdefault(child, Row(child, child, {m: 0 for m in METRICS}))
        row.counts[finding.metric] += 1
        total.counts[finding.metric] += 1
    return session.get(Place, code) if code else None, [total, *rows.values()]


def cases_behind(*, session: Session, clock: Clock, actor: Actor, place: str, metric: str) -> list[Finding]:
    """The findings behind one number of the overview."""
    if metric not in METRICS:
        raise ValidationFailed("没有这项指标", code="metric_unknown")
    return [f for f in findings(session=session, clock=clock, actor=actor, place=place) if f.metric == metric]
