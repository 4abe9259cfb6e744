"""Model checks against the BPMN schema, and moving a running case onto a newer version."""

from __future__ import annotations

import threading
import uuid
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator  # type: ignore[import-untyped]
from SpiffWorkflow.bpmn.util.diff import (  # type: ignore[import-untyped]
    SpecDiff,
    WorkflowDiff,
    migrate_workflow,
)
from SpiffWorkflow.util.task import TaskState  # type: ignore[import-untyped]

from workflows.engine.runs import CaseRun
from workflows.engine.specs import _REGISTRY, ParsedProcess

# --- model checks and moving running cases between versions ---------------------------------------
_SCHEMA_LOCK = threading.Lock()
_VALIDATORS: list[Any] = []


def schema_errors(tree: Any) -> list[tuple[int | None, str, str]]:
    """BPMN 2.0 schema violations of a parsed (lxml) BPMN document: (line, message, element path)."""
    with _SCHEMA_LOCK:
        if not _VALIDATORS:
            _VALIDATORS.append(BpmnValidator())
        validator = _VALIDATORS[0]
        document = deepcopy(tree)
        validator.preprocess(document)
        if validator.validator.validate(document):
            return []
        return [(e.line, e.message, e.path) for e in validator.validator.error_log]


# Attributes of a finished step that do not matter to a case that has passed it.
_COSMETIC = frozenset(
    {"bpmn_name", "description", "documentation", "lane", "extensions", "inputs", "outputs"}
)
_OPEN = TaskState.READY | TaskState.WAITING | TaskState.STARTED


@dataclass
class MigrationReport:
    """Whether a case can move to another version, why not, and what it keeps."""

    safe: bool = True
    reasons: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # open or finished steps whose definition changed
    kept: list[str] = field(default_factory=list)  # ids of open tasks and pending timers kept as they were

    def refuse(self, reason: str) -> None:
        self.safe = False
        if reason not in self.reasons:
            self.reasons.append(reason)


def _label(spec: Any) -> str:
    name = getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None) or spec.name
    return f"“{name}”（{spec.name}）" if name != spec.name else f"“{spec.name}”"


def _check_task(task: Any, spec_diff: Any, report: MigrationReport) -> None:
    # the root's children after pruning are the top of the kept history, not the flow out of the root
    pruned_root = task.parent is None and task.workflow.task_tree is task
    taken = {c.task_spec.name for c in task.children if c.state & (TaskState.COMPLETED | _OPEN)}
    _check_step(
        task.task_spec, task.state == TaskState.COMPLETED, set() if pruned_root else taken, spec_diff, report
    )


def _check_step(spec: Any, finished: bool, taken: set[str], spec_diff: Any, report: MigrationReport) -> None:
    """One step the case has reached: ``finished`` or open, and the elements that followed it."""
    new = spec_diff.alignment.get(spec)
    where = "已完成的环节" if finished else "当前环节"
    if new is None or new.name != spec.name:
        # an engine-made step (a boundary event's split …) goes with its element, which is named instead
        named = getattr(spec, "bpmn_id", None) is not None
        missing = f"{where}{_label(spec)}在新版本中不存在"
        report.refuse(missing if named else "该案件已走过的流程结构在新版本中被改变")
        return
    changes = spec_diff.comparisons.get(spec, [])
    if "typename" in changes:
        report.refuse(f"{where}{_label(spec)}在新版本中换成了另一种元素")
    elif finished:
        significant = [c for c in changes if c not in _COSMETIC]
        if significant:
            report.refuse(f"{where}{_label(spec)}在新版本中被修改（{'、'.join(significant)}）")
        elif taken - {o.name for o in new.outputs}:
            report.refuse(f"{where}{_label(spec)}之后的走向在新版本中被改变")
    elif getattr(spec, "manual", False) and spec.lane != new.lane:
        report.refuse(f"{where}{_label(spec)}在新版本中改由其他角色办理（{spec.lane} → {new.lane}）")
    if changes and spec.name not in report.changed and report.safe:
        report.changed.append(spec.name)


