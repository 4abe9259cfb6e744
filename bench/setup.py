"""Shared set-up for the benchmark parts: a scratch database with a bundled process and a few people."""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from workflows.cases import lifecycle
from workflows.infra.clock import CST, FixedClock
from workflows.infra.db import create_all, make_engine, make_sessionmaker
from workflows.people.access import Actor
from workflows.processes import registry

BPMN = Path(__file__).resolve().parent.parent / "bpmn"
VILLAGE = "500111101201"
DIRECTOR = Actor("bench_director", frozenset({"village_director"}), VILLAGE)


def pg_url() -> str | None:
    """The PostgreSQL URL for the large parts: SHOUHU_BENCH_PG_URL, else the test URL in .ci/pg.env."""
    url = os.environ.get("SHOUHU_BENCH_PG_URL")
    if url:
        return url
    env = Path(__file__).resolve().parent.parent / ".ci" / "pg.env"
    if env.is_file():
        for line in env.read_text().splitlines():
            if line.startswith("SHOUHU_TEST_PG_URL="):
                return line.split("=", 1)[1].strip()
    return None


@contextmanager
def sqlite_db() -> Iterator[Engine]:
    """A fresh SQLite file with every table, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="shouhu-bench-") as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        create_all(engine)
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def pg_db(url: str, schema: str) -> Iterator[Engine]:
    """A schema of its own on PostgreSQL with every table, dropped afterwards."""
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        create_all(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def publish_bundled(sessions: sessionmaker[Session], now: datetime) -> None:
    """Register and publish every bundled process, as start-up does."""
    with sessions() as session:
        registry.sync_bundled(session, bpmn_dir=BPMN, now=now)
        session.commit()


def services(engine: Engine, now: datetime) -> tuple[sessionmaker[Session], FixedClock]:
    sessions = make_sessionmaker(engine)
    publish_bundled(sessions, now)
    return sessions, FixedClock(now)


def cst_day(instant: datetime) -> str:
    return instant.astimezone(CST).date().isoformat()


def visit_data(day: str) -> dict[str, Any]:
    """A home visit of the risk-visits process that finds a blue fact and carries on (next in two months)."""
    return {
        "visit_date": day,
        "child_seen": True,
        "carer_present": True,
        "findings": "生活正常，监护到位",
        "risk_facts": ["orphan"],
        "tracking_outcome": "continue",
    }


def risk_start_data(day: str) -> dict[str, Any]:
    return {
        "child_ref": "C-0001",
        "child_name": "小华",
        "address": "甲镇乙村 3 组 12 号",
        "risk_facts": ["orphan"],
        "last_visit_date": day,
        "facts_note": "",
    }


STEP = timedelta(days=20)


def start_tracking(sessions: sessionmaker[Session], clock: FixedClock) -> str:
    """A risk-visits case (分级分色跟踪) of the bench village, started now by its director; committed."""
    with sessions() as session:
        case_id = lifecycle.start_case(
            session=session,
            clock=clock,
            actor=DIRECTOR,
            process_key="risk_visits",
            data=risk_start_data(cst_day(clock.now())),
            jurisdiction_code=VILLAGE,
        ).case.id
        session.commit()
    return str(case_id)


def ms(seconds: float) -> float:
    return seconds * 1000


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
