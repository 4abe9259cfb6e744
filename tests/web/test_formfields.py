"""JSON-Schema forms to HTML fields and back, and values as people read them (no database)."""

from __future__ import annotations

from starlette.datastructures import FormData

from api.web.formfields import day, describe, due_in, fields_of, iso_date, raw_values, to_data, when
from tests.conftest import START
from workflows.cases.views import mask_id

SCHEMA = {
    "type": "object",
    "properties": {
        "decision": {
            "type": "string",
            "title": "结论",
            "description": "请选择",
            "oneOf": [{"const": "a", "title": "甲"}, {"const": "b", "title": "乙"}],
        },
        "place": {"type": "string", "title": "地点", "enum": ["x1", "x2", "x3", "x4", "x5", "x6"]},
        "safe": {"type": "boolean", "title": "是否安全"},
        "needs": {
            "type": "array",
            "title": "需求",
            "items": {
                "type": "string",
                "oneOf": [{"const": "food", "title": "基本生活"}, {"const": "school", "title": "教育"}],
            },
        },
        "age": {"type": "integer", "title": "年龄"},
        "on": {"type": "string", "title": "日期", "format": "date"},
        "at": {"type": "string", "title": "时间", "format": "date-time"},
        "note": {"type": "string", "title": "说明", "maxLength": 2000},
        "name": {"type": "string", "title": "姓名", "maxLength": 50},
    },
    "required": ["decision", "safe"],
}


def test_each_kind_of_field() -> None:
    kinds = {f.name: f.kind for f in fields_of(SCHEMA)}
    assert kinds == {
        "decision": "radio",
        "place": "select",
        "safe": "boolean",
        "needs": "checkboxes",
        "age": "integer",
        "on": "date",
        "at": "datetime",
        "note": "textarea",
        "name": "text",
    }
    decision, _, safe, needs, *_ = fields_of(SCHEMA, errors={"decision": "此项为必填项"})
    assert decision.required and decision.title == "结论" and decision.description == "请选择"
    assert decision.choices == [("a", "甲"), ("b", "乙")] and decision.error == "此项为必填项"
    assert safe.choices == [("true", "是"), ("false", "否")]
    assert needs.choices == [("food", "基本生活"), ("school", "教育")] and needs.value == []


def test_submitted_text_becomes_typed_data() -> None:
    form = FormData(
        [
            ("decision", "a"),
            ("safe", "false"),
            ("needs", "food"),
            ("needs", "school"),
            ("age", "7"),
            ("at", "2026-03-02T09:40"),
            ("note", "  "),
            ("csrf_token", "x"),
            ("unknown", "y"),
        ]
    )
    raw = raw_values(SCHEMA, form)
    assert "csrf_token" not in raw and "unknown" not in raw
    assert to_data(SCHEMA, raw) == {
        "decision": "a",
        "safe": False,
        "needs": ["food", "school"],
        "age": 7,
        "at": "2026-03-02T09:40:00+08:00",
    }
    assert to_data(SCHEMA, {"age": "七"}) == {"age": "七"}  # left for the validator to explain


def test_values_read_in_chinese_and_id_numbers_masked() -> None:
    fields = {**SCHEMA["properties"], "child_id_number": {"type": "string", "title": "身份证号"}}
    data = {
        "decision": "b",
        "safe": True,
        "needs": ["school"],
        "at": "2026-03-02T01:40:00.000000Z",
        "child_id_number": "500111201001011234",
        "internal_counter": 3,
    }
    assert describe(data, fields) == [
        ("结论", "乙"),
        ("是否安全", "是"),
        ("需求", "教育"),
        ("时间", "2026年3月2日 09:40"),
        ("身份证号", "5001**********1234"),
    ]
    assert mask_id("500111201001011234") == "5001**********1234"
    assert when("2026-03-01T16:30:00Z") == "2026年3月2日 00:30"
    assert iso_date("2026年12月2日") == iso_date("2026/12/2") == iso_date("20261202") == "2026-12-02"
    assert iso_date("明天") == "明天"  # not a date: left for the validator to name
    assert day("2026-12-02") == "2026年12月2日" and day("2026-03-01T16:30:00Z") == "2026年3月2日"
    assert due_in("2026-03-02T12:00:00+08:00", START) == "剩余 3 小时"
    assert due_in("2026-02-28T09:00:00+08:00", START) == "已超期 2 天"
    assert due_in("2026-03-02T09:00:30+08:00", START) == "剩余 1 分钟"
