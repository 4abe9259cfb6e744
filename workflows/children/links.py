"""Children's files and cases: a report linked to the child's file, duplicate files merged, and the file an
identification case approves written into the registry (the ``child_file_approved`` message, owned here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from workflows.cases import messages
from workflows.cases.actions import act, load_case
from workflows.children.registry import (
    FIELDS,
    KEEPERS,
    _clean,
    _record,
    _visible_child,
    register,
    update_file,
)
from workflows.infra.clock import Clock, FixedClock
from workflows.infra.errors import Conflict, ModelError, ValidationFailed
from workflows.infra.models import Case, Child
from workflows.log.events import NewEvent
from workflows.people.access import SYSTEM, Actor, require_role, require_visible


def link_case(*, session: Session, clock: Clock, actor: Actor, case_id: str, child_id: str) -> Case:
    """Attach a report about a then-unregistered child to the child's file, logged in the case."""
    require_role(actor, *KEEPERS, action="关联儿童档案")
    child = _visible_child(session, actor, child_id)
    case = load_case(session, case_id)
    require_visible(actor, case.jurisdiction_code)
    if case.child_ref == child.id:
        return case
    previous = case.child_ref
    act(
        session,
        case_id=case.id,
        now=clock.now(),
        actor=actor.username,
        fire_due=False,
        allow_closed=True,
        step=lambda c, r, at: [
            NewEvent("child_linked", actor.username, {"child_ref": child.id, "previous": previous})
        ],
    )
    session.execute(update(Case).where(Case.id == case.id).values(child_ref=child.id))
    case.child_ref = child.id
    _record(
        session,
        child,
        type_="child_case_linked",
        actor=actor.username,
        now=clock.now(),
        payload={"case_id": case.id, "business_key": case.business_key},
    )
    session.flush()
    return case


def merge(*, session: Session, clock: Clock, actor: Actor, keep_id: str, merge_id: str, reason: str) -> Child:
    """Merge a duplicate file into the one kept: its cases move over; both files record the merge."""
    require_role(actor, *KEEPERS, action="合并儿童档案")
    if keep_id == merge_id:
        raise ValidationFailed("不能把档案与自身合并", code="merge_self")
    keep, gone = _visible_child(session, actor, keep_id), _visible_child(session, actor, merge_id)
    if gone.status != "active" or keep.status != "active":
        raise Conflict("已合并或已注销的档案不能再合并", code="merge_inactive")
    if not reason.strip():
        raise ValidationFailed("合并档案须填写理由", code="reason_required")
    now = clock.now()
    moved = [c.id for c in session.scalars(select(Case).where(Case.child_ref == gone.id))]
    for case_id in moved:
        link_case(session=session, clock=clock, actor=actor, case_id=case_id, child_id=keep.id)
    gone.status, gone.merged_into, gone.updated_at = "merged", keep.id, now
    filled = {k: getattr(gone, k) for k in FIELDS if getattr(keep, k) in (None, [], {}) and getattr(gone, k)}
    for key, value in filled.items():
        setattr(keep, key, value)
    _record(
        session,
        keep,
        type_="child_merged_in",
        actor=actor.username,
        now=now,
        payload={
            "from": gone.id,
            "file_no": gone.file_no,
            "filled": filled,
            "cases": moved,
            "reason": reason,
        },
    )
    _record(
        session,
        gone,
        type_="child_merged_away",
        actor=actor.username,
        now=now,
        payload={"into": keep.id, "file_no": keep.file_no, "reason": reason},
    )
    session.flush()
    return keep


def record_approved_file(*, session: Session, clock: Clock, case: Case, payload: dict[str, Any]) -> Child:
    """Write a file approved in an identification case into the registry (a new file, or changes to it)."""
    data = {k: v for k, v in payload.items() if k in FIELDS}
    data["village_code"] = case.jurisdiction_code
    clean, errors = _clean(data, partial=False)
    if errors:
        raise ModelError(f"审核通过的档案数据不完整：{errors}", code="child_payload_invalid", details=errors)
    ref = str(payload.get("child_ref") or "")
    child = session.get(Child, ref) if ref else None
    if child is not None and child.village_code != case.jurisdiction_code:
        child = None  # a reference typed for another place never touches that place's file
    reason = f"档案审核通过（案件 {case.business_key}）"
    if child is None or child.status != "active":
        child = register(session=session, clock=clock, actor=SYSTEM, data=clean)
    else:
        changes = {k: v for k, v in clean.items() if getattr(child, k) != v}
        if changes:
            update_file(
                session=session, clock=clock, actor=SYSTEM, child_id=child.id, changes=changes, reason=reason
            )
    link_case(session=session, clock=clock, actor=SYSTEM, case_id=case.id, child_id=child.id)
    return child


@messages.handler("child_file_approved")
def _child_file_approved(session: Session, now: datetime, source: Case, payload: Any) -> None:
    if not isinstance(payload, dict):
        raise ModelError(
            "消息 child_file_approved 的内容必须是档案数据（字典）", code="message_payload_invalid"
        )
    record_approved_file(session=session, clock=FixedClock(now), case=source, payload=payload)
