"""Building a form's validator safely: references stay inside the version, patterns run in linear time.

- ``$ref`` resolves only against the version's own form files (a ``referencing`` registry whose retrieval
  refuses everything): a URL or a local file is never fetched; a reference that does not resolve inside
  the version is refused when the model is validated.
- ``pattern`` runs on RE2 (linear time, no backtracking); a pattern RE2 cannot run (back-references,
  look-around) is refused at validation, as is ``patternProperties`` (forms name their fields).
- date-time values are checked here, not by an optional package: RFC 3339, or Beijing time written as
  ``2026-12-02 06:30`` / ``2026-12-02T06:30`` (normalised to ``2026-12-02T06:30:00+08:00``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import re2
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

from workflows.infra.errors import ModelError

BASE = "https://forms.shouhu.invalid/"  # an identifier only: nothing under it is ever retrieved
DATE_TIME_HINT = "应为日期时间，格式如 2026-01-31 08:30（北京时间）或 2026-01-31T08:30:00+08:00"
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def _refuse_retrieval(uri: str) -> Resource:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


@functools.lru_cache(maxsize=1024)
def compiled(pattern: str) -> Any:
    return re2.compile(pattern, _RE2_OPTIONS)


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


FormValidator = validators.extend(Draft202012Validator, {"pattern": _pattern})


def date_time_value(value: str) -> str | None:
    """The RFC 3339 form of a date-time a person may type, or None when it is not one."""
    text = value.strip()
    if len(text) < 16 or text[4] != "-" or text[7] != "-" or text[10] not in "T t":
        return None
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1).replace("z", "Z"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + "+08:00"
    return text if text[10] == "T" else text.replace(" ", "T", 1)


FORMATS = FormatChecker()
FORMATS.checkers["date-time"] = (
    lambda value: not isinstance(value, str) or date_time_value(value) == value,
    (),
)


def registry_of(schemas: Mapping[str, Any]) -> Registry:
    """The version's forms as the only resources references may reach."""
    resources = [
        (BASE + name, Resource.from_contents(identified(name, schema), default_specification=DRAFT202012))
        for name, schema in schemas.items()
    ]
    return Registry(retrieve=_refuse_retrieval).with_resources(resources)  # type: ignore[call-arg]


def check_schema(name: str, schema: Any, registry: Registry) -> None:
    """Refuse what may not run: references leaving the version, patterns RE2 cannot run, ``$id``s."""
    resolver = registry.resolver(base_uri=BASE + name)
    for node in _nodes(schema):
        if "$id" in node or "$dynamicRef" in node or "patternProperties" in node:
            key = next(k for k in ("$id", "$dynamicRef", "patternProperties") if k in node)
            raise ModelError(f"表单 {name} 使用了不支持的关键字 {key}", code="form_schema_invalid")
        ref = node.get("$ref")
        if isinstance(ref, str):
            try:
                resolver.lookup(ref)
            except (Unresolvable, NoSuchResource, ValueError):
                raise ModelError(
                    f"表单 {name} 的引用 {ref[:200]} 不在本流程版本的表单文件中（只能引用本版本 forms/ 下的文件）",
                    code="form_ref_outside",
                    details={"file": name, "ref": ref[:200]},
                ) from None
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            try:
                compiled(pattern)
            except re2.error:
                raise ModelError(
                    f"表单 {name} 的格式规则 {pattern[:200]} 无法使用（不支持回溯引用和前后查找）",
                    code="form_pattern_invalid",
                    details={"file": name, "pattern": pattern[:200]},
                ) from None


def _nodes(schema: Any) -> Iterator[dict[str, Any]]:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(v for k, v in node.items() if k not in ("enum", "const", "examples", "default"))
        elif isinstance(node, list):
            stack.extend(node)


def identified(name: str, schema: Any) -> Any:
    """The schema with its own address as ``$id``, so relative references resolve among the version's files."""
    return {**schema, "$id": BASE + name} if isinstance(schema, dict) else schema


def validator_for(name: str, schema: dict[str, Any], registry: Registry) -> Any:
    return FormValidator(identified(name, schema), registry=registry, format_checker=FORMATS)
