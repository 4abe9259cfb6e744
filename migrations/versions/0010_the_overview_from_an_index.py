"""the overview from an index: a case's place prefixes and risk colour in columns, partial indexes by place;
a case's open tasks by (case_id, status)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

LEVELS = {"city_code": 4, "county_code": 6, "township_code": 9}
PLACES = ["city_code", "county_code", "township_code", "jurisdiction_code"]
COLOURS = "('red', 'yellow', 'blue', 'green')"
RUNNING = sa.text("status = 'running'")
READY = sa.text("status = 'ready'")


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for column, length in LEVELS.items():
            batch_op.add_column(sa.Column(column, sa.String(length=length), nullable=True))
        batch_op.add_column(sa.Column("risk_colour", sa.String(length=8), nullable=True))
    # backfill: the place prefixes, and the colour when the data's risk_colour is one of the four
    sets = ", ".join(
        f"{column} = CASE WHEN length(jurisdiction_code) >= {n} THEN substr(jurisdiction_code, 1, {n}) END"
        for column, n in LEVELS.items()
    )
    if op.get_bind().dialect.name == "postgresql":
        colour = "(data ->> 'risk_colour')"
    else:
        colour = "(CASE WHEN json_type(data, '$.risk_colour') = 'text' THEN json_extract(data, '$.risk_colour') END)"
    op.execute(f"UPDATE cases SET {sets}, risk_colour = CASE WHEN {colour} IN {COLOURS} THEN {colour} END")
    op.create_index(
        "ix_cases_running_places",
        "cases",
        [*PLACES, "risk_colour", "status"],
        unique=False,
        sqlite_where=RUNNING,
        postgresql_where=RUNNING,
    )
    op.create_index(
        "ix_human_tasks_ready_places",
        "human_tasks",
        [*PLACES, "process_key", "bpmn_id", "due_at", "status"],
        unique=False,
        sqlite_where=READY,
        postgresql_where=READY,
    )
    # a case's open tasks (case_id = ? AND status = ?): without statistics SQLite took either index of one
    # equality, and on large tables ix_human_tasks_due (status) read every ready task
    op.drop_index("ix_human_tasks_case_id", table_name="human_tasks")
    op.create_index("ix_human_tasks_case_id", "human_tasks", ["case_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_human_tasks_case_id", table_name="human_tasks")
    op.create_index("ix_human_tasks_case_id", "human_tasks", ["case_id"], unique=False)
    op.drop_index("ix_human_tasks_ready_places", table_name="human_tasks")
    op.drop_index("ix_cases_running_places", table_name="cases")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("risk_colour")
        for column in LEVELS:
            batch_op.drop_column(column)
