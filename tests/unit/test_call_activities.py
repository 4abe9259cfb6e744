"""A process that calls another: the version hash covers the callee, tasks inside it work, cases stay pinned."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from tests.unit.test_services import DIRECTOR
from workflows.cases import human_tasks
from workflows.cases import lifecycle as cases
from workflows.cases.replay import verify_case
from workflows.infra.clock import FixedClock
from workflows.infra.models import Case
from workflows.people.access import Actor
from workflows.processes import registry

VILLAGE = "500111101201"
POLICE = Actor("police", frozenset({"police"}), "500111")
NS = 'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'


def _form(title: str, field: str | None = None) -> str:
    props = {field: {"type": "string", "title": "结果"}} if field else {}
    return json.dumps(
        {"type": "object", "title": title, "properties": props, "additionalProperties": False},
        ensure_ascii=False,
    )


def callee(name: str) -> dict[str, str]:
    bpmn = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS} id="d_sub" targetNamespace="t">
  <bpmn:process id="sub_check" name="核查子流程" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="police"><bpmn:flowNodeRef>sub_review</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="s"><bpmn:outgoing>a</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="sub_review" name="{name}"><bpmn:incoming>a</bpmn:incoming><bpmn:outgoing>b</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>b</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="a" sourceRef="s" targetRef="sub_review" />
    <bpmn:sequenceFlow id="b" sourceRef="sub_review" targetRef="e" />
  </bpmn:process>
</bpmn:definitions>"""
    return {
        "process.bpmn": bpmn,
        "forms/start.json": _form("开始"),
        "forms/sub_review.json": _form(name, "finding"),
    }


def caller() -> dict[str, str]:
    bpmn = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS} id="d_main" targetNamespace="t">
  <bpmn:process id="main_flow" name="主流程" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="village_director"><bpmn:flowNodeRef>ask</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="s"><bpmn:outgoing>a</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="ask" name="登记"><bpmn:incoming>a</bpmn:incoming><bpmn:outgoing>b</bpmn:outgoing></bpmn:userTask>
    <bpmn:callActivity id="check" name="调用核查" calledElement="sub_check"><bpmn:incoming>b</bpmn:incoming><bpmn:outgoing>c</bpmn:outgoing></bpmn:callActivity>
    <bpmn:endEvent id="e"><bpmn:incoming>c</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="a" sourceRef="s" targetRef="ask" />
    <bpmn:sequenceFlow id="b" sourceRef="ask" targetRef="check" />
    <bpmn:sequenceFlow id="c" sourceRef="check" targetRef="e" />
  </bpmn:process>
</bpmn:definitions>"""
    return {"process.bpmn": bpmn, "forms/start.json": _form("开始"), "forms/ask.json": _form("登记", "note")}


def publish(session: Session, clock: FixedClock, key: str, files: dict[str, str]) -> registry.ProcessVersion:
    version = registry.register(session, key=key, files=files, source="uploaded", actor="t", now=clock.now())
    registry.publish(session, version, actor="t", now=clock.now())
    return version


def test_called_process_is_part_of_the_version_and_runs(session: Session, clock: FixedClock) -> None:
    sub_v1 = publish(session, clock, "sub_check", callee("核查"))
    main_v1 = publish(session, clock, "main_flow", caller())
    assert main_v1.calls == [sub_v1.content_hash]
    case = cases.start_case(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        process_key="main_flow",
        data={},
        jurisdiction_code=VILLAGE,
    ).case
    [ask] = human_tasks.list_tasks(session=session, actor=DIRECTOR).items
    human_tasks.complete(session=session, clock=clock, actor=DIRECTOR, task_id=ask.id, data={"note": "x"})
    [review] = [
        t for t in human_tasks.list_tasks(session=session, actor=POLICE).items if t.case_id == case.id
    ]
    assert (review.bpmn_id, review.name) == ("sub_review", "核查")
    # a new callee version makes the same caller files a new caller version; the running case keeps its own
    publish(session, clock, "sub_check", callee("复核"))
    main_v2 = publish(session, clock, "main_flow", caller())
    assert main_v2.id != main_v1.id and case.process_version_id == main_v1.id
    human_tasks.complete(
        session=session, clock=clock, actor=POLICE, task_id=review.id, data={"finding": "无异常"}
    )
    assert session.get(Case, case.id).status == "completed"
    assert verify_case(session, session.get(Case, case.id)).ok
