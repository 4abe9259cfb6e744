"""JSON-Schema forms as HTML fields, submitted HTML forms back to JSON, and case data as readable text."""

from __future__ import annotations

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
                required=name in required,
                choices=choices,
                value=values.get(name, default),
                error=errors.get(name),
                max_length=prop.get("maxLength"),
                minimum=prop.get("minimum"),
                maximum=prop.get("maximum"),
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


def _number(text: str, integer: bool) -> Any:
    try:
        return int(text) if integer else float(text)
    except ValueError:
        return text  # the validator then says "应填写整数" beside the field


def to_data(schema: Mapping[str, Any], raw: Raw) -> dict[str, Any]:
    """Typed JSON from the raw text: empty fields left out, so "required" names what is missing."""
    data: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        value = raw.get(name)
        if not isinstance(prop, Mapping) or value is None:
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
        elif prop.get("format") == "date-time" and len(text) == 16:
            data[name] = f"{text}:00+08:00"  # a datetime-local input is Beijing time
        else:
            data[name] = text
    return data


def when(value: Any) -> str:
    """An instant (aware datetime or ISO text) as Beijing time, to the minute."""
    if value is None or value == "":
        return ""
    try:
        instant = value if isinstance(value, datetime) else parse_iso(str(value))
    except ValueError:
        return str(value)
    return f"{instant.astimezone(CST):%Y-%m-%d %H:%M}"


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
