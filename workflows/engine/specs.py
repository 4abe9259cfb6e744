"""Parsed process versions, and the serializer that stores a reference to the version instead of the spec."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow  # type: ignore[import-untyped]
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # type: ignore[import-untyped]
from SpiffWorkflow.bpmn.serializer.default.workflow import (  # type: ignore[import-untyped]
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (  # type: ignore[import-untyped]
    TimerEventDefinition,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException  # type: ignore[import-untyped]
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser  # type: ignore[import-untyped]
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG  # type: ignore[import-untyped]

from workflows.forms.validator import FormSet
from workflows.infra import safexml
from workflows.infra.errors import ModelError
from workflows.sandbox import SandboxError, compile_expression, compile_script


# --- parsed process versions and the spec-reference serializer ------------------------------------
@dataclass
class UserTaskInfo:
    bpmn_id: str
    name: str
    lane: str | None
    instructions: str
    due: str | None


@dataclass
class ParsedProcess:
    key: str
    content_hash: str
    name: str
    spec: Any
    subprocess_specs: dict[str, Any]
    forms: FormSet
    user_tasks: dict[str, UserTaskInfo] = field(default_factory=dict)


_PARSED: dict[str, ParsedProcess] = {}


class _SpecRefConverter(BpmnWorkflowConverter):  # type: ignore[misc]
    """Stores a reference to the process version instead of the ~10 KB spec in every case row."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["spec_ref"] = workflow.shouhu_spec_ref
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> Any:
        parsed = _PARSED[dct.pop("spec_ref")]
        workflow = self.target_class(parsed.spec, parsed.subprocess_specs, deserializing=True)
        workflow.shouhu_spec_ref = parsed.content_hash
        workflow.tasks = self.mapping_from_dict(dct["tasks"], uuid.UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(uuid.UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_REGISTRY = BpmnWorkflowSerializer.configure({**SPIFF_CONFIG, BpmnWorkflow: _SpecRefConverter})
_SERIALIZER = BpmnWorkflowSerializer(_REGISTRY)


def parse_process(
    key: str, files: Mapping[str, str], content_hash: str, extra_files: Mapping[str, str] | None = None
) -> ParsedProcess:
    """Parse one version's BPMN, DMN and forms once; ``extra_files`` are the versions it calls."""
    if content_hash in _PARSED:
        return _PARSED[content_hash]
    parser = SpiffBpmnParser()
    try:
        for name, text in {**(extra_files or {}), **files}.items():
            if name.endswith(".bpmn"):
                parser.add_bpmn_xml(safexml.parse(text), filename=name)
            elif name.endswith(".dmn"):
                parser.add_dmn_xml(safexml.parse(text), filename=name)
        spec = parser.get_spec(key)
        subprocess_specs = parser.get_subprocess_specs(key)
    except etree.XMLSyntaxError as exc:
        raise ModelError(f"流程模型的 XML 格式错误：{exc.msg}", code="model_unparseable") from None
    except (SpiffWorkflowException, ValueError, KeyError) as exc:
        where = {"element": getattr(exc, "id", "") or "", "file": getattr(exc, "file_name", "") or ""}
        raise ModelError(f"流程模型无法解析：{exc}", code="model_unparseable", details=where) from None
    for spec_ in [spec, *subprocess_specs.values()]:
        _space_dmn_operators(spec_)
    # a called process's user tasks are completed with its own forms ("<key>/forms/<task>.json")
    called_forms = {n.split("/", 1)[1]: t for n, t in (extra_files or {}).items() if "/forms/" in n}
    forms = FormSet.from_files({**called_forms, **files})
    parsed = ParsedProcess(key, content_hash, spec.description or key, spec, subprocess_specs, forms)
    for spec_ in [spec, *subprocess_specs.values()]:
        for task_spec in spec_.task_specs.values():
            if getattr(task_spec, "manual", False):
                props = task_spec.extensions.get("properties", {}) if hasattr(task_spec, "extensions") else {}
                parsed.user_tasks[task_spec.bpmn_id] = UserTaskInfo(
                    bpmn_id=task_spec.bpmn_id,
                    name=task_spec.bpmn_name or task_spec.bpmn_id,
                    lane=task_spec.lane,
                    due=props.get("due"),
                    instructions=(task_spec.extensions.get("instructionsForEndUser") or "")
                    if hasattr(task_spec, "extensions")
                    else "",
                )
    _PARSED[content_hash] = parsed
    return parsed


def decision_tables(spec: Any) -> Iterator[tuple[str, Any]]:
    """(business rule task id, decision table) of a process spec."""
    for task_spec in spec.task_specs.values():
        engine = getattr(task_spec, "dmnEngine", None)
        if engine is not None:
            yield task_spec.bpmn_id, engine.decision_table


def _space_dmn_operators(spec: Any) -> None:
    """SpiffWorkflow glues an input expression to a cell ('situation' + 'in (...)'); keep a space between."""
    for _task_id, table in decision_tables(spec):
        for rule in table.rules:
            for entry in rule.inputEntries:
                entry.lhs = [
                    f" {text.lstrip()}"
                    if isinstance(text, str) and text.lstrip()[:3] in ("in ", "not")
                    else text
                    for text in entry.lhs
                ]


def check_expressions(parsed: ParsedProcess) -> list[tuple[str, str]]:
    """Every condition, script and timer of a version compiled in the sandbox: (element id, error)."""
    problems: list[tuple[str, str]] = []
    for spec_ in [parsed.spec, *parsed.subprocess_specs.values()]:
        for task_spec in spec_.task_specs.values():
            element = getattr(task_spec, "bpmn_id", None) or task_spec.name
            for source, kind in _expressions_of(task_spec):
                try:
                    (compile_script if kind == "script" else compile_expression)(source)
                except SandboxError as exc:
                    problems.append((element, exc.message))
    return problems


def _expressions_of(task_spec: Any) -> Iterator[tuple[str, str]]:
    for attr in ("script", "prescript", "postscript"):
        if getattr(task_spec, attr, None):
            yield getattr(task_spec, attr), "script"
    for condition, _target in getattr(task_spec, "cond_task_specs", None) or []:
        text = condition.args[0] if condition is not None and getattr(condition, "args", None) else condition
        if isinstance(text, str):
            yield text, "expression"
    definition = getattr(task_spec, "event_definition", None)
    if isinstance(definition, TimerEventDefinition):
        yield definition.expression, "expression"
