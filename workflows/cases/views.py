"""Read models for people: what a caller may see of a case or task, with every read of a child's data logged."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.cases import human_tasks
from workflows.cases import lifecycle as cases
from workflows.cases.actions import process_of
from workflows.forms.validator import START_FORM
from workflows.infra.clock import Clock, iso_utc
from workflows.infra.models import AccessLog, Case, CaseEvent, HumanTask
from workflows.people.access import Actor
from workflows.people.roles import role_label

HIDDEN = "（已隐去）"


def mask_id(number: str | None) -> str | None:
    """An ID number with only its first and last four characters shown: 5001**********1234."""
    if not number:
        return None
    text = str(number)
    return "*" * len(text) if len(text) <= 8 else f"{text[:4]}{'*' * (len(text) - 8)}{text[-4:]}"


def record_access(
    session: Session,
    *,
    clock: Clock,
    actor: Actor,
    endpoint: str,
    case: Case | None = None,
    child_ref: str | None = None,
    purpose: str = "",
) -> None:
    """Write one access-log row in the reading request's own transaction."""
    session.add(
        AccessLog(
            at=clock.now(),
            username=actor.username,
            endpoint=endpoint,
            case_id=case.id if case else None,
            child_ref=child_ref or (case.child_ref if case else None),
            purpose=purpose,
            roles=",".join(sorted(actor.roles)),
        )
    )
    session.flush()


def redact(session: Session, actor: Actor, case: Case, data: dict[str, Any]) -> dict[str, Any]:
    """Remove what identifies the reporter unless the actor handles reports; mask ID numbers (full only by reveal)."""
    shown = dict(data)
    if not actor.sees_reporter:
        hidden = process_of(session, case).forms.confidential_fields("reporter")
        shown = {k: v for k, v in shown.items() if k not in hidden}
    for key, value in shown.items():
        if key.endswith("id_number") and isinstance(value, str) and value:
            shown[key] = mask_id(value) or ""
    return shown


def task_summary(task: HumanTask) -> dict[str, Any]:
    return {
        "id": task.id,
        "case_id": task.case_id,
        "process_key": task.process_key,
        "bpmn_id": task.bpmn_id,
        "name": task.name,
        "role": task.role,
        "role_label": role_label(task.role),
        "jurisdiction_code": task.jurisdiction_code,
        "status": task.status,
        "assignee": task.assignee,
        "due_at": iso_utc(task.due_at) if task.due_at else None,
        "created_at": iso_utc(task.created_at),
    }


def case_summary(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "business_key": case.business_key,
        "case_no": case.case_no,
        "process_key": case.process_key,
        "status": case.status,
        "jurisdiction_code": case.jurisdiction_code,
        "child_ref": case.child_ref,
        "parent_case_id": case.parent_case_id,
        "created_at": iso_utc(case.created_at),
        "updated_at": iso_utc(case.updated_at),
        "risk_colour": (case.data or {}).get("risk_colour"),
        "next_due_at": iso_utc(case.next_due_at) if case.next_due_at else None,
    }


def case_view(*, session: Session, clock: Clock, actor: Actor, case_id: str, endpoint: str) -> dict[str, Any]:
    """A case with its open tasks and the data the actor may see; due timers fire first; the read is logged."""
    case = cases.get_case(session=session, actor=actor, case_id=case_id)
    cases.fire_due_timers(session=session, clock=clock, case_id=case.id)
    tasks = session.scalars(
        select(HumanTask)
        .where(HumanTask.case_id == case.id, HumanTask.status == "ready")
        .order_by(HumanTask.created_at, HumanTask.id)
    )
    record_access(session, clock=clock, actor=actor, endpoint=endpoint, case=case)
    process = process_of(session, case)
    linked = session.scalars(select(Case.id).where(Case.parent_case_id == case.id)).all()
    return {
        **case_summary(case),
        "process_name": process.name,
        "version": case.state.get("spec_ref"),
        "open_tasks": [task_summary(t) for t in tasks],
        "data": redact(session, actor, case, case.data),
        "linked_cases": list(linked),
    }


