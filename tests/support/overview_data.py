"""A varied set of cases for the supervisor's overview, and the overview's figures recounted row by row.

Cases of two processes in five villages (two townships, two counties, two provinces): risk-visits cases
of each colour, one whose colour changes at a visit (blue → yellow), one closed at a visit, one closed at
once by a red grade (which opens a linked intervention case), and review cases without a colour. Also
the rows of a database at revision 0009 (before the overview's columns), for the migration's tests.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.support.clock import START
from workflows.cases import human_tasks
from workflows.cases import lifecycle as cases
from workflows.cases.worklist import COLOURS, Overview, overview
from workflows.infra.clock import FixedClock
from workflows.infra.models import Case, HumanTask
from workflows.ops.bootstrap import MIGRATIONS
from workflows.people.access import Actor

VILLAGES = ("500111101201", "500111101202", "500111102201", "500112101201", "440103001001")
FACTS = {"red": ["violence"], "yellow": ["suspected_dropout"], "blue": ["orphan"], "green": []}


def director(village: str) -> Actor:
    return Actor(f"director_{village}", frozenset({"village_director"}), village)


def start_tracking(session: Session, clock: FixedClock, village: str, colour: str, child: str) -> Case:
    return cases.start_case(
        session=session,
        clock=clock,
        actor=director(village),
        process_key="risk_visits",
        jurisdiction_code=village,
        child_ref=child,
        data={
            "child_ref": child,
            "child_name": "小华",
            "address": "甲村 3 组",
            "risk_facts": FACTS[colour],
            "last_visit_date": "2026-02-20",
            "facts_note": "",
        },
    ).case


def visit(session: Session, clock: FixedClock, case: Case, facts: list[str], outcome: str) -> None:
    actor = director(case.jurisdiction_code)
    [task] = session.scalars(
        select(HumanTask).where(
            HumanTask.case_id == case.id, HumanTask.bpmn_id == "home_visit", HumanTask.status == "ready"
        )
    ).all()
    human_tasks.complete(
        session=session,
        clock=clock,
        actor=actor,
        task_id=task.id,
        data={
            "visit_date": "2026-03-02",
            "child_seen": True,
            "carer_present": True,
            "findings": "情况已记录。",
            "risk_facts": facts,
            "tracking_outcome": outcome,
        },
    )


def build(session: Session, clock: FixedClock) -> dict[str, str]:
    """The data set; returns the ids of the cases whose colour changed and that were closed."""
    n = 0
    for i, village in enumerate(VILLAGES):
        for colour in ("yellow", "blue", "green", "blue", "green")[: 2 + i % 4]:
            n += 1
            start_tracking(session, clock, village, colour, f"child-{n}")
        for _ in range(i % 3 + 1):
            cases.start_case(
                session=session,
                clock=clock,
                actor=director(village),
                process_key="review_demo",
                data={"child_name": "小明", "reporter_name": "张三"},
                jurisdiction_code=village,
            )
        clock.advance(days=9)
    changed = start_tracking(session, clock, VILLAGES[0], "blue", "child-changed")
    visit(session, clock, changed, FACTS["yellow"], "continue")
    closed = start_tracking(session, clock, VILLAGES[1], "green", "child-closed")
    visit(session, clock, closed, [], "turned_18")
    red = start_tracking(session, clock, VILLAGES[2], "red", "child-red")
    return {"changed": changed.id, "closed": closed.id, "red": red.id}


def is_visit(task: Any) -> bool:
    return "visit" in task.bpmn_id or (
        task.process_key == "risk_visits" and task.bpmn_id in ("home_visit", "contact")
    )


def recount(session: Session, prefix: str, now: datetime) -> dict[str, Any]:
    """Every case and task row read and counted in Python: what the overview must show."""
    running: dict[str, Counter[str | None]] = {}
    for status, code, data in session.execute(select(Case.status, Case.jurisdiction_code, Case.data)):
        if status == "running" and code.startswith(prefix):
            colour = (data or {}).get("risk_colour")
            running.setdefault(code, Counter())[colour if colour in COLOURS else None] += 1
    overdue: dict[str, Counter[bool]] = {}
    visits = False
    for task in session.scalars(select(HumanTask)):
        if not task.jurisdiction_code.startswith(prefix):
            continue
        visits = visits or is_visit(task)
        if task.status == "ready" and task.due_at is not None and task.due_at < now:
            overdue.setdefault(task.jurisdiction_code, Counter())[is_visit(task)] += 1
    codes = set(running) | set(overdue)
    figures = {
        code: (
            sum(running.get(code, Counter()).values()),
            {colour: running.get(code, Counter())[colour] for colour in COLOURS},
            running.get(code, Counter())[None],
            overdue.get(code, Counter())[False],
            overdue.get(code, Counter())[True],
        )
        for code in codes
    }
    return {"figures": figures, "has_visits": visits}


def shown(board: Overview) -> dict[str, Any]:
    """The overview's figures in the recount's shape (places with nothing to count left out)."""
    figures = {
        row.code: (row.running, dict(row.colours), row.unrated, row.overdue_tasks, row.overdue_visits)
        for row in board.rows
        if row.running or row.overdue_tasks or row.overdue_visits
    }
    return {"figures": figures, "has_visits": board.has_visits}


def supervisor(code: str) -> Actor:
    return Actor(f"overview_{code}", frozenset({"county_civil_affairs"}), code)


def upgrade(engine: Engine, url: str, revision: str) -> None:
    """Run the migrations on ``engine`` up to ``revision``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


