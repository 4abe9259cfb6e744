"""档案年度抽查 (P4): the county samples files, records findings and reports; the city acknowledges."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.flows import model_flows, taken_flows
from workflows.engine import CaseRun, parse_process
from workflows.processes.registry import read_folder

FOLDER = Path(__file__).resolve().parents[2] / "bpmn" / "annual_file_check"
FILES = read_folder(FOLDER)
PROCESS = parse_process("annual_file_check", FILES, "test-annual-file-check")
NOW = datetime(2026, 11, 2, 2, tzinfo=UTC)


def the_task(run: CaseRun, bpmn_id: str):
    [task] = [t for t in run.open_tasks() if t.bpmn_id == bpmn_id]
    return task


def complete(run: CaseRun, bpmn_id: str, data: dict[str, Any]) -> None:
    PROCESS.forms.require(bpmn_id).validate(data)
    run.complete(the_task(run, bpmn_id).id, data, now=NOW)


def run_through() -> CaseRun:
    PROCESS.forms.require("start").validate({"check_year": 2026})
    run = CaseRun.start(PROCESS, case_id=str(uuid.uuid4()), data={"check_year": 2026}, now=NOW)
    task = the_task(run, "sample_files")
    assert (task.name, task.role) == ("确定抽查样本", "county_civil_affairs")
    complete(run, "sample_files", {"sampled_units": "甲镇 3 个村、乙街道 2 个社区", "sample_size": 40})
    assert the_task(run, "record_findings").role == "county_civil_affairs"
    complete(
        run,
        "record_findings",
        {
            "files_checked": 40,
            "files_compliant": 37,
            "problems": "3 份缺走访记录",
            "rectification": "一个月内补齐",
            "record_kept": True,
        },
    )
    task = the_task(run, "report_to_city")
    assert (task.name, task.role) == ("汇总报送市级民政部门", "county_civil_affairs")
    assert task.due_at == datetime(2026, 12, 31, 16, tzinfo=UTC)  # end of 2026 in China Standard Time
    complete(
        run, "report_to_city", {"report_date": "2026-11-02", "report_summary": "抽查 40 份，37 份合格。"}
    )
    task = the_task(run, "acknowledge_report")
    assert (task.name, task.role, task.due_at) == (
        "接收抽查报告",
        "city_civil_affairs",
        NOW + timedelta(days=15),
    )
    complete(run, "acknowledge_report", {"acknowledged_date": "2026-11-03"})
    return run


def test_county_checks_and_reports_city_acknowledges() -> None:
    run = run_through()
    assert run.status == "completed"
    assert run.data()["files_compliant"] == 37


def test_every_sequence_flow_is_taken() -> None:
    flows = model_flows(FOLDER / "process.bpmn")
    assert set(flows) - taken_flows(run_through().workflow, flows) == set()
