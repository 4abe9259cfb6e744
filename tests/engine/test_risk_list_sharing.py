"""risk_list_sharing (P6): the county sends the red/yellow/blue lists, three bodies acknowledge them."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import START
from tests.support.flows import model_flows, taken_flows
from workflows.engine import CaseRun, parse_process
from workflows.infra.clock import FixedClock
from workflows.infra.errors import ValidationFailed
from workflows.processes.registry import content_hash, read_folder

KEY = "risk_list_sharing"
FOLDER = Path(__file__).resolve().parents[2] / "bpmn" / KEY
FILES = read_folder(FOLDER)
PROCESS = parse_process(KEY, FILES, f"test-{KEY}-{content_hash(FILES, [])}")
RECEIVERS = ["disabled_federation", "womens_federation", "youth_league"]


def _open(run: CaseRun) -> list[tuple[str, str | None]]:
    return sorted((t.bpmn_id, t.role) for t in run.open_tasks())


def _do(run: CaseRun, bpmn_id: str, data: dict[str, Any], clock: FixedClock) -> None:
    [task] = [t for t in run.open_tasks() if t.bpmn_id == bpmn_id]
    run.complete(task.id, PROCESS.forms.require(bpmn_id).validate(data), now=clock.now())


def _sent(clock: FixedClock) -> CaseRun:
    start = PROCESS.forms.require("start").validate({"period": "2026H1", "county_code": "500111"})
    run = CaseRun.start(PROCESS, case_id=str(uuid.uuid4()), data=start, now=clock.now())
    [task] = run.open_tasks()
    assert (task.bpmn_id, task.role, task.due_at) == (
        "compile_lists",
        "county_civil_affairs",
        START + timedelta(days=15),
    )
    _do(
        run,
        "compile_lists",
        {
            "red_count": 3,
            "yellow_count": 12,
            "blue_count": 40,
            "list_attachment_ref": "DA-2026-0301",
            "sent_on": "2026-03-05",
        },
        clock,
    )
    return run


def _ack(run: CaseRun, dept: str, clock: FixedClock) -> None:
    _do(run, f"{dept}_ack", {f"{dept}_received_on": "2026-03-06", f"{dept}_receiver": "赵敏"}, clock)


def acknowledged_in_time(clock: FixedClock) -> CaseRun:
    run = _sent(clock)
    for dept in RECEIVERS:
        _ack(run, dept, clock)
    return run


def acknowledged_late(clock: FixedClock) -> CaseRun:
    run = _sent(clock)
    _ack(run, "youth_league", clock)
    clock.advance(days=10, minutes=1)
    assert run.fire_timers(now=clock.now()).fired_timers == ["ack_overdue"]
    _do(run, "chase_acknowledgements", {"chased_on": "2026-03-13", "chase_notes": "已电话催收"}, clock)
    _ack(run, "womens_federation", clock)
    _ack(run, "disabled_federation", clock)
    return run


def test_the_lists_go_to_three_bodies_in_parallel_with_a_deadline() -> None:
    clock = FixedClock(START)
    run = _sent(clock)
    assert _open(run) == [(f"{d}_ack", d) for d in RECEIVERS]
    assert {t.due_at for t in run.open_tasks()} == {START + timedelta(days=10)}
    assert [t.name for t in sorted(run.open_tasks(), key=lambda t: t.bpmn_id)] == [
        "残联签收名单",
        "妇联签收名单",
        "共青团签收名单",
    ]
    _ack(run, "womens_federation", clock)
    _ack(run, "youth_league", clock)
    assert run.status == "running"
    _ack(run, "disabled_federation", clock)
    data = run.data()
    assert run.status == "completed" and data["sharing_status"] == "acknowledged"
    assert data["womens_federation_received_on"] == "2026-03-06" and data["red_count"] == 3


def test_a_missing_acknowledgement_is_chased_once_by_the_county() -> None:
    clock = FixedClock(START)
    run = _sent(clock)
    assert run.next_due_at() == START + timedelta(days=10)
    clock.advance(days=10, minutes=-1)
    assert run.fire_timers(now=clock.now()).fired_timers == []
    clock.advance(minutes=2)
    assert run.fire_timers(now=clock.now()).fired_timers == ["ack_overdue"]
    assert run.fire_timers(now=clock.now() + timedelta(days=30)).fired_timers == []
    assert ("chase_acknowledgements", "county_civil_affairs") in _open(run)
    assert [b for b, _ in _open(run)].count("chase_acknowledgements") == 1


def test_acknowledged_in_time_raises_no_chase() -> None:
    run = acknowledged_in_time(FixedClock(START))
    assert run.status == "completed" and run.next_due_at() is None


def test_start_form_names_the_period_and_warns_about_personal_data() -> None:
    form = PROCESS.forms.require("start")
    assert "受法律保护" in form.schema["description"]
    with pytest.raises(ValidationFailed) as info:
        form.validate({"period": "2026-1", "county_code": "500111"})
    assert info.value.details["fields"] == {"period": "格式不正确"}


def test_state_round_trips_while_waiting_for_acknowledgements() -> None:
    clock = FixedClock(START)
    run = _sent(clock)
    _ack(run, "youth_league", clock)
    again = CaseRun.restore(PROCESS, json.loads(json.dumps(run.dump())), case_id=run.case_id)
    assert again.digest() == run.digest()
    _ack(again, "womens_federation", clock)
    _ack(again, "disabled_federation", clock)
    assert again.status == "completed"


def test_every_sequence_flow_is_taken() -> None:
    flows = model_flows(FOLDER / "process.bpmn")
    taken = taken_flows(acknowledged_in_time(FixedClock(START)).workflow, flows)
    late = acknowledged_late(FixedClock(START))
    assert late.status == "completed"
    taken |= taken_flows(late.workflow, flows)
    assert set(flows) - taken == set()
