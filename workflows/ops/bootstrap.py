"""Prepare a database for serving: schema up to date, bundled process folders registered."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session

from workflows.infra.clock import Clock
from workflows.infra.db import create_all
from workflows.processes import registry

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def upgrade_schema(engine: Engine) -> None:
    """Run Alembic migrations to head (a fresh database is created by them too)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # configparser reads "%" as interpolation: a URL-encoded password or option must be escaped
    url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def prepare(
    engine: Engine, *, bpmn_dir: Path, clock: Clock, use_migrations: bool = True
) -> list[registry.SyncResult]:
    """Bring the schema up to date and register the bundled process folders (one transaction)."""
    if use_migrations and MIGRATIONS.is_dir():
        upgrade_schema(engine)
    elif not inspect(engine).has_table("cases"):
        create_all(engine)
    with Session(engine) as session:
        results = registry.sync_bundled(session, bpmn_dir=bpmn_dir, now=clock.now())
        session.commit()
    return results
