"""A case's history as a compliance officer reads it: who did what when, the data entered, papers with their
hashes, corrections with the value before, each deadline met or missed; and the case as it stood after any
event, rebuilt by replaying the log on the pinned version (nothing is read from a cache)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.cases import lifecycle as cases
from workflows.cases.actions import process_of
from workflows.cases.replay import replay_to
from workflows.cases.views import record_access, redact
from workflows.infra.clock import Clock, iso_utc
from workflows.infra.errors import NotFound
from workflows.infra.models import Case, CaseEvent, HumanTask, ProcessVersion
from workflows.log.events import events_of
from workflows.people.access import Actor
from workflows.people.directory import person_labels
from workflows.people.roles import role_label

EVENT_LABELS = {
    "case_started": "登记，案件开始",
    "task_completed": "办结步骤",
    "task_claimed": "认领步骤",
    "task_unclaimed": "退回认领",
    "task_handed_over": "移交步骤",
    "timer_fired": "时限到期（自动提醒或督办）",
    "message_received": "收到消息",
    "message_sent": "发出消息",
    "data_corrected": "更正数据",
    "case_completed": "案件办结",
    "case_migrated": "迁移到新的流程版本",
    "document_issued": "出具文书",
    "attachment_added": "上传附件",
    "child_linked": "关联儿童档案",
}


def span(delta: timedelta) -> str:
    """A duration in Chinese, to the minute: 1天3小时5分钟."""
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}天" if days else "", f"{hours}小时" if hours else "", f"{mins}分钟" if mins else ""]
    return "".join(parts) or "不到1分钟"


@dataclass
class Deadline:
    task: str
    role: str
    due_at: datetime
    done_at: datetime | None
    state: str  # met | missed | open | overdue
    by: str

    @property
    def text(self) -> str:
        return {
            "met": f"按时完成（提前{self.by}）",
            "missed": f"超过时限{self.by}完成",
            "open": f"尚未完成，剩余{self.by}",
            "overdue": f"已逾期{self.by}，尚未完成",
        }[self.state]


def deadline_of(task: HumanTask, now: datetime) -> Deadline | None:
    """Whether a step with a due time was done in time, and by how much (an open step: against now)."""
    if task.due_at is None or task.status == "cancelled" and task.completed_at is None:
        return None
    done = task.completed_at if task.status == "completed" else None
    if done is not None:
        state = "met" if done <= task.due_at else "missed"
        delta = task.due_at - done
    else:
        state = "open" if now <= task.due_at else "overdue"
        delta = task.due_at - now
    return Deadline(task.name, role_label(task.role), task.due_at, done, state, span(delta))


def case_history(
    *, session: Session, clock: Clock, actor: Actor, case_id: str, endpoint: str
) -> dict[str, Any]:
    """The timeline, the deadlines and the versions the case ran on; the read is logged."""
    case = cases.get_case(session=session, actor=actor, case_id=case_id)
    record_access(session, clock=clock, actor=actor, endpoint=endpoint, case=case, purpose="查阅案件历史")
    events = events_of(session, case.id)
    tasks = {t.id: t for t in session.scalars(select(HumanTask).where(HumanTask.case_id == case.id))}
    now = clock.now()
    labels = person_labels(session, {e.actor for e in events})
    entries = [_entry(session, actor, case, e, tasks, labels, now) for e in events]
    deadlines = [d for t in sorted(tasks.values(), key=lambda t: t.created_at) if (d := deadline_of(t, now))]
    return {
        "case": case,
        "entries": entries,
        "deadlines": deadlines,
        "versions": sorted({v for e in events for v in _versions_named(e)}),
        "pinned": _hash_of(session, case.process_version_id),
    }


def _versions_named(event: CaseEvent) -> list[str]:
    if event.type not in ("case_started", "case_migrated"):
        return []
    return [event.payload[k] for k in ("version", "to_version") if event.payload.get(k)]


def _hash_of(session: Session, version_id: int) -> str:
    version = session.get(ProcessVersion, version_id)
    return version.content_hash if version else ""


def _entry(
    session: Session,
    actor: Actor,
    case: Case,
    event: CaseEvent,
    tasks: dict[str, HumanTask],
    labels: dict[str, str],
    now: datetime,
) -> dict[str, Any]:
    payload = event.payload
    task = tasks.get(str(payload.get("task_id"))) if payload.get("task_id") else None
    what = EVENT_LABELS.get(event.type, event.type)
    if task is not None:
        what = f"{what}：{task.name}"
    entry: dict[str, Any] = {
        "seq": event.seq,
        "type": event.type,
        "what": what,
        "who": labels.get(event.actor, event.actor),
        "at": event.occurred_at,
        "hash": event.hash,
        "data": {},
        "corrections": [],
        "paper": None,
        "deadline": None,
    }
    if event.type in ("case_started", "task_completed") and isinstance(payload.get("data"), dict):
        entry["data"] = redact(session, actor, case, payload["data"])
    if event.type == "data_corrected":
        before = redact(session, actor, case, payload.get("previous") or {})
        after = redact(session, actor, case, payload.get("changes") or {})
        entry["corrections"] = [(name, before.get(name), value) for name, value in after.items()]
        entry["reason"] = payload.get("reason", "")
    if event.type in ("document_issued", "attachment_added"):
        entry["paper"] = {
            "title": payload.get("title") or payload.get("filename") or "",
            "sha256": payload.get("sha256", ""),
            "pdf_sha256": payload.get("pdf_sha256", ""),
        }
    if event.type == "timer_fired":
        entry["what"] = f"{what}：{'、'.join(payload.get('fired') or [])}" if payload.get("fired") else what
    if event.type == "task_completed" and task is not None:
        entry["deadline"] = deadline_of(task, now)
    return entry


def declared_fields(*, session: Session, case: Case) -> dict[str, dict[str, Any]]:
    """Titles and choices of every field the case's process declares (to show data as people read it)."""
    return process_of(session, case).forms.declared_fields()


