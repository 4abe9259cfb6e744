"""The overview's running-case counts per village and colour, kept by triggers on ``cases``: every kind of
change to a case row (written here as plain SQL, as any code or an administrator could) keeps them equal to
a count of the running cases, on SQLite and on PostgreSQL, also with several writers at once; a bulk load
with the triggers off is repaired by a recount, and ``verify-all`` reports counts that drifted."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from workflows.infra import place_counts
from workflows.infra.db import Base, make_engine
from workflows.infra.queueing import place_prefixes
from workflows.ops.audit import verify_all

VILLAGES = ("500111101001", "500111101002", "500111102001", "500112101001")
COLOURS = ("red", "yellow", "blue", "green", None)
STATUSES = ("running", "running", "completed", "cancelled")

_INSERT = text(
    "INSERT INTO cases (id, business_key, case_no, process_key, process_version_id, status, jurisdiction_code,"
    " state, data, version, last_event_seq, last_event_hash, created_at, created_by, updated_at, city_code,"
    " county_code, township_code, risk_colour) VALUES (:id, :id, :id, 'p', :version_id, :status, :code, '{}',"
    " '{}', 1, 0, '-', '2026-01-01 00:00:00', 'x', '2026-01-01 00:00:00', :city_code, :county_code,"
    " :township_code, :colour)"
)


@pytest.fixture
def db(either_db: Engine) -> Engine:
    return either_db


def _insert(conn: Connection, code: str, status: str, colour: str | None) -> str:
    case_id = str(uuid.uuid4())
    version_id = conn.execute(text("SELECT min(id) FROM process_versions")).scalar()
    conn.execute(
        _INSERT,
        {
            "id": case_id,
            "version_id": version_id,
            "status": status,
            "code": code,
            "colour": colour,
            **place_prefixes(code),
        },
    )
    return case_id


def _move(conn: Connection, case_id: str, code: str) -> None:
    conn.execute(
        text(
            "UPDATE cases SET jurisdiction_code = :code, city_code = :city_code, county_code = :county_code,"
            " township_code = :township_code WHERE id = :id"
        ),
        {"id": case_id, "code": code, **place_prefixes(code)},
    )


def _kept(conn: Connection) -> dict[tuple[str, str], int]:
    rows = conn.execute(text("SELECT jurisdiction_code, risk_colour, running FROM place_case_counts"))
    return {(code, colour): n for code, colour, n in rows if n}


def test_each_kind_of_change_moves_the_count(db: Engine) -> None:
    v1, v2 = VILLAGES[0], VILLAGES[3]
    with db.begin() as conn:
        a = _insert(conn, v1, "running", "red")
        _insert(conn, v1, "completed", "red")  # not running: not counted
        b = _insert(conn, v1, "running", None)
        assert _kept(conn) == {(v1, "red"): 1, (v1, ""): 1}
        conn.execute(text("UPDATE cases SET risk_colour = 'yellow' WHERE id = :id"), {"id": a})
        assert _kept(conn) == {(v1, "yellow"): 1, (v1, ""): 1}
        conn.execute(
            text("UPDATE cases SET version = version + 1, data = '{\"x\": 1}' WHERE id = :id"), {"id": a}
        )
        assert _kept(conn) == {(v1, "yellow"): 1, (v1, ""): 1}
        _move(conn, a, v2)
        assert _kept(conn) == {(v2, "yellow"): 1, (v1, ""): 1}
        row = conn.execute(
            text(
                "SELECT city_code, county_code, township_code FROM place_case_counts WHERE jurisdiction_code = :c"
            ),
            {"c": v2},
        ).one()
        assert tuple(row) == ("5001", "500112", "500112101")
        conn.execute(text("UPDATE cases SET status = 'completed' WHERE id = :id"), {"id": a})
        assert _kept(conn) == {(v1, ""): 1}
        conn.execute(
            text("UPDATE cases SET status = 'running', risk_colour = 'green' WHERE id = :id"), {"id": a}
        )
        assert _kept(conn) == {(v2, "green"): 1, (v1, ""): 1}
        conn.execute(text("DELETE FROM cases WHERE id = :id"), {"id": b})
        assert _kept(conn) == {(v2, "green"): 1}
        assert place_counts.differences(conn) == []


def test_random_changes_keep_the_counts_equal_to_a_recount(db: Engine) -> None:
    rng = random.Random(16)
    ids: list[str] = []
    with db.begin() as conn:
        for _ in range(300):
            move = rng.random()
            if move < 0.35 or not ids:
                ids.append(_insert(conn, rng.choice(VILLAGES), rng.choice(STATUSES), rng.choice(COLOURS)))
            elif move < 0.6:
                conn.execute(
                    text("UPDATE cases SET risk_colour = :c WHERE id = :id"),
                    {"c": rng.choice(COLOURS), "id": rng.choice(ids)},
                )
            elif move < 0.8:
                conn.execute(
                    text("UPDATE cases SET status = :s WHERE id = :id"),
                    {"s": rng.choice(STATUSES), "id": rng.choice(ids)},
                )
            elif move < 0.9:
                _move(conn, rng.choice(ids), rng.choice(VILLAGES))
            else:
                conn.execute(
                    text("DELETE FROM cases WHERE id = :id"), {"id": ids.pop(rng.randrange(len(ids)))}
                )
        assert place_counts.differences(conn) == []
        counted = Counter(
            (code, colour or "")
            for code, colour in conn.execute(
                text("SELECT jurisdiction_code, risk_colour FROM cases WHERE status = 'running'")
            )
        )
        assert _kept(conn) == dict(counted) and sum(counted.values()) > 20


def test_writers_at_once_lose_no_count(db: Engine) -> None:
    """Four writers changing the colours of the same village's cases, each change its own transaction."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    village = VILLAGES[0]
    with db.begin() as conn:
        ids = [_insert(conn, village, "running", colour) for colour in ("red", "yellow") * 10]
    failures: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(40):
                with db.begin() as conn:
                    conn.execute(
                        text("UPDATE cases SET risk_colour = :c WHERE id = :id"),
                        {"c": rng.choice(COLOURS), "id": rng.choice(ids)},
                    )
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    with db.connect() as conn:
        assert place_counts.differences(conn) == []
        assert sum(_kept(conn).values()) == 20