def _diffs(run: CaseRun, new: ParsedProcess, report: MigrationReport) -> list[tuple[Any, Any, Any]]:
    """(workflow or subworkflow, its WorkflowDiff, its new spec), checking each step the case has reached."""
    pairs = [(run.workflow, new.spec)]
    for sub in run.workflow.subprocesses.values():
        target = new.subprocess_specs.get(sub.spec.name)
        if target is None:
            report.refuse(f"子流程“{sub.spec.name}”在新版本中不存在")
        pairs.append((sub, target))
    result = []
    for workflow, target in pairs:
        if target is None:
            continue
        spec_diff = SpecDiff(_REGISTRY, workflow.spec, target)
        for task in workflow.get_tasks(skip_subprocesses=True):
            if task.state & (TaskState.COMPLETED | _OPEN):
                _check_task(task, spec_diff, report)
        if workflow is run.workflow:
            _check_pruned(run, new, spec_diff, report)
        result.append((workflow, WorkflowDiff(workflow, spec_diff), target))
    return result


def _check_pruned(run: CaseRun, new: ParsedProcess, spec_diff: Any, report: MigrationReport) -> None:
    """Finished steps dropped from the tree (engine/pruning.py): ``element`` or ``subprocess/element``."""
    diffs: dict[str | None, tuple[Any, Any]] = {None: (run.workflow.spec, spec_diff)}
    for name, taken in sorted(run.pruned.steps.items()):
        sub, _, element = name.rpartition("/")
        key = sub or None
        if key not in diffs:
            old, target = run.process.subprocess_specs.get(sub), new.subprocess_specs.get(sub)
            if old is None or target is None:
                report.refuse(f"子流程“{sub}”在新版本中不存在")
                diffs[key] = (None, None)
            else:
                diffs[key] = (old, SpecDiff(_REGISTRY, old, target))
        old_spec, diff = diffs[key]
        spec = old_spec.task_specs.get(element) if old_spec is not None else None
        if spec is not None:
            _check_step(spec, True, taken, diff, report)


def migrate_run(run: CaseRun, new: ParsedProcess, *, now: datetime) -> MigrationReport:
    """Move a running case onto ``new`` with SpiffWorkflow's diff and migration helpers.

    SpiffWorkflow resets every ready or waiting branch, which would restart pending deadlines and
    re-stamp due times; the open steps' ids, data and internal data (timer instants, due times) are
    put back as they were. When ``safe`` is false the run must be thrown away, not stored.
    """
    report = MigrationReport()
    diffs = _diffs(run, new, report)
    if not report.safe:
        return report
    kept = {
        task.id: (task.state, task.task_spec.name, deepcopy(task.internal_data), deepcopy(task.data))
        for task in run.workflow.get_tasks(state=_OPEN)
    }
    with run.acting(now):
        for workflow, diff, target in diffs:
            migrate_workflow(diff, workflow, target)
        run.process = new
        run.workflow.shouhu_spec_ref = new.content_hash
        for task_id, (state, name, internal, data) in kept.items():
            task = run.workflow.get_task_from_id(task_id) if _has_task(run.workflow, task_id) else None
            if task is None or task.state != state or task.task_spec.name != name:
                report.refuse(f"迁移后无法保留环节“{name}”的待办或计时（任务 {task_id}）")
                continue
            task.internal_data, task.data = internal, data
            report.kept.append(str(task_id))
    for workflow, _diff, target in diffs:
        for task in workflow.tasks.values():
            if target.task_specs.get(task.task_spec.name) is not task.task_spec:
                report.refuse(f"环节{_label(task.task_spec)}的记录在新版本中没有对应的元素")
    if report.safe:
        try:
            CaseRun.restore(new, run.dump(), case_id=run.case_id)
        except Exception as exc:  # noqa: BLE001 - an unstorable result is a refusal, not a crash
            report.refuse(f"迁移后的案件状态无法保存：{exc}")
    return report


def _has_task(workflow: Any, task_id: uuid.UUID) -> bool:
    return task_id in workflow.tasks or any(task_id in sub.tasks for sub in workflow.subprocesses.values())
