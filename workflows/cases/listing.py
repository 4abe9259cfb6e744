"""Work lists read by index, in due order: the cost depends on the rows a page shows, not on the rows there are.

A ready task is listed by role, by place and by its queue instant (``HumanTask.queue_at``: the due
instant, or for a task without one its creation plus a thousand years, so undated tasks follow every
dated one, oldest first), then by id. Each place level has an index on the ready rows (``role``, its
place column, ``queue_at``, ``id``): a village's tasks by ``jurisdiction_code``, a township's by
``township_code``, a county's by ``county_code``, a city's by ``city_code`` (the prefixes stored with
each row). A person's list is one index range per role they hold (and per village a township supervisor
stands in for), read in order and merged; a page after another starts after the last row shown (keyset),
and counting stops at ``COUNT_CAP``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, literal_column, or_, select
from sqlalchemy.orm import Session

from workflows.infra.clock import iso_utc, parse_iso
from workflows.infra.errors import ValidationFailed
from workflows.infra.models import HumanTask
from workflows.infra.queueing import PLACE_COLUMNS

COUNT_CAP = 1000  # a list counts up to this many rows and then says "1000+"
# the literal (not a bound parameter) lets SQLite and PostgreSQL use the partial indexes on ready rows
READY = HumanTask.status == literal_column("'ready'")
ORDER = (HumanTask.queue_at, HumanTask.id)


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the last row's queue instant and id (``after=`` in the API)."""

    queue_at: datetime
    task_id: str

    def text(self) -> str:
        return f"{iso_utc(self.queue_at)}~{self.task_id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        try:
            instant, task_id = text.split("~", 1)
            return cls(parse_iso(instant), task_id)
        except ValueError:
            raise ValidationFailed("翻页位置无效，请回到第一页", code="cursor_invalid") from None

    @classmethod
    def of(cls, task: HumanTask) -> Cursor:
        return cls(task.queue_at, task.id)


def place_condition(prefix: str) -> Any:
    """Tasks at or below a place: equality on the stored prefix of that level, else a prefix match."""
    if not prefix:
        return None
    column = PLACE_COLUMNS.get(len(prefix))
    if column is not None:
        return getattr(HumanTask, column) == prefix
    return HumanTask.jurisdiction_code.startswith(prefix)


@dataclass(frozen=True)
class Branch:
    """One index range: a role in a place (or among named villages), ready tasks unless told."""

    role: str
    place: Any  # a condition on the place columns, or None for everywhere
    status: str = "ready"

    def condition(self) -> Any:
        status = READY if self.status == "ready" else HumanTask.status == self.status
        cond = status & (HumanTask.role == self.role)
        return cond if self.place is None else cond & self.place


def after_condition(cursor: Cursor | None) -> Any:
    if cursor is None:
        return None
    return or_(
        HumanTask.queue_at > cursor.queue_at,
        and_(HumanTask.queue_at == cursor.queue_at, HumanTask.id > cursor.task_id),
    )


def page_rows(
    session: Session,
    branches: list[Branch],
    build: Any,
    *,
    extra: Any = None,
    limit: int,
    offset: int = 0,
    cursor: Cursor | None = None,
) -> list[Any]:
    """The first ``offset + limit`` rows of each branch in list order, merged; then the page.

    ``build(condition)`` returns the SELECT of one branch (its first column is the HumanTask).
    """
    want = offset + limit
    after = after_condition(cursor)
    streams = []
    for branch in branches:
        cond = branch.condition()
        if extra is not None:
            cond &= extra
        if after is not None:
            cond &= after
        stmt: Select[Any] = build(cond).order_by(*ORDER).limit(want)
        streams.append(list(session.execute(stmt)))
    merged: Iterator[Any] = heapq.merge(*streams, key=lambda row: (row[0].queue_at, row[0].id))
    rows = list(merged)
    return rows[offset:want]


def bounded_count(session: Session, branches: list[Branch], *, extra: Any = None, join: Any = None) -> int:
    """Rows in the list, counted up to ``COUNT_CAP + 1`` (each branch reads at most that many index rows)."""
    total = 0
    for branch in branches:
        cond = branch.condition()
        if extra is not None:
            cond &= extra
        inner = select(HumanTask.id)
        if join is not None:
            inner = join(inner)
        # in list order, so that the planner walks the list's own index range (not a wider one)
        inner = inner.where(cond).order_by(*ORDER).limit(COUNT_CAP + 1 - total)
        total += session.scalar(select(func.count()).select_from(inner.subquery())) or 0
        if total > COUNT_CAP:
            break
    return min(total, COUNT_CAP + 1)
