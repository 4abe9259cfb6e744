"""no index of running cases by place: the overview reads the per-village counts (0011), nothing else read it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 11:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    op.drop_index("ix_cases_running_places", table_name="cases")


def downgrade() -> None:
    op.create_index(
        "ix_cases_running_places",
        "cases",
        ["city_code", "county_code", "township_code", "jurisdiction_code", "risk_colour", "status"],
        unique=False,
        sqlite_where=RUNNING,
        postgresql_where=RUNNING,
    )
