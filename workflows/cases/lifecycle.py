"""Case use cases: start, fire due timers, correct data, read history (keyword-only, no commit)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from workflows.cases import messages, start_facts
from workflows.cases.actions import Outcome, act, insert_new_case, load_case, process_of
from workflows.cases.numbers import next_case_no
from workflows.engine import CaseRun
from workflows.forms.validator import START_FORM
from workflows.infra.clock import CST, Clock, FixedClock
from workflows.infra.errors import NotFound, ValidationFailed
from workflows.infra.models import Case, CaseEvent, HumanTask
from workflows.log.events import GENESIS, NewEvent, events_of
from workflows.people.access import SYSTEM, Actor, require_certified, require_role, require_visible
from workflows.people.roles import CASEWORK_ROLES
from workflows.processes import registry

# Roles that follow every case of their place; other departments see only cases they are asked to act on.
CASE_READERS = (
    "village_director",
    "village_committee",
    "township_supervisor",
    "county_civil_affairs",
    "city_civil_affairs",
    "province_civil_affairs",
    "protection_center",
    "welfare_institution",
    "police",
    "court",
    "procuratorate",
    "auditor",
)
CORRECTORS = (
    "village_director",
    "township_supervisor",
    "county_civil_affairs",
    "city_civil_affairs",
    "protection_center",
)


def _business_key(process_key: str, case_id: str, now: datetime) -> str:
    prefix = "".join(part[0] for part in process_key.split("_")).upper()[:4]
    return f"{prefix}-{now.astimezone(CST):%Y%m%d}-{case_id.replace('-', '')[:12].upper()}"


def start_case(
    *,
    session: Session,
    clock: Clock,
    actor: Actor,
    process_key: str,
    data: dict[str, Any],
    jurisdiction_code: str,
    child_ref: str | None = None,
    parent_case_id: str | None = None,
    case_id: str | None = None,
) -> Outcome:
    """Start a case on the published version after validating ``data`` against its start form."""
    require_visible(actor, jurisdiction_code, "辖区")
    require_role(actor, *CASEWORK_ROLES, action="开启案件")  # not administrators, not auditors
    require_certified(actor, "开启案件")
    now = clock.now()
    version = registry.published_version(session, process_key)
    process = registry.parsed(session, version)
    start_form = process.forms.require(START_FORM)
    starters = start_form.schema.get("x-starters")
    if starters:
        require_role(actor, *starters, action=f"开启“{process.name}”案件")
    clean = start_form.validate(start_facts.fill(session, start_form.schema, data, jurisdiction_code))
    case_id = case_id or str(uuid.uuid4())
    run = CaseRun.start(process, case_id=case_id, data=clean, now=now)
    case = Case(
        id=case_id,
        business_key=_business_key(process_key, case_id, now),
        case_no=next_case_no(session, jurisdiction_code=jurisdiction_code, now=now),
        process_key=process_key,
        process_version_id=version.id,
        status="running",
        jurisdiction_code=jurisdiction_code,
        child_ref=child_ref,
        parent_case_id=parent_case_id,
        version=1,
        last_event_seq=0,
        last_event_hash=GENESIS,
        created_at=now,
        created_by=actor.username,
        updated_at=now,
    )
    payload = {
        "process_key": process_key,
        "version": version.content_hash,
        "data": clean,
        "jurisdiction_code": jurisdiction_code,
        "child_ref": child_ref,
        "parent_case_id": parent_case_id,
        "business_key": case.business_key,
        "case_no": case.case_no,
        "digest": run.digest(),
    }
    return insert_new_case(session, case, run, [NewEvent("case_started", actor.username, payload)], now=now)


@messages.starter
def _start_linked(
    session: Session, now: datetime, source: Case, case_id: str, process_key: str, data: Any
) -> None:
    """A ``start:<process>`` message opens a case in the source's place, for the same child, linked to it."""
    start_case(
        session=session,
        clock=FixedClock(now),
        actor=SYSTEM,
        case_id=case_id,
        process_key=process_key,
        data=data,
        jurisdiction_code=source.jurisdiction_code,
        child_ref=source.child_ref,
        parent_case_id=source.id,
    )


def fire_due_timers(*, session: Session, clock: Clock, case_id: str) -> Outcome | None:
    """Fire the timers of one case that are due now (a no-op when none is due)."""
    now = clock.now()
    case = load_case(session, case_id)
    if case.status != "running" or case.next_due_at is None or case.next_due_at >= now:
        return None
    return act(session, case_id=case_id, now=now, actor="system", step=lambda c, r, at: [])


