"""Sequence-flow coverage: which flows of a model the runs of a test suite actually took."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from SpiffWorkflow.util.task import TaskState

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
_NOT_REACHED = TaskState.MAYBE | TaskState.LIKELY | TaskState.FUTURE


def model_flows(bpmn_file: Path) -> dict[str, tuple[str, str]]:
    """Every sequence flow of a model: id → (source element id, target element id)."""
    root = ET.parse(bpmn_file).getroot()
    return {f.get("id"): (f.get("sourceRef"), f.get("targetRef")) for f in root.iter(f"{BPMN}sequenceFlow")}


def taken_flows(workflow, flows: dict[str, tuple[str, str]]) -> set[str]:
    """Flows whose target was reached from a completed source in this workflow."""
    by_pair = {pair: fid for fid, pair in flows.items()}
    taken = set()
    workflows = [workflow, *getattr(workflow, "subprocesses", {}).values()]
    for wf in workflows:
        for task in wf.get_tasks():
            target = getattr(task.task_spec, "bpmn_id", None)
            if target is None or task.state & _NOT_REACHED:
                continue
            parent = task.parent
            while parent is not None and getattr(parent.task_spec, "bpmn_id", None) is None:
                parent = parent.parent
            if parent is not None and parent.state == TaskState.COMPLETED:
                fid = by_pair.get((parent.task_spec.bpmn_id, target))
                if fid:
                    taken.add(fid)
    return taken
