"""PostgreSQL for the integration tests: the URL from SHOUHU_TEST_PG_URL or .ci/pg.env (written by
.ci/system-deps.sh). Without a reachable server the tests skip, except in CI (CI=true), where they fail.

Each test session works in a schema of its own (dropped at the end), so runs sharing the server never
meet; each test starts from empty case tables and commits for real, because the point is what several
processes see of each other's commits.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, NullPool, make_url, text
from sqlalchemy.orm import Session

from tests.conftest import START
from tests.support.models import DATA, publish_folder
from workflows.infra.db import Base, create_all, make_engine

REPO = Path(__file__).resolve().parents[2]
PG_ENV = REPO / ".ci" / "pg.env"
KEEP = ("process_definitions", "process_versions")  # registered once per session


def pg_url() -> str | None:
    """The test PostgreSQL URL, from the environment or the file the CI setup script writes."""
    if os.environ.get("SHOUHU_TEST_PG_URL"):
        return os.environ["SHOUHU_TEST_PG_URL"]
    if PG_ENV.is_file():
        for line in PG_ENV.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "SHOUHU_TEST_PG_URL" and value.strip():
                return value.strip()
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
    pytest.skip(f"no local PostgreSQL ({reason}); run .ci/system-deps.sh as root")


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    """An engine on a schema of its own, so that test runs sharing the server never meet."""
    url = pg_url()
    if not url:
        _unavailable("SHOUHU_TEST_PG_URL is not set and .ci/pg.env does not exist")
    admin = make_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    schema = f"t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # noqa: BLE001 - any failure to connect means: not available
        admin.dispose()
        _unavailable(f"cannot connect or create a schema: {type(exc).__name__}")
    engine = make_engine(_with_search_path(url, schema), pool_size=5)
    create_all(engine)
    _register_models(engine)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def _with_search_path(url: str, schema: str) -> str:
    """The URL with ``options=-csearch_path=<schema>``: worker processes get the same schema from it."""
    parsed = make_url(url)
    return parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


def _register_models(engine: Engine) -> None:
    with Session(engine) as session:
        publish_folder(session, DATA / "review_demo", now=START)
        session.commit()
        publish_folder(session, REPO / "bpmn" / "guardianship_intervention", now=START)
        session.commit()


@pytest.fixture
def pg(pg_engine: Engine) -> Engine:
    """The engine, with every table but the process definitions emptied before the test."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name not in KEEP]
    with pg_engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    return pg_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def either_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The test run once on a SQLite file and once on PostgreSQL (``pg``: emptied), each holding a process
    version that case rows written directly can point to."""
    if request.param == "postgresql":
        engine = request.getfixturevalue("pg")
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'either.db'}")
        create_all(engine)
    with engine.begin() as conn:
        if conn.execute(text("SELECT count(*) FROM process_versions")).scalar() == 0:
            conn.execute(
                text(
                    "INSERT INTO process_versions (id, process_key, content_hash, name, files, calls, source,"
                    " status, created_at, created_by, note) VALUES (1, 'p', 'h', 'p', '{}', '[]', 'bundled',"
                    " 'published', '2025-01-01 00:00:00', 'x', '')"
                )
            )
    yield engine
    if request.param == "sqlite":
        engine.dispose()
