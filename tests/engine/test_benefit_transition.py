"""救助保障与过渡期 (P8), driven with a moved clock.

Source: 003_06674bf19a87195c.txt (粤民发〔2024〕32号) §五(三)9 — 孤儿、事实无人抚养儿童退出基本生活保障后，设置6个月的
过渡期，过渡期内继续享受基本生活保障待遇. The transition ends by itself at six months (calendar months, China
Standard Time) unless the reviewer extends it with a reason; a review left unanswered is escalated to the city.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.flows import model_flows, taken_flows
from workflows.engine import CaseRun, parse_process
from workflows.infra.errors import ValidationFailed
from workflows.processes import validation
from workflows.processes.registry import read_folder

FOLDER = Path(__file__).resolve().parents[2] / "bpmn" / "benefit_transition"
FILES = read_folder(FOLDER)
PROCESS = parse_process("benefit_transition", FILES, "test-benefit-transition")
FLOWS = model_flows(FOLDER / "process.bpmn")


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00").astimezone(UTC)


def open_ids(run: CaseRun) -> list[str]:
    return sorted(t.bpmn_id for t in run.open_tasks())


def the_task(run: CaseRun, bpmn_id: str):  # type: ignore[no-untyped-def]
    [task] = [t for t in run.open_tasks() if t.bpmn_id == bpmn_id]
    return task


def complete(run: CaseRun, bpmn_id: str, data: dict[str, Any], now: datetime) -> None:
    run.complete(the_task(run, bpmn_id).id, PROCESS.forms.require(bpmn_id).validate(data), now=now)


def start_transition(end_date: str, category: str = "orphan") -> CaseRun:
    data = {
        "child_ref": "C-0004",
        "child_name": "小芳",
        "category": category,
        "support_end_date": end_date,
        "exit_reason": "被依法收养",
    }
    now = cst(end_date + "T09:00:00")
    run = CaseRun.start(
        PROCESS, case_id=str(uuid.uuid4()), data=PROCESS.forms.require("start").validate(data), now=now
    )
    task = the_task(run, "enrol_assistance")
    assert (task.name, task.role) == ("核查纳入救助保障", "county_civil_affairs")
    complete(
        run,
        "enrol_assistance",
        {"assessment_date": end_date, "assistance_enrolled": ["medical_assistance"]},
        now,
    )
    task = the_task(run, "record_transition")
    assert (task.name, task.role) == ("作出过渡期决定", "county_civil_affairs")
    complete(
        run,
        "record_transition",
        {"decision_date": end_date, "decision_ref": "民〔2026〕12号", "monthly_amount": 1500},
        now,
    )
    return run


def open_review(run: CaseRun, at: datetime) -> None:
    assert run.fire_timers(now=at).fired_timers == ["review_opens"]
    assert open_ids(run) == ["review_transition"]


def review(run: CaseRun, outcome: str, now: datetime, **extra: Any) -> None:
    data = {
        "review_date": now.astimezone(UTC).date().isoformat(),
        "review_outcome": outcome,
        "assistance_types": [],
    }
    complete(run, "review_transition", {**data, **extra}, now)


def test_model_passes_validation() -> None:
    assert validation.validate(key="benefit_transition", files=FILES) == []


@pytest.mark.parametrize(
    ("end_date", "review_opens", "transition_end"),
    [
        ("2026-03-31", "2026-08-31T00:00:00", "2026-09-30T00:00:00"),
        ("2026-08-31", "2027-01-31T00:00:00", "2027-02-28T00:00:00"),
        ("2027-08-31", "2028-01-31T00:00:00", "2028-02-29T00:00:00"),
        ("2026-01-15", "2026-06-15T00:00:00", "2026-07-15T00:00:00"),
    ],
)
def test_003_5_3_9_six_calendar_months_in_china_standard_time(
    end_date: str, review_opens: str, transition_end: str
) -> None:
    """003 §五(三)9: the transition lasts six calendar months; the review opens one month before it ends."""
    run = start_transition(end_date)
    assert run.open_tasks() == [] and run.next_due_at() == cst(review_opens)
    assert run.fire_timers(now=cst(review_opens) - timedelta(seconds=1)).fired_timers == []
    open_review(run, cst(review_opens) + timedelta(hours=1))
    task = the_task(run, "review_transition")
    assert (task.name, task.role, task.due_at) == (
        "过渡期届满复核",
        "county_civil_affairs",
        cst(transition_end),
    )


def test_003_5_3_9_transition_ends_by_itself_at_six_months() -> None:
    """003 §五(三)9: nobody reviews → at six months the support ends by itself (no open-ended payment)."""
    run = start_transition("2026-03-31")
    open_review(run, cst("2026-08-31T09:00:00"))
    end = cst("2026-09-30T00:00:00")
    run.fire_timers(now=end - timedelta(seconds=1))
    assert "review_transition" in open_ids(run) and run.status == "running"
    fired = run.fire_timers(now=end + timedelta(minutes=1)).fired_timers
    assert fired == ["transition_expired"]
    assert "review_transition" not in open_ids(run)
    assert run.data()["transition_outcome"] == "ended_automatically"
    # the end is a terminate event: the city's escalation raised while the review waited is withdrawn with it
    assert run.status == "completed" and run.open_tasks() == []


def test_003_5_3_9_unanswered_review_escalates_once_to_the_city() -> None:
    """003 §五(三)9 with the review's deadline: 15 days without an answer → one task for city civil affairs."""
    run = start_transition("2026-03-31")
    opened = cst("2026-08-31T09:00:00")
    open_review(run, opened)
    assert run.fire_timers(now=opened + timedelta(days=14, hours=23)).fired_timers == []
    assert run.fire_timers(now=opened + timedelta(days=15, minutes=1)).fired_timers == ["review_overdue"]
    task = the_task(run, "supervise_review")
    assert (task.name, task.role) == ("市级民政督办过渡期复核", "city_civil_affairs")
    assert run.fire_timers(now=opened + timedelta(days=25)).fired_timers == []
    assert open_ids(run) == ["review_transition", "supervise_review"]
    complete(
        run,
        "supervise_review",
        {"supervised_on": "2026-09-16", "supervision_measures": "电话督促县民政局"},
        opened,
    )
    # the county answers in time after all: the support ends at term, not before
    review(run, "end_support", opened + timedelta(days=26))
    assert run.data()["transition_outcome"] == "open" and run.status == "running"
    run.fire_timers(now=cst("2026-09-30T00:01:00"))
    assert run.status == "completed" and run.data()["transition_outcome"] == "ended_at_term"


