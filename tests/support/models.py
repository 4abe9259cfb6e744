"""Small BPMN models built in tests, for the sandbox and registry rules."""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape

DATA = Path(__file__).resolve().parent.parent / "data"


def read_model(name: str) -> dict[str, str]:
    """The files of a model folder under tests/data, keyed by relative path."""
    folder = DATA / name
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def guarded_model(
    key: str = "guarded",
    *,
    script: str = "x = 1",
    condition: str = "choice == 'a'",
    lane: str = "village_director",
) -> dict[str, str]:
    """start → ask (user task) → script → gateway(condition → done_a, default → done_b)."""
    bpmn = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d_{key}" targetNamespace="t">
  <bpmn:process id="{key}" name="测试" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l1" name="{lane}">
      <bpmn:flowNodeRef>ask</bpmn:flowNodeRef><bpmn:flowNodeRef>again</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="ask" name="填写"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:scriptTask id="calc" name="计算"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw" name="判断" default="f5"><bpmn:incoming>f3</bpmn:incoming>
      <bpmn:outgoing>f4</bpmn:outgoing><bpmn:outgoing>f5</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:userTask id="again" name="复核"><bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="done_a"><bpmn:incoming>f6</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="done_b"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="ask" />
    <bpmn:sequenceFlow id="f2" sourceRef="ask" targetRef="calc" />
    <bpmn:sequenceFlow id="f3" sourceRef="calc" targetRef="gw" />
    <bpmn:sequenceFlow id="f4" sourceRef="gw" targetRef="again"><bpmn:conditionExpression>{escape(condition)}</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f5" sourceRef="gw" targetRef="done_b" />
    <bpmn:sequenceFlow id="f6" sourceRef="again" targetRef="done_a" />
  </bpmn:process>
</bpmn:definitions>
"""
    form = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "填写",
        "type": "object",
        "properties": {
            "choice": {"type": "string", "title": "选择"},
            "power": {"type": "integer", "title": "指数"},
        },
        "additionalProperties": False,
    }
    start = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "开始",
        "type": "object",
        "properties": {"note": {"type": "string", "title": "备注"}},
        "additionalProperties": False,
    }
    again = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "复核",
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
    return {
        "process.bpmn": bpmn,
        "forms/ask.json": json.dumps(form, ensure_ascii=False),
        "forms/start.json": json.dumps(start, ensure_ascii=False),
        "forms/again.json": json.dumps(again, ensure_ascii=False),
    }


def publish_folder(session, folder: Path, *, now, source: str = "bundled"):  # type: ignore[no-untyped-def]
    """Register a model folder (tests/data/<name> or bpmn/<name>) and publish it."""
    from workflows.processes import registry

    version = registry.register(
        session, key=folder.name, files=registry.read_folder(folder), source=source, actor="system", now=now
    )
    registry.publish(session, version, actor="system", now=now)
    return version
