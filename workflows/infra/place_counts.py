"""Running cases per village and risk colour, kept by the database as the cases change.

The supervisor's overview shows, for every village of an area, its running cases by colour. Counting them
from the cases reads one index entry per running case of the area (a county of 180,000 open files: 60-80 ms,
a province's million far more); this table holds one row per (village, colour) instead, so the overview
reads as many rows as it shows. Triggers on ``cases`` keep it: a running case inserted adds one to its
village and colour, a case leaving ``running``, changing colour or place, or deleted moves or removes its one,
in the same transaction as the change, whatever code writes the row (the action path, the ORM, the sweep, an
administrator's SQL). A change that leaves status, colour and place as they were fires nothing. What row
triggers do not see is not counted: SQLite's ``INSERT OR REPLACE`` into ``cases`` (it deletes without the
delete trigger), PostgreSQL's ``TRUNCATE``, a bulk load with the triggers dropped, and a SQLite migration that
rebuilds the ``cases`` table (it must create the triggers again). ``shouhu verify-all`` finds any such drift.

A case's change touches its two rows (before, after) in key order on PostgreSQL, so two cases changing
colour in opposite directions at once wait for each other instead of deadlocking. A transaction that changes
several cases of the same villages (a sweep batch whose timers close cases) can still meet another in a
circle; PostgreSQL then cancels one, which is rolled back whole and done again (the next sweep). ``recount`` builds the table from the cases
(the migration's backfill, after a bulk load with the triggers off, and a repair); ``differences`` compares
it with a recount (``shouhu verify-all``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Index, Integer, String, event, inspect, text
from sqlalchemy.orm import Mapped, mapped_column

from workflows.infra.models import Base

UNRATED = ""  # 未分级: a running case whose data has none of the four colours (NULL in cases.risk_colour)


class PlaceCaseCount(Base):
    """How many running cases a village has of one colour (``risk_colour`` '' for 未分级)."""

    __tablename__ = "place_case_counts"
    jurisdiction_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    risk_colour: Mapped[str] = mapped_column(String(8), primary_key=True)
    city_code: Mapped[str | None] = mapped_column(String(4))
    county_code: Mapped[str | None] = mapped_column(String(6))
    township_code: Mapped[str | None] = mapped_column(String(9))
    running: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        Index(
            "ix_place_case_counts_places",
            "city_code",
            "county_code",
            "township_code",
            "jurisdiction_code",
            "risk_colour",
            "running",
        ),
    )


_COLUMNS = "jurisdiction_code, risk_colour, city_code, county_code, township_code, running"
_CHANGED = (
    "(OLD.status = 'running' OR NEW.status = 'running') AND (OLD.status {ne} NEW.status"
    " OR OLD.risk_colour {ne} NEW.risk_colour OR OLD.jurisdiction_code {ne} NEW.jurisdiction_code)"
)


def _add_sqlite(row: str, when: str) -> str:
    return (
        f"INSERT INTO place_case_counts ({_COLUMNS}) SELECT {row}.jurisdiction_code,"
        f" coalesce({row}.risk_colour, ''), {row}.city_code, {row}.county_code, {row}.township_code, 1"
        f" WHERE {when} ON CONFLICT (jurisdiction_code, risk_colour) DO UPDATE SET running = running + 1;"
    )


def _remove_sqlite(row: str, when: str) -> str:
    return (
        "UPDATE place_case_counts SET running = running - 1 WHERE"
        f" jurisdiction_code = {row}.jurisdiction_code AND risk_colour = coalesce({row}.risk_colour, '')"
        f" AND {when};"
    )


_SQLITE_TRIGGERS = {
    "place_case_counts_insert": (
        "AFTER INSERT ON cases WHEN NEW.status = 'running'",
        _add_sqlite("NEW", "1"),
    ),
    "place_case_counts_update": (
        f"AFTER UPDATE OF status, risk_colour, jurisdiction_code ON cases WHEN {_CHANGED.format(ne='IS NOT')}",
        _remove_sqlite("OLD", "OLD.status = 'running'") + " " + _add_sqlite("NEW", "NEW.status = 'running'"),
    ),
    "place_case_counts_delete": (
        "AFTER DELETE ON cases WHEN OLD.status = 'running'",
        _remove_sqlite("OLD", "1"),
    ),
}

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION place_case_counts_follow() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
DECLARE
    gone text[];
    came text[];
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.status = 'running' THEN
        gone := ARRAY[OLD.jurisdiction_code, coalesce(OLD.risk_colour, '')];
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.status = 'running' THEN
        came := ARRAY[NEW.jurisdiction_code, coalesce(NEW.risk_colour, '')];
    END IF;
    -- the smaller key first: two transactions lock the same two rows in the same order
    IF gone IS NOT NULL AND (came IS NULL OR gone < came) THEN
        UPDATE place_case_counts SET running = running - 1
        WHERE jurisdiction_code = gone[1] AND risk_colour = gone[2];
        gone := NULL;
    END IF;
    IF came IS NOT NULL THEN
        INSERT INTO place_case_counts AS c (jurisdiction_code, risk_colour, city_code, county_code,
                                            township_code, running)
        VALUES (came[1], came[2], NEW.city_code, NEW.county_code, NEW.township_code, 1)
        ON CONFLICT (jurisdiction_code, risk_colour) DO UPDATE SET running = c.running + 1;
    END IF;
    IF gone IS NOT NULL THEN
        UPDATE place_case_counts SET running = running - 1
        WHERE jurisdiction_code = gone[1] AND risk_colour = gone[2];
    END IF;
    RETURN NULL;
END
$$
"""

