"""institution_transfer (P3): the county proposes, the city accepts child by child, each accepted child
is handed over in parallel."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import START
from tests.support.flows import model_flows, taken_flows
from workflows.engine import CaseRun, OpenTask, parse_process
from workflows.infra.clock import FixedClock
from workflows.infra.errors import ValidationFailed
from workflows.processes.registry import content_hash, read_folder

KEY = "institution_transfer"
FOLDER = Path(__file__).resolve().parents[2] / "bpmn" / KEY
FILES = read_folder(FOLDER)
PROCESS = parse_process(KEY, FILES, f"test-{KEY}-{content_hash(FILES, [])}")

CHILDREN = [
    {"child_ref": f"C-00{i}", "name": name, "notes": ""}
    for i, name in enumerate(["小华", "小军", "小丽", "小明"], 1)
]


def _open(run: CaseRun) -> list[tuple[str, str | None]]:
    return sorted((t.bpmn_id, t.role) for t in run.open_tasks())


def _child_of(run: CaseRun, task: OpenTask) -> str:
    """The child a per-child task is about (what the task page shows above the form)."""
    return str(run.workflow.get_task_from_id(uuid.UUID(task.id)).data["child"]["child_ref"])


def _do(run: CaseRun, task: OpenTask, data: dict[str, Any], clock: FixedClock) -> None:
    run.complete(task.id, PROCESS.forms.require(task.bpmn_id).validate(data), now=clock.now())


def _only(run: CaseRun, bpmn_id: str) -> OpenTask:
    [task] = [t for t in run.open_tasks() if t.bpmn_id == bpmn_id]
    return task


def _propose_and_review(clock: FixedClock, accepted: list[str]) -> CaseRun:
    start = PROCESS.forms.require("start").validate(
        {
            "county_institution": "大足区儿童福利院",
            "transfer_reasons": ["few_orphans", "weak_staff"],
            "children": CHILDREN,
        }
    )
    run = CaseRun.start(PROCESS, case_id=str(uuid.uuid4()), data=start, now=clock.now())
    assert _open(run) == [("propose_transfer", "county_civil_affairs")]
    _do(
        run,
        _only(run, "propose_transfer"),
        {
            "proposed_on": "2026-03-02",
            "receiving_institution": "重庆市儿童福利院",
            "transfer_plan": "分两批护送",
        },
        clock,
    )
    review = _only(run, "review_transfer")
    assert (review.role, review.due_at) == ("city_civil_affairs", START + timedelta(days=30))
    decisions = [
        {"child_ref": c["child_ref"], "accepted": c["child_ref"] in accepted}
        | ({} if c["child_ref"] in accepted else {"reason": "需在县级就近康复"})
        for c in CHILDREN
    ]
    _do(run, review, {"reviewed_on": "2026-03-10", "transfer_decisions": decisions}, clock)
    return run


STEP_DATA = {
    "file_handover": {"files_handed_over_on": "2026-03-12", "file_items": ["personal_file"]},
    "escort_handover": {
        "escorted_on": "2026-03-15",
        "escort_staff": "李护理员",
        "condition_on_handover": "身体健康",
    },
    "confirm_receipt": {"received_on": "2026-03-15", "files_complete": True},
}


def _step(run: CaseRun, clock: FixedClock, bpmn_id: str, ref: str) -> None:
    """Complete the per-child task ``bpmn_id`` of child ``ref``."""
    [task] = [t for t in run.open_tasks() if t.bpmn_id == bpmn_id and _child_of(run, t) == ref]
    _do(run, task, STEP_DATA[bpmn_id], clock)


def _hand_over(run: CaseRun, clock: FixedClock, order: list[str]) -> None:
    """Hand the children over one after the other in ``order`` (the others' tasks stay open meanwhile)."""
    for ref in order:
        for bpmn_id in STEP_DATA:
            _step(run, clock, bpmn_id, ref)


def transfer(clock: FixedClock, accepted: list[str]) -> CaseRun:
    run = _propose_and_review(clock, accepted)
    if accepted:
        _hand_over(run, clock, list(reversed(accepted)))
        _do(
            run,
            _only(run, "record_conversion"),
            {
                "conversion_type": "child_welfare_guidance_centre",
                "converted_on": "2026-04-01",
                "new_name": "大足区儿童福利指导中心",
                "services": ["temporary_care", "regular_visits"],
            },
            clock,
        )
    return run


def test_no_child_accepted_ends_with_a_recorded_result() -> None:
    clock = FixedClock(START)
    run = _propose_and_review(clock, [])
    assert run.status == "completed" and _open(run) == []
    data = run.data()
    assert data["transfer_result"] == "none_accepted" and data["transferred_count"] == 0
    assert [c["child_ref"] for c in data["declined_children"]] == ["C-001", "C-002", "C-003", "C-004"]


def test_one_accepted_child_is_handed_over_step_by_step() -> None:
    clock = FixedClock(START)
    run = _propose_and_review(clock, ["C-002"])
    [task] = run.open_tasks()
    assert (task.bpmn_id, task.role, _child_of(run, task)) == (
        "file_handover",
        "county_civil_affairs",
        "C-002",
    )
    assert task.due_at == START + timedelta(days=15)
    _do(run, task, {"files_handed_over_on": "2026-03-12", "file_items": ["personal_file", "health"]}, clock)
    assert _open(run) == [("escort_handover", "welfare_institution")]
    _do(
        run,
        _only(run, "escort_handover"),
        {"escorted_on": "2026-03-15", "escort_staff": "李护理员", "condition_on_handover": "身体健康"},
        clock,
    )
    receipt = _only(run, "confirm_receipt")
    assert (receipt.role, receipt.due_at) == ("city_civil_affairs", START + timedelta(days=3))
    _do(run, receipt, {"received_on": "2026-03-15", "files_complete": True}, clock)
    assert _open(run) == [("record_conversion", "county_civil_affairs")]
    _do(
        run,
        _only(run, "record_conversion"),
        {
            "conversion_type": "minor_protection_institution",
            "converted_on": "2026-04-01",
            "new_name": "大足区未成年人救助保护中心",
        },
        clock,
    )
    data = run.data()
    assert (
        run.status == "completed"
        and data["transfer_result"] == "completed"
        and data["transferred_count"] == 1
    )
    assert data["received_children"] == [
        {
            "child_ref": "C-002",
            "name": "小军",
            "files_handed_over_on": "2026-03-12",
            "escorted_on": "2026-03-15",
            "received_on": "2026-03-15",
            "receiving_institution": "重庆市儿童福利院",
        }
    ]
    assert [c["child_ref"] for c in data["declined_children"]] == ["C-001", "C-003", "C-004"]


def test_three_accepted_children_are_handed_over_in_parallel() -> None:
    clock = FixedClock(START)
    accepted = ["C-001", "C-003", "C-004"]
    run = _propose_and_review(clock, accepted)
    assert _open(run) == [("file_handover", "county_civil_affairs")] * 3
    assert sorted(_child_of(run, t) for t in run.open_tasks()) == accepted
    # one child is escorted and received while the others' files are still being prepared
    _hand_over(run, clock, ["C-004"])
    assert _open(run) == [("file_handover", "county_civil_affairs")] * 2
    _step(run, clock, "file_handover", "C-001")
    assert _open(run) == [
        ("escort_handover", "welfare_institution"),
        ("file_handover", "county_civil_affairs"),
    ]
    _step(run, clock, "escort_handover", "C-001")
    _step(run, clock, "confirm_receipt", "C-001")
    # the county's conversion waits until every accepted child has been received
    assert _open(run) == [("file_handover", "county_civil_affairs")]
    _hand_over(run, clock, ["C-003"])
    assert _open(run) == [("record_conversion", "county_civil_affairs")]
    _do(
        run,
        _only(run, "record_conversion"),
        {
            "conversion_type": "child_welfare_guidance_centre",
            "converted_on": "2026-04-01",
            "new_name": "大足区儿童福利指导中心",
        },
        clock,
    )
    data = run.data()
    assert run.status == "completed" and data["transferred_count"] == 3
    assert [r["child_ref"] for r in data["received_children"]] == [
        "C-004",
        "C-001",
        "C-003",
    ]  # in order of receipt
    assert [c["child_ref"] for c in data["declined_children"]] == ["C-002"]


def test_refusing_a_child_needs_a_reason() -> None:
    form = PROCESS.forms.require("review_transfer")
    with pytest.raises(ValidationFailed):
        form.validate(
            {"reviewed_on": "2026-03-10", "transfer_decisions": [{"child_ref": "C-001", "accepted": False}]}
        )
    form.validate(
        {"reviewed_on": "2026-03-10", "transfer_decisions": [{"child_ref": "C-001", "accepted": True}]}
    )


def test_state_round_trips_in_the_middle_of_the_parallel_hand_over() -> None:
    clock = FixedClock(START)
    run = _propose_and_review(clock, ["C-001", "C-002"])
    _hand_over(run, clock, ["C-001"])
    again = CaseRun.restore(PROCESS, json.loads(json.dumps(run.dump())), case_id=run.case_id)
    assert again.digest() == run.digest()
    _hand_over(again, clock, ["C-002"])
    assert _open(again) == [("record_conversion", "county_civil_affairs")]


def test_every_sequence_flow_is_taken() -> None:
    flows = model_flows(FOLDER / "process.bpmn")
    taken: set[str] = set()
    for accepted in ([], ["C-002"], ["C-001", "C-003", "C-004"]):
        taken |= taken_flows(transfer(FixedClock(START), accepted).workflow, flows)
    assert set(flows) - taken == set()
