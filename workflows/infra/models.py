"""Typed tables: process versions, cases, human tasks, the case log and idempotency keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from workflows.infra.overview_columns import fill_case_columns, task_indexes
from workflows.infra.queueing import fill_listing_columns, listing_indexes
from workflows.infra.utc_column import UTCDateTime as UTCDateTime  # the migrations import it from here


class Base(DeclarativeBase):
    """The declarative base of every Shouhu table."""


class ProcessDefinition(Base):
    """One process key and the pointer to its published version."""

    __tablename__ = "process_definitions"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    published_version_id: Mapped[int | None] = mapped_column(ForeignKey("process_versions.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_by: Mapped[str | None] = mapped_column(String(64))


class ProcessVersion(Base):
    """An immutable set of model files, identified by the sha256 of its files and of what it calls."""

    __tablename__ = "process_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_key: Mapped[str] = mapped_column(String(64), index=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    files: Mapped[dict[str, str]] = mapped_column(JSON)
    calls: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(16))  # bundled | uploaded
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | published | retired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


class Case(Base):
    """One running or finished process instance, pinned to the version it started on."""

    __tablename__ = "cases"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    business_key: Mapped[str] = mapped_column(String(64), unique=True)  # internal, random
    case_no: Mapped[str] = mapped_column(String(40))  # 案件编号 people read and say: 大足-2026-000123
    process_key: Mapped[str] = mapped_column(String(64), index=True)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)  # running | completed | cancelled
    jurisdiction_code: Mapped[str] = mapped_column(String(12), index=True)
    child_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    parent_case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_event_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the overview's columns (infra/overview_columns.py): place prefixes on insert, the colour with the data
    city_code: Mapped[str | None] = mapped_column(String(4))
    county_code: Mapped[str | None] = mapped_column(String(6))
    township_code: Mapped[str | None] = mapped_column(String(9))
    risk_colour: Mapped[str | None] = mapped_column(String(8))
    __table_args__ = (UniqueConstraint("case_no", name="uq_cases_case_no"),)


event.listen(Case, "before_insert", fill_case_columns)


class CaseCounter(Base):
    """The last case number given in a county in a year; bumped in the transaction that starts the case."""

    __tablename__ = "case_counters"
    county_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class HumanTask(Base):
    """A user task as a row, so that listing work never deserializes a workflow."""

    __tablename__ = "human_tasks"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    process_key: Mapped[str] = mapped_column(String(64))
    bpmn_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(64))
    jurisdiction_code: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(16))  # ready | completed | cancelled
    assignee: Mapped[str | None] = mapped_column(String(64), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_by: Mapped[str | None] = mapped_column(String(64))
    # the work lists' columns, filled on insert (infra/queueing.py)
    city_code: Mapped[str | None] = mapped_column(String(4))
    county_code: Mapped[str | None] = mapped_column(String(6))
    township_code: Mapped[str | None] = mapped_column(String(9))
    queue_at: Mapped[datetime] = mapped_column(UTCDateTime())

    # (case_id, status): a case's open tasks by two equalities, never mistaken by SQLite for ix_human_tasks_due
    __table_args__ = (
        *listing_indexes(),
        *task_indexes(),
        Index("ix_human_tasks_due", "status", "due_at"),
        Index("ix_human_tasks_case_id", "case_id", "status"),
    )


@event.listens_for(HumanTask, "before_insert")
def _fill_listing_columns(_mapper: Any, _connection: Any, task: HumanTask) -> None:
    fill_listing_columns(task)


class ChainedRecord:
    """Columns of an append-only, hash-chained log entry (see workflows/log/events.py)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class CaseEvent(ChainedRecord, Base):
    """The append-only, hash-chained case log: one row per input or outcome."""

    __tablename__ = "case_events"
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))

    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_events_case_seq"),)


class Checkpoint(Base):
    """A signed statement of every case log's head at one instant (workflows/log/checkpoints.py)."""

    __tablename__ = "checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    cases: Mapped[int] = mapped_column(Integer)
    heads: Mapped[list[list[Any]]] = mapped_column(JSON)  # [case id, last seq, last hash], by case id
    merkle_root: Mapped[str] = mapped_column(String(64))
    previous: Mapped[str] = mapped_column(String(64))  # sha256 of the previous checkpoint's signature
    algorithm: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class IdempotencyKey(Base):
    """The first result of a retried action, stored in the action's own transaction."""

    __tablename__ = "idempotency_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("actor", "key", name="uq_idempotency_actor_key"),)