def test_003_5_3_9_extension_needs_a_reason_and_moves_the_end() -> None:
    """003 §五(三)9: the reviewer may extend the transition only with a reason; the end moves by whole months."""
    run = start_transition("2026-03-31")
    now = cst("2026-09-01T09:00:00")
    open_review(run, now)
    with pytest.raises(ValidationFailed):
        PROCESS.forms.require("review_transition").validate(
            {
                "review_date": "2026-09-01",
                "review_outcome": "extend",
                "assistance_types": [],
                "extension_months": 3,
            }
        )
    review(run, "extend", now, extension_months=3, extension_reason="低保申请尚在审批中，儿童家庭收入不稳定")
    data = run.data()
    assert data["extension_count"] == 1 and data["transition_end_at"].startswith("2026-12-29T16:00:00")
    assert run.open_tasks() == [] and run.next_due_at() == cst("2026-11-30T00:00:00")
    open_review(run, cst("2026-11-30T09:00:00"))
    assert the_task(run, "review_transition").due_at == cst("2026-12-30T00:00:00")
    review(run, "enrol_minimum_living", cst("2026-12-01T09:00:00"), assistance_types=["minimum_living"])
    assert run.status == "completed"


def test_only_orphans_and_de_facto_unattended_children_have_a_transition() -> None:
    with pytest.raises(ValidationFailed):
        PROCESS.forms.require("start").validate(
            {
                "child_ref": "C",
                "child_name": "小芳",
                "category": "poor_family",
                "support_end_date": "2026-03-31",
                "exit_reason": "",
            }
        )


def _path(kind: str) -> CaseRun:
    run = start_transition("2026-03-31")
    opened = cst("2026-08-31T09:00:00")
    open_review(run, opened)
    if kind == "expire":
        run.fire_timers(now=opened + timedelta(days=16))
        complete(
            run, "supervise_review", {"supervised_on": "2026-09-16", "supervision_measures": "督促"}, opened
        )
        run.fire_timers(now=cst("2026-09-30T00:01:00"))
        assert run.data()["transition_outcome"] == "ended_automatically"
    elif kind == "extend":
        review(run, "extend", opened, extension_months=1, extension_reason="家庭情况尚未稳定")
        run.fire_timers(now=cst("2026-09-30T09:00:00"))
        review(run, "end_support", cst("2026-09-30T10:00:00"))
        run.fire_timers(now=cst("2026-10-31T00:01:00"))
    else:
        review(run, "enrol_other_assistance", opened, assistance_types=["temporary_assistance"])
    return run


def test_every_sequence_flow_is_taken() -> None:
    taken: set[str] = set()
    for kind in ("expire", "extend", "enrol"):
        run = _path(kind)
        assert run.status == "completed", kind
        taken |= taken_flows(run.workflow, FLOWS)
    assert set(FLOWS) - taken == set()
