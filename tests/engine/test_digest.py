"""The digest logged with every event is worked out from one walk of the tree; it must stay the very value
the separate views give (old logs are verified against it): open tasks, data, next timer, completed count."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from tests.engine.guardianship_scenarios import SCENARIOS
from tests.engine.test_guardianship_intervention import PROCESS as GUARDIANSHIP
from tests.engine.test_risk_visits import JAN_31, PROCESS, contact, supervise, visit
from workflows.engine import CaseRun, duration_of
from workflows.infra.clock import FixedClock, iso_utc


def digest_from_the_views(run: CaseRun) -> str:
    """The digest as it was first written: each view walked on its own."""
    view = {
        "status": run.status,
        "open": sorted((t.id, t.bpmn_id) for t in run.open_tasks()),
        "data": run.data(),
        "due": iso_utc(d) if (d := run.next_due_at()) else None,
        "done": run.completed_count(),
    }
    text = json.dumps(view, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check(run: CaseRun, seen: list[Any]) -> None:
    expected = digest_from_the_views(run)
    assert run.digest() == expected
    assert run.digest(run.open_tasks()) == expected
    seen.append((run.status, run.next_due_at() is not None, len(run.open_tasks())))


def test_the_digest_of_risk_visits_at_every_step() -> None:
    data = {"child_ref": "C-1", "child_name": "小华", "address": "甲村", "risk_facts": []}
    run = CaseRun.start(
        PROCESS,
        case_id=str(uuid.uuid4()),
        data={**data, "last_visit_date": "2026-01-20", "facts_note": ""},
        now=JAN_31,
    )
    seen: list[Any] = []
    check(run, seen)
    contact(run, "2026-02-10", [])
    check(run, seen)
    run.fire_timers(now=JAN_31 + timedelta(days=70))
    check(run, seen)
    supervise(run, JAN_31 + timedelta(days=71), duty="contact")
    check(run, seen)
    visit(run, "2026-04-12", ["orphan"])
    check(run, seen)
    visit(run, "2026-06-12", ["self_harm"])  # red: the case ends, handed to an intervention
    check(run, seen)
    assert seen[0][1] and seen[-1][0] == "completed"


@pytest.mark.parametrize("name", sorted(SCENARIOS)[:12])
def test_the_digest_of_guardianship_scenarios_at_every_step(name: str) -> None:
    scenario, clock = SCENARIOS[name], FixedClock(JAN_31)
    start = GUARDIANSHIP.forms.require("start").validate(scenario["start"])
    run = CaseRun.start(GUARDIANSHIP, case_id=str(uuid.uuid4()), data=start, now=clock.now())
    seen: list[Any] = []
    check(run, seen)
    for bpmn_id, data in scenario["steps"]:
        clock.advance(minutes=30)
        if bpmn_id == "__timer__":
            clock.advance(duration_of(data))
            run.fire_timers(now=clock.now())
        else:
            ready = next(t for t in run.open_tasks() if t.bpmn_id == bpmn_id)
            run.complete(ready.id, GUARDIANSHIP.forms.require(bpmn_id).validate(data), now=clock.now())
        check(run, seen)
    assert len(seen) == len(scenario["steps"]) + 1
