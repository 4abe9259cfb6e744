"""One file per child (一人一档): register, update with a reason, reveal the ID number, link, merge, import, export.

The file's current data lives in ``children``; every change is also an append-only, hash-chained
``child_records`` entry, so nothing is lost or silently changed (corrections are new records).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.cases.views import mask_id, record_access
from workflows.infra.clock import CST, Clock, iso_utc
from workflows.infra.errors import Conflict, NotFound, ValidationFailed
from workflows.infra.idnumbers import id_number_problem
from workflows.infra.models import Case, Child, ChildRecord
from workflows.log.events import GENESIS, event_hash
from workflows.people.access import Actor, normalise_code, require_role, require_visible
from workflows.people.roles import ID_REVEALERS

KEEPERS = ("village_director", "township_supervisor", "county_civil_affairs")
READERS = (
    *KEEPERS,
    "village_committee",
    "city_civil_affairs",
    "protection_center",
    "welfare_institution",
    "police",
    "court",
    "procuratorate",
    "auditor",
)
REVEALERS = ID_REVEALERS
FIELDS = (
    "name",
    "gender",
    "birth_date",
    "id_number",
    "household",
    "village_code",
    "address",
    "guardians",
    "carer",
    "categories",
    "risk_colour",
    "notes",
)
# The plain-text fields of a file, and the parts of a guardian or carer entry (forms and imports fill them).
TEXT_FIELDS = tuple(f for f in FIELDS if f not in ("guardians", "carer", "categories"))
PERSON_PARTS = ("name", "relation", "phone")
GENDERS = {"male": "男", "female": "女"}
HOUSEHOLDS = {"rural": "农业户口", "urban": "非农业户口"}
COLOURS = ("red", "yellow", "blue", "green")


def _clean(data: dict[str, Any], *, partial: bool) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for key, value in data.items():
        if key not in FIELDS:
            errors[key] = "儿童档案中没有这一项"
            continue
        if isinstance(value, str):
            value = value.strip()
        clean[key] = value if value != "" else None
    if not partial and not clean.get("name"):
        errors["name"] = "此项为必填项"
    if not partial and not clean.get("village_code"):
        errors["village_code"] = "此项为必填项"
    if clean.get("gender") and clean["gender"] not in GENDERS:
        errors["gender"] = "应为 male 或 female"
    if clean.get("household") and clean["household"] not in HOUSEHOLDS:
        errors["household"] = "应为 rural（农业户口）或 urban（非农业户口）"
    if clean.get("risk_colour") and clean["risk_colour"] not in COLOURS:
        errors["risk_colour"] = "应为 red、yellow、blue 或 green"
    if clean.get("birth_date"):
        try:
            date.fromisoformat(clean["birth_date"])
        except (TypeError, ValueError):
            errors["birth_date"] = "应为日期，格式如 2015-06-01"
    if clean.get("id_number"):
        clean["id_number"] = str(clean["id_number"]).upper()
        problem = id_number_problem(
            clean["id_number"], clean.get("birth_date") if "birth_date" not in errors else None
        )
        if problem:
            errors["id_number"] = problem
    if clean.get("village_code"):
        try:
            clean["village_code"] = normalise_code(str(clean["village_code"]))
        except ValueError as exc:
            errors["village_code"] = str(exc)
    for key in ("guardians", "categories"):
        if clean.get(key) is not None and not isinstance(clean[key], list):
            errors[key] = "应为列表"
    if clean.get("carer") is not None and not isinstance(clean["carer"], dict):
        errors["carer"] = "应为对象（姓名、关系、电话）"
    return clean, errors


def _record(
    session: Session, child: Child, *, type_: str, actor: str, now: datetime, payload: dict[str, Any]
) -> None:
    seq = child.last_record_seq + 1
    digest = event_hash(
        case_id=child.id,
        seq=seq,
        type=type_,
        actor=actor,
        occurred_at=now,
        payload=payload,
        prev_hash=child.last_record_hash,
    )
    session.add(
        ChildRecord(
            child_id=child.id,
            seq=seq,
            type=type_,
            actor=actor,
            occurred_at=now,
            payload=payload,
            prev_hash=child.last_record_hash,
            hash=digest,
        )
    )
    child.last_record_seq, child.last_record_hash = seq, digest


def _file_no(session: Session, village: str, now: datetime) -> str:
    count = session.scalar(select(func.count()).select_from(Child).where(Child.village_code == village)) or 0
    return f"{village}-{now.astimezone(CST):%Y}-{count + 1:04d}"


def register(*, session: Session, clock: Clock, actor: Actor, data: dict[str, Any]) -> Child:
    """Open a child's file in a village the actor covers (an ID number is optional but must be valid)."""
    require_role(actor, *KEEPERS, action="建立儿童档案")
    clean, errors = _clean(data, partial=False)
    if errors:
        raise ValidationFailed("儿童档案填写有误", code="child_invalid", details={"fields": errors})
    require_visible(actor, clean["village_code"], "辖区")
    if clean.get("id_number") and session.scalar(
        select(Child.id).where(Child.id_number == clean["id_number"], Child.status == "active")
    ):
        raise Conflict(
            "已有该身份证号的儿童档案，请勿重复建档（如确属重复，请合并档案）", code="child_duplicate"
        )
    now = clock.now()
    child = Child(
        id=str(uuid.uuid4()),
        file_no=_file_no(session, clean["village_code"], now),
        status="active",
        created_at=now,
        created_by=actor.username,
        updated_at=now,
        last_record_seq=0,
        last_record_hash=GENESIS,
        **{k: clean.get(k) for k in FIELDS},
    )
    session.add(child)
    _record(
        session,
        child,
        type_="child_registered",
        actor=actor.username,
        now=now,
        payload={k: clean.get(k) for k in FIELDS},
    )
    session.flush()
    return child