def state_after(
    *, session: Session, clock: Clock, actor: Actor, case_id: str, seq: int, endpoint: str
) -> dict[str, Any]:
    """The case right after event ``seq``: status, steps done and open, data; replayed, and the read logged."""
    case = cases.get_case(session=session, actor=actor, case_id=case_id)
    if seq < 1 or seq > case.last_event_seq:
        raise NotFound(f"没有第 {seq} 个事件", code="event_not_found")
    record_access(
        session, clock=clock, actor=actor, endpoint=endpoint, case=case, purpose=f"回放至事件 #{seq}"
    )
    run = replay_to(session, case, seq)
    done, open_ = run.trail()
    return {
        "seq": seq,
        "version": run.process.content_hash,
        "status": run.status,
        "done": done,
        "open": open_,
        "open_tasks": [
            {"name": t.name, "role": role_label(t.role), "due_at": iso_utc(t.due_at) if t.due_at else None}
            for t in run.open_tasks()
        ],
        "data": redact(session, actor, case, run.data()),
        "fields": run.process.forms.declared_fields(),
    }


def diagram(*, session: Session, actor: Actor, case_id: str, version: str) -> str:
    """The BPMN XML of a version the case ran on (for the diagram viewer)."""
    case = cases.get_case(session=session, actor=actor, case_id=case_id)
    events = events_of(session, case.id)
    if version not in {v for e in events for v in _versions_named(e)}:
        raise NotFound("该案件没有用过这个流程版本", code="version_not_found")
    row = session.scalar(select(ProcessVersion).where(ProcessVersion.content_hash == version))
    if row is None:
        raise NotFound("流程版本不存在", code="version_not_found")
    name = (
        "process.bpmn"
        if "process.bpmn" in row.files
        else next(n for n in sorted(row.files) if n.endswith(".bpmn"))
    )
    return row.files[name]
