"""Content rules of a process version: decision tables keep their examples, and nothing labels a child."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from workflows.engine import CaseRun, parse_process
from workflows.infra.errors import DomainError
from workflows.processes.labelling import LABELLING_TERMS

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_PUBLIC_FACING = re.compile(r"^notify_|reporter|family|public|notice")
_EXAMPLE_INSTANT = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


@dataclass
class Problem:
    element: str
    message: str
    line: int | None = None
    file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def local_name(element: Any) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def owning_element(element: Any) -> Any:
    """The nearest enclosing element with an id that is drawn on the diagram (not an event definition)."""
    while element is not None and not (
        isinstance(element.tag, str)
        and element.get("id")
        and not local_name(element).endswith("EventDefinition")
    ):
        element = element.getparent()
    return element


# --- decision tables and their examples -----------------------------------------------------------
def decision_problems(files: Mapping[str, str], trees: Mapping[str, Any]) -> Iterator[Problem]:
    """Each decision table ships ``<name>.examples.json`` beside it, and every example holds."""
    dmn_files = {n: t for n, t in files.items() if n.endswith(".dmn")}
    for name in sorted(dmn_files):
        decisions = [d.get("id") for d in trees[name].iter() if local_name(d) == "decision" and d.get("id")]
        stem = name[: -len(".dmn")]
        examples_name = f"{stem}.examples.json"
        owner = stem.rsplit("/", 1)[-1] if stem.rsplit("/", 1)[-1] in decisions else (decisions or [name])[0]
        if examples_name not in files:
            yield Problem(
                owner,
                f'决策表 {name} 缺少示例文件 {examples_name}（[{{"inputs": …, "expected": …}}]）',
                file=name,
            )
            continue
        try:
            examples = json.loads(files[examples_name])
        except json.JSONDecodeError as exc:
            yield Problem(
                owner, f"{examples_name} 不是有效的 JSON：{exc.msg}", line=exc.lineno, file=examples_name
            )
            continue
        if not isinstance(examples, list) or not examples:
            yield Problem(owner, f"{examples_name} 应是至少包含一个示例的列表", file=examples_name)
            continue
        for number, example in enumerate(examples, start=1):
            message = _run_example(example, owner, decisions, dmn_files)
            if message:
                yield Problem(owner, f"{examples_name} 第 {number} 个示例：{message}", file=examples_name)


def _run_example(example: Any, owner: str, decisions: list[str], dmn_files: Mapping[str, str]) -> str | None:
    if not (
        isinstance(example, dict)
        and isinstance(example.get("inputs"), dict)
        and isinstance(example.get("expected"), dict)
    ):
        return '应写成 {"inputs": {…}, "expected": {…}}'
    decision = example.get("decision") or owner
    if decision not in decisions:
        return f"决策 {decision} 不在该决策表文件中"
    try:
        data = _decide(decision, dmn_files, example["inputs"])
    except DomainError as exc:
        return f"运行失败：{exc.message}"
    # a COLLECT table that matches no rule sets nothing: the example writes that as []
    wrong = {
        k: data.get(k) for k, v in example["expected"].items() if data.get(k, [] if v == [] else None) != v
    }
    if wrong:
        expected = json.dumps(example["expected"], ensure_ascii=False)
        return (
            f"输入 {json.dumps(example['inputs'], ensure_ascii=False)} 期望 {expected}，实际 "
            f"{json.dumps(wrong, ensure_ascii=False)}"
        )
    return None


def _decide(decision: str, dmn_files: Mapping[str, str], inputs: dict[str, Any]) -> dict[str, Any]:
    """Run one decision through the engine: a one-task process with a business rule task."""
    wrapper = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN_NS}" xmlns:spiffworkflow="{SPIFF_NS}"
                  id="decision_check" targetNamespace="t">
  <bpmn:process id="decision_check" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>a</bpmn:outgoing></bpmn:startEvent>
    <bpmn:businessRuleTask id="decide"><bpmn:extensionElements>
      <spiffworkflow:calledDecisionId>{decision}</spiffworkflow:calledDecisionId></bpmn:extensionElements>
      <bpmn:incoming>a</bpmn:incoming><bpmn:outgoing>b</bpmn:outgoing></bpmn:businessRuleTask>
    <bpmn:endEvent id="e"><bpmn:incoming>b</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="a" sourceRef="s" targetRef="decide" />
    <bpmn:sequenceFlow id="b" sourceRef="decide" targetRef="e" />
  </bpmn:process>
</bpmn:definitions>"""
    files = {"decision_check.bpmn": wrapper, **dmn_files}
    digest = hashlib.sha256(json.dumps(sorted(files.items()), ensure_ascii=False).encode()).hexdigest()
    process = parse_process("decision_check", files, f"decision-check:{digest}")
    case_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "shouhu:decision-check"))
    return CaseRun.start(process, case_id=case_id, data=dict(inputs), now=_EXAMPLE_INSTANT).data()


# --- labelling terms ------------------------------------------------------------------------------
def label_problems(files: Mapping[str, str], trees: Mapping[str, Any]) -> Iterator[Problem]:
    """No file of a version carries 留守儿童 or 困境儿童: its texts can reach families and the public."""
    for name in sorted(files):
        text = files[name]
        terms = [term for term in LABELLING_TERMS if term in text]
        if not terms:
            continue
        rule = f"“{'、'.join(terms)}”是标签化称谓，送达家庭、报告人或公众的文书和通知中不得使用"
        if name in trees:
            yield from _xml_label_problems(name, trees[name], rule)
        elif name.startswith("forms/") and name.endswith(".json"):
            element = name[len("forms/") : -len(".json")]
            who = "面向报告人或家庭的任务表单" if _PUBLIC_FACING.search(element) else "表单"
            yield Problem(element, f"{who} {name} 中出现{rule}", line=_first_line(text, terms), file=name)
        else:
            where = "文书模板" if name.startswith("templates/documents/") else "文件"
            yield Problem(name, f"{where} {name} 中出现{rule}", line=_first_line(text, terms), file=name)


def _xml_label_problems(name: str, tree: Any, rule: str) -> Iterator[Problem]:
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        texts = [element.text or "", *element.attrib.values()]
        if any(term in t for t in texts for term in LABELLING_TERMS):
            owner = owning_element(element)
            element_id = owner.get("id") if owner is not None else name
            yield Problem(
                element_id, f"元素 {element_id} 的文字中出现{rule}", line=element.sourceline, file=name
            )


def _first_line(text: str, terms: list[str]) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if any(t in line for t in terms))