class Place(Base):
    """A place in the hierarchy province → city → county → township → village (national division codes)."""

    __tablename__ = "places"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)  # significant prefix: 2/4/6/9/12 digits
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))  # province | city | county | township | village
    parent_code: Mapped[str | None] = mapped_column(String(12), index=True)
    core_district: Mapped[bool] = mapped_column(default=False)


class User(Base):
    """One real-name account per worker; roles and jurisdiction decide what they see and do."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    roles: Mapped[list[str]] = mapped_column(JSON)
    jurisdiction_code: Mapped[str] = mapped_column(String(12), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    certified: Mapped[bool] = mapped_column(default=False)
    certificate_no: Mapped[str | None] = mapped_column(String(64))
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AccessLog(Base):
    """Who read which child's data, when, through which endpoint."""

    __tablename__ = "access_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    endpoint: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    child_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(200), default="")
    roles: Mapped[str] = mapped_column(String(300), default="")  # the reader's roles then, comma-separated


class AccountEvent(Base):
    """The log of account changes (created, roles changed, deactivated, certified …)."""

    __tablename__ = "account_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class OutboxMessage(Base):
    """A notification written in the same transaction as what caused it; drained to inboxes and the webhook."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # task_assigned | escalation | task_due_soon | task_overdue
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)  # "<kind>:<task id>": written once
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    role: Mapped[str | None] = mapped_column(String(64))  # recipients: who may work the task there …
    jurisdiction_code: Mapped[str | None] = mapped_column(String(12))
    username: Mapped[str | None] = mapped_column(String(64))  # … or this one person (a claimed task)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    inbox_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_outbox_pending", "delivered_at", "id"),)


class InboxItem(Base):
    """One notification in one person's in-app inbox."""

    __tablename__ = "inbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"))
    username: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    case_id: Mapped[str | None] = mapped_column(String(36))
    task_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("outbox_id", "username", name="uq_inbox_outbox_user"),
        Index("ix_inbox_user_unread", "username", "read_at", "created_at"),
    )


class Document(Base):
    """A generated paper (e.g. the annual progress report), stored with the sha256 of its content."""

    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    jurisdiction_code: Mapped[str] = mapped_column(String(12))
    period: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)  # a case's statutory paper
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # the same paper as PDF (A4)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_documents_kind_place_period", "kind", "jurisdiction_code", "period"),)


class TaskDraft(Base):
    """A half-filled task form kept on the server per person and task, so a weak connection loses nothing."""

    __tablename__ = "task_drafts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("human_tasks.id"))
    username: Mapped[str] = mapped_column(String(64))
    form_values: Mapped[dict[str, Any]] = mapped_column(JSON)  # raw form input: name → text or texts
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("task_id", "username", name="uq_task_drafts_task_user"),)


class Child(Base):
    """One file per child (一人一档): the current data; every change is also a ChildRecord."""

    __tablename__ = "children"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    file_no: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | merged | closed
    merged_into: Mapped[str | None] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(100))
    gender: Mapped[str | None] = mapped_column(String(8))
    birth_date: Mapped[str | None] = mapped_column(String(10))
    id_number: Mapped[str | None] = mapped_column(String(18), index=True)
    household: Mapped[str | None] = mapped_column(String(16))
    village_code: Mapped[str] = mapped_column(String(12), index=True)
    address: Mapped[str | None] = mapped_column(String(200))
    guardians: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    carer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    categories: Mapped[list[str] | None] = mapped_column(JSON)
    risk_colour: Mapped[str | None] = mapped_column(String(8))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_record_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_record_hash: Mapped[str] = mapped_column(String(64))


class ChildRecord(ChainedRecord, Base):
    """The append-only, hash-chained log of a child's file: registration, changes, visits, merges."""

    __tablename__ = "child_records"
    child_id: Mapped[str] = mapped_column(ForeignKey("children.id"))

    __table_args__ = (UniqueConstraint("child_id", "seq", name="uq_child_records_child_seq"),)


class Attachment(Base):
    """An uploaded file of a case (signed agreement, court ruling …), kept with its sha256."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProcessPublication(Base):
    """Who pointed a process at which version, when: each publication, rollback and start-up update."""

    __tablename__ = "process_publications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_key: Mapped[str] = mapped_column(String(64), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"))
    previous_version_id: Mapped[int | None] = mapped_column(ForeignKey("process_versions.id"))
    action: Mapped[str] = mapped_column(String(16))  # publish | rollback | bundled
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
