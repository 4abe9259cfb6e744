"""委托照护 (P7): entrustment, the carer check, parents told when unfit, follow-up, checks every 3 months."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.flows import model_flows, taken_flows
from workflows.engine import CaseRun, parse_process
from workflows.processes.registry import read_folder

FOLDER = Path(__file__).resolve().parents[2] / "bpmn" / "entrusted_care"
FILES = read_folder(FOLDER)
PROCESS = parse_process("entrusted_care", FILES, "test-entrusted-care")


def cst(day: str, time: str = "10:00:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{time}+08:00").astimezone(UTC)


def end_of(day: str) -> datetime:
    return cst(day, "23:59:59")


def open_ids(run: CaseRun) -> list[str]:
    return sorted(t.bpmn_id for t in run.open_tasks())


def the_task(run: CaseRun, bpmn_id: str):
    [task] = [t for t in run.open_tasks() if t.bpmn_id == bpmn_id]
    return task


def complete(run: CaseRun, bpmn_id: str, data: dict[str, Any], day: str) -> None:
    PROCESS.forms.require(bpmn_id).validate(data)
    run.complete(the_task(run, bpmn_id).id, data, now=cst(day))


def start() -> CaseRun:
    data = {"child_ref": "C-0003", "child_name": "小军"}
    PROCESS.forms.require("start").validate(data)
    return CaseRun.start(PROCESS, case_id=str(uuid.uuid4()), data=data, now=cst("2026-01-05"))


def agreement(run: CaseRun, carer: str, day: str) -> None:
    complete(
        run,
        "record_agreement",
        {
            "agreement_type": "entrusted_care_letter",
            "carer_name": carer,
            "carer_relation": "grandparent",
            "agreement_date": day,
            "agreement_signed": True,
            "contact_arrangement": "每周视频通话",
        },
        day,
    )


def check(run: CaseRun, task: str, day: str, able: bool = True, willing: bool = True, **extra: Any) -> None:
    complete(
        run,
        task,
        {
            "check_date": day,
            "carer_able": able,
            "carer_willing": willing,
            "check_findings": "照护良好" if able and willing else "身体欠佳",
            **extra,
        },
        day,
    )


def inform(run: CaseRun, day: str, choice: str) -> None:
    complete(
        run,
        "inform_parents",
        {"informed_date": day, "informed_method": "phone", "parents_choice": choice},
        day,
    )


def test_a_fit_carer_is_checked_every_three_calendar_months_until_the_entrustment_ends() -> None:
    run = start()
    task = the_task(run, "record_agreement")
    assert (task.name, task.role) == ("登记委托照护协议", "village_director")
    agreement(run, "李爷爷", "2026-01-05")
    assert the_task(run, "check_carer").name == "核查被委托人照护能力"
    check(run, "check_carer", "2025-11-30")
    task = the_task(run, "periodic_check")
    assert (task.name, task.role, task.due_at) == (
        "定期核查委托照护情况",
        "village_director",
        end_of("2026-02-28"),
    )
    check(run, "periodic_check", "2026-02-27", entrustment_status="continuing")
    assert the_task(run, "periodic_check").due_at == end_of("2026-05-27")
    check(run, "periodic_check", "2026-05-20", entrustment_status="parents_returned")
    assert run.status == "completed"


def test_an_unfit_carer_the_parents_choose_another() -> None:
    run = start()
    agreement(run, "李爷爷", "2026-01-05")
    check(run, "check_carer", "2026-01-06", able=False)
    task = the_task(run, "inform_parents")
    assert (task.name, task.role) == ("告知父母", "village_director")
    inform(run, "2026-01-07", "another_carer")
    assert open_ids(run) == ["record_agreement"]
    agreement(run, "张姑姑", "2026-01-20")
    check(run, "check_carer", "2026-01-21")
    assert run.data()["carer_name"] == "张姑姑"
    assert the_task(run, "periodic_check").due_at == end_of("2026-04-21")


def test_an_unfit_carer_is_supervised_and_followed_up_after_a_month() -> None:
    run = start()
    agreement(run, "李爷爷", "2026-01-05")
    check(run, "check_carer", "2026-01-06", willing=False)
    inform(run, "2026-01-31", "supervise_carer")
    task = the_task(run, "follow_up_carer")
    assert (task.name, task.role, task.due_at) == (
        "督促被委托人履职并回访",
        "village_director",
        end_of("2026-02-28"),
    )
    check(run, "follow_up_carer", "2026-02-25", willing=False)  # still not: parents told again
    inform(run, "2026-02-26", "supervise_carer")
    assert the_task(run, "follow_up_carer").due_at == end_of("2026-03-26")
    check(run, "follow_up_carer", "2026-03-20")
    assert the_task(run, "periodic_check").due_at == end_of("2026-06-20")


def test_a_periodic_check_that_finds_the_carer_unfit_tells_the_parents() -> None:
    run = start()
    agreement(run, "李爷爷", "2026-01-05")
    check(run, "check_carer", "2026-01-06")
    check(run, "periodic_check", "2026-04-01", able=False, entrustment_status="continuing")
    assert open_ids(run) == ["inform_parents"]


def test_an_overdue_periodic_check_escalates_once() -> None:
    run = start()
    agreement(run, "李爷爷", "2026-01-05")
    check(run, "check_carer", "2026-01-06")
    due = end_of("2026-04-06")
    assert run.next_due_at() == due
    assert run.fire_timers(now=due - timedelta(seconds=1)).fired_timers == []
    assert run.fire_timers(now=due + timedelta(seconds=1)).fired_timers == ["check_overdue"]
    task = the_task(run, "supervise_check")
    assert (task.name, task.role) == ("督办逾期核查", "township_supervisor")
    assert run.fire_timers(now=due + timedelta(days=60)).fired_timers == []
    assert open_ids(run) == ["periodic_check", "supervise_check"]


def test_a_stored_case_restores_and_carries_on() -> None:
    run = start()
    agreement(run, "李爷爷", "2026-01-05")
    check(run, "check_carer", "2026-01-06", willing=False)
    inform(run, "2026-01-07", "supervise_carer")
    again = CaseRun.restore(PROCESS, json.loads(json.dumps(run.dump())), case_id=run.case_id)
    assert again.digest() == run.digest()
    check(again, "follow_up_carer", "2026-02-01")
    assert the_task(again, "periodic_check").due_at == end_of("2026-05-01")


def test_every_sequence_flow_is_taken() -> None:
    flows = model_flows(FOLDER / "process.bpmn")
    run = start()
    agreement(run, "李爷爷", "2026-01-05")
    check(run, "check_carer", "2026-01-06", able=False)
    inform(run, "2026-01-07", "another_carer")
    agreement(run, "张姑姑", "2026-01-20")
    check(run, "check_carer", "2026-01-21", willing=False)
    inform(run, "2026-01-22", "supervise_carer")
    check(run, "follow_up_carer", "2026-02-20")
    run.fire_timers(now=end_of("2026-05-21"))
    complete(
        run, "supervise_check", {"supervision_date": "2026-05-22", "supervision_note": "已督促"}, "2026-05-22"
    )
    check(run, "periodic_check", "2026-05-25", entrustment_status="continuing")
    check(run, "periodic_check", "2026-08-20", entrustment_status="child_left")
    assert run.status == "completed"
    assert set(flows) - taken_flows(run.workflow, flows) == set()
