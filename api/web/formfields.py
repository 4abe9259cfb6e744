"""JSON-Schema forms as HTML fields, submitted HTML forms back to JSON, and case data as readable text."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflows.cases.views import mask_id
from workflows.children.file_view import ID_FIELDS
from workflows.infra.clock import CST, parse_iso

RADIO_MAX = 5  # up to this many choices as radio buttons (one tap on a phone), more as a select
TEXTAREA_MIN = 200  # a text that may be this long or longer gets a textarea
Raw = dict[str, str | list[str]]


@dataclass
class Field:
    name: str
    title: str
    kind: str  # text | textarea | integer | number | date | datetime | radio | select | checkboxes | boolean
    description: str = ""
    required: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)
    value: str | list[str] = ""
    error: str | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    show_if: str = ""  # JSON: when the field applies (JSON-schema if/then, dependentRequired); "" = always

    @property
    def values(self) -> list[str]:
        return self.value if isinstance(self.value, list) else [self.value] if self.value else []


def choices_of(schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(value, Chinese label) of a oneOf/const or enum property."""
    if "oneOf" in schema:
        return [
            (str(o.get("const")), str(o.get("title") or o.get("const")))
            for o in schema["oneOf"]
            if "const" in o
        ]
    if "enum" in schema:
        return [(str(v), str(v)) for v in schema["enum"]]
    return []


