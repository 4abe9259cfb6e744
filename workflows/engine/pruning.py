"""Keep a running case's task tree the size of what is still open, not of everything it ever did.

SpiffWorkflow keeps every task it ever created: a loop back (the next home visit, the next quarterly
round) adds new tasks below the last ones, so the tree of a long-running duty grows with each step,
and so do the stored state, the cost of every action and the depth of every walk up the tree (a
risk-visits case failed with a RecursionError after about 120 visits).

What a running workflow can still use is the part of the tree below the lowest common ancestor of its
unfinished tasks, their parents and ``last_task`` (where the engine resumes): joins look for their split among the
ancestors of their own waiting task, and every unfinished task, with the finished tasks it inherits its
data from, lies below that ancestor. Everything above it, and every finished branch hanging off the
path down to it, is history: the case log keeps it (every completion with its data). Those tasks are
dropped and the common ancestor hangs directly below the root. What is kept of them is bounded by the
model, not by the history: the count of completed user tasks (the digest logged with every event
includes it) and, per finished element, the elements that followed it (a migration to a new version
checks that every step the case has finished, pruned or not, is unchanged there).

Pruning is deterministic (it depends only on the tree), and the engine prunes after every action, live
and in replay alike, so a replay rebuilds the same tree, the same task ids and the same digests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.util.task import TaskState  # type: ignore[import-untyped]

_TAKEN = TaskState.COMPLETED | TaskState.READY | TaskState.WAITING | TaskState.STARTED


@dataclass
class Pruned:
    """What the dropped history leaves behind: completed user tasks, and finished element → followers."""

    done: int = 0
    steps: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, stored: dict[str, Any] | None) -> Pruned:
        stored = stored or {}
        return cls(stored.get("done", 0), {k: set(v) for k, v in stored.get("steps", {}).items()})

    def dump(self) -> dict[str, Any]:
        return {"done": self.done, "steps": {k: sorted(v) for k, v in sorted(self.steps.items())}}


def prune(workflow: Any, into: Pruned) -> None:
    """Drop the finished part of the tree above the open tasks' common ancestor, noting in ``into`` what
    is kept of it. A finished workflow is left as it is."""
    unfinished = [t for t in workflow.tasks.values() if not t.has_state(TaskState.FINISHED_MASK)]
    if not unfinished:
        return
    # a waiting task takes its data from its parent again when it fires: parents stay too
    parents = [workflow.tasks[t._parent] for t in unfinished if t._parent in workflow.tasks]
    anchors = unfinished + parents
    if workflow.last_task is not None:
        anchors.append(workflow.last_task)
    root = workflow.task_tree
    common = _common_ancestor(workflow, anchors)
    if common is None or common is root or common._parent == root.id:
        return
    keep = _subtree_ids(workflow, common)
    keep.add(root.id)
    dropped = [task for tid, task in workflow.tasks.items() if tid not in keep]
    if any(not t.has_state(TaskState.FINISHED_MASK) for t in dropped):  # never drop open work
        return
    finished: list[tuple[str | None, Any]] = [(None, t) for t in dropped]
    for task in dropped:
        if task.id in workflow.subprocesses:  # a finished subprocess goes with its task, and its tasks count
            finished.extend(_subprocess_tasks(workflow, task))
    for sub, task in finished:
        if task.has_state(TaskState.COMPLETED):
            into.done += 1 if task.task_spec.manual else 0
            name = task.task_spec.name if sub is None else f"{sub}/{task.task_spec.name}"
            followers = into.steps.setdefault(name, set())
            followers.update(c.task_spec.name for c in task.children if c is not None and c.state & _TAKEN)
    for task in dropped:
        if task.id in workflow.subprocesses:
            workflow.delete_subprocess(task)
    for task in dropped:
        del workflow.tasks[task.id]
    root._children = [common.id]
    common._parent = root.id


def _subprocess_tasks(workflow: Any, task: Any) -> list[tuple[str, Any]]:
    """(subprocess spec name, task) for every task of the subprocess under ``task`` and of those below it."""
    result: list[tuple[str, Any]] = []
    stack = [workflow.subprocesses[task.id]]
    while stack:
        sub = stack.pop()
        result.extend((sub.spec.name, t) for t in sub.tasks.values())
        stack.extend(s for s in workflow.subprocesses.values() if s.parent_workflow is sub)
    return result


def _path(workflow: Any, task: Any) -> list[Any]:
    """The task and its ancestors, from the task up to the root (iteratively: trees can be deep)."""
    path = [task]
    while path[-1]._parent is not None:
        parent = workflow.tasks.get(path[-1]._parent)
        if parent is None:
            break
        path.append(parent)
    return path


def _common_ancestor(workflow: Any, tasks: list[Any]) -> Any:
    chain = list(reversed(_path(workflow, tasks[0])))  # root first
    depth = {t.id: i for i, t in enumerate(chain)}
    lowest = len(chain) - 1
    for task in tasks[1:]:
        node: Any = task
        while node is not None and node.id not in depth:
            node = workflow.tasks.get(node._parent) if node._parent is not None else None
        if node is None:
            return None
        lowest = min(lowest, depth[node.id])
    return chain[lowest]


def _subtree_ids(workflow: Any, top: Any) -> set[Any]:
    seen = {top.id}
    stack = [top]
    while stack:
        for child_id in stack.pop()._children:
            if child_id not in seen and child_id in workflow.tasks:
                seen.add(child_id)
                stack.append(workflow.tasks[child_id])
    return seen
