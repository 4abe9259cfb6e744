"""Notifications: an outbox written with the action that caused it, drained to in-app inboxes and a webhook.

An action stages one outbox row per task it created (``stage``), in its own transaction, so a notice exists
exactly when the task does. The scheduler later claims rows (``claim``), posts them to the optional
webhook outside any transaction (``post_webhook``), and writes each recipient's inbox row once
(``finish``). Recipients are resolved at delivery: the people who may work the task now (same role,
jurisdiction covering the task's, active and, where the training gate applies, certified), or the one
person who claimed it. Nothing here commits; the caller commits after ``claim`` and after each ``finish``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import String, exists, func, literal, or_, select, update
from sqlalchemy.orm import Session

from workflows.infra.clock import CST, Clock, iso_utc
from workflows.infra.errors import NotFound
from workflows.infra.models import Case, HumanTask, InboxItem, OutboxMessage, User
from workflows.log.events import NewEvent
from workflows.people.access import JURISDICTION_LENGTHS, Actor
from workflows.people.accounts import actor_for
from workflows.people.roles import role_label

KINDS: dict[str, str] = {
    "task_assigned": "新待办",
    "escalation": "督办提醒",
    "task_due_soon": "即将到期",
    "task_overdue": "已逾期",
}
LEASE = timedelta(minutes=10)  # a claim older than this is taken over (its drainer died)
MAX_ATTEMPTS = 15  # webhook POSTs, over all rounds, before a message is given up on (last_error stays)
DUE_SOON = timedelta(hours=24)


@dataclass(frozen=True)
class Webhook:
    url: str
    timeout: float = 5.0
    retries: int = 2
    backoff: float = 0.5  # seconds before the first retry, doubling


@dataclass
class PostResult:
    ok: bool
    attempts: int = 0
    error: str | None = None


@dataclass
class InboxPage:
    items: list[InboxItem]
    total: int
    unread: int


def _when(instant: datetime | None) -> str:
    return f"{instant.astimezone(CST):%Y-%m-%d %H:%M}" if instant else ""


def _text(kind: str, case_no: str, task: HumanTask) -> tuple[str, str]:
    """The Chinese title and body of a notice: ids and the task's name, no child's personal data."""
    when, who, name = _when(task.due_at), role_label(task.role), f"“{task.name}”"
    due = f"，期限 {when}（北京时间）" if task.due_at else ""
    body = {
        "task_assigned": f"案件 {case_no} 有一项新待办{name}，由{who}办理{due}。",
        "escalation": f"案件 {case_no} 的办理已超过时限，请{who}督办：{name}{due}。",
        "task_due_soon": f"案件 {case_no} 的待办{name}将于 {when}（北京时间）到期，请及时办理。",
        "task_overdue": f"案件 {case_no} 的待办{name}已于 {when}（北京时间）逾期，请尽快办理。",
    }[kind]
    return f"{KINDS[kind]}：{task.name}", body


def _row(kind: str, case_no: str, task: HumanTask, now: datetime) -> dict[str, Any]:
    title, body = _text(kind, case_no, task)
    return {
        "kind": kind,
        "dedupe_key": f"{kind}:{task.id}",
        "title": title,
        "body": body,
        "case_id": task.case_id,
        "task_id": task.id,
        "role": task.role,
        "jurisdiction_code": task.jurisdiction_code,
        "username": task.assignee,
        "created_at": now,
        "attempts": 0,
    }


def rows(case: Case, new_rows: list[HumanTask], items: list[NewEvent], now: datetime) -> list[dict[str, Any]]:
    """Outbox rows for the tasks an action created, written in its transaction (an escalation if a timer
    fired)."""
    if not new_rows:
        return []
    kind = "escalation" if any(item.type == "timer_fired" for item in items) else "task_assigned"
    return [_row(kind, case.case_no, task, now) for task in new_rows]


def scan_due(*, session: Session, clock: Clock, window: timedelta = DUE_SOON, limit: int = 500) -> int:
    """Stage ``task_overdue`` and ``task_due_soon`` notices, each at most once per task (by dedupe key)."""
    now = clock.now()
    staged = 0
    for kind, cond in (
        ("task_overdue", HumanTask.due_at <= now),
        ("task_due_soon", (HumanTask.due_at > now) & (HumanTask.due_at <= now + window)),
    ):
        key = literal(f"{kind}:", String) + HumanTask.id
        seen = exists().where(OutboxMessage.dedupe_key == key)
        stmt = (
            select(HumanTask, Case.case_no)
            .join(Case, Case.id == HumanTask.case_id)
            .where(HumanTask.status == "ready", HumanTask.due_at.is_not(None), cond, ~seen)
            .order_by(HumanTask.due_at)
            .limit(limit)
        )
        rows = [_row(kind, case_no, task, now) for task, case_no in session.execute(stmt)]
        staged += _insert_new(session, rows)
    return staged


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert outbox rows, skipping any whose dedupe key a concurrent scan wrote first."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = (
            pg_insert(OutboxMessage).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(OutboxMessage).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])
    else:
        session.add_all([OutboxMessage(**row) for row in rows])
        session.flush()
        return len(rows)
    return len(session.execute(stmt.returning(OutboxMessage.id)).all())  # rowcount is -1 here on psycopg


def _pending(now: datetime) -> Any:
    return (
        OutboxMessage.delivered_at.is_(None)
        & or_(OutboxMessage.claimed_by.is_(None), OutboxMessage.claimed_at < now - LEASE)
        & or_(OutboxMessage.retry_at.is_(None), OutboxMessage.retry_at <= now)
    )


def claim(*, session: Session, clock: Clock, worker: str, limit: int = 50) -> list[OutboxMessage]:
    """Claim up to ``limit`` undelivered rows for this drainer (conditional UPDATE; SKIP LOCKED on Postgres).

    ``worker`` must be unique per call: it is how ``finish`` proves the row is still ours.
    """
    now = clock.now()
    stmt = select(OutboxMessage.id).where(_pending(now)).order_by(OutboxMessage.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    ids = list(session.scalars(stmt))
    if not ids:
        return []
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), _pending(now))
        .values(claimed_by=worker, claimed_at=now)
    )
    mine = select(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == worker)
    return list(session.scalars(mine.order_by(OutboxMessage.id).execution_options(populate_existing=True)))


def recipients(session: Session, message: OutboxMessage) -> list[str]:
    """Who gets the notice now: the claimant of the task, or everyone who may work it there."""
    if message.username:
        user = session.scalar(select(User).where(User.username == message.username, User.active.is_(True)))
        return [user.username] if user is not None else []
    code = message.jurisdiction_code or ""
    covering = [code[:n] for n in JURISDICTION_LENGTHS if n <= len(code)]
    users = session.scalars(select(User).where(User.active.is_(True), User.jurisdiction_code.in_(covering)))
    return sorted(u.username for u in users if message.role in u.roles and actor_for(u).certified)


def webhook_body(message: OutboxMessage, to: list[str]) -> dict[str, Any]:
    """What the webhook receives: ids, the kind and the Chinese title; never a child's personal data."""
    return {
        "id": message.id,
        "kind": message.kind,
        "title": message.title,
        "case_id": message.case_id,
        "task_id": message.task_id,
        "role": message.role,
        "jurisdiction_code": message.jurisdiction_code,
        "recipients": to,
        "created_at": iso_utc(message.created_at),
    }