def due_cases(
    *, session: Session, clock: Clock, limit: int = 500, after: tuple[datetime, str] | None = None
) -> list[tuple[datetime, str]]:
    """(due instant, id) of running cases whose earliest timer is due, in that order (by the indexed
    due-time column), starting after ``after`` (the last case of the previous batch)."""
    stmt = select(Case.next_due_at, Case.id).where(Case.status == "running", Case.next_due_at < clock.now())
    if after is not None:
        stmt = stmt.where(
            or_(Case.next_due_at > after[0], and_(Case.next_due_at == after[0], Case.id > after[1]))
        )
    return [(due, cid) for due, cid in session.execute(stmt.order_by(Case.next_due_at, Case.id).limit(limit))]


def send_message(
    *, session: Session, clock: Clock, actor: Actor, case_id: str, name: str, payload: Any
) -> Outcome:
    """Deliver a message to a case waiting for it; only roles that work in the case's process may send one."""
    if payload is not None and not isinstance(payload, dict):
        raise ValidationFailed("消息内容必须是表单对象", code="message_payload_invalid")

    def check(case: Case) -> None:
        require_visible(actor, case.jurisdiction_code)
        require_certified(actor, "向案件发送消息")
        lanes = {t.lane for t in process_of(session, case).user_tasks.values() if t.lane}
        require_role(actor, *sorted(lanes), action="向该案件发送消息")

    def step(case: Case, run: CaseRun, at: datetime) -> list[NewEvent]:
        run.receive(name, payload, now=at)
        return [
            NewEvent(
                "message_received", actor.username, {"name": name, "payload": payload, "digest": run.digest()}
            )
        ]

    return act(session, case_id=case_id, now=clock.now(), actor=actor.username, step=step, check=check)


def correct_data(
    *, session: Session, clock: Clock, actor: Actor, case_id: str, changes: dict[str, Any], reason: str
) -> Outcome:
    """Correct submitted values with a reason: a new event; the original submission stays in the log."""
    require_role(actor, *CORRECTORS, action="更正案件数据")
    if not reason or not reason.strip():
        raise ValidationFailed(
            "更正必须填写理由", code="reason_required", details={"fields": {"reason": "此项为必填项"}}
        )
    if not changes:
        raise ValidationFailed("没有要更正的内容", code="changes_required")

    def check(case: Case) -> None:
        require_visible(actor, case.jurisdiction_code)
        require_certified(actor, "更正案件数据")

    def step(case: Case, run: CaseRun, at: datetime) -> list[NewEvent]:
        declared = process_of(session, case).forms.declared_fields()
        errors = {}
        for name, value in changes.items():
            schema = declared.get(name)
            if schema is None or name.startswith("_"):
                errors[name] = "流程表单中没有这一项，不能更正"
            elif not Draft202012Validator(schema).is_valid(value):
                errors[name] = f"“{schema.get('title', name)}”的值不符合表单要求"
        if errors:
            raise ValidationFailed("更正内容有误", code="correction_invalid", details={"fields": errors})
        current = run.data()
        previous = {name: current.get(name) for name in changes}
        run.correct(dict(changes), now=at)
        return [
            NewEvent(
                "data_corrected",
                actor.username,
                {"changes": changes, "previous": previous, "reason": reason.strip(), "digest": run.digest()},
            )
        ]

    return act(session, case_id=case_id, now=clock.now(), actor=actor.username, step=step, check=check)


def get_case(*, session: Session, actor: Actor, case_id: str) -> Case:
    """A case the actor may see: inside their jurisdiction and, for departments, one they were asked to act on."""
    case = load_case(session, case_id)
    require_visible(actor, case.jurisdiction_code)
    require_certified(actor, "查看案件")
    if not actor.has_any(*CASE_READERS):
        involved = session.scalar(
            select(HumanTask.id)
            .where(HumanTask.case_id == case.id, HumanTask.role.in_(sorted(actor.roles)))
            .limit(1)
        )
        if involved is None:
            raise NotFound("找不到该案件", code="case_not_found")
    return case


def history(*, session: Session, actor: Actor, case_id: str) -> list[CaseEvent]:
    """The case's log, oldest first."""
    get_case(session=session, actor=actor, case_id=case_id)
    return events_of(session, case_id)
