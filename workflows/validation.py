"""Checks a process version must pass before it can be registered as runnable."""

from __future__ import annotations

from dataclasses import dataclass

from workflows.engine import ParsedProcess, check_expressions
from workflows.forms import START_FORM
from workflows.roles import ROLES


@dataclass
class Problem:
    element: str
    message: str


def check(process: ParsedProcess) -> list[Problem]:
    """Lanes are known roles, every user task and the start have a form, expressions compile."""
    problems: list[Problem] = []
    if process.forms.get(START_FORM) is None:
        problems.append(Problem("start", "缺少开始表单 forms/start.json"))
    for task in process.user_tasks.values():
        if task.lane not in ROLES:
            problems.append(Problem(task.bpmn_id, f"用户任务“{task.name}”不在已知角色的泳道中（泳道：{task.lane}）"))
        if process.forms.get(task.bpmn_id) is None:
            problems.append(Problem(task.bpmn_id, f"用户任务“{task.name}”缺少表单 forms/{task.bpmn_id}.json"))
    problems.extend(Problem(element, f"表达式被拒绝：{message}") for element, message in check_expressions(process))
    return problems
