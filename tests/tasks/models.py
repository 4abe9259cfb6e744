"""A one-task process with a given start form, for the periodic rounds (the real models come from bpmn/)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.orm import Session

from workflows.processes import registry


def one_task_model(key: str, name: str, lane: str, fields: dict[str, str]) -> dict[str, str]:
    bpmn = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d_{key}" targetNamespace="t">
  <bpmn:process id="{key}" name="{name}" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="l1" name="{lane}"><bpmn:flowNodeRef>work</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="开始"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="work" name="{name}">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="done" name="结束"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work" />
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="done" />
  </bpmn:process>
</bpmn:definitions>
"""
    start = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "开始",
        "type": "object",
        "properties": {
            f: {"type": "integer" if f.endswith("year") else "string", "title": t} for f, t in fields.items()
        },
        "required": sorted(fields),
        "additionalProperties": False,
    }
    work = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": name,
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
    return {
        "process.bpmn": bpmn,
        "forms/start.json": json.dumps(start, ensure_ascii=False),
        "forms/work.json": json.dumps(work, ensure_ascii=False),
    }


def publish_round_models(session: Session, now: datetime) -> None:
    """Stand-ins for the round processes (same start fields as bpmn/), published in the test transaction."""
    for key, name, lane, fields in (
        (
            "quarterly_verification",
            "季度信息核实",
            "village_director",
            {"village_code": "村", "quarter": "季度"},
        ),
        (
            "risk_list_sharing",
            "风险名单通报",
            "county_civil_affairs",
            {"period": "半年", "county_code": "县"},
        ),
        ("annual_file_check", "档案年度抽查", "county_civil_affairs", {"check_year": "年度"}),
    ):
        version = registry.register(
            session,
            key=key,
            files=one_task_model(key, name, lane, fields),
            source="uploaded",
            actor="test",
            now=now,
        )
        registry.publish(session, version, actor="test", now=now)
