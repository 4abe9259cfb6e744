"""SpiffWorkflow's walks over a task tree, the same steps with less overhead.

The engine walks the whole tree many times per action (every ``get_tasks``, and after every task it
completes, to update the waiting ones): about a third of an action's time went to the iterator's own
bookkeeping — a property call per child and per parent, a method call per filter test, a UUID hashed for
each. These are SpiffWorkflow's ``TaskIterator._next``, ``BpmnTaskIterator._next``, ``TaskFilter.matches``,
``BpmnTaskFilter.matches``, ``TaskIterator.__next__`` and ``Task.children`` written out with those calls inlined: the same tasks in the
same order, the same depth counting, the same state left in the iterator (tests/engine/test_walks.py holds
them against the originals on real trees, with every option).
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent  # type: ignore[import-untyped]
from SpiffWorkflow.bpmn.util.task import BpmnTaskFilter, BpmnTaskIterator  # type: ignore[import-untyped]
from SpiffWorkflow.task import Task  # type: ignore[import-untyped]
from SpiffWorkflow.util.task import TaskFilter, TaskIterator, TaskState  # type: ignore[import-untyped]

FINISHED_MASK = TaskState.FINISHED_MASK

# the originals, for the tests that hold the two against each other
ORIGINALS: dict[str, Any] = {
    "TaskFilter.matches": TaskFilter.matches,
    "BpmnTaskFilter.matches": BpmnTaskFilter.matches,
    "TaskIterator._next": TaskIterator._next,
    "BpmnTaskIterator._next": BpmnTaskIterator._next,
    "Task.children": Task.children,
    "TaskIterator.__next__": TaskIterator.__next__,
}


def _children(self: Any) -> list[Any]:
    get = self.workflow.tasks.get
    return [get(child) for child in self._children]


def _matches(self: Any, task: Any) -> bool:
    if not task._state & self.state:
        return False
    if not task.last_state_change >= self.updated_ts:
        return False
    spec = task.task_spec
    if not (self.manual is None or spec.manual == self.manual):
        return False
    if not (self.spec_name is None or spec.name == self.spec_name):
        return False
    return self.spec_class is None or isinstance(spec, self.spec_class)


def _bpmn_matches(self: Any, task: Any) -> bool:
    if not _matches(self, task):
        return False
    spec = task.task_spec
    if not (
        self.catches_event is None
        or (isinstance(spec, CatchingEvent) and spec.catches(task, self.catches_event))
    ):
        return False
    return self.lane is None or spec.lane == self.lane


def _leaf_depth(self: Any, task: Any) -> None:
    """``TaskIterator._handle_leaf_depth``: up from the leaf's parent to the next task's parent."""
    following = self.task_list[0]
    if following._parent == task._parent and following.workflow is task.workflow:
        return  # a sibling: the same parent, no level left
    ancestor = following.workflow.tasks.get(following._parent)
    current = task.workflow.tasks.get(task._parent)
    while current is not None and current != ancestor:
        current = current.workflow.tasks.get(current._parent)
        self.depth -= 1


def _next(self: Any) -> Any:
    """``TaskIterator._next``: the next task; its children queued unless the walk stops there."""
    task_list = self.task_list
    if not task_list:
        raise StopIteration()
    task = task_list.pop(0)
    if (
        task._children
        and task._state >= self.min_state
        and self.depth < self.max_depth
        and task.task_spec.name != self.end_at_spec
    ):
        get = task.workflow.tasks.get
        children = [get(child) for child in task._children]
        if self.depth_first:
            self.task_list = children + task_list
            self.depth += 1
        else:
            task_list.extend(children)
            self._update_depth(task)
    elif self.depth_first and task_list:
        _leaf_depth(self, task)
    return task


def _bpmn_next(self: Any) -> Any:
    """``BpmnTaskIterator._next``: the same, and a subprocess's tree (under the task that runs it) first."""
    task_list = self.task_list
    if not task_list:
        raise StopIteration()
    task = task_list.pop(0)
    # every task of one walk belongs to the same top workflow: looked up once
    top = self.__dict__.get("_top")
    if top is None:
        top = self._top = task.workflow.top_workflow
    subprocess = top.subprocesses.get(task.id)
    state = task._state
    if (
        (task._children or subprocess is not None)
        and (state >= self.min_state or subprocess is not None)
        and self.depth < self.max_depth
        and task.task_spec.name != self.end_at_spec
    ):
        # Do not descend into a completed subprocess to look for unfinished tasks (SpiffWorkflow's test).
        if (
            subprocess is None
            or self.skip_subprocesses
            or (state >= FINISHED_MASK and self.task_filter.state <= FINISHED_MASK)
        ):
            subprocess_tasks = []
        else:
            subprocess_tasks = [subprocess.task_tree]
        get = task.workflow.tasks.get
        children = [get(child) for child in task._children]
        if self.depth_first:
            self.task_list = subprocess_tasks + children + task_list
            self.depth += 1
        else:
            task_list.extend(children + subprocess_tasks)
            self._update_depth(task)
    elif self.depth_first and task_list:
        _leaf_depth(self, task)
    return task


def _iterate(self: Any) -> Any:
    """``TaskIterator.__next__``: the next task that matches the filter (SpiffWorkflow's filters tested
    inline)."""
    task_filter = self.task_filter
    matches = _FILTERS.get(type(task_filter))
    step = _STEPS.get(type(self))
    if matches is None or step is None:  # a filter or an iterator of its own: its own methods
        task = self._next()
        while not task_filter.matches(task):
            task = self._next()
        return task
    task = step(self)
    while not matches(task_filter, task):
        task = step(self)
    return task


_FILTERS = {TaskFilter: _matches, BpmnTaskFilter: _bpmn_matches}
_STEPS = {TaskIterator: _next, BpmnTaskIterator: _bpmn_next}


def install() -> None:
    Task.children = property(_children, ORIGINALS["Task.children"].fset)
    TaskFilter.matches = _matches
    BpmnTaskFilter.matches = _bpmn_matches
    TaskIterator._next = _next
    BpmnTaskIterator._next = _bpmn_next
    TaskIterator.__next__ = _iterate


def uninstall() -> None:
    """SpiffWorkflow's own code back (for the tests that compare the two)."""
    Task.children = ORIGINALS["Task.children"]
    TaskFilter.matches = ORIGINALS["TaskFilter.matches"]
    BpmnTaskFilter.matches = ORIGINALS["BpmnTaskFilter.matches"]
    TaskIterator._next = ORIGINALS["TaskIterator._next"]
    BpmnTaskIterator._next = ORIGINALS["BpmnTaskIterator._next"]
    TaskIterator.__next__ = ORIGINALS["TaskIterator.__next__"]


install()
