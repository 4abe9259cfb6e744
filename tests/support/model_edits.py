"""Edited copies of tests/data/review_demo: newer versions for migration, and one broken model per
validation rule (with the element the problem must name)."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.support.models import read_model

Files = dict[str, str]


def review_demo() -> Files:
    return read_model("review_demo")


def edit_bpmn(files: Files, old: str, new: str) -> Files:
    assert old in files["process.bpmn"], old
    return {**files, "process.bpmn": files["process.bpmn"].replace(old, new)}


def renamed(files: Files, task_id: str, name: str) -> Files:
    """The same model with one element's Chinese name changed."""
    start = files["process.bpmn"].index(f'id="{task_id}" name="') + len(f'id="{task_id}" name="')
    end = files["process.bpmn"].index('"', start)
    text = files["process.bpmn"]
    return {**files, "process.bpmn": text[:start] + name + text[end:]}


def with_report_after_escalation(files: Files) -> Files:
    """A new user task ``report_back`` after the escalation that the boundary timer starts."""
    files = edit_bpmn(
        files,
        "<bpmn:flowNodeRef>escalate</bpmn:flowNodeRef>",
        "<bpmn:flowNodeRef>escalate</bpmn:flowNodeRef><bpmn:flowNodeRef>report_back</bpmn:flowNodeRef>",
    )
    files = edit_bpmn(
        files,
        '<bpmn:endEvent id="end_escalated" name="督办完成">\n      <bpmn:incoming>f_escalate_end',
        '<bpmn:userTask id="report_back" name="督办回报"><bpmn:incoming>f_escalate_end</bpmn:incoming>'
        "<bpmn:outgoing>f_report_end</bpmn:outgoing></bpmn:userTask>\n"
        '    <bpmn:endEvent id="end_escalated" name="督办完成">\n      <bpmn:incoming>f_report_end',
    )
    files = edit_bpmn(
        files,
        '<bpmn:sequenceFlow id="f_escalate_end" sourceRef="escalate" targetRef="end_escalated" />',
        '<bpmn:sequenceFlow id="f_escalate_end" sourceRef="escalate" targetRef="report_back" />'
        '<bpmn:sequenceFlow id="f_report_end" sourceRef="report_back" targetRef="end_escalated" />',
    )
    return {**files, "forms/report_back.json": files["forms/escalate.json"]}


def without_police_check(files: Files) -> Files:
    """The police check becomes a differently named step: a case waiting at it cannot move."""
    text = files["process.bpmn"].replace("police_check", "police_verify")
    forms = {
        ("forms/police_verify.json" if k == "forms/police_check.json" else k): v for k, v in files.items()
    }
    return {**forms, "process.bpmn": text}


def edit_form(files: Files, task: str, **changes: object) -> Files:
    form = json.loads(files[f"forms/{task}.json"])
    form.update(changes)
    return {**files, f"forms/{task}.json": json.dumps(form, ensure_ascii=False)}


def edit_dmn(files: Files, old: str, new: str) -> Files:
    assert old in files["grade.dmn"], old
    return {**files, "grade.dmn": files["grade.dmn"].replace(old, new)}


_MESSAGE = (
    '<bpmn:message id="msg_notice" name="notice"><bpmn:extensionElements>'
    "<spiffworkflow:messagePayload>{PAYLOAD}</spiffworkflow:messagePayload>"
    '</bpmn:extensionElements></bpmn:message>\n  <bpmn:process id="review_demo"'
)

# rule → (edit, the element the problem must name, a word the message must contain)
BROKEN: dict[str, tuple[Callable[[Files], Files], str, str]] = {
    "xml_malformed": (
        lambda f: edit_bpmn(
            f, '<bpmn:userTask id="close" name="结案">', '<bpmn:userTask id="close" name="结案">><oops>'
        ),
        "process.bpmn",
        "XML 格式错误",
    ),
    "bpmn_schema": (
        lambda f: edit_bpmn(
            f, '<bpmn:userTask id="close" name="结案">', '<bpmn:userTask id="close" name="结案" colour="red">'
        ),
        "close",
        "BPMN 2.0",
    ),
    "unparseable": (
        lambda f: edit_bpmn(f, 'targetRef="classify"', 'targetRef="nowhere"'),
        "intake",
        "无法解析",
    ),
    "lane_not_a_role": (
        lambda f: edit_bpmn(
            f, '<bpmn:lane id="lane_police" name="police">', '<bpmn:lane id="lane_police" name="policeman">'
        ),
        "police_check",
        "泳道",
    ),
    "form_not_json_schema": (lambda f: edit_form(f, "close", type="objekt"), "close", "JSON Schema"),
    "form_missing": (lambda f: {k: v for k, v in f.items() if k != "forms/close.json"}, "close", "缺少表单"),
    "condition_refused": (
        lambda f: edit_bpmn(f, 'level == "mid"', 'level.__class__ == "mid"'),
        "f_route_close",
        "条件表达式",
    ),
    "script_refused": (lambda f: edit_bpmn(f, "deadline_hours = 24", "import os"), "setup", "脚本被拒绝"),
    "dmn_input_entry_refused": (
        lambda f: edit_dmn(f, "&gt;= 80", "&gt;= __import__('os')"),
        "rule_high_in",
        "决策表条件",
    ),
    "dmn_output_entry_refused": (
        lambda f: edit_dmn(f, '<text>"high"</text>', "<text>open('x')</text>"),
        "rule_high_out",
        "决策表输出",
    ),
    "dmn_input_expression_refused": (
        lambda f: edit_dmn(f, "<text>score</text>", "<text>score._x</text>"),
        "in_score_expr",
        "输入表达式",
    ),
    "message_payload_refused": (
        lambda f: edit_bpmn(f, '<bpmn:process id="review_demo"', _MESSAGE.replace("{PAYLOAD}", "lambda: 1")),
        "msg_notice",
        "消息内容",
    ),
    "timer_expression_refused": (
        lambda f: edit_bpmn(f, "iso_hours(deadline_hours)", "eval('1')"),
        "check_overdue",
        "定时器",
    ),
    "timer_value_invalid": (
        lambda f: edit_bpmn(f, "iso_hours(deadline_hours)", "'PT24X'"),
        "check_overdue",
        "ISO-8601",
    ),
    "decision_examples_missing": (
        lambda f: {k: v for k, v in f.items() if k != "grade.examples.json"},
        "grade",
        "示例",
    ),
    "decision_example_fails": (
        lambda f: {
            **f,
            "grade.examples.json": json.dumps([{"inputs": {"score": 80}, "expected": {"level": "low"}}]),
        },
        "grade",
        "期望",
    ),
    "label_in_form": (lambda f: edit_form(f, "close", title="告知留守儿童家庭"), "close", "标签化称谓"),
    "label_in_document_template": (
        lambda f: {**f, "templates/documents/notice.html.j2": "<h1>困境儿童告知书</h1>"},
        "templates/documents/notice.html.j2",
        "标签化称谓",
    ),
    "label_in_task_name": (lambda f: renamed(f, "close", "留守儿童结案"), "close", "标签化称谓"),
}
