"""SpiffWorkflow's log records are skipped only while nobody listens: the run is the same either way (the
same states, instants, task ids, stored state and digests), and with the loggers on the records are written.
Task ids are uuid5 of the case id and a counter, built directly."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta

import pytest

from tests.engine.test_risk_visits import JAN_31, PROCESS, open_ids, supervise, visit
from workflows.engine import CaseRun, clocking


def comparable(state: dict) -> str:
    """The stored state as text (events waiting to be sent are objects: their attributes stand for them)."""
    return json.dumps(state, sort_keys=True, default=lambda o: {"class": type(o).__name__, **vars(o)})


def walk(case_id: str) -> list[tuple[str, str]]:
    """A risk-visits case through an escalation and a few visits: (stored state, digest) after each step."""
    data = {"child_ref": "C-1", "child_name": "小华", "address": "甲村", "risk_facts": ["orphan"]}
    run = CaseRun.start(
        PROCESS, case_id=case_id, data={**data, "last_visit_date": "2026-01-20", "facts_note": ""}, now=JAN_31
    )
    states = [(comparable(run.dump()), run.digest())]
    run.fire_timers(now=JAN_31 + timedelta(days=70))
    states.append((comparable(run.dump()), run.digest()))
    supervise(run, JAN_31 + timedelta(days=71))
    for day in ("2026-04-12", "2026-06-01", "2026-07-20"):
        visit(run, day, ["orphan"])
        states.append((comparable(run.dump()), run.digest()))
    assert "home_visit" in open_ids(run)
    return states


def test_a_run_is_the_same_with_the_spiff_loggers_on_or_off(caplog: pytest.LogCaptureFixture) -> None:
    case_id = str(uuid.uuid4())
    quiet = walk(case_id)
    assert not [r for r in caplog.records if r.name.startswith("spiff")]
    with caplog.at_level(logging.INFO, logger="spiff"):
        logged = walk(case_id)
    assert any(r.name == "spiff.task" and r.getMessage().startswith("State changed") for r in caplog.records)
    assert any(
        r.name == "spiff.workflow" and r.getMessage() == "Initialized workflow" for r in caplog.records
    )
    assert quiet == logged


def test_task_ids_are_uuid5_of_the_case_and_the_counter() -> None:
    case_id = str(uuid.uuid4())
    source = clocking._IdSource(case_id, 41)
    for n in range(42, 2042):
        made, expected = source.next(), uuid.uuid5(uuid.UUID(case_id), str(n))
        assert made == expected and hash(made) == hash(expected) and str(made) == str(expected)
        assert (made.version, made.variant, made.is_safe) == (5, expected.variant, expected.is_safe)
    assert source.counter == 2041