def _visible_child(session: Session, actor: Actor, child_id: str) -> Child:
    child = session.get(Child, child_id)
    if child is None or not actor.sees(child.village_code) or not actor.has_any(*READERS):
        raise NotFound("找不到该儿童档案", code="child_not_found")
    return child


def update_file(
    *, session: Session, clock: Clock, actor: Actor, child_id: str, changes: dict[str, Any], reason: str
) -> Child:
    """Change a file with a reason; the record keeps the old and new values."""
    require_role(actor, *KEEPERS, action="修改儿童档案")
    child = _visible_child(session, actor, child_id)
    if not reason.strip():
        raise ValidationFailed(
            "修改档案必须填写理由", code="reason_required", details={"fields": {"reason": "此项为必填项"}}
        )
    clean, errors = _clean(changes, partial=True)
    if errors:
        raise ValidationFailed("儿童档案填写有误", code="child_invalid", details={"fields": errors})
    if "village_code" in clean:
        require_visible(actor, clean["village_code"], "辖区")
    previous = {k: getattr(child, k) for k in clean}
    for key, value in clean.items():
        setattr(child, key, value)
    child.updated_at = clock.now()
    _record(
        session,
        child,
        type_="child_updated",
        actor=actor.username,
        now=clock.now(),
        payload={"changes": clean, "previous": previous, "reason": reason.strip()},
    )
    session.flush()
    return child


def add_entry(
    *,
    session: Session,
    clock: Clock,
    actor: Actor,
    child_id: str,
    kind: str,
    text: str,
    when: str | None = None,
) -> None:
    """Add a visit, assistance, problem or solution note to the file's work log."""
    require_role(actor, *KEEPERS, action="记录儿童档案")
    if kind not in ("visit", "assistance", "problem", "solution", "note"):
        raise ValidationFailed("记录类型应为 visit、assistance、problem、solution 或 note", code="entry_kind")
    if not text.strip():
        raise ValidationFailed(
            "记录内容不能为空", code="entry_empty", details={"fields": {"text": "此项为必填项"}}
        )
    child = _visible_child(session, actor, child_id)
    _record(
        session,
        child,
        type_=f"child_{kind}",
        actor=actor.username,
        now=clock.now(),
        payload={"text": text.strip(), "date": when},
    )
    child.updated_at = clock.now()
    session.flush()


def masked_payload(value: Any) -> Any:
    """A record's payload with every ID number masked (the full number only comes by reveal)."""
    if isinstance(value, dict):
        return {
            k: mask_id(v) if k.endswith("id_number") and isinstance(v, str) else masked_payload(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [masked_payload(v) for v in value]
    return value


@dataclass
class ChildFile:
    child: Child
    data: dict[str, Any]
    records: list[ChildRecord]
    cases: list[Case]


def file_view(*, session: Session, clock: Clock, actor: Actor, child_id: str, endpoint: str) -> ChildFile:
    """The whole file with the ID number masked; the read is logged."""
    child = _visible_child(session, actor, child_id)
    record_access(session, clock=clock, actor=actor, endpoint=endpoint, child_ref=child.id)
    data = {k: getattr(child, k) for k in FIELDS}
    data["id_number"] = mask_id(child.id_number)
    data.update(
        id=child.id,
        file_no=child.file_no,
        status=child.status,
        merged_into=child.merged_into,
        created_at=iso_utc(child.created_at),
        updated_at=iso_utc(child.updated_at),
    )
    records = list(
        session.scalars(select(ChildRecord).where(ChildRecord.child_id == child.id).order_by(ChildRecord.seq))
    )
    linked = list(session.scalars(select(Case).where(Case.child_ref == child.id).order_by(Case.created_at)))
    return ChildFile(child, data, records, linked)


def reveal_id_number(
    *, session: Session, clock: Clock, actor: Actor, child_id: str, reason: str, endpoint: str
) -> str | None:
    """The full ID number, only with a reason, written to the access log."""
    require_role(actor, *REVEALERS, action="查看完整身份证号")
    if len(reason.strip()) < 4:
        raise ValidationFailed(
            "查看完整身份证号须说明理由（至少 4 个字）",
            code="reason_required",
            details={"fields": {"reason": "请说明查看理由"}},
        )
    child = _visible_child(session, actor, child_id)
    record_access(
        session,
        clock=clock,
        actor=actor,
        endpoint=endpoint,
        child_ref=child.id,
        purpose=f"查看身份证号：{reason.strip()}",
    )
    return child.id_number


def list_children(
    *, session: Session, actor: Actor, village_code: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Child], int]:
    """Active files in the actor's jurisdiction (summaries, no ID numbers)."""
    require_role(actor, *READERS, action="查看儿童档案")
    cond = Child.village_code.startswith(village_code or actor.jurisdiction) & (Child.status == "active")
    if village_code:
        require_visible(actor, village_code, "辖区")
    total = session.scalar(select(func.count()).select_from(Child).where(cond)) or 0
    rows = session.scalars(
        select(Child)
        .where(cond)
        .order_by(Child.village_code, Child.file_no)
        .limit(min(limit, 500))
        .offset(offset)
    )
    return list(rows), int(total)
