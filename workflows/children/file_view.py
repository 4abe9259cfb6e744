"""One file per child (一人一档), read from the cases that carry the same child reference.

Every case is read through ``views.case_view`` and ``views.history_view``, so each read is in the access log
and the reporter stays hidden from roles that do not handle reports. The full ID number is shown only with a
reason, which is written to the access log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.cases import views
from workflows.cases.actions import process_of
from workflows.infra.clock import Clock
from workflows.infra.errors import NotFound, ValidationFailed
from workflows.infra.models import Case, HumanTask
from workflows.people.access import Actor, require_role
from workflows.people.roles import ID_REVEALERS

ID_FIELDS = ("child_id_number", "id_number")
BASIC_FIELDS = (
    "child_name",
    "child_gender",
    "child_birth_date",
    "birth_date",
    "child_age",
    "child_id_number",
    "household_type",
    "address",
    "location_description",
)
CATEGORY_FIELDS = ("child_categories", "categories", "category", "situation", "risk_colour")
PEOPLE_WORDS = ("guardian", "carer", "parent", "father", "mother", "relative")


def declared_fields(*, session: Session, case_id: str) -> dict[str, dict[str, Any]]:
    """The schema of every field the case's process declares (titles and choices; no data)."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("找不到该案件", code="case_not_found")
    return process_of(session, case).forms.declared_fields()


def child_file(
    *,
    session: Session,
    clock: Clock,
    actor: Actor,
    child_ref: str,
    endpoint: str,
    reveal_reason: str | None = None,
    require_cases: bool = True,
) -> dict[str, Any]:
    """The child's data, cases, timeline and field schemas as the actor may see them; every read is logged."""
    ids = session.scalars(
        select(Case.id)
        .where(Case.child_ref == child_ref, Case.jurisdiction_code.startswith(actor.jurisdiction))
        .order_by(Case.created_at, Case.id)
    ).all()
    cases: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = []
    fields: dict[str, dict[str, Any]] = {}
    for case_id in ids:
        try:
            case = views.case_view(
                session=session, clock=clock, actor=actor, case_id=case_id, endpoint=endpoint
            )
        except NotFound:  # a department sees only the cases it was asked to act on
            continue
        cases.append(case)
        events = views.history_view(
            session=session, clock=clock, actor=actor, case_id=case_id, endpoint=endpoint
        )
        timeline += [{**e, "case_no": case["case_no"], "case_id": case_id} for e in events]
        for name, schema in declared_fields(session=session, case_id=case_id).items():
            fields.setdefault(name, schema)
    if not cases and require_cases:
        raise NotFound("找不到该儿童档案，或不在您的辖区内", code="child_not_found")
    data: dict[str, Any] = {}
    for case in cases:  # later cases are more recent: their values win
        data.update({k: v for k, v in case["data"].items() if v not in (None, "", [])})
    revealed = False
    if reveal_reason is not None:
        require_role(actor, *ID_REVEALERS, action="查看完整身份证号")
        reason = reveal_reason.strip()
        if len(reason) < 4:
            raise ValidationFailed(
                "查看完整身份证号须说明理由（至少 4 个字）",
                code="reason_required",
                details={"fields": {"reason": "请说明查看理由"}},
            )
        for case in cases:  # the views mask ID numbers: the full ones come from the stored case data
            stored = session.get(Case, case["id"])
            data.update({k: v for k, v in (stored.data if stored else {}).items() if k in ID_FIELDS and v})
        views.record_access(
            session,
            clock=clock,
            actor=actor,
            endpoint=endpoint,
            child_ref=child_ref,
            purpose=f"查看完整身份证号：{reason}"[:200],
        )
        revealed = True
    else:
        data = {k: views.mask_id(v) if k in ID_FIELDS and v else v for k, v in data.items()}  # already masked
    timeline.sort(key=lambda e: (e["occurred_at"], e["seq"]), reverse=True)
    return {
        "child_ref": child_ref,
        "data": data,
        "revealed": revealed,
        "cases": cases,
        "timeline": timeline,
        "fields": fields,
        "basic": [k for k in BASIC_FIELDS if k in data],
        "categories": [k for k in CATEGORY_FIELDS if k in data],
        "people": sorted(k for k in data if any(w in k for w in PEOPLE_WORDS) and k not in BASIC_FIELDS),
    }


EVENT_LABELS = {
    "case_started": "接报登记，案件开始",
    "task_completed": "办结",
    "task_claimed": "认领",
    "task_unclaimed": "退回认领",
    "task_handed_over": "移交",
    "timer_fired": "时限到期，自动提醒或督办",
    "message_received": "收到消息",
    "message_sent": "发出消息",
    "data_corrected": "更正数据",
    "case_completed": "案件办结",
    "document_issued": "出具文书",
    "attachment_added": "上传附件",
    "child_linked": "关联儿童档案",
}


def timeline_text(*, session: Session, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each event with a Chinese sentence of what happened (task names looked up by task id)."""
    ids = {str(e["payload"].get("task_id")) for e in events if e["payload"].get("task_id")}
    query = select(HumanTask.id, HumanTask.name).where(HumanTask.id.in_(ids))
    names: dict[str, str] = {task_id: name for task_id, name in session.execute(query)} if ids else {}
    result = []
    for event in events:
        what = EVENT_LABELS.get(event["type"], event["type"])
        name = names.get(str(event["payload"].get("task_id")))
        if name:
            what = f"{what}：{name}"
        label = event["payload"].get("title") or event["payload"].get("filename")
        if event["type"] in ("document_issued", "attachment_added") and label:
            what = f"{what}：{label}"
        if event["type"] == "data_corrected" and event["payload"].get("reason"):
            what = f"{what}（理由：{event['payload']['reason']}）"
        result.append({**event, "what": what})
    return result