OLD_CASES = [  # id, place, status, data → colour the migration must give
    ("c-red", "500111101201", "running", '{"risk_colour": "red", "child_name": "甲"}', "red"),
    ("c-green", "500111101202", "completed", '{"risk_colour": "green"}', "green"),
    ("c-odd", "500111102201", "running", '{"risk_colour": "purple"}', None),
    ("c-number", "500112101201", "running", '{"risk_colour": 3}', None),
    ("c-none", "5001", "running", '{"child_name": "乙"}', None),
]


def fill_old_rows(engine: Engine) -> None:
    """Cases as a database at revision 0009 holds them (no overview columns)."""
    insert = sa.text(
        "INSERT INTO cases (id, business_key, case_no, process_key, process_version_id, status,"
        " jurisdiction_code, state, data, version, last_event_seq, last_event_hash, created_at, created_by,"
        " updated_at) VALUES (:id, :id, :id, 'p', 1, :status, :code, '{}', :data, 1, 0, '-',"
        " '2026-01-01 00:00:00', 'x', '2026-01-01 00:00:00')"
    )
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO process_versions (id, process_key, content_hash, name, files, calls, source,"
                " status, created_at, created_by, note) VALUES (1, 'p', 'h', 'p', '{}', '[]', 'bundled',"
                " 'published', '2025-01-01 00:00:00', 'x', '')"
            )
        )
        for case_id, code, status, data, _ in OLD_CASES:
            connection.execute(insert, {"id": case_id, "code": code, "status": status, "data": data})


def check_filled(engine: Engine) -> None:
    """After the migration: each old case's colour and place prefixes, and the overview equal to a recount."""
    with Session(engine) as session:
        stored = {
            r.id: (r.risk_colour, r.city_code, r.county_code, r.township_code)
            for r in session.execute(
                select(Case.id, Case.risk_colour, Case.city_code, Case.county_code, Case.township_code)
            )
        }
        expected = {
            case_id: (
                colour,
                code[:4],
                code[:6] if len(code) >= 6 else None,
                code[:9] if len(code) >= 9 else None,
            )
            for case_id, code, _, _, colour in OLD_CASES
        }
        assert stored == expected
        clock = FixedClock(START + timedelta(days=1))
        for code in ("500111101", "500111", "5001"):
            board = overview(session=session, clock=clock, actor=supervisor(code))
            assert shown(board) == recount(session, code, clock.now())