def history_view(
    *, session: Session, clock: Clock, actor: Actor, case_id: str, endpoint: str
) -> list[dict[str, Any]]:
    """The case log as people read it; reporter identity redacted for roles that do not handle reports."""
    case = cases.get_case(session=session, actor=actor, case_id=case_id)
    events = cases.history(session=session, actor=actor, case_id=case_id)
    record_access(session, clock=clock, actor=actor, endpoint=endpoint, case=case)
    return [_event_view(session, actor, case, e) for e in events]


def _event_view(session: Session, actor: Actor, case: Case, event: CaseEvent) -> dict[str, Any]:
    payload = dict(event.payload)
    for key in ("data", "changes", "previous"):
        if isinstance(payload.get(key), dict):
            payload[key] = redact(session, actor, case, payload[key])
    return {
        "seq": event.seq,
        "type": event.type,
        "actor": event.actor,
        "occurred_at": iso_utc(event.occurred_at),
        "payload": payload,
        "hash": event.hash,
        "prev_hash": event.prev_hash,
    }


def task_view(*, session: Session, clock: Clock, actor: Actor, task_id: str, endpoint: str) -> dict[str, Any]:
    """A task with its form, instructions and the case context to decide; due timers fire first; logged."""
    task = human_tasks.get_task(session=session, actor=actor, task_id=task_id)
    if cases.fire_due_timers(session=session, clock=clock, case_id=task.case_id) is not None:
        session.refresh(task)  # an interrupting deadline may have closed it
    case = session.get(Case, task.case_id)
    assert case is not None
    process = process_of(session, case)
    form = process.forms.require(task.bpmn_id)
    info = process.user_tasks.get(task.bpmn_id)
    record_access(session, clock=clock, actor=actor, endpoint=endpoint, case=case)
    return {
        **task_summary(task),
        "instructions": info.instructions if info else "",
        "form": form.schema,
        "case": {
            **case_summary(case),
            "process_name": process.name,
            "data": redact(session, actor, case, case.data),
        },
    }


def processes_view(*, session: Session) -> list[dict[str, Any]]:
    """Published processes with their start forms."""
    from workflows.infra.models import ProcessDefinition, ProcessVersion

    rows = session.execute(
        select(ProcessDefinition, ProcessVersion)
        .join(ProcessVersion, ProcessVersion.id == ProcessDefinition.published_version_id)
        .order_by(ProcessDefinition.key)
    ).all()
    result = []
    for definition, version in rows:
        from workflows.processes import registry

        process = registry.parsed(session, version)
        start = process.forms.get(START_FORM)
        result.append(
            {
                "key": definition.key,
                "name": definition.name,
                "version": version.content_hash,
                "version_id": version.id,
                "published_at": iso_utc(definition.published_at) if definition.published_at else None,
                "start_form": start.schema if start else None,
                "user_tasks": [
                    {"bpmn_id": t.bpmn_id, "name": t.name, "role": t.lane, "role_label": role_label(t.lane)}
                    for t in process.user_tasks.values()
                ],
            }
        )
    return result


def case_list(
    *,
    session: Session,
    actor: Actor,
    process_key: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Cases in the actor's jurisdiction (summaries only: no child data, so no access-log row)."""
    if not actor.certified:  # the training gate: no case of a child before certification
        return [], 0
    cond = Case.jurisdiction_code.startswith(actor.jurisdiction)
    if not actor.has_any(*cases.CASE_READERS):
        cond &= Case.id.in_(select(HumanTask.case_id).where(HumanTask.role.in_(sorted(actor.roles))))
    if process_key:
        cond &= Case.process_key == process_key
    if status:
        cond &= Case.status == status
    total = session.scalar(select(func.count()).select_from(Case).where(cond)) or 0
    rows = session.scalars(
        select(Case).where(cond).order_by(Case.updated_at.desc()).limit(min(limit, 200)).offset(offset)
    )
    return [case_summary(c) for c in rows], int(total)
