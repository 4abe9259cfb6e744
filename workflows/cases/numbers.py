"""Case numbers people read and say on the phone (案件编号): county short name, year, sequence.

``大足-2026-000123``: the sequence counts per county and per year (Beijing time) in a ``case_counters`` row
that is bumped inside the transaction that starts the case, so two cases never share a number: PostgreSQL
holds the row lock until commit, SQLite has one writer at a time (``BEGIN IMMEDIATE``). The random
business key stays the internal reference.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from workflows.infra.clock import CST
from workflows.infra.models import CaseCounter, Place

SUFFIXES = ("自治县", "自治旗", "林区", "特区", "新区", "区", "县", "市", "旗")
COUNTY_DIGITS = 6


def short_name(name: str) -> str:
    """大足区 → 大足, 酉阳土家族苗族自治县 → 酉阳土家族苗族 (a two-character name keeps its suffix)."""
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def county_of(jurisdiction_code: str) -> str:
    return jurisdiction_code[:COUNTY_DIGITS]


def prefix_of(session: Session, county_code: str) -> str:
    """The county's short name; a name shared with another county gets its city's short name in front."""
    place = session.get(Place, county_code)
    if place is None:
        return county_code
    short = short_name(place.name)
    namesakes = session.scalars(
        select(Place.name).where(Place.level == place.level, Place.code != place.code)
    ).all()
    if any(short_name(n) == short for n in namesakes):
        parent = session.get(Place, place.parent_code or "")
        if parent is not None and parent.level != "province":
            return short_name(parent.name) + short
    return short


def _ensure_counter(session: Session, county_code: str, year: int) -> None:
    values = {"county_code": county_code, "year": year, "last_seq": 0}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(postgresql.insert(CaseCounter).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite.insert(CaseCounter).values(values).on_conflict_do_nothing())
    elif session.get(CaseCounter, (county_code, year)) is None:  # pragma: no cover - other databases
        session.add(CaseCounter(**values))
        session.flush()


def next_case_no(session: Session, *, jurisdiction_code: str, now: datetime) -> str:
    """The next number of the county of ``jurisdiction_code`` in the year of ``now`` (Beijing time)."""
    county, year = county_of(jurisdiction_code), now.astimezone(CST).year
    _ensure_counter(session, county, year)
    seq = session.execute(
        update(CaseCounter)
        .where(CaseCounter.county_code == county, CaseCounter.year == year)
        .values(last_seq=CaseCounter.last_seq + 1)
        .returning(CaseCounter.last_seq)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return format_case_no(prefix_of(session, county), year, int(seq))


def format_case_no(prefix: str, year: int, seq: int) -> str:
    return f"{prefix}-{year}-{seq:06d}"
