"""(c) Task lists at 1,000,000 open cases: a village director's and a county user's list, one case page,
and the supervisor's overview of a township and of a county.

Seeding: 2,000 villages (10 counties × 20 townships × 10 villages) share the open cases; each case has one
ready task for its village director, and every tenth one also a ready task for county civil affairs
(lanes are roles, a task's place is its case's village). Rows are written with COPY on PostgreSQL (a
schema of its own, dropped afterwards; SHOUHU_BENCH_PG_URL or .ci/pg.env) and executemany on SQLite.
A few real cases are started through the services for the case page. Measured: ``list_tasks`` (the API's
list, 50 rows) of a village director and of a county user, p50/p95 of repeated calls, and the case page
(``views.case_view``), and the overview (``worklist.overview``: running cases by colour and overdue tasks
per village) of a township supervisor and of a county user, each beside the same run's cost of its two
counts read as before the colour column (the colour from each case's data, the place by a prefix match).
The PostgreSQL plans of both lists and of the county's overview counts are printed (no Sort node, no
sequential scan expected); PostgreSQL is vacuumed after seeding, as autovacuum would.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, text

from bench.report import Figure
from bench.setup import median, ms, p95, pg_db, pg_url, publish_bundled, sqlite_db
from workflows.cases import human_tasks, views, worklist
from workflows.cases import lifecycle as cases
from workflows.infra import place_counts
from workflows.infra.clock import FixedClock
from workflows.infra.db import make_sessionmaker
from workflows.infra.models import Case, HumanTask, Place, ProcessVersion
from workflows.people.access import Actor

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
COUNTIES = [f"5001{c:02d}" for c in range(1, 11)]
TOWNSHIPS = [f"{county}{t:03d}" for county in COUNTIES for t in range(101, 121)]
VILLAGES = [f"{township}{v:03d}" for township in TOWNSHIPS for v in range(201, 211)]
VILLAGE = VILLAGES[0]
DIRECTOR = Actor("bench_director", frozenset({"village_director"}), VILLAGE)
COUNTY = Actor("bench_county", frozenset({"county_civil_affairs"}), COUNTIES[0])
SUPERVISOR = Actor("bench_supervisor", frozenset({"township_supervisor"}), TOWNSHIPS[0])
REPEAT = 60
COLOURS = ("red", "yellow", "blue", "green")


def _case_rows(n: int, version_id: int) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """One open case row and its ready task rows (all columns a schema may have; unknown ones are dropped)."""
    base = NOW - timedelta(days=400)
    for i in range(n):
        case_id = str(uuid.UUID(int=i + 1))
        village = VILLAGES[i % len(VILLAGES)]
        created = base + timedelta(seconds=i * 13)
        case = {
            "id": case_id,
            "business_key": f"BK-{i:08d}",
            "case_no": f"基准-2026-{i:07d}",
            "process_key": "risk_visits",
            "process_version_id": version_id,
            "status": "running",
            "jurisdiction_code": village,
            "child_ref": None,
            "parent_case_id": None,
            "state": {},
            "data": {"risk_colour": COLOURS[i % 4]} if i % 9 else {},
            "risk_colour": COLOURS[i % 4] if i % 9 else None,
            "city_code": village[:4],
            "county_code": village[:6],
            "township_code": village[:9],
            "version": 1,
            "next_due_at": None,
            "last_event_seq": 0,
            "last_event_hash": "0" * 64,
            "created_at": created,
            "created_by": "bench",
            "updated_at": created,
            "completed_at": None,
        }
        due = created + timedelta(days=30 + (i * 7919) % 400)
        tasks = [
            _task(case_id, f"{i:08d}a", "home_visit", "入户走访", "village_director", village, due, created)
        ]
        if i % 10 == 0:
            tasks.append(
                _task(
                    case_id,
                    f"{i:08d}b",
                    "county_review",
                    "县级审核",
                    "county_civil_affairs",
                    village,
                    due,
                    created,
                )
            )
        yield case, tasks


def _task(
    case_id: str, tag: str, bpmn_id: str, name: str, role: str, code: str, due: datetime, created: datetime
) -> dict[str, Any]:
    row = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_OID, tag)),
        "case_id": case_id,
        "process_key": "risk_visits",
        "bpmn_id": bpmn_id,
        "name": name,
        "role": role,
        "jurisdiction_code": code,
        "status": "ready",
        "assignee": None,
        "claimed_at": None,
        "due_at": due,
        "created_at": created,
        "completed_at": None,
        "completed_by": None,
    }
    prefixes = {"city_code": code[:4], "county_code": code[:6], "township_code": code[:9], "queue_at": due}
    return row | prefixes


def _columns(table: Any) -> list[str]:
    return [c.name for c in table.columns]


def _pg_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def _without_indexes(engine: Engine, seed: Any) -> Any:
    """Bulk loading: drop the two tables' indexes and the triggers that keep the overview's counts, load,
    build them again and count (faster than row by row)."""

    def run(engine: Engine, n: int, version_id: int) -> None:
        indexes = [*Case.__table__.indexes, *HumanTask.__table__.indexes]
        with engine.begin() as conn:
            for index in indexes:
                index.drop(conn)
            place_counts.drop_triggers(conn)
        seed(engine, n, version_id)
        with engine.begin() as conn:
            for index in indexes:
                index.create(conn)
            place_counts.create_triggers(conn)
            place_counts.recount(conn)
        if engine.dialect.name == "postgresql":  # autovacuum would; Shouhu never runs ANALYZE on SQLite
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE cases"))
                conn.execute(text("VACUUM ANALYZE human_tasks"))

    return run


def _seed_pg(engine: Engine, n: int, version_id: int) -> None:
    case_cols, task_cols = _columns(Case.__table__), _columns(HumanTask.__table__)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(f"COPY cases ({', '.join(case_cols)}) FROM STDIN") as case_copy:  # type: ignore[attr-defined]
            pending: list[dict[str, Any]] = []
            for case, tasks in _case_rows(n, version_id):
                case_copy.write_row([_pg_value(case.get(c)) for c in case_cols])
                pending.extend(tasks)
        with cur.copy(f"COPY human_tasks ({', '.join(task_cols)}) FROM STDIN") as task_copy:  # type: ignore[attr-defined]
            for task in pending:
                task_copy.write_row([_pg_value(task.get(c)) for c in task_cols])
        raw.commit()
    finally:
        raw.close()


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def _seed_sqlite(engine: Engine, n: int, version_id: int) -> None:
    case_cols, task_cols = _columns(Case.__table__), _columns(HumanTask.__table__)
    insert_case = f"INSERT INTO cases ({', '.join(case_cols)}) VALUES ({', '.join('?' for _ in case_cols)})"
    insert_task = (
        f"INSERT INTO human_tasks ({', '.join(task_cols)}) VALUES ({', '.join('?' for _ in task_cols)})"
    )
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        batch: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []

        def flush() -> None:
            cur.execute("BEGIN")
            cur.executemany(insert_case, [[_sqlite_value(c.get(k)) for k in case_cols] for c, _ in batch])
            cur.executemany(
                insert_task, [[_sqlite_value(t.get(k)) for k in task_cols] for _, ts in batch for t in ts]
            )
            cur.execute("COMMIT")
            batch.clear()

        for item in _case_rows(n, version_id):
            batch.append(item)
            if len(batch) == 50_000:
                flush()
        if batch:
            flush()
    finally:
        raw.close()


def _prepare(engine: Engine, n: int, seed: Any) -> tuple[Any, list[str]]:
    sessions = make_sessionmaker(engine)
    publish_bundled(sessions, NOW - timedelta(days=500))
    with sessions() as session:
        session.add_all(Place(code=c, name=c, level="county", parent_code="5001") for c in COUNTIES)
        version_id = session.scalar(
            select(ProcessVersion.id).where(ProcessVersion.process_key == "risk_visits")
        )
        session.commit()
    seed(engine, n, version_id)
    clock = FixedClock(NOW - timedelta(days=1))
    real = []
    starter = Actor("bench_director", frozenset({"village_director"}), VILLAGE)
    for _ in range(20):
        with sessions() as session:
            real.append(
                cases.start_case(
                    session=session,
                    clock=clock,
                    actor=starter,
                    process_key="risk_visits",
                    data={
                        "child_ref": "C-1",
                        "child_name": "小华",
                        "address": "甲村",
                        "risk_facts": ["orphan"],
                        "last_visit_date": "2026-05-01",
                        "facts_note": "",
                    },
                    jurisdiction_code=VILLAGE,
                ).case.id
            )
            session.commit()
    return sessions, real


def _time(fn: Any, repeat: int = REPEAT) -> list[float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def _measure(label: str, sessions: Any, real: list[str], size: str) -> list[Figure]:
    clock = FixedClock(NOW)
    with sessions() as session:
        village_page = human_tasks.list_tasks(session=session, actor=DIRECTOR, limit=50)
        county_page = human_tasks.list_tasks(session=session, actor=COUNTY, limit=50)
        village = _time(lambda: human_tasks.list_tasks(session=session, actor=DIRECTOR, limit=50))
        county = _time(lambda: human_tasks.list_tasks(session=session, actor=COUNTY, limit=50))
        page = _time(
            lambda: views.case_view(
                session=session, clock=clock, actor=DIRECTOR, case_id=real[3], endpoint="bench"
            )
        )
        session.rollback()
    full = size == "full"
    return [
        Figure(
            f"worklist {label}",
            f"village director's list p95 ({village_page.total}{'+' if getattr(village_page, 'more', False) else ''} rows)",
            ms(p95(village)),
            "ms",
            "≤ 30 ms" if full else "",
            f"p50 {ms(median(village)):.1f} ms",
            ms(p95(village)) <= 30 if full else None,
        ),
        Figure(
            f"worklist {label}",
            f"county user's list p95 ({county_page.total}{'+' if getattr(county_page, 'more', False) else ''} rows)",
            ms(p95(county)),
            "ms",
            "≤ 100 ms" if full else "",
            f"p50 {ms(median(county)):.1f} ms",
            ms(p95(county)) <= 100 if full else None,
        ),
        Figure(
            f"worklist {label}",
            "one case page p95",
            ms(p95(page)),
            "ms",
            "",
            f"p50 {ms(median(page)):.1f} ms",
        ),
    ]


def _counts_before(session: Any, prefix: str, now: datetime) -> None:
    """The overview's two counts as they were read before: colour from each case's data, place by LIKE."""
    colour = Case.data["risk_colour"].as_string()
    session.execute(
        select(Case.jurisdiction_code, colour, func.count())
        .where(Case.status == "running", Case.jurisdiction_code.startswith(prefix))
        .group_by(Case.jurisdiction_code, colour)
    ).all()
    is_visit = worklist.visit_condition()
    session.execute(
        select(HumanTask.jurisdiction_code, is_visit, func.count())
        .where(
            HumanTask.status == "ready",
            HumanTask.due_at < now,
            HumanTask.jurisdiction_code.startswith(prefix),
        )
        .group_by(HumanTask.jurisdiction_code, is_visit)
    ).all()


def _cpu(fn: Any, repeat: int) -> tuple[list[float], float]:
    """Wall-clock samples and the mean CPU time of one call."""
    c0 = time.process_time()
    samples = _time(fn, repeat)
    return samples, (time.process_time() - c0) / repeat


def _overview_figures(label: str, sessions: Any, size: str) -> list[Figure]:
    clock = FixedClock(NOW)
    full = size == "full"
    result = []
    with sessions() as session:
        for who, actor in (("township supervisor's", SUPERVISOR), ("county user's", COUNTY)):
            board = worklist.overview(session=session, clock=clock, actor=actor)
            counted = sum(r.running for r in board.rows), sum(r.behind for r in board.rows)
            now, cpu = _cpu(lambda a=actor: worklist.overview(session=session, clock=clock, actor=a), REPEAT)
            before, before_cpu = _cpu(
                lambda a=actor: _counts_before(session, a.jurisdiction, NOW), 3 if full else 10
            )
            result.append(
                Figure(
                    f"worklist {label}",
                    f"{who} overview p95 ({counted[0]:,} running cases, {counted[1]:,} overdue tasks)",
                    ms(p95(now)),
                    "ms",
                    "≤ 100 ms" if full else "",
                    f"p50 {ms(median(now)):.1f} ms, CPU {ms(cpu):.1f} ms; the counts as before: "
                    f"p95 {ms(p95(before)):.0f} ms, CPU {ms(before_cpu):.0f} ms",
                    ms(p95(now)) <= 100 if full else None,
                )
            )
        session.rollback()
    return result


def figures(size: str) -> list[Figure]:
    n = 1_000_000 if size == "full" else 50_000
    result: list[Figure] = []
    url = pg_url()
    if url:
        with pg_db(url, f"bench_worklist_{uuid.uuid4().hex[:8]}") as engine:
            t0 = time.perf_counter()
            sessions, real = _prepare(engine, n, _without_indexes(engine, _seed_pg))
            seeded = time.perf_counter() - t0
            plans = _explain_pg(engine)
            result += _measure("PostgreSQL", sessions, real, size)
            result += _overview_figures("PostgreSQL", sessions, size)
            result.append(
                Figure("worklist PostgreSQL", f"seeding {n:,} open cases (COPY)", seeded, "s", "", plans)
            )
    with sqlite_db() as engine:
        t0 = time.perf_counter()
        sessions, real = _prepare(engine, n, _without_indexes(engine, _seed_sqlite))
        seeded = time.perf_counter() - t0
        result += _measure("SQLite", sessions, real, size)
        result += _overview_figures("SQLite", sessions, size)
        result.append(Figure("worklist SQLite", f"seeding {n:,} open cases (executemany)", seeded, "s"))
    return result


def _explain_pg(engine: Engine) -> str:
    """Whether PostgreSQL sorts for the lists' first pages (the index should give the order)."""
    notes = []
    with engine.connect() as conn:
        for label, place in (
            ("village", f"jurisdiction_code = '{VILLAGE}'"),
            ("county", f"county_code = '{COUNTIES[0]}'"),
        ):
            role = "village_director" if label == "village" else "county_civil_affairs"
            columns = {c.name for c in HumanTask.__table__.columns}
            if "queue_at" in columns:
                order, where = "queue_at, id", f"status = 'ready' AND role = '{role}' AND {place}"
            else:  # the former schema and query
                code = VILLAGE if label == "village" else COUNTIES[0]
                order = "due_at IS NULL, due_at, created_at, id"
                where = f"status = 'ready' AND role = '{role}' AND jurisdiction_code LIKE '{code}%'"
            plan = "\n".join(
                r[0]
                for r in conn.execute(
                    text(f"EXPLAIN SELECT * FROM human_tasks WHERE {where} ORDER BY {order} LIMIT 50")
                )
            )
            print(f"-- PostgreSQL plan, {label} list:\n{plan}", flush=True)
            notes.append(f"{label}: {'Sort' if 'Sort' in plan else 'no sort'}")
        for label, stmt in (
            ("cases", worklist.running_counts(COUNTIES[0])),
            ("overdue tasks", worklist.overdue_counts(COUNTIES[0], NOW)),
        ):
            compiled = stmt.compile(engine, compile_kwargs={"literal_binds": True})
            plan = "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {compiled}")))
            print(f"-- PostgreSQL plan, county overview, {label}:\n{plan}", flush=True)
            scan = "Seq Scan" in plan or "Sort" in plan
            notes.append(f"overview {label}: {'scan or sort' if scan else 'index range, no sort'}")
    return "; ".join(notes)
