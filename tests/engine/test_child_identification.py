"""精准识别与建档 (P4): the definitions as decision tables, row by row and at the boundaries; the file."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import START
from tests.support.flows import model_flows, taken_flows
from workflows.engine import SCRIPT_ENGINE, CaseRun, parse_process
from workflows.infra.errors import ValidationFailed
from workflows.processes.registry import read_folder

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
FOLDER = BPMN_DIR / "child_identification"
FILES = read_folder(FOLDER)
PROCESS = parse_process("child_identification", FILES, "test-child-identification")
UNABLE = [
    "severe_disability_or_illness",
    "lost_contact",
    "deported",
    "imprisoned",
    "compulsory_rehab",
    "other_liberty_restriction",
]


def cst(day: str) -> datetime:
    """10:00 China Standard Time on ``day``."""
    return datetime.fromisoformat(day + "T10:00:00+08:00").astimezone(UTC)


# START is 2026-03-02 09:00 CST
BASE_FACTS: dict[str, Any] = {
    "birth_date": "2016-05-01",
    "address": "甲镇丙村 5 组 8 号",
    "rural_hukou": True,
    "father_status": "working_away",
    "father_left_date": "2025-06-01",
    "father_work_place": "other_county",
    "mother_status": "working_away",
    "mother_left_date": "2025-06-01",
    "mother_work_place": "other_county",
    "orphan": False,
    "de_facto_unattended": False,
    "family_assistance": "none",
    "disability_grade": 0,
    "disability_type": "none",
    "state_guardianship": "none",
    "observed_risks": [],
    "visit_date": "2026-03-01",
}


def start(now: datetime = START, **extra: Any) -> CaseRun:
    data = {
        "child_ref": "C-0002",
        "child_name": "小丽",
        "file_action": "new",
        "tracking_active": False,
        **extra,
    }
    PROCESS.forms.require("start").validate(data)
    return CaseRun.start(PROCESS, case_id=str(uuid.uuid4()), data=data, now=now)


def the_task(run: CaseRun, bpmn_id: str):
    [task] = [t for t in run.open_tasks() if t.bpmn_id == bpmn_id]
    return task


def complete(run: CaseRun, bpmn_id: str, data: dict[str, Any], now: datetime = START) -> None:
    PROCESS.forms.require(bpmn_id).validate(data)
    run.complete(the_task(run, bpmn_id).id, data, now=now)


def register(now: datetime = START, run: CaseRun | None = None, **changes: Any) -> CaseRun:
    run = run or start(now)
    complete(run, "register_child", {**BASE_FACTS, **changes}, now)
    return run


def confirm(run: CaseRun) -> None:
    complete(
        run,
        "confirm_file",
        {
            "guardian_name": "王奶奶",
            "guardian_relation": "grandparent",
            "has_entrusted_carer": True,
            "carer_name": "王奶奶",
            "carer_relation": "祖母",
            "school_status": "compulsory",
            "file_complete": True,
        },
    )


def review(run: CaseRun, decision: str = "approved") -> None:
    complete(run, "review_file", {"review_decision": decision, "review_comment": ""})


def away(who: str, left: str, place: str = "other_county", core: bool = False) -> dict[str, Any]:
    return {
        f"{who}_status": "working_away",
        f"{who}_left_date": left,
        f"{who}_work_place": place,
        f"{who}_core_districts_both": core,
    }


def status(who: str, value: str) -> dict[str, Any]:
    return {f"{who}_status": value, f"{who}_left_date": None, f"{who}_work_place": None}


def outcome(run: CaseRun) -> tuple[bool, str]:
    data = run.data()
    return data["is_left_behind"], data["left_behind_reason"]


# --- decision tables: examples hold and reach every row -------------------------------------------
def _decide(task_id: str, inputs: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
    engine = PROCESS.spec.task_specs[task_id].dmnEngine
    task = SimpleNamespace(data=dict(inputs), workflow=SimpleNamespace(script_engine=SCRIPT_ENGINE))
    return engine.result(task), [rule.row_number for rule in engine.decide(task)]


@pytest.mark.parametrize(
    ("task_id", "table", "policy"),
    [
        ("decide_left_behind", "left_behind", "FIRST"),
        ("decide_categories", "difficulty_categories", "COLLECT"),
        ("grade_risk", "risk_grade", "FIRST"),
    ],
)
def test_examples_hold_and_cover_every_row(task_id: str, table: str, policy: str) -> None:
    engine = PROCESS.spec.task_specs[task_id].dmnEngine
    assert engine.decision_table.hit_policy == policy
    reached: set[int] = set()
    for example in json.loads((FOLDER / f"{table}.examples.json").read_text(encoding="utf-8")):
        result, rows = _decide(task_id, example["inputs"])
        if policy == "COLLECT":
            result.setdefault("difficulty_categories", [])
            reached |= set(rows)
        else:
            reached.add(rows[0])
        assert result == example["expected"], example
    assert reached == {rule.row_number for rule in engine.decision_table.rules}


def test_the_risk_grade_table_is_the_one_risk_visits_uses() -> None:
    assert (FOLDER / "risk_grade.dmn").read_bytes() == (
        BPMN_DIR / "risk_visits" / "risk_grade.dmn"
    ).read_bytes()
    assert (FOLDER / "risk_grade.examples.json").read_bytes() == (
        BPMN_DIR / "risk_visits" / "risk_grade.examples.json"
    ).read_bytes()


# --- left_behind, row by row through the process (dates → age and months by the scripts) ----------
def test_row_1_sixteen_exactly_is_not_under_sixteen() -> None:
    assert outcome(register(birth_date="2010-03-02")) == (False, "age_16_or_over")
    assert register(birth_date="2010-03-02").data()["age"] == 16


def test_row_1_boundary_fifteen_years_364_days_is_under_sixteen() -> None:
    run = register(birth_date="2010-03-03")
    assert run.data()["age"] == 15
    assert outcome(run) == (True, "both_parents_away")


def test_row_2_urban_household_registration_is_out() -> None:
    assert outcome(register(rural_hukou=False)) == (False, "not_rural_hukou")


def test_row_3_both_parents_away() -> None:
    run = register()
    assert run.data()["father_months_away"] == 9
    assert outcome(run) == (True, "both_parents_away")


@pytest.mark.parametrize("unable", UNABLE)
def test_row_4_father_away_and_mother_unable_to_guard(unable: str) -> None:
    assert outcome(register(**status("mother", unable))) == (True, "father_away_mother_unable")


@pytest.mark.parametrize("unable", UNABLE)
def test_row_5_mother_away_and_father_unable_to_guard(unable: str) -> None:
    assert outcome(register(**status("father", unable))) == (True, "mother_away_father_unable")


def test_row_6_one_away_and_the_other_at_home_and_healthy() -> None:
    assert outcome(register(**status("mother", "at_home"))) == (False, "parents_not_away")
    assert outcome(register(**status("father", "at_home"))) == (False, "parents_not_away")


def test_row_6_a_deceased_parent_is_not_in_the_list_of_incapacities() -> None:
    assert outcome(register(**status("mother", "deceased"))) == (False, "parents_not_away")


def test_one_away_and_the_other_imprisoned() -> None:
    assert outcome(register(**status("mother", "imprisoned"))) == (True, "father_away_mother_unable")


def test_exactly_three_months_away_counts() -> None:
    today = cst("2026-08-01")
    run = register(today, **away("father", "2026-05-01"), **away("mother", "2026-05-01"))
    assert run.data()["father_months_away"] == 3
    assert outcome(run) == (True, "both_parents_away")


def test_two_months_thirty_days_away_does_not() -> None:
    today = cst("2026-07-31")  # 1 May + 2 months = 1 Jul, + 30 days = 31 Jul
    run = register(today, **away("father", "2026-05-01"), **away("mother", "2026-05-01"))
    assert run.data()["father_months_away"] == 2
    assert outcome(run) == (False, "parents_not_away")


def test_two_months_thirty_days_with_the_other_parent_imprisoned_does_not_either() -> None:
    run = register(cst("2026-07-31"), **away("father", "2026-05-01"), **status("mother", "imprisoned"))
    assert outcome(run) == (False, "parents_not_away")


def test_working_in_the_same_county_does_not_count() -> None:
    run = register(
        **away("father", "2025-01-01", "same_county"), **away("mother", "2025-01-01", "same_county")
    )
    assert outcome(run) == (False, "parents_not_away")
    run = register(**away("father", "2025-01-01", "same_county"), **status("mother", "imprisoned"))
    assert outcome(run) == (False, "parents_not_away")


def test_both_places_in_the_core_districts_does_not_count() -> None:
    run = register(**away("father", "2025-01-01", core=True), **away("mother", "2025-01-01", core=True))
    assert outcome(run) == (False, "parents_not_away")
    run = register(**away("father", "2025-01-01", core=True), **away("mother", "2025-01-01"))
    assert outcome(run) == (False, "parents_not_away")  # only the mother counts as away, the father can guard


def test_the_form_requires_the_date_and_place_of_a_parent_working_away() -> None:
    form = PROCESS.forms.require("register_child")
    with pytest.raises(ValidationFailed):
        form.validate({**BASE_FACTS, "father_left_date": None})
    with pytest.raises(ValidationFailed):
        form.validate({k: v for k, v in BASE_FACTS.items() if k != "mother_work_place"})
    form.validate({**BASE_FACTS, **status("father", "at_home")})


# --- difficulty categories, row by row ------------------------------------------------------------
NOT_AWAY = {**status("father", "at_home"), **status("mother", "at_home")}


@pytest.mark.parametrize(
    ("facts", "categories"),
    [
        ({}, []),
        ({"orphan": True, **status("father", "deceased"), **status("mother", "deceased")}, ["orphan"]),
        ({"hiv_infected": True}, ["orphan"]),
        ({"de_facto_unattended": True}, ["de_facto_unattended"]),
        ({"family_assistance": "minimum_living"}, ["poor_family"]),
        ({"family_assistance": "low_income_margin"}, ["poor_family"]),
        ({"family_assistance": "expenditure_hardship"}, ["poor_family"]),
        ({"family_assistance": "extreme_poverty"}, ["poor_family"]),
        ({"disability_grade": 1, "disability_type": "physical"}, ["severe_disability"]),
        ({"disability_grade": 2, "disability_type": "hearing"}, ["severe_disability"]),
        ({"disability_grade": 3, "disability_type": "mental"}, ["severe_disability"]),
        ({"disability_grade": 4, "disability_type": "intellectual"}, ["severe_disability"]),
        ({"disability_grade": 3, "disability_type": "physical"}, []),
        ({"disability_grade": 4, "disability_type": "visual"}, []),
        ({"state_guardianship": "long_term"}, ["state_guardianship"]),
        ({"state_guardianship": "temporary"}, ["state_guardianship"]),
        ({"other_local_category": True}, ["other_local"]),
        (
            {
                "de_facto_unattended": True,
                "family_assistance": "minimum_living",
                "disability_grade": 1,
                "disability_type": "mental",
                "other_local_category": True,
            },
            ["de_facto_unattended", "poor_family", "severe_disability", "other_local"],
        ),
    ],
)
def test_categories_are_collected(facts: dict[str, Any], categories: list[str]) -> None:
    run = register(**{**NOT_AWAY, **facts})
    assert run.data()["difficulty_categories"] == categories


def test_categories_are_recomputed_when_the_file_is_corrected() -> None:
    run = register(**{**NOT_AWAY, "orphan": True, "family_assistance": "minimum_living"})
    confirm(run)
    review(run, "returned")
    register(run=run, **{**NOT_AWAY, "family_assistance": "minimum_living"})
    assert run.data()["difficulty_categories"] == ["poor_family"]
    assert "orphan" not in run.data()["risk_facts"]


# --- risk grade -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("facts", "grade", "reason"),
    [
        ({}, "green", "other_registered"),
        ({"orphan": True}, "blue", "orphan"),
        ({"de_facto_unattended": True}, "blue", "de_facto_unattended"),
        ({"disability_grade": 2, "disability_type": "physical"}, "blue", "child_severe_disability"),
        ({"disability_grade": 4, "disability_type": "intellectual"}, "blue", "child_severe_disability"),
        ({"disability_grade": 3, "disability_type": "physical"}, "green", "other_registered"),
        (
            {**status("father", "imprisoned"), **status("mother", "imprisoned")},
            "yellow",
            "parents_imprisoned",
        ),
        ({"observed_risks": ["suspected_dropout"], "orphan": True}, "yellow", "suspected_dropout"),
    ],
)
def test_the_file_gets_a_risk_grade(facts: dict[str, Any], grade: str, reason: str) -> None:
    run = register(**facts)
    assert (run.data()["risk_colour"], run.data()["risk_reason"]) == (grade, reason)
    assert run.take_messages() == []


def test_red_starts_the_intervention_at_once_and_the_file_goes_on() -> None:
    run = register(observed_risks=["abuse"], facts_note="邻居反映孩子常被打骂。")
    [message] = run.take_messages()
    assert message.name == "start:guardianship_intervention"
    assert message.payload == {
        "reporter_type": "village_director",
        "situation": "abuse",
        "without_guardian": False,
        "immediate_danger": True,
        "child_known": True,
        "child_name": "小丽",
        "location_description": "住所：甲镇丙村 5 组 8 号",
        "incident_date": "2026-03-01",
        "description": "儿童主任摸底排查中发现高风险情形，需即时介入处置。邻居反映孩子常被打骂。",
    }
    gi = BPMN_DIR / "guardianship_intervention"
    if (gi / "process.bpmn").is_file():
        parse_process("guardianship_intervention", read_folder(gi), "test-gi-for-ci").forms.require(
            "start"
        ).validate(message.payload)
    assert [t.bpmn_id for t in run.open_tasks()] == ["confirm_file"]
    confirm(run)
    review(run, "returned")  # corrected and still red: no second report
    register(run=run, observed_risks=["abuse", "living_alone"])
    assert run.take_messages() == []
    confirm(run)
    review(run)
    assert run.status == "completed"
    # the file is recorded; the intervention restarts tracking when the child returns home
    assert [m.name for m in run.take_messages()] == ["child_file_approved"]


# --- the file: confirm, review, start tracking ----------------------------------------------------
def test_director_registers_and_confirms_then_supervisor_reviews() -> None:
    run = start()
    task = the_task(run, "register_child")
    assert (task.name, task.role) == ("登记儿童基本情况", "village_director")
    register(run=run)
    task = the_task(run, "confirm_file")
    assert (task.name, task.role) == ("确认一人一档", "village_director")
    confirm(run)
    task = the_task(run, "review_file")
    assert (task.name, task.role) == ("审核档案", "township_supervisor")
    review(run)
    assert run.status == "completed"
    filed, message = run.take_messages()
    assert filed.name == "child_file_approved"
    assert filed.payload == {
        "child_ref": "C-0002",
        "name": "小丽",
        "birth_date": "2016-05-01",
        "address": "甲镇丙村 5 组 8 号",
        "household": "rural",
        "guardians": [{"name": "王奶奶", "relation": "grandparent", "phone": ""}],
        "carer": {"name": "王奶奶", "relation": "祖母"},
        "categories": ["left_behind"],
        "risk_colour": "green",
    }
    assert message.name == "start:risk_visits"
    assert message.payload == {
        "child_ref": "C-0002",
        "child_name": "小丽",
        "address": "甲镇丙村 5 组 8 号",
        "risk_facts": [],
        "last_visit_date": "2026-03-01",
        "facts_note": "",
    }
    read = read_folder(BPMN_DIR / "risk_visits")
    parse_process("risk_visits", read, "test-rv-for-ci").forms.require("start").validate(message.payload)


def test_returned_file_is_registered_again() -> None:
    run = register(**status("mother", "at_home"))
    confirm(run)
    review(run, "returned")
    assert [t.bpmn_id for t in run.open_tasks()] == ["register_child"]
    register(run=run, **status("mother", "imprisoned"))
    assert outcome(run) == (True, "father_away_mother_unable")
    confirm(run)
    review(run)
    assert [m.name for m in run.take_messages()] == ["child_file_approved", "start:risk_visits"]


def test_no_new_tracking_for_a_child_already_tracked_or_out_of_scope() -> None:
    run = start(tracking_active=True, file_action="update")
    register(run=run)
    confirm(run)
    review(run)
    assert run.status == "completed" and [m.name for m in run.take_messages()] == ["child_file_approved"]
    run = register(**NOT_AWAY)  # neither definition, no risk: filed only
    confirm(run)
    review(run)
    assert run.status == "completed" and [m.name for m in run.take_messages()] == ["child_file_approved"]


def test_no_labels_in_titles() -> None:
    for name, text in FILES.items():
        assert "留守儿童" not in text and "困境儿童" not in text, name


def test_every_sequence_flow_is_taken() -> None:
    flows = model_flows(FOLDER / "process.bpmn")
    taken: set[str] = set()
    run = register(observed_risks=["missing"])
    confirm(run)
    review(run, "returned")
    register(run=run)
    confirm(run)
    review(run)
    taken |= taken_flows(run.workflow, flows)
    run = register()
    confirm(run)
    review(run)
    taken |= taken_flows(run.workflow, flows)
    assert set(flows) - taken == set()
