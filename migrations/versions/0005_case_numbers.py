"""case numbers people can read (大足-2026-000123) with a per-county, per-year counter; existing cases numbered

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 03:30:00
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CST = ZoneInfo("Asia/Shanghai")
# the rule of workflows/cases/numbers.py, frozen here as it was when the numbers were first given
SUFFIXES = ("自治县", "自治旗", "林区", "特区", "新区", "区", "县", "市", "旗")


def _short(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _prefixes(connection: sa.Connection) -> dict[str, str]:
    places = {
        code: (name, level, parent)
        for code, name, level, parent in connection.execute(
            sa.text("SELECT code, name, level, parent_code FROM places")
        )
    }
    result = {}
    for code, (name, level, parent) in places.items():
        short = _short(name)
        namesake = any(_short(n) == short and lv == level and c != code for c, (n, lv, _) in places.items())
        above = places.get(parent or "")
        if namesake and above is not None and above[1] != "province":
            short = _short(above[0]) + short
        result[code] = short
    return result


def _backfill(connection: sa.Connection) -> None:
    prefixes = _prefixes(connection)
    counters: dict[tuple[str, int], int] = {}
    rows = connection.execute(
        sa.text("SELECT id, jurisdiction_code, created_at FROM cases ORDER BY created_at, id")
    ).all()
    for case_id, code, created in rows:
        instant = created if isinstance(created, datetime) else datetime.fromisoformat(str(created))
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
        county, year = code[:6], instant.astimezone(CST).year
        seq = counters[(county, year)] = counters.get((county, year), 0) + 1
        number = f"{prefixes.get(county, county)}-{year}-{seq:06d}"
        connection.execute(
            sa.text("UPDATE cases SET case_no = :no WHERE id = :id"), {"no": number, "id": case_id}
        )
    for (county, year), seq in counters.items():
        connection.execute(
            sa.text("INSERT INTO case_counters (county_code, year, last_seq) VALUES (:c, :y, :s)"),
            {"c": county, "y": year, "s": seq},
        )


def upgrade() -> None:
    op.create_table(
        "case_counters",
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("county_code", "year"),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("case_no", sa.String(length=40), nullable=True))
    _backfill(op.get_bind())
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("case_no", existing_type=sa.String(length=40), nullable=False)
        batch_op.create_unique_constraint("uq_cases_case_no", ["case_no"])


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint("uq_cases_case_no", type_="unique")
        batch_op.drop_column("case_no")
    op.drop_table("case_counters")
