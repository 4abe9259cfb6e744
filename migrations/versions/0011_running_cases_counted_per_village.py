"""running cases counted per village and colour, kept by triggers on cases (the overview reads these rows)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workflows.infra import place_counts

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "place_case_counts",
        sa.Column("jurisdiction_code", sa.String(length=12), nullable=False),
        sa.Column("risk_colour", sa.String(length=8), nullable=False),
        sa.Column("city_code", sa.String(length=4), nullable=True),
        sa.Column("county_code", sa.String(length=6), nullable=True),
        sa.Column("township_code", sa.String(length=9), nullable=True),
        sa.Column("running", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("jurisdiction_code", "risk_colour"),
    )
    op.create_index(
        "ix_place_case_counts_places",
        "place_case_counts",
        ["city_code", "county_code", "township_code", "jurisdiction_code", "risk_colour", "running"],
        unique=False,
    )
    connection = op.get_bind()
    place_counts.create_triggers(connection)
    place_counts.recount(connection)  # after the triggers: in one transaction, no case is counted twice


def downgrade() -> None:
    place_counts.drop_triggers(op.get_bind())
    op.drop_index("ix_place_case_counts_places", table_name="place_case_counts")
    op.drop_table("place_case_counts")