def test_a_bulk_load_without_triggers_is_repaired_by_a_recount_and_reported_before(db: Engine) -> None:
    with db.begin() as conn:
        _insert(conn, VILLAGES[0], "running", "red")
        place_counts.drop_triggers(conn)
        for code in VILLAGES:
            _insert(conn, code, "running", "blue")
        assert len(place_counts.differences(conn)) == len(VILLAGES)
    from sqlalchemy.orm import Session

    with Session(db) as session:
        findings = verify_all(session, None, chain_only=True).findings
    off = [f.message for f in findings if "概览计数" in f.message]
    assert len(off) == len(VILLAGES) and "记为 0 件，运行中的案件实有 1 件" in off[0], off
    with db.begin() as conn:
        place_counts.create_triggers(conn)
        place_counts.recount(conn)
        assert place_counts.differences(conn) == []
        _insert(conn, VILLAGES[1], "running", "blue")  # the triggers work again
        assert _kept(conn)[(VILLAGES[1], "blue")] == 2 and place_counts.differences(conn) == []


def test_tables_created_by_separate_calls_get_the_triggers(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'apart.db'}")
    tables = Base.metadata.tables
    others = [t for name, t in tables.items() if name != "place_case_counts"]
    Base.metadata.create_all(engine, tables=others)  # the cases first, the counts table later
    Base.metadata.create_all(engine, tables=[tables["place_case_counts"]])
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO process_versions (id, process_key, content_hash, name, files, calls, source,"
                " status, created_at, created_by, note) VALUES (1, 'p', 'h', 'p', '{}', '[]', 'bundled',"
                " 'published', '2025-01-01 00:00:00', 'x', '')"
            )
        )
        _insert(conn, VILLAGES[0], "running", "red")
        assert _kept(conn) == {(VILLAGES[0], "red"): 1}
    engine.dispose()