def post_webhook(webhook: Webhook, body: dict[str, Any], *, client: httpx.Client | None = None) -> PostResult:
    """POST the body with a timeout, retrying ``webhook.retries`` times; outside any transaction."""
    own = client is None
    client = client or httpx.Client(timeout=webhook.timeout)
    error = None
    try:
        for attempt in range(1, webhook.retries + 2):
            try:
                response = client.post(
                    webhook.url, json=body, headers={"Idempotency-Key": f"shouhu-{body['id']}"}
                )
                if response.is_success:
                    return PostResult(True, attempt)
                error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
            if attempt <= webhook.retries:
                time.sleep(webhook.backoff * 2 ** (attempt - 1))
        return PostResult(False, webhook.retries + 1, error)
    finally:
        if own:
            client.close()


def _write_inbox(session: Session, message: OutboxMessage, now: datetime) -> int:
    names = recipients(session, message)
    fields = {
        "kind": message.kind,
        "title": message.title,
        "body": message.body,
        "case_id": message.case_id,
        "task_id": message.task_id,
        "created_at": now,
    }
    session.add_all([InboxItem(outbox_id=message.id, username=name, **fields) for name in names])
    message.inbox_at = now
    return len(names)


def finish(*, session: Session, clock: Clock, message_id: int, worker: str, result: PostResult) -> int | None:
    """Write the inbox rows once and settle the row; None when another drainer has taken it over."""
    now = clock.now()
    mine = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.claimed_by == worker,
            OutboxMessage.delivered_at.is_(None),
        )
        .values(claimed_at=now)
    )  # takes the row lock: what we read next is stable
    if mine.rowcount != 1:  # type: ignore[attr-defined]
        return None
    message = session.scalars(
        select(OutboxMessage).where(OutboxMessage.id == message_id).execution_options(populate_existing=True)
    ).one()
    written = _write_inbox(session, message, now) if message.inbox_at is None else 0
    message.attempts += result.attempts
    message.last_error = result.error
    message.claimed_by, message.claimed_at = None, None
    if result.ok or message.attempts >= MAX_ATTEMPTS:
        message.delivered_at = now
    else:  # the inbox is written; only the webhook is tried again, later and less often
        message.retry_at = now + timedelta(minutes=min(2 ** min(message.attempts, 6), 60))
    session.flush()
    return written


