"""What the supervisor's overview counts, kept in columns and indexes so that it reads an index range.

The overview counts, per village of an area, the running cases by risk colour and the overdue ready tasks
(visits apart). A case row stores its risk colour (``risk_colour``: its data's ``risk_colour`` when one of
the four colours, else NULL for 未分级), set on insert and written in the same UPDATE as the data by every
action (``cases/actions.py``), and the city, county and township prefixes of its place, filled on insert
like a task's (``infra/queueing.py``). The running cases are counted per village and colour by triggers
(``infra/place_counts.py``, whose rows carry the same prefixes). One partial index on the ready tasks (city,
county, township, village, process, step, due instant) serves an area of any level as one range — equality
on the stored prefixes of its level and the levels above — read from the index alone and already in the
order of the counts' groups. The index ends with the status, although it holds one status only: SQLite then
reads it as covering. It must not lead: PostgreSQL drops a condition the partial index implies, and a
leading column without a condition is a full index scan.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Index, literal_column, text

from workflows.infra.queueing import PLACE_COLUMNS, place_prefixes

RISK_COLOURS = ("red", "yellow", "blue", "green")  # 四色: 红、黄、蓝、绿
READY_TASKS = "status = 'ready'"
PLACE_ORDER = ("city_code", "county_code", "township_code", "jurisdiction_code")


def risk_colour(data: Any) -> str | None:
    """A case's colour as the overview reads it: its data's ``risk_colour`` when one of the four, else None."""
    value = data.get("risk_colour") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value in RISK_COLOURS else None


def fill_case_columns(_mapper: Any, _connection: Any, case: Any) -> None:
    """Before a case row is inserted: its place prefixes and its colour, from its place and data."""
    for column, value in place_prefixes(case.jurisdiction_code or "").items():
        setattr(case, column, value)
    case.risk_colour = risk_colour(case.data)


def place_match(entity: Any, prefix: str) -> list[Any]:
    """Conditions for rows at or below ``prefix``: the stored prefix of each level it covers, equal.

    A code of another length (a province's two digits) adds a prefix match on the place itself.
    """
    conditions = [
        getattr(entity, column) == prefix[:length]
        for length, column in PLACE_COLUMNS.items()
        if length <= len(prefix)
    ]
    if prefix and len(prefix) not in PLACE_COLUMNS:
        conditions.append(entity.jurisdiction_code.startswith(prefix))
    return conditions


def place_groups(entity: Any) -> list[Any]:
    """The place columns in index order: grouping by them follows the index (no sort)."""
    return [getattr(entity, column) for column in PLACE_ORDER]


def ready(entity: Any) -> Any:
    """``status = 'ready'`` with a literal, as the partial index's condition must appear in the query."""
    return entity.status == literal_column("'ready'")


def task_indexes() -> tuple[Index, ...]:
    where = text(READY_TASKS)
    columns = (*PLACE_ORDER, "process_key", "bpmn_id", "due_at", "status")
    return (Index("ix_human_tasks_ready_places", *columns, sqlite_where=where, postgresql_where=where),)
