"""The sweep's batches (workflows/cases/sweeping.py) on SQLite and PostgreSQL, with real commits: a case
changed between computing and writing its batch, a case whose step fails, a batch write that fails, two
sweeps at once, and helper processes computing a backlog. Every timer fires exactly once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from tasks import jobs, sweep_workers
from tests.conftest import START
from tests.integration.test_concurrency import LATER, all_verify, count_events, red_cases
from tests.support.models import DATA, publish_folder
from workflows.cases import lifecycle as cases
from workflows.cases import sweeping
from workflows.infra.clock import FixedClock
from workflows.infra.db import create_all, make_engine, make_sessionmaker
from workflows.infra.models import Case


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'sweep.db'}")
    create_all(engine)
    with Session(engine) as session:
        publish_folder(session, DATA / "review_demo", now=START)
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue("sqlite_file" if request.param == "sqlite" else "pg")


def sweep(engine: Engine, **kwargs: Any) -> jobs.SweepReport:
    return jobs.sweep_timers(sessions=make_sessionmaker(engine), clock=FixedClock(LATER), **kwargs)


def fired_once(engine: Engine, ids: list[str]) -> None:
    with Session(engine) as session:
        assert [count_events(session, "timer_fired", cid) for cid in ids] == [1] * len(ids)
        assert all(session.get(Case, cid).next_due_at is None for cid in ids)
        all_verify(session)


def test_cases_changed_between_computing_and_writing_their_batch(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = red_cases(db, 6)
    real = sweeping.write
    later = FixedClock(LATER)

    def meanwhile(session: Session, fired: list[sweeping.Fired], *, lock: Any = ()) -> list[str]:
        if len(fired) == 6:  # the first write of the batch; the second time is the action path's
            with Session(db) as other:  # another sweep fires one; a person's change bumps the other
                cases.fire_due_timers(session=other, clock=later, case_id=ids[2])
                other.execute(update(Case).where(Case.id == ids[3]).values(version=Case.version + 1))
                other.commit()
        return real(session, fired, lock=lock)

    monkeypatch.setattr(sweeping, "write", meanwhile)
    report = sweep(db, batch=6)
    assert (report.fired, report.idle, report.failed) == (5, 1, [])  # ids[2] was fired by the other
    fired_once(db, ids)


def test_a_failing_case_in_the_middle_of_a_batch_costs_the_others_nothing(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = red_cases(db, 5)
    real_case, real_action = sweeping.fire_case, cases.fire_due_timers

    def broken_step(session: Session, case: Case, now: Any) -> Any:
        if case.id == ids[1]:
            raise RuntimeError("模拟故障")
        return real_case(session, case, now)

    def broken_action(*, session: Session, clock: FixedClock, case_id: str) -> Any:
        outcome = real_action(session=session, clock=clock, case_id=case_id)  # writes, then fails
        if case_id == ids[3]:
            raise RuntimeError("模拟故障")
        return outcome

    real_write = sweeping.write

    def meanwhile(session: Session, fired: list[sweeping.Fired], *, lock: Any = ()) -> list[str]:
        if any(item.case_id == ids[3] for item in fired):  # a person changed ids[3]: the action path
            with Session(db) as other:
                other.execute(update(Case).where(Case.id == ids[3]).values(version=Case.version + 1))
                other.commit()
        return real_write(session, fired, lock=lock)

    monkeypatch.setattr(sweeping, "fire_case", broken_step)
    monkeypatch.setattr(cases, "fire_due_timers", broken_action)
    monkeypatch.setattr(sweeping, "write", meanwhile)
    report = sweep(db, batch=5)
    assert sorted(report.failed) == sorted([ids[1], ids[3]]) and report.fired == 3
    with Session(db) as session:
        for cid in (ids[1], ids[3]):  # untouched: no event, still due
            assert count_events(session, "timer_fired", cid) == 0
            assert session.get(Case, cid).next_due_at is not None
    monkeypatch.undo()
    assert sweep(db).fired == 2
    fired_once(db, ids)


def test_a_failed_batch_write_is_rolled_back_and_done_case_by_case(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = red_cases(db, 4)
    real = sweeping._write_rows

    def written_then_failed(*args: Any) -> None:
        real(*args)
        raise RuntimeError("模拟故障")

    monkeypatch.setattr(sweeping, "_write_rows", written_then_failed)
    report = sweep(db, batch=4)
    assert (report.fired, report.failed) == (4, [])
    fired_once(db, ids)


def test_two_sweeps_at_once_fire_each_timer_once(db: Engine) -> None:
    ids = red_cases(db, 12)
    start = threading.Barrier(2)
    reports: list[jobs.SweepReport] = []

    def run() -> None:
        start.wait()
        reports.append(sweep(db, batch=3))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(reports) == 2 and sum(r.fired for r in reports) == 12
    assert all(r.failed == [] for r in reports)
    fired_once(db, ids)


def test_helper_processes_share_a_backlog(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = red_cases(db, 30)
    started: list[int] = []
    computed: list[int] = []
    real = sweep_workers.Helpers

    class Counted(real):  # type: ignore[misc,valid-type]
        def __init__(self, url: str, count: int) -> None:
            started.append(count)
            super().__init__(url, count)

        def prepare(self, case_ids: list[str], **kwargs: Any) -> Any:
            future = super().prepare(case_ids, **kwargs)
            future.add_done_callback(lambda f: f.cancelled() or computed.append(len(f.result().fired)))
            return future

    monkeypatch.setattr(jobs, "HELPERS_FROM", 1)
    monkeypatch.setattr(sweep_workers, "Helpers", Counted)
    report = sweep(db, helpers=1, limit=20, batch=40)  # two pages, batches of ten
    assert started == [1] and (report.fired, report.failed) == (30, [])
    assert sum(computed) >= 10  # the helper's first batch at least (this process waits for it)
    assert sweep(db, helpers=1).fired == 0
    fired_once(db, ids)


def test_helpers_that_fail_leave_the_work_to_the_sweep_process(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = red_cases(db, 12)
    calls: list[int] = []

    def failing(self: sweep_workers.Helpers, case_ids: list[str], **kwargs: Any) -> Future[Any]:
        calls.append(len(case_ids))
        if len(calls) > 1:
            raise RuntimeError("模拟故障：无法启动")
        future: Future[Any] = Future()
        future.set_exception(RuntimeError("模拟故障：辅助进程退出"))
        return future

    monkeypatch.setattr(jobs, "HELPERS_FROM", 1)
    monkeypatch.setattr(sweep_workers.Helpers, "prepare", failing)
    report = sweep(db, helpers=1, batch=40)
    assert len(calls) == 2 and (report.fired, report.failed) == (12, [])
    fired_once(db, ids)


def test_a_case_acted_on_after_the_batch_read_the_clock_goes_through_the_action_path(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = red_cases(db, 3)
    with Session(db) as session:  # as if a person's action with a later clock had just committed
        later = LATER + timedelta(minutes=1)
        session.execute(update(Case).where(Case.id == ids[1]).values(updated_at=later))
        session.commit()
    by_action: list[str] = []
    real = cases.fire_due_timers

    def action(*, session: Session, clock: FixedClock, case_id: str) -> Any:
        by_action.append(case_id)
        return real(session=session, clock=clock, case_id=case_id)

    monkeypatch.setattr(cases, "fire_due_timers", action)
    report = sweep(db, batch=3)
    assert by_action == [ids[1]] and (report.fired, report.failed) == (3, [])
