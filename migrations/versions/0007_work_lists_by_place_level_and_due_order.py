"""work lists by place level and due order: prefix columns, queue instant, partial indexes on ready tasks

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

READY = sa.text("status = 'ready'")
LEVELS = {"city_code": 4, "county_code": 6, "township_code": 9}
INDEXES = {
    "ix_human_tasks_ready_village": "jurisdiction_code",
    "ix_human_tasks_ready_township": "township_code",
    "ix_human_tasks_ready_county": "county_code",
    "ix_human_tasks_ready_city": "city_code",
}


def upgrade() -> None:
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        for column, length in LEVELS.items():
            batch_op.add_column(sa.Column(column, sa.String(length=length), nullable=True))
        batch_op.add_column(sa.Column("queue_at", sa.DateTime(), nullable=True))
        batch_op.drop_index("ix_human_tasks_worklist")
    # backfill: the place prefixes, and the queue instant (due, or created + 1000 years when undated)
    sets = ", ".join(
        f"{column} = CASE WHEN length(jurisdiction_code) >= {n} THEN substr(jurisdiction_code, 1, {n}) END"
        for column, n in LEVELS.items()
    )
    if op.get_bind().dialect.name == "postgresql":
        undated = "created_at + interval '1000 years'"
    else:  # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff'
        undated = "printf('%04d', CAST(substr(created_at, 1, 4) AS INTEGER) + 1000) || substr(created_at, 5)"
    op.execute(f"UPDATE human_tasks SET {sets}, queue_at = COALESCE(due_at, {undated})")
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.alter_column("queue_at", existing_type=sa.DateTime(), nullable=False)
    for name, column in INDEXES.items():
        op.create_index(
            name,
            "human_tasks",
            ["role", column, "queue_at", "id"],
            unique=False,
            sqlite_where=READY,
            postgresql_where=READY,
        )


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="human_tasks")
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_human_tasks_worklist", ["status", "role", "jurisdiction_code", "due_at"], unique=False
        )
        batch_op.drop_column("queue_at")
        for column in LEVELS:
            batch_op.drop_column(column)
