"""JSON-schema forms: one validator per form, built once per process version; Chinese messages."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaViolation

from workflows.forms.schemas import (
    DATE_TIME_HINT,
    check_schema,
    date_time_value,
    registry_of,
    validator_for,
)
from workflows.infra.errors import ModelError, ValidationFailed
from workflows.infra.idnumbers import id_number_problem

START_FORM = "start"
MAX_DEPTH = 16  # a form's value: a list of objects of lists is three deep
_TYPE_NAMES = {
    "string": "文本",
    "integer": "整数",
    "number": "数字",
    "boolean": "是/否",
    "array": "列表",
    "object": "对象",
    "null": "空值",
}


@dataclass
class Form:
    key: str
    schema: dict[str, Any]
    validator: Any = field(repr=False)

    @property
    def fields(self) -> dict[str, Any]:
        return dict(self.schema.get("properties", {}))

    def title_of(self, name: str) -> str:
        return str(self.fields.get(name, {}).get("title") or name)

    def validate(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Return a clean copy of ``data`` or raise ValidationFailed with a message per field."""
        if not isinstance(data, Mapping):
            raise ValidationFailed("提交的内容必须是一个表单对象", code="form_invalid")
        errors: dict[str, str] = {}
        data = dict(data)
        for name in data:
            if not isinstance(name, str) or name.startswith("_") or name not in self.fields:
                errors[str(name)] = f"表单中没有“{name}”这一项，不能提交"
            elif not _shallow(data[name], MAX_DEPTH):
                errors[name] = f"内容嵌套层数过多（上限 {MAX_DEPTH} 层）"
            elif not _finite(data[name]):
                errors[name] = "数值无效（不能是 NaN 或无穷大）"
            else:
                data[name], problem = self._text(name, data[name])
                if problem:
                    errors[name] = problem
        if any(isinstance(v, (dict, list)) and not _shallow(v, MAX_DEPTH) for v in data.values()):
            self._refuse(errors)  # never hand a deep value to the schema validator (it recurses)
        for error in self.validator.iter_errors(data):
            if error.validator == "additionalProperties" and not error.absolute_path:
                continue  # already named field by field above
            if error.validator == "required":
                for name in error.validator_value:
                    if isinstance(error.instance, dict) and name not in error.instance:
                        errors.setdefault(name, "此项为必填项")
                continue
            name, message = self._explain(error)
            errors.setdefault(name, message)
        errors.update(self._blank_but_required(data))
        if errors:
            self._refuse(errors)
        return json.loads(json.dumps(data))

    def _blank_but_required(self, data: dict[str, Any]) -> dict[str, str]:
        """Text of only spaces counts as not filled in: refused where the field is required (even when
        conditionally, by ``if``/``then``)."""
        blank = {k for k, v in data.items() if isinstance(v, str) and v and not v.strip()}
        if not blank:
            return {}
        probe = {k: v for k, v in data.items() if k not in blank}
        missing = {
            name
            for error in self.validator.iter_errors(probe)
            if error.validator == "required"
            for name in error.validator_value
            if name in blank
        }
        return {name: "此项为必填项（不能只填空格）" for name in missing}

    def _refuse(self, errors: dict[str, str]) -> None:
        raise ValidationFailed(
            "表单填写有误：" + "；".join(f"{self.title_of(k)}：{v}" for k, v in errors.items()),
            code="form_invalid",
            details={"fields": errors},
        )

    def _text(self, name: str, value: Any) -> tuple[Any, str | None]:
        """A text value normalised (date-time, ID number), or why it is refused (blank when required)."""
        if not isinstance(value, str):
            return value, None
        prop = self.fields[name] if isinstance(self.fields[name], dict) else {}
        if value and not value.strip() and int(prop.get("minLength") or 0) > 0:
            return value, "此项为必填项（不能只填空格）"
        if not value.strip():
            return value, None
        if prop.get("format") == "date-time":
            normal = date_time_value(value)
            return (normal, None) if normal else (value, DATE_TIME_HINT)
        if name.endswith("id_number"):
            number = value.strip().upper()
            return number, id_number_problem(number)
        return value, None

    def _explain(self, error: SchemaViolation) -> tuple[str, str]:
        path = [p for p in error.absolute_path if isinstance(p, str)]
        kind, value = error.validator, error.validator_value
        name = path[0] if path else ""
        messages = {
            "type": lambda: f"应填写{_TYPE_NAMES.get(str(value), str(value))}",
            "enum": lambda: "不是可选的值",
            "oneOf": lambda: "不是可选的值",
            "const": lambda: "不是可选的值",
            "maxLength": lambda: f"不能超过 {value} 个字",
            "minLength": lambda: "此项为必填项" if value == 1 else f"至少填写 {value} 个字",
            "minimum": lambda: f"不能小于 {value}",
            "maximum": lambda: f"不能大于 {value}",
            "pattern": lambda: "格式不正确",
            "format": lambda: {"date": "应为日期，格式如 2026-01-31", "date-time": DATE_TIME_HINT}.get(
                str(value), "格式不正确"
            ),
            "minItems": lambda: f"至少选择 {value} 项",
            "maxItems": lambda: f"最多选择 {value} 项",
            "additionalProperties": lambda: "表单中有未定义的项",
        }
        return name, messages.get(str(kind), lambda: "填写有误")()


def _shallow(value: Any, limit: int) -> bool:
    """Whether ``value`` nests no deeper than ``limit`` (walked without recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


class FormSet:
    """The forms of one process version, keyed by user task id (``start`` for the start form)."""

    def __init__(self, forms: dict[str, Form]) -> None:
        self.forms = forms

    @classmethod
    def from_files(cls, files: Mapping[str, str]) -> FormSet:
        schemas: dict[str, Any] = {}
        for name, text in files.items():
            if not (name.startswith("forms/") and name.endswith(".json")):
                continue
            try:
                schema = json.loads(text)
                Draft202012Validator.check_schema(schema)
            except (ValueError, SchemaError, RecursionError) as exc:
                reason = "嵌套过深" if isinstance(exc, RecursionError) else str(exc)[:300]
                raise ModelError(
                    f"表单 {name} 不是有效的 JSON Schema：{reason}",
                    code="form_schema_invalid",
                    details={"file": name},
                ) from None
            schemas[name[len("forms/") :]] = schema
        registry = registry_of(schemas)
        forms: dict[str, Form] = {}
        for file, schema in schemas.items():
            check_schema(file, schema, registry)
            key = file[: -len(".json")]
            forms[key] = Form(key, schema, validator_for(file, schema, registry))
        return cls(forms)

    def get(self, key: str) -> Form | None:
        return self.forms.get(key)

    def require(self, key: str) -> Form:
        form = self.forms.get(key)
        if form is None:
            raise ModelError(f"流程模型缺少表单 forms/{key}.json", code="form_missing")
        return form

    def confidential_fields(self, kind: str = "reporter") -> set[str]:
        """Field names flagged ``x-confidential`` in any form (e.g. the reporter's identity)."""
        return {
            name
            for form in self.forms.values()
            for name, prop in form.fields.items()
            if isinstance(prop, dict) and prop.get("x-confidential") == kind
        }

    def declared_fields(self) -> dict[str, dict[str, Any]]:
        """Every field any form of the process declares, with its schema (for corrections)."""
        fields: dict[str, dict[str, Any]] = {}
        for form in self.forms.values():
            for name, prop in form.fields.items():
                fields.setdefault(name, prop)
        return fields
