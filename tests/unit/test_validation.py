"""Full validation of a version: each rule names the element (and the XML line) that breaks it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.model_edits import BROKEN, edit_bpmn, edit_dmn, review_demo
from workflows.processes.registry import read_folder
from workflows.processes.validation import Problem, validate

BPMN_DIR = Path(os.environ.get("SHOUHU_BPMN_DIR") or Path(__file__).resolve().parents[2] / "bpmn")
BUNDLED = (
    sorted(p.name for p in BPMN_DIR.iterdir() if (p / "process.bpmn").is_file()) if BPMN_DIR.is_dir() else []
)


def _line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if fragment in line)


def test_the_test_model_passes_every_rule() -> None:
    assert validate(key="review_demo", files=review_demo()) == []


@pytest.mark.parametrize("key", BUNDLED)
def test_every_bundled_model_passes_every_rule(key: str) -> None:
    problems = validate(key=key, files=read_folder(BPMN_DIR / key))
    assert problems == [], [p.as_dict() for p in problems]


@pytest.mark.parametrize("rule", sorted(BROKEN))
def test_each_rule_names_the_element_that_breaks_it(rule: str) -> None:
    edit, element, word = BROKEN[rule]
    problems = validate(key="review_demo", files=edit(review_demo()))
    hits = [p for p in problems if p.element == element and word in p.message]
    assert hits, [p.as_dict() for p in problems]
    assert hits[0].line is not None and hits[0].file


def test_lines_point_at_the_element_in_the_xml() -> None:
    files = BROKEN["bpmn_schema"][0](review_demo())
    [problem] = validate(key="review_demo", files=files)
    assert problem.line == _line_of(files["process.bpmn"], '<bpmn:userTask id="close"')
    assert problem.file == "process.bpmn" and "colour" in problem.message
    assert set(problem.as_dict()) == {"element", "line", "message", "file"}


def test_a_lane_problem_carries_the_line_of_the_task() -> None:
    files = BROKEN["lane_not_a_role"][0](review_demo())
    [problem] = [p for p in validate(key="review_demo", files=files) if p.element == "police_check"]
    assert problem.line == _line_of(files["process.bpmn"], '<bpmn:userTask id="police_check"')


def test_an_unquoted_duration_is_explained() -> None:
    files = edit_bpmn(review_demo(), "iso_hours(deadline_hours)", "PT24H")
    [problem] = validate(key="review_demo", files=files)
    assert problem.element == "check_overdue" and '"PT24H"' in problem.message


@pytest.mark.parametrize("value", ["'P3D'", "iso_days(3)", "'2026-03-01T09:00:00+08:00'"])
def test_valid_timer_values_pass(value: str) -> None:
    files = edit_bpmn(review_demo(), "iso_hours(deadline_hours)", value)
    if "T09" in value:
        files = edit_bpmn(files, "<bpmn:timeDuration>", "<bpmn:timeDate>")
        files = edit_bpmn(files, "</bpmn:timeDuration>", "</bpmn:timeDate>")
    assert validate(key="review_demo", files=files) == []


def test_a_due_property_that_is_not_a_duration_is_refused() -> None:
    files = edit_bpmn(review_demo(), 'value="iso_days(3)"', "value=\"'three days'\"")
    [problem] = validate(key="review_demo", files=files)
    assert problem.element == "intake" and "期限" in problem.message


@pytest.mark.parametrize("cell", ["&gt;= 80", "80", "? &gt;= 80", "in (80, 90)", "not in (1, 2)", "-"])
def test_decision_cells_compile_as_the_engine_reads_them(cell: str) -> None:
    files = edit_dmn(review_demo(), "<text>&gt;= 80</text>", f"<text>{cell}</text>")
    assert not [p for p in validate(key="review_demo", files=files) if p.element == "rule_high_in"]


def test_the_process_id_must_be_the_key() -> None:
    problems = validate(key="other_key", files=review_demo())
    assert any(p.element == "other_key" and "流程 id" in p.message for p in problems)


def test_problems_are_listed_once() -> None:
    files = BROKEN["form_missing"][0](review_demo())
    problems = validate(key="review_demo", files=files)
    assert len(problems) == len({(p.element, p.message) for p in problems}) == 1
    assert isinstance(problems[0], Problem)
