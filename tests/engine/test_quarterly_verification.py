"""档案季度核实更新 (P4): a round per village and quarter, due at its end in CST, escalated once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.flows import model_flows, taken_flows
from workflows.engine import CaseRun, parse_process
from workflows.infra.errors import ValidationFailed
from workflows.processes.registry import read_folder

FOLDER = Path(__file__).resolve().parents[2] / "bpmn" / "quarterly_verification"
FILES = read_folder(FOLDER)
PROCESS = parse_process("quarterly_verification", FILES, "test-quarterly-verification")
CHECKLIST = {
    "files_total": 24,
    "files_verified": 24,
    "files_updated": 3,
    "files_added": 1,
    "files_closed": 0,
    "carer_info_complete": True,
    "dropout_notes_complete": True,
    "changes": "3 名儿童父母返乡",
    "problems": "无",
}


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00").astimezone(UTC)


def start(quarter: str, now: datetime) -> CaseRun:
    data = {"village_code": "440111001001", "quarter": quarter}
    PROCESS.forms.require("start").validate(data)
    return CaseRun.start(PROCESS, case_id=str(uuid.uuid4()), data=data, now=now)


def the_task(run: CaseRun, bpmn_id: str):
    [task] = [t for t in run.open_tasks() if t.bpmn_id == bpmn_id]
    return task


def complete(run: CaseRun, bpmn_id: str, data: dict[str, Any], now: datetime) -> None:
    PROCESS.forms.require(bpmn_id).validate(data)
    run.complete(the_task(run, bpmn_id).id, data, now=now)


@pytest.mark.parametrize(
    ("quarter", "due"),
    [
        ("2026Q1", "2026-04-01T00:00:00"),
        ("2026Q2", "2026-07-01T00:00:00"),
        ("2026Q3", "2026-10-01T00:00:00"),
        ("2026Q4", "2027-01-01T00:00:00"),
    ],
)
def test_the_director_verifies_by_the_end_of_the_quarter_cst(quarter: str, due: str) -> None:
    run = start(quarter, cst("2026-01-01T00:05:00"))
    task = the_task(run, "verify_files")
    assert (task.name, task.role) == ("核实更新本村档案", "village_director")
    assert task.due_at == cst(due)
    assert run.next_due_at() == cst(due)


def test_supervisor_signs_off() -> None:
    run = start("2026Q1", cst("2026-01-01T00:05:00"))
    complete(run, "verify_files", CHECKLIST, cst("2026-03-20T10:00:00"))
    task = the_task(run, "sign_off")
    assert (task.name, task.role) == ("审核签收季度核实", "township_supervisor")
    assert run.next_due_at() is None  # done in time: no escalation left waiting
    complete(
        run,
        "sign_off",
        {"sign_off_date": "2026-03-21", "sign_off_comment": "已核"},
        cst("2026-03-21T10:00:00"),
    )
    assert run.status == "completed"
    assert run.data()["files_verified"] == 24


def test_overdue_verification_escalates_once_to_the_township_supervisor() -> None:
    run = start("2026Q1", cst("2026-01-01T00:05:00"))
    assert run.fire_timers(now=cst("2026-03-31T23:59:00")).fired_timers == []
    late = cst("2026-04-01T00:00:01")
    assert run.fire_timers(now=late).fired_timers == ["verification_overdue"]
    urge = the_task(run, "urge_verification")
    assert (urge.name, urge.role, urge.due_at) == (
        "督办季度核实",
        "township_supervisor",
        late + timedelta(days=5),
    )
    assert run.fire_timers(now=late + timedelta(days=30)).fired_timers == []
    complete(run, "urge_verification", {"urge_date": "2026-04-02", "urge_note": "已督促"}, late)
    complete(run, "verify_files", CHECKLIST, late)
    complete(run, "sign_off", {"sign_off_date": "2026-04-03"}, late)
    assert run.status == "completed"


def test_the_quarter_must_be_well_formed() -> None:
    with pytest.raises(ValidationFailed):
        PROCESS.forms.require("start").validate({"village_code": "x", "quarter": "2026Q5"})


def test_every_sequence_flow_is_taken() -> None:
    flows = model_flows(FOLDER / "process.bpmn")
    run = start("2026Q2", cst("2026-04-01T00:05:00"))
    late = cst("2026-07-02T09:00:00")
    run.fire_timers(now=late)
    complete(run, "urge_verification", {"urge_date": "2026-07-02", "urge_note": "已督促"}, late)
    complete(run, "verify_files", CHECKLIST, late)
    complete(run, "sign_off", {"sign_off_date": "2026-07-03"}, late)
    assert run.status == "completed"
    assert set(flows) - taken_flows(run.workflow, flows) == set()
