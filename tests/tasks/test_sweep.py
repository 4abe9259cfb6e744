"""One sweep fires every due case (batch after batch, each case once) until none is due or its time
budget is spent; the scheduler never runs two sweeps side by side."""

from __future__ import annotations

from datetime import datetime

import pytest
from prefect.client.schemas.objects import ConcurrencyLimitStrategy
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tasks import jobs
from tasks.flows import deployments, timer_sweep
from tasks.runtime import Runtime
from tests.tasks.test_flows import start_red
from workflows.cases import sweeping
from workflows.infra.clock import FixedClock
from workflows.infra.models import Case, CaseEvent


def _fired(session: Session, case_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(CaseEvent)
            .where(CaseEvent.case_id == case_id, CaseEvent.type == "timer_fired")
        )
        or 0
    )


def test_one_sweep_goes_through_every_batch_and_fires_each_case_once(
    gz: Session, clock: FixedClock, runtime: Runtime
) -> None:
    ids = [start_red(gz, clock).id for _ in range(7)]
    clock.advance(hours=25)
    report = timer_sweep.fn(limit=2)  # four batches
    assert (report["fired"], report["failed"], report["out_of_time"]) == (7, [], False)
    assert [_fired(gz, cid) for cid in ids] == [1] * 7
    assert timer_sweep.fn(limit=2)["fired"] == 0


def test_a_spent_budget_leaves_the_rest_to_the_next_sweep(
    gz: Session, clock: FixedClock, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [start_red(gz, clock).id for _ in range(5)]
    clock.advance(hours=25)
    ticks = iter(range(100))
    monkeypatch.setattr(jobs.time, "monotonic", lambda: float(next(ticks)))  # one second per case
    first = timer_sweep.fn(limit=2, budget=2.5)
    assert first["out_of_time"] and 1 <= first["fired"] < 5
    second = timer_sweep.fn(limit=2, budget=100)
    assert not second["out_of_time"] and first["fired"] + second["fired"] == 5
    assert [_fired(gz, cid) for cid in ids] == [1] * 5


def test_a_case_with_nothing_to_fire_is_not_taken_again_by_the_same_sweep(
    gz: Session, clock: FixedClock, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [start_red(gz, clock).id for _ in range(3)]
    clock.advance(hours=25)
    seen: list[str] = []

    def nothing(session: Session, case: Case, now: datetime) -> None:
        seen.append(case.id)  # as if another sweeper had fired it: the case stays due here

    monkeypatch.setattr(sweeping, "fire_case", nothing)
    report = timer_sweep.fn(limit=1)
    assert report["idle"] == 3 and sorted(seen) == sorted(ids)


def test_the_scheduler_never_runs_two_sweeps_side_by_side() -> None:
    by_name = {d.name: d for d in deployments()}
    limit = by_name["timer-sweep"].concurrency_limit
    options = by_name["timer-sweep"].concurrency_options
    assert limit == 1 and options.collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW
