"""Where a human task stands in the work lists: the prefixes of its place per level and its queue instant.

A list is read by role, by place and in due order (``cases/listing.py``). Place codes are national
division codes whose prefixes are the levels above (city 4, county 6, township 9, village 12 digits):
each task row stores its city, county and township prefixes, so that every level's list is an equality
on one column, and one partial index on the ready rows per level (role, place column, queue instant, id)
serves it in order. The queue instant is the due instant; a task without one follows every dated task,
oldest first (its creation a thousand years on).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, text

# place code length → the column holding that prefix of a task's place
PLACE_COLUMNS = {4: "city_code", 6: "county_code", 9: "township_code", 12: "jurisdiction_code"}
UNDATED_YEARS = 1000


def place_prefixes(code: str) -> dict[str, str | None]:
    """The stored prefixes of a place code (None where the code is shorter than the level)."""
    return {
        column: code[:length] if len(code) >= length else None
        for length, column in PLACE_COLUMNS.items()
        if column != "jurisdiction_code"
    }


def fill_listing_columns(task: Any) -> None:
    """Set a task row's stored place prefixes and queue instant from its place, due time and creation."""
    for column, value in place_prefixes(task.jurisdiction_code or "").items():
        setattr(task, column, value)
    task.queue_at = queue_instant(task.due_at, task.created_at)


def queue_instant(due_at: datetime | None, created_at: datetime) -> datetime:
    """The due instant, or the creation a thousand years on (29 February of a year without one: the 28th)."""
    if due_at is not None:
        return due_at
    try:
        return created_at.replace(year=created_at.year + UNDATED_YEARS)
    except ValueError:
        return created_at.replace(year=created_at.year + UNDATED_YEARS, day=28)


def listing_indexes() -> tuple[Index, ...]:
    """One index per place level on the ready rows only (completed tasks never weigh on a list)."""
    ready = text("status = 'ready'")
    return tuple(
        Index(
            f"ix_human_tasks_ready_{level}",
            "role",
            column,
            "queue_at",
            "id",
            sqlite_where=ready,
            postgresql_where=ready,
        )
        for level, column in (
            ("city", "city_code"),
            ("county", "county_code"),
            ("township", "township_code"),
            ("village", "jurisdiction_code"),
        )
    )