def _kind(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if kind == "boolean":
        return "boolean"
    if kind == "array":
        return "checkboxes" if choices_of(schema.get("items") or {}) else "textarea"
    if kind in ("integer", "number"):
        return str(kind)
    choices = choices_of(schema)
    if choices:
        return "radio" if len(choices) <= RADIO_MAX else "select"
    if schema.get("format") == "date":
        return "date"
    if schema.get("format") == "date-time":
        return "datetime"
    return "textarea" if int(schema.get("maxLength") or 0) >= TEXTAREA_MIN else "text"


Clause = dict[str, Any]


def _as_text(value: Any) -> str:
    """A schema constant as the text a form submits (true/false for booleans)."""
    return {True: "true", False: "false"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def _clauses(condition: Mapping[str, Any]) -> list[Clause] | None:
    """An ``if`` as clauses the pages can evaluate (const, enum, not const, present); None when it cannot."""
    props = condition.get("properties") or {}
    clauses: list[Clause] = []
    for name, rule in props.items():
        if not isinstance(rule, Mapping):
            return None
        if "const" in rule:
            clauses.append({"field": name, "in": [_as_text(rule["const"])]})
        elif "enum" in rule:
            clauses.append({"field": name, "in": [_as_text(v) for v in rule["enum"]]})
        elif isinstance(rule.get("not"), Mapping) and "const" in rule["not"]:
            clauses.append({"field": name, "not_in": [_as_text(rule["not"]["const"])]})
        else:
            return None
    clauses += [{"field": n, "present": True} for n in condition.get("required") or [] if n not in props]
    return clauses


def show_conditions(schema: Mapping[str, Any]) -> dict[str, list[list[Clause]]]:
    """Fields that apply only under a condition: required by an if/then (or else), or by dependentRequired.

    Each field maps to alternatives (any may hold), each a list of clauses (all must hold). A field the
    form always requires is never conditional.
    """
    found: dict[str, list[list[Clause]]] = {}
    items = [*(schema.get("allOf") or []), schema]
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("if"), Mapping):
            continue
        clauses = _clauses(item["if"])
        if clauses is None:
            continue
        for name in (item.get("then") or {}).get("required") or []:
            found.setdefault(name, []).append(clauses)
        # "else": once the deciding fields are filled in and the condition does not hold
        filled = [{"field": f, "present": True} for f in dict.fromkeys(c["field"] for c in clauses)]
        for name in (item.get("else") or {}).get("required") or []:
            found.setdefault(name, []).append([*filled, {"not": clauses}])
    for trigger, names in (schema.get("dependentRequired") or {}).items():
        for name in names:
            found.setdefault(name, []).append([{"field": trigger, "present": True}])
    always = set(schema.get("required") or [])
    return {name: alts for name, alts in found.items() if name not in always}


def _holds(clause: Clause, raw: Raw) -> bool:
    if "not" in clause:
        return not all(_holds(c, raw) for c in clause["not"])
    value = raw.get(clause["field"])
    text = (value if isinstance(value, str) else (value[0] if value else "")).strip()
    if "in" in clause:
        return text in clause["in"]
    if "not_in" in clause:
        return text != "" and text not in clause["not_in"]
    return text != ""


def applies(conditions: Mapping[str, list[list[Clause]]], name: str, raw: Raw) -> bool:
    """Whether a field applies to what was filled in (the same rule the page's script shows it by)."""
    alternatives = conditions.get(name)
    return alternatives is None or any(all(_holds(c, raw) for c in alt) for alt in alternatives)


def fields_of(
    schema: Mapping[str, Any],
    *,
    values: Raw | None = None,
    errors: Mapping[str, str] | None = None,
    only: Iterable[str] | None = None,
) -> list[Field]:
    """The form's fields in schema order, with the given raw values and Chinese error messages."""
    values, errors = values or {}, errors or {}
    required = set(schema.get("required") or [])
    conditions = show_conditions(schema)
    names = list(only) if only is not None else list((schema.get("properties") or {}).keys())
    result = []
    for name in names:
        prop = (schema.get("properties") or {}).get(name)
        if not isinstance(prop, Mapping):
            continue
        kind = _kind(prop)
        choices = choices_of(prop.get("items") or {}) if kind == "checkboxes" else choices_of(prop)
        if kind == "boolean":
            choices = [("true", "是"), ("false", "否")]
        default: str | list[str] = [] if kind == "checkboxes" else ""
        result.append(
            Field(
                name=name,
                title=str(prop.get("title") or name),
                kind=kind,
                description=str(prop.get("description") or ""),
                required=name in required or name in conditions,  # a shown conditional field is required
                choices=choices,
                value=values.get(name, default),
                error=errors.get(name),
                max_length=prop.get("maxLength"),
                minimum=prop.get("minimum"),
                maximum=prop.get("maximum"),
                show_if=json.dumps(conditions[name], ensure_ascii=False) if name in conditions else "",
            )
        )
    return result


def raw_values(schema: Mapping[str, Any], form: Any) -> Raw:
    """The submitted text of each declared field (``form`` has ``getlist``, like Starlette's FormData)."""
    raw: Raw = {}
    for name, prop in (schema.get("properties") or {}).items():
        got = [str(v) for v in form.getlist(name) if isinstance(v, str)]
        if isinstance(prop, Mapping) and prop.get("type") == "array":
            raw[name] = got
        elif got:
            raw[name] = got[-1]
    return raw


DATE_TEXT = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$")


def iso_date(text: str) -> str:
    """A date as typed (2026-12-2, 2026/12/02, 2026年12月2日, 20261202) as ISO text; other text unchanged."""
    found = DATE_TEXT.match(text)
    if found:
        year, month, day_ = found.groups()
        return f"{year}-{int(month):02d}-{int(day_):02d}"
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def _number(text: str, integer: bool) -> Any:
    try:
        return int(text) if integer else float(text)
    except ValueError:
        return text  # the validator then says "应填写整数" beside the field


def to_data(schema: Mapping[str, Any], raw: Raw) -> dict[str, Any]:
    """Typed JSON from the raw text: empty fields and fields that do not apply (a hidden conditional field)
    left out, so "required" names what is missing and nothing hidden is stored."""
    data: dict[str, Any] = {}
    conditions = show_conditions(schema)
    for name, prop in (schema.get("properties") or {}).items():
        value = raw.get(name)
        if not isinstance(prop, Mapping) or value is None or not applies(conditions, name, raw):
            continue
        kind = prop.get("type")
        if kind == "array":
            items = [
                v.strip()
                for v in (value if isinstance(value, list) else str(value).splitlines())
                if v.strip()
            ]
            if items:
                data[name] = items
            continue
        text = str(value).strip()
        if not text:
            continue
        if kind == "boolean":
            data[name] = {"true": True, "false": False}.get(text, text)
        elif kind in ("integer", "number"):
            data[name] = _number(text, kind == "integer")
        elif prop.get("format") == "date":
            data[name] = iso_date(text)  # the validator names a date that is still not one
        elif prop.get("format") == "date-time" and len(text) == 16:
            data[name] = f"{text}:00+08:00"  # a datetime-local input is Beijing time
        else:
            data[name] = text
    return data


def when(value: Any) -> str:
    """An instant (aware datetime or ISO text) as Beijing time, to the minute: 2026年3月2日 09:40."""
    if value is None or value == "":
        return ""
    try:
        instant = value if isinstance(value, datetime) else parse_iso(str(value))
    except ValueError:
        return str(value)
    local = instant.astimezone(CST)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def day(value: Any) -> str:
    """A calendar date (or the Beijing date of an instant) in Chinese: 2026年12月2日."""
    if value is None or value == "":
        return ""
    text = str(value)
    try:
        if isinstance(value, datetime) or len(text) > 10:
            instant = value if isinstance(value, datetime) else parse_iso(text)
            local = instant.astimezone(CST)
            return f"{local.year}年{local.month}月{local.day}日"
        year, month, dom = (int(part) for part in text.split("-"))
    except ValueError:
        return text
    return f"{year}年{month}月{dom}日"


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes >= 24 * 60:
        return f"{minutes // (24 * 60)} 天"
    if minutes >= 60:
        return f"{minutes // 60} 小时"
    return f"{max(minutes, 1)} 分钟"


def due_in(due: Any, now: datetime) -> str:
    """A deadline relative to now: "剩余 3 小时", "已超期 2 天" (whole units, rounded down)."""
    if due is None or due == "":
        return ""
    instant = due if isinstance(due, datetime) else parse_iso(str(due))
    seconds = (instant - now).total_seconds()
    return f"剩余 {_span(seconds)}" if seconds >= 0 else f"已超期 {_span(-seconds)}"


def show(name: str, schema: Mapping[str, Any] | None, value: Any, *, unmask: bool = False) -> str:
    """A value as a person reads it: choice labels, 是/否, Beijing time, a masked ID number."""
    schema = schema or {}
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        labels = dict(choices_of(schema.get("items") or {}))
        return "、".join(labels.get(str(v), str(v)) for v in value)
    labels = dict(choices_of(schema))
    if str(value) in labels:
        return labels[str(value)]
    if schema.get("format") == "date-time":
        return when(value)
    if schema.get("format") == "date":
        return day(value)
    if name in ID_FIELDS and value and not unmask and "*" not in str(value):
        return mask_id(str(value)) or ""
    return "" if value is None else str(value)


def describe(
    data: Mapping[str, Any],
    fields: Mapping[str, Mapping[str, Any]],
    names: Iterable[str] | None = None,
    *,
    unmask: bool = False,
) -> list[tuple[str, str]]:
    """(label, text) for each declared field that has a value; undeclared working values are left out."""
    result = []
    for name in names if names is not None else data.keys():
        schema = fields.get(name)
        value = data.get(name)
        if schema is None or value in (None, "", []):
            continue
        result.append((str(schema.get("title") or name), show(name, schema, value, unmask=unmask)))
    return result