def pending_count(*, session: Session) -> int:
    """Rows not yet fully delivered (for monitoring)."""
    return int(
        session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.delivered_at.is_(None))
        )
        or 0
    )


def list_inbox(
    *, session: Session, actor: Actor, unread_only: bool = False, limit: int = 50, offset: int = 0
) -> InboxPage:
    """The actor's own notices: unread first, newest first."""
    mine = InboxItem.username == actor.username
    cond = mine & InboxItem.read_at.is_(None) if unread_only else mine
    total = session.scalar(select(func.count()).select_from(InboxItem).where(cond)) or 0
    unread = (
        session.scalar(select(func.count()).select_from(InboxItem).where(mine, InboxItem.read_at.is_(None)))
        or 0
    )
    stmt = (
        select(InboxItem)
        .where(cond)
        .order_by(InboxItem.read_at.is_not(None), InboxItem.created_at.desc(), InboxItem.id.desc())
        .limit(min(max(limit, 1), 200))
        .offset(max(offset, 0))
    )
    return InboxPage(list(session.scalars(stmt)), int(total), int(unread))


def mark_read(*, session: Session, clock: Clock, actor: Actor, item_id: int) -> InboxItem:
    """Mark one of the actor's notices read (another person's notice does not exist for them)."""
    item = session.get(InboxItem, item_id)
    if item is None or item.username != actor.username:
        raise NotFound("找不到该通知", code="notification_not_found")
    if item.read_at is None:
        item.read_at = clock.now()
        session.flush()
    return item


def mark_all_read(*, session: Session, clock: Clock, actor: Actor) -> int:
    """Mark every unread notice of the actor read; the number marked."""
    result = session.execute(
        update(InboxItem)
        .where(InboxItem.username == actor.username, InboxItem.read_at.is_(None))
        .values(read_at=clock.now())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def summary(item: InboxItem) -> dict[str, Any]:
    """An inbox item as the API returns it."""
    return {
        "id": item.id,
        "kind": item.kind,
        "kind_label": KINDS.get(item.kind, item.kind),
        "title": item.title,
        "body": item.body,
        "case_id": item.case_id,
        "task_id": item.task_id,
        "created_at": iso_utc(item.created_at),
        "read_at": iso_utc(item.read_at) if item.read_at else None,
        "read": item.read_at is not None,
    }
