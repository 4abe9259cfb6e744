"""Verify a case: its hash chain is intact and replaying its log reproduces the stored case."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.cases.actions import load_case
from workflows.engine import CaseRun, ParsedProcess, migrate_run
from workflows.infra.db import read_json
from workflows.infra.errors import DomainError
from workflows.infra.models import Case, CaseEvent, HumanTask, ProcessVersion
from workflows.log.chaincheck import Row, chain_rows, check_rows
from workflows.log.events import events_of
from workflows.people.access import Actor, require_role, require_visible
from workflows.processes import registry

VERIFIERS = ("auditor", "county_civil_affairs", "city_civil_affairs", "province_civil_affairs")


@dataclass
class Report:
    case_id: str
    ok: bool
    events: int
    problem: str = ""
    seq: int | None = None
    event_type: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "ok": self.ok,
            "events": self.events,
            "problem": self.problem,
            "seq": self.seq,
            "event_type": self.event_type,
            "details": self.details,
        }


@dataclass
class LoggedEvent:
    """An event as replay reads it, built from the very rows the chain check has just checked."""

    seq: int
    type: str
    actor: str
    occurred_at: datetime
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: Row) -> LoggedEvent:
        seq, etype, actor, at, payload, _, _ = row
        if isinstance(at, str):  # the stored text (checked: "YYYY-MM-DD HH:MM:SS.ffffff"), naive UTC
            at = datetime.fromisoformat(at)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return cls(seq, etype, actor, at, read_json(payload) if isinstance(payload, str | bytes) else payload)


Event = CaseEvent | LoggedEvent


class _Diverged(Exception):
    def __init__(self, event: Event | None, message: str, **details: Any) -> None:
        super().__init__(message)
        self.event, self.message, self.details = event, message, details


def verify(*, session: Session, actor: Actor, case_id: str) -> Report:
    """Check the chain, replay the log on the pinned version, compare with the stored case."""
    require_role(actor, *VERIFIERS, action="核验案件")
    case = load_case(session, case_id)
    require_visible(actor, case.jurisdiction_code)
    return verify_case(session, case)


def verify_case(session: Session, case: Case) -> Report:
    """The check itself, without access rules (for the scheduler, backups and tests).

    The rows are read once: the chain is checked on them, and the replay reads the events from them."""
    rows = chain_rows(session, case.id)
    broken = check_rows(case, rows)
    if broken is not None:
        event_type = next((row[1] for row in rows if row[0] == broken.seq), None)
        return Report(case.id, False, len(rows), broken.reason, broken.seq, event_type)
    events = [LoggedEvent.of(row) for row in rows]
    try:
        version = session.get(ProcessVersion, case.process_version_id)
        if version is None:
            raise _Diverged(None, "案件所用的流程版本不存在")
        process = registry.parsed(session, version)
        replayed = _replay(process, case, events, resolve=lambda ref: _version_by_hash(session, ref))
        _compare_stored(session, process, case, replayed)
        _compare_rows(session, case, replayed)
    except _Diverged as exc:
        seq = exc.event.seq if exc.event is not None else None
        etype = exc.event.type if exc.event is not None else None
        return Report(case.id, False, len(events), exc.message, seq, etype, exc.details)
    return Report(case.id, True, len(events))


def replay_to(session: Session, case: Case, upto: int) -> CaseRun:
    """The case as it stood right after event ``upto``, rebuilt by replaying its log on the pinned version.

    Raises ``ReplayFailed`` (with the event and the reason in Chinese) when the log cannot be replayed.
    """
    events = events_of(session, case.id)
    version = session.get(ProcessVersion, case.process_version_id)
    if version is None:
        raise ReplayFailed("案件所用的流程版本不存在", code="version_missing")
    try:
        process = registry.parsed(session, version)
        return _replay(process, case, events, lambda ref: _version_by_hash(session, ref), upto=upto).run
    except _Diverged as exc:
        raise ReplayFailed(
            exc.message, code="replay_failed", details={"seq": exc.event and exc.event.seq}
        ) from None


class ReplayFailed(DomainError):
    code = "replay_failed"


def _version_by_hash(session: Session, content_hash: str) -> ParsedProcess:
    version = session.scalar(select(ProcessVersion).where(ProcessVersion.content_hash == content_hash))
    if version is None:
        raise _Diverged(None, f"日志记录的流程版本 {content_hash[:12]} 不存在")
    return registry.parsed(session, version)


def _migrate(run: CaseRun, event: Event, resolve: Callable[[str], ParsedProcess]) -> None:
    """Switch the replay onto the version a ``case_migrated`` event names, the way the migration did."""
    if event.payload.get("from_version") != run.process.content_hash:
        raise _Diverged(event, "迁移事件记录的原流程版本与重放时的版本不一致")
    report = migrate_run(run, resolve(event.payload["to_version"]), now=event.occurred_at)
    if not report.safe:
        raise _Diverged(event, "重放时迁移失败：" + "；".join(report.reasons))


@dataclass
class Replayed:
    """The case as its log rebuilds it: the run, and what the log says of the rows around it."""

    run: CaseRun
    started: dict[str, Any]
    assignees: dict[str, str]
    completed_by: dict[str, str]
    child_ref: str | None
    finished: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # assignee, due, completed at/by


def _replay(
    process: ParsedProcess,
    case: Case,
    events: Sequence[Event],
    resolve: Callable[[str], ParsedProcess] | None = None,
    upto: int | None = None,
) -> Replayed:
    """Replay the log (up to event ``upto``); the run starts on the version of ``case_started`` and ends on
    ``process`` (when replayed to the end)."""
    run: CaseRun | None = None
    assignees: dict[str, str] = {}
    completed_by: dict[str, str] = {}
    finished: dict[str, tuple[Any, ...]] = {}
    dues: dict[str, Any] = {}
    started: dict[str, Any] = {}
    child_ref: str | None = None
    pending: list[str] = []
    for event in events:
        if upto is not None and event.seq > upto:
            break
        payload = event.payload
        try:
            if event.type == "case_started":
                migrated = any(e.type == "case_migrated" for e in events)
                if payload.get("version") != process.content_hash and (not migrated or resolve is None):
                    raise _Diverged(event, "开始事件记录的流程版本与案件固定的版本不一致")
                first = process if resolve is None or not migrated else resolve(payload["version"])
                run = CaseRun.start(first, case_id=case.id, data=payload["data"], now=event.occurred_at)
                started, child_ref = payload, payload.get("child_ref")
            elif run is None:
                raise _Diverged(event, "日志的第一个事件不是案件开始")
            elif event.type == "task_completed":
                run.complete(payload["task_id"], payload["data"], now=event.occurred_at)
                holder = assignees.pop(payload["task_id"], None)
                completed_by[payload["task_id"]] = event.actor
                due = dues.get(payload["task_id"])
                finished[payload["task_id"]] = (holder, due, event.occurred_at, event.actor)
            elif event.type == "timer_fired":
                fired = run.fire_timers(now=event.occurred_at).fired_timers
                if fired != payload.get("fired"):
                    raise _Diverged(
                        event, "重放时触发的定时器与日志不一致", replayed=fired, logged=payload.get("fired")
                    )
            elif event.type == "message_received":
                run.receive(payload["name"], payload["payload"], now=event.occurred_at)
            elif event.type == "message_sent":
                if payload["name"] not in pending:
                    raise _Diverged(event, f"重放时没有发出消息 {payload['name']}")
                pending.remove(payload["name"])
            elif event.type == "data_corrected":
                run.correct(payload["changes"], now=event.occurred_at)
            elif event.type == "task_claimed":
                assignees[payload["task_id"]] = event.actor
            elif event.type == "task_unclaimed":
                assignees.pop(payload["task_id"], None)
            elif event.type == "child_linked":
                child_ref = payload.get("child_ref")
            elif event.type == "case_migrated" and resolve is not None:
                _migrate(run, event, resolve)
            elif event.type == "case_completed" and run.status != "completed":
                raise _Diverged(event, "日志记录案件已结束，但重放后案件仍在进行")
        except DomainError as exc:
            raise _Diverged(event, f"重放事件 #{event.seq}（{event.type}）失败：{exc.message}") from None
        if run is None:
            continue
        pending.extend(m.name for m in run.take_messages())
        open_tasks = run.open_tasks()
        for task in open_tasks:
            dues.setdefault(task.id, task.due_at)
        if "digest" in payload and run.digest(open_tasks) != payload["digest"]:
            raise _Diverged(event, f"重放到事件 #{event.seq}（{event.type}）时状态与日志记录不一致")
    if run is None:
        raise _Diverged(None, "案件没有任何日志事件")
    if upto is not None:
        return Replayed(run, started, assignees, completed_by, child_ref)
    if pending:
        raise _Diverged(None, f"重放时发出的消息未记录在日志中：{'、'.join(pending)}")
    if run.process.content_hash != process.content_hash:
        raise _Diverged(None, "案件固定的流程版本与日志最后记录的版本（迁移事件）不一致")
    return Replayed(run, started, assignees, completed_by, child_ref, finished)


def _compare_stored(session: Session, process: ParsedProcess, case: Case, replayed: Replayed) -> None:
    run = replayed.run
    try:
        stored = CaseRun.restore(process, case.state, case_id=case.id)
    except Exception as exc:  # noqa: BLE001 - a damaged state is a finding, not a crash
        raise _Diverged(None, f"存储的案件状态无法读取：{exc}") from None
    checks = [
        ("status", stored.status, run.status),
        ("completed_tasks", stored.completed_user_tasks(), run.completed_user_tasks()),
        (
            "open_tasks",
            sorted((t.id, t.bpmn_id) for t in stored.open_tasks()),
            sorted((t.id, t.bpmn_id) for t in run.open_tasks()),
        ),
        ("data", stored.data(), run.data()),
        ("case_status", case.status, run.status),
        ("case_data", case.data, run.data()),
        ("next_due_at", case.next_due_at, run.next_due_at() if run.status == "running" else None),
        ("stored_next_due_at", stored.next_due_at(), run.next_due_at()),
        ("jurisdiction_code", case.jurisdiction_code, replayed.started.get("jurisdiction_code")),
        ("business_key", case.business_key, replayed.started.get("business_key")),
        ("parent_case_id", case.parent_case_id, replayed.started.get("parent_case_id")),
        ("child_ref", case.child_ref, replayed.child_ref),
    ]
    for name, have, want in checks:
        if have != want:
            raise _Diverged(None, f"存储的案件（{name}）与日志重放结果不一致", field=name)


def _compare_rows(session: Session, case: Case, replayed: Replayed) -> None:
    """The task rows people work from must be what the log says: who holds what, where, by when; who finished."""
    run = replayed.run
    rows = session.execute(
        select(
            HumanTask.id,
            HumanTask.status,
            HumanTask.assignee,
            HumanTask.role,
            HumanTask.jurisdiction_code,
            HumanTask.due_at,
            HumanTask.completed_by,
            HumanTask.completed_at,
        ).where(HumanTask.case_id == case.id)
    ).all()
    ready = sorted(
        (r.id, r.assignee, r.role, r.jurisdiction_code, r.due_at) for r in rows if r.status == "ready"
    )
    expected = sorted(
        (t.id, replayed.assignees.get(t.id), t.role or "", case.jurisdiction_code, t.due_at)
        for t in run.open_tasks()
    )
    if ready != expected:
        raise _Diverged(None, "待办任务记录（human_tasks）与日志重放结果不一致", field="human_tasks")
    finished = {r.id: r.completed_by for r in rows if r.status == "completed"}
    if finished != replayed.completed_by:
        raise _Diverged(None, "已办结任务的记录（办理人）与日志不一致", field="human_tasks_completed")
    stored = {
        r.id: (r.assignee, r.due_at, r.completed_at, r.completed_by) for r in rows if r.status == "completed"
    }
    if stored != replayed.finished:
        changed = sorted(k for k in stored if stored[k] != replayed.finished.get(k))
        raise _Diverged(
            None,
            "已办结任务的记录（认领人、期限或办结时间）与日志不一致",
            field="human_tasks_completed",
            tasks=changed[:5],
        )
