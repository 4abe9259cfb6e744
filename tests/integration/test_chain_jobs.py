"""``verify-all --chain-only --jobs N``: on PostgreSQL the chains checked in N processes give the same findings,
in the same order, as one process, and the helpers read what the caller read (a case acted on meanwhile is not
reported); where the caller's reading cannot be shared (SQLite, PostgreSQL in READ COMMITTED) the check stays
in one process with the same findings."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select, text, update
from sqlalchemy.orm import Session

from workflows.infra.models import Case, CaseEvent, ProcessVersion
from workflows.log.events import GENESIS, NewEvent, chain
from workflows.ops import chain_jobs
from workflows.ops.audit import verify_all

START = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
CASES = 130
EVENT_COLUMNS = ("case_id", "seq", "type", "actor", "occurred_at", "payload", "prev_hash", "hash")


@pytest.fixture
def db(either_db: Engine) -> Engine:
    _seed(either_db)
    return either_db


def _seed(engine: Engine) -> None:
    with Session(engine) as session:
        version_id = session.scalar(select(func.min(ProcessVersion.id)))
        for c in range(CASES):
            case_id = str(uuid.uuid4())
            at = START + timedelta(minutes=c)
            items = [
                NewEvent("task_completed", "director", {"task_id": f"t{i}", "data": {"n": i}})
                for i in range(6)
            ]
            rows = chain(case_id, last_seq=0, last_hash=GENESIS, now=at, items=items)
            session.add(
                Case(
                    id=case_id,
                    business_key=case_id,
                    case_no=f"测试-{c:04d}",
                    process_key="p",
                    process_version_id=version_id,
                    status="running",
                    jurisdiction_code="500111101001",
                    state={},
                    data={},
                    version=1,
                    last_event_seq=rows[-1].seq,
                    last_event_hash=rows[-1].hash,
                    created_at=at,
                    created_by="x",
                    updated_at=at,
                )
            )
            session.flush()
            session.execute(insert(CaseEvent), [{k: getattr(r, k) for k in EVENT_COLUMNS} for r in rows])
        session.commit()


def _break(engine: Engine, places: tuple[int, ...]) -> list[str]:
    with Session(engine) as session:
        ids = session.scalars(select(Case.id).order_by(Case.created_at)).all()
        for place in places:
            session.execute(
                update(CaseEvent)
                .where(CaseEvent.case_id == ids[place], CaseEvent.seq == 3)
                .values(payload={"task_id": "t2", "data": {"n": 99}})
            )
        session.commit()
        return [session.scalar(select(Case.case_no).where(Case.id == ids[p])) or "" for p in places]


@pytest.fixture
def pids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file each pass of the check writes its process id to (forked helpers inherit the patch)."""
    noted = tmp_path / "pids"
    noted.touch()
    check = chain_jobs._check

    def noting_the_process(session: Session, numbered: list) -> chain_jobs.Checked:  # type: ignore[type-arg]
        with noted.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return check(session, numbered)

    monkeypatch.setattr(chain_jobs, "_check", noting_the_process)
    return noted


def test_two_processes_find_what_one_finds_in_the_same_order(db: Engine, pids: Path) -> None:
    broken = _break(db, (7, 64, 121))
    results = {}
    for jobs in (1, 2):
        with Session(db) as session:
            results[jobs] = verify_all(session, None, chain_only=True, jobs=jobs)
    one, two = results[1], results[2]
    assert [key for key, _ in one.failed] == broken
    assert [(k, r.problem, r.seq) for k, r in two.failed] == [(k, r.problem, r.seq) for k, r in one.failed]
    assert (two.total, two.events) == (one.total, one.events) == (CASES, CASES * 6)
    processes = len(set(pids.read_text().split()))  # the pass with one job and this one
    assert processes == (2 if db.dialect.name == "postgresql" else 1)


def test_a_caller_reading_in_read_committed_checks_alone(db: Engine, pids: Path) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's isolation levels")
    with Session(db) as session:
        session.execute(text("SELECT 1"))  # a transaction in READ COMMITTED already begun
        result = verify_all(session, None, chain_only=True, jobs=2)
    assert result.ok and result.events == CASES * 6
    assert pids.read_text().split() == [str(os.getpid())]


def test_the_helpers_read_what_the_caller_read(db: Engine, pids: Path) -> None:
    """An event committed after the heads were read is not seen by the helpers (it would look like a chain
    longer than its head)."""
    if db.dialect.name != "postgresql":
        pytest.skip("helpers run on PostgreSQL only")
    with Session(db) as session:
        chain_jobs.repeatable_read(session)
        heads = [
            tuple(h)
            for h in session.execute(
                select(Case.id, Case.case_no, Case.last_event_seq, Case.last_event_hash).order_by(
                    Case.created_at
                )
            )
        ]
        last = heads[-1]
        with db.begin() as other:
            other.execute(
                text(
                    "INSERT INTO case_events (case_id, seq, type, actor, occurred_at, payload, prev_hash, hash)"
                    " VALUES (:id, :seq, 'task_claimed', 'x', :at, '{}', :prev, :hash)"
                ),
                {
                    "id": last[0],
                    "seq": last[2] + 1,
                    "at": START + timedelta(days=9),
                    "prev": last[3],
                    "hash": "0" * 64,
                },
            )
        checked = chain_jobs.check_heads(session, heads, jobs=2)  # type: ignore[arg-type]
    assert checked.failed == [] and checked.events == CASES * 6
    assert len(set(pids.read_text().split())) == 2  # a helper took part