_PG_TRIGGERS = {
    "place_case_counts_insert": "AFTER INSERT ON cases FOR EACH ROW WHEN (NEW.status = 'running')",
    "place_case_counts_update": "AFTER UPDATE OF status, risk_colour, jurisdiction_code ON cases FOR EACH ROW"
    f" WHEN ({_CHANGED.format(ne='IS DISTINCT FROM')})",
    "place_case_counts_delete": "AFTER DELETE ON cases FOR EACH ROW WHEN (OLD.status = 'running')",
}


def create_triggers(connection: Connection) -> None:
    """The triggers that keep the counts, in place of any earlier ones (the table and ``cases`` must exist)."""
    drop_triggers(connection)
    if connection.dialect.name == "postgresql":
        connection.execute(text(_PG_FUNCTION))
        for name, when in _PG_TRIGGERS.items():
            connection.execute(
                text(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION place_case_counts_follow()")
            )
        return
    for name, (when, body) in _SQLITE_TRIGGERS.items():
        connection.execute(text(f"CREATE TRIGGER {name} {when} BEGIN {body} END"))


def drop_triggers(connection: Connection) -> None:
    """Remove the triggers (before a bulk load; ``create_triggers`` and ``recount`` afterwards)."""
    for name in _SQLITE_TRIGGERS:
        on = " ON cases" if connection.dialect.name == "postgresql" else ""
        connection.execute(text(f"DROP TRIGGER IF EXISTS {name}{on}"))
    if connection.dialect.name == "postgresql":
        connection.execute(text("DROP FUNCTION IF EXISTS place_case_counts_follow()"))


# the running cases in groups of village and colour, as the counts keep them
_RUNNING_GROUPS = "FROM cases WHERE status = 'running' GROUP BY jurisdiction_code, coalesce(risk_colour, '')"
_RECOUNT = (
    "SELECT jurisdiction_code, coalesce(risk_colour, '') AS colour, min(city_code), min(county_code),"
    f" min(township_code), count(*) {_RUNNING_GROUPS}"
)


def recount(connection: Connection) -> list[tuple[str, str, int, int]]:
    """Replace the counts by a count of the running cases; the differences found first. No case changes
    meanwhile: on PostgreSQL the cases are locked against writes until the transaction ends, SQLite's
    transaction holds the write lock."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("LOCK TABLE cases IN SHARE MODE"))
    before = differences(connection)
    connection.execute(text("DELETE FROM place_case_counts"))
    connection.execute(text(f"INSERT INTO place_case_counts ({_COLUMNS}) {_RECOUNT}"))
    return before


# kept and counted side by side in one statement, so both are read from the same snapshot
_DIFFERENCES = text(
    "SELECT code, colour, sum(kept), sum(counted) FROM ("
    " SELECT jurisdiction_code AS code, risk_colour AS colour, running AS kept, 0 AS counted"
    " FROM place_case_counts"
    " UNION ALL"
    f" SELECT jurisdiction_code, coalesce(risk_colour, ''), 0, count(*) {_RUNNING_GROUPS}"
    ") AS both_sides GROUP BY code, colour HAVING sum(kept) <> sum(counted) ORDER BY code, colour"
)


def differences(connection: Connection) -> list[tuple[str, str, int, int]]:
    """(village, colour, kept, counted) wherever the kept count is not the count of the running cases."""
    return [
        (code, colour, int(kept), int(counted))
        for code, colour, kept, counted in connection.execute(_DIFFERENCES)
    ]


@event.listens_for(Base.metadata, "after_create")
def _triggers_with_the_tables(_metadata: Any, connection: Connection, tables: Any = None, **_: Any) -> None:
    """``create_all`` (tests, the embedded default) creates the triggers once both tables exist, also when they
    are created by separate calls."""
    names = {t.name for t in tables} if tables is not None else {"cases", "place_case_counts"}
    both = {"cases", "place_case_counts"}
    if names & both and both <= set(inspect(connection).get_table_names()):
        create_triggers(connection)
