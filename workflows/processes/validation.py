"""Checks a process version must pass: before it is registered as runnable, and before it is published.

``check`` is the quick check on a parsed version (start-up registration). ``validate`` is the full
check an administrator's upload must pass before it is published; each problem names the element
(BPMN/DMN id, or the file) and, where it can, the line in the XML.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree

from workflows.engine import (
    SANDBOX,
    ParsedProcess,
    check_expressions,
    duration_of,
    parse_process,
    schema_errors,
)
from workflows.forms.validator import START_FORM
from workflows.infra import safexml
from workflows.infra.clock import parse_iso
from workflows.infra.errors import DomainError
from workflows.people.roles import ROLES
from workflows.processes.validation_content import (
    BPMN_NS,
    SPIFF_NS,
    Problem,
    decision_problems,
    label_problems,
    local_name,
    owning_element,
)
from workflows.sandbox import SandboxError, compile_expression, compile_script

_NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
_KEY = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_BARE_ISO = re.compile(r"^(R\d*/)?P[0-9YMWDTHS.]+$|^\d{4}-\d{2}-\d{2}")
_SCRIPTS = {"script": "脚本", "preScript": "前置脚本", "postScript": "后置脚本"}


def check(process: ParsedProcess) -> list[Problem]:
    """Lanes are known roles, every user task and the start have a form, expressions compile."""
    return _structure(process) + [
        Problem(element, f"表达式被拒绝：{message}") for element, message in check_expressions(process)
    ]


def _structure(process: ParsedProcess) -> list[Problem]:
    problems: list[Problem] = []
    if process.forms.get(START_FORM) is None:
        problems.append(Problem("start", "缺少开始表单 forms/start.json"))
    for task in process.user_tasks.values():
        if task.lane not in ROLES:
            problems.append(
                Problem(task.bpmn_id, f"用户任务“{task.name}”不在已知角色的泳道中（泳道：{task.lane}）")
            )
        if process.forms.get(task.bpmn_id) is None:
            problems.append(Problem(task.bpmn_id, f"用户任务“{task.name}”缺少表单 forms/{task.bpmn_id}.json"))
    return problems


def validate(
    *, key: str, files: Mapping[str, str], extra_files: Mapping[str, str] | None = None
) -> list[Problem]:
    """Every rule of a publishable version: XML, BPMN schema, parse, lanes, forms, expressions,
    timers, decision examples and labelling terms."""
    problems: list[Problem] = []
    if not _KEY.match(key):
        problems.append(Problem(key, "流程标识只能用小写英文字母、数字和下划线，且以字母开头"))
    if "process.bpmn" not in files:
        problems.append(Problem("process.bpmn", "缺少流程图文件 process.bpmn"))
    trees = _parse_xml(files, problems)
    index = _line_index(trees)
    for name, tree in trees.items():
        if name.endswith(".bpmn"):
            problems.extend(_schema_problems(name, tree))
    if "process.bpmn" in trees and not trees["process.bpmn"].xpath(
        "//bpmn:process[@id=$key]", namespaces=_NS, key=key
    ):
        problems.append(
            Problem(
                key,
                f"process.bpmn 中没有 id 为 {key} 的流程（流程 id 必须与流程标识相同）",
                file="process.bpmn",
            )
        )
    bad_forms = _form_problems(files, problems)
    if len(trees) == sum(1 for n in files if n.endswith((".bpmn", ".dmn"))) and "process.bpmn" in trees:
        parsed = _parse(key, {n: t for n, t in files.items() if n not in bad_forms}, extra_files, problems)
        if parsed is not None:
            # a form already reported as broken is not reported again as missing
            problems.extend(
                p for p in _structure(parsed) if p.element not in bad_forms or "缺少" not in p.message
            )
            problems.extend(decision_problems(files, trees))
    for name, tree in trees.items():
        problems.extend(_expression_problems(name, tree))
    problems.extend(label_problems(files, trees))
    return _located(problems, index)


# --- XML, schema and parse ------------------------------------------------------------------------
def _parse_xml(files: Mapping[str, str], problems: list[Problem]) -> dict[str, Any]:
    trees: dict[str, Any] = {}
    for name, text in files.items():
        if not name.endswith((".bpmn", ".dmn")):
            continue
        try:
            trees[name] = safexml.parse(text)
        except safexml.UnsafeXml as exc:
            problems.append(Problem(name, str(exc), file=name))
        except etree.XMLSyntaxError as exc:
            problems.append(Problem(name, f"XML 格式错误：{exc.msg}", line=exc.lineno, file=name))
    return trees


def _line_index(trees: Mapping[str, Any]) -> dict[str, tuple[str, int]]:
    index: dict[str, tuple[str, int]] = {}
    for name, tree in trees.items():
        for element in tree.iter():
            element_id = element.get("id") if isinstance(element.tag, str) else None
            if element_id and element_id not in index:
                index[element_id] = (name, element.sourceline)
    return index


def _located(problems: list[Problem], index: Mapping[str, tuple[str, int]]) -> list[Problem]:
    """Fill in the file and line of each problem that names an element of the XML."""
    seen: set[tuple[str, str]] = set()
    result = []
    for problem in problems:
        if (problem.element, problem.message) in seen:
            continue
        seen.add((problem.element, problem.message))
        if problem.line is None and problem.element in index:
            problem.file, problem.line = index[problem.element]
        result.append(problem)
    return result


def _short(message: str) -> str:
    text = message.replace("{" + BPMN_NS + "}", "bpmn:").replace("{" + SPIFF_NS + "}", "spiffworkflow:")
    return text if len(text) <= 300 else text[:300] + "…"


def _schema_problems(name: str, tree: Any) -> Iterator[Problem]:
    prefixes = {k: v for k, v in tree.nsmap.items() if k}
    for line, message, path in schema_errors(tree):
        element = None
        try:
            matches = tree.getroottree().xpath(path, namespaces=prefixes) if path else []
            element = next((m for m in matches if m.sourceline == line), matches[0] if matches else None)
        except etree.XPathError:
            pass
        owner = owning_element(element)
        yield Problem(
            owner.get("id") if owner is not None else name,
            f"不符合 BPMN 2.0 规范：{_short(message)}",
            line=line,
            file=name,
        )


def _form_problems(files: Mapping[str, str], problems: list[Problem]) -> set[str]:
    """Each form is JSON and a valid JSON Schema (draft 2020-12) of an object; returns the bad ones."""
    bad: set[str] = set()
    for name, text in files.items():
        if not (name.startswith("forms/") and name.endswith(".json")):
            continue
        element = name[len("forms/") : -len(".json")]
        try:
            schema = json.loads(text)
            Draft202012Validator.check_schema(schema)
            if not isinstance(schema, dict) or schema.get("type") != "object":
                raise SchemaError('表单的 "type" 必须是 "object"')
        except json.JSONDecodeError as exc:
            problems.append(
                Problem(element, f"表单 {name} 不是有效的 JSON：{exc.msg}", line=exc.lineno, file=name)
            )
            bad.add(element)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.path)
            problems.append(
                Problem(
                    element,
                    f"表单 {name} 不是有效的 JSON Schema：{exc.message}"
                    + (f"（位置：{where}）" if where else ""),
                    file=name,
                )
            )
            bad.add(element)
    return {f"forms/{element}.json" for element in bad} | bad


def _parse(
    key: str, files: Mapping[str, str], extra: Mapping[str, str] | None, problems: list[Problem]
) -> ParsedProcess | None:
    digest = hashlib.sha256(
        json.dumps([sorted(files.items()), sorted((extra or {}).items())], ensure_ascii=False).encode()
    ).hexdigest()
    try:
        return parse_process(key, files, f"validation:{digest}", extra)
    except DomainError as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        problems.append(Problem(details.get("element") or key, exc.message, file=details.get("file") or None))
        return None


# --- expressions, timers and decision cells -------------------------------------------------------


def _compile(source: str, kind: str = "expression") -> str | None:
    """Why the sandbox refuses ``source`` (syntax, names, functions it may not call), or None."""
    try:
        tree = (compile_script if kind == "script" else compile_expression)(source)
    except SandboxError as exc:
        return exc.message
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id not in SANDBOX.known_functions
        ):
            return f"不允许调用函数：{node.func.id}"
    return None


def _expression_problems(name: str, tree: Any) -> Iterator[Problem]:
    """Message payloads, due times, timer values (BPMN) and every decision-table cell (DMN)."""
    for element in tree.iter():
        kind, text = local_name(element), (element.text or "").strip() if isinstance(element.tag, str) else ""
        owner = owning_element(element)
        element_id = owner.get("id") if owner is not None else name
        line = element.sourceline
        if kind in _SCRIPTS and text and (error := _compile(text, "script")):
            yield Problem(element_id, f"{_SCRIPTS[kind]}被拒绝：{error}", line, name)
        elif kind == "conditionExpression" and text and (error := _compile(text)):
            yield Problem(element_id, f"条件表达式被拒绝：{error}", line, name)
        elif kind == "messagePayload" and text and (error := _compile(text)):
            yield Problem(element_id, f"消息内容表达式被拒绝：{error}", line, name)
        elif kind == "property" and element.get("name") == "due" and element.get("value"):
            yield from _timer_value(element_id, "due", element.get("value", ""), line, name)
        elif kind in ("timeDuration", "timeDate", "timeCycle") and text:
            yield from _timer_value(element_id, kind, text, line, name)
        elif kind == "text" and name.endswith(".dmn"):
            parent = local_name(element.getparent())
            if (
                parent in ("inputExpression", "outputEntry")
                and text
                and text != "-"
                and (error := _compile(text))
            ):
                yield Problem(
                    element_id,
                    f"决策表{'输入表达式' if parent == 'inputExpression' else '输出'}“{text}”被拒绝：{error}",
                    line,
                    name,
                )
            elif parent == "inputEntry" and (error := _input_entry_error(text)):
                yield Problem(element_id, f"决策表条件“{text}”被拒绝：{error}", line, name)


def _input_entry_error(text: str) -> str | None:
    """A cell is compared with the input, or applies an operator to it (as SpiffWorkflow reads it)."""
    if not text or text == "-":
        return None
    cell = re.sub(r'(\?)(?=(?:[^\'"]|[\'"][^\'"]*[\'"])*$)', "dmninputexpr", text)
    if "dmninputexpr" in cell:
        return _compile(cell)
    plain = _compile(cell)
    if plain is None:
        return None
    operated = _compile(f"v {cell.lstrip()}")
    if operated is None:
        return None
    return operated if cell.lstrip()[:1] in "<>=!" or cell.lstrip()[:3] in ("in ", "not") else plain


def _timer_value(element: str, kind: str, source: str, line: int, file: str) -> Iterator[Problem]:
    what = {"due": "期限", "timeDuration": "定时器时长", "timeDate": "定时器时间", "timeCycle": "定时器周期"}[
        kind
    ]
    if (error := _compile(source)) is not None:
        yield Problem(element, f"{what}表达式被拒绝：{error}", line, file)
        return
    try:
        value = SANDBOX.evaluate(source, {})
    except SandboxError:
        if _BARE_ISO.match(source.strip()):
            yield Problem(element, f'{what}“{source}”应写成带引号的文本，如 "{source.strip()}"', line, file)
        return  # depends on case data: checked when the case runs
    if (reason := _timer_value_error(kind, str(value))) is not None:
        yield Problem(element, f"{what}“{value}”无效：{reason}", line, file)


def _timer_value_error(kind: str, value: str) -> str | None:
    try:
        if kind == "timeCycle":
            parts = value.split("/")
            if len(parts) < 2 or not re.fullmatch(r"R\d*", parts[0].upper()):
                return "周期应写成 R次数/时长，如 R3/P1D"
            for part in parts[1:]:
                duration_of(part) if part.upper().startswith("P") else parse_iso(part)
        elif kind == "timeDate" or (kind == "due" and not value.upper().startswith("P")):
            parse_iso(value)
        else:
            duration_of(value)
    except Exception:  # noqa: BLE001 - SpiffWorkflow raises a bare Exception for a bad duration
        return "应为 ISO-8601 时长（如 PT24H、P3D）或日期时间（如 2026-03-01T09:00:00+08:00）"
    return None
