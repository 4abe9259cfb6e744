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
from SpiffWorkflow.workflow import Workflow  # type: ignore[import-untyped]

FINISHED_MASK = TaskState.FINISHED_MASK

# the originals, for the tests that hold the two against each other
ORIGINALS: dict[str, Any] = {
    "TaskFilter.matches": TaskFilter.matches,
    "BpmnTaskFilter.matches": BpmnTaskFilter.matches,
    "TaskIterator._next": TaskIterator._next,
    "BpmnTaskIterator._next": BpmnTaskIterator._next,
    "Task.children": Task.children,
    "TaskIterator.__next__": TaskIterator.__next__,
    "Workflow.get_tasks": Workflow.get_tasks,
    "Workflow.update_waiting_tasks": Workflow.update_waiting_tasks,
}
_MAX_DEPTH = 1000  # TaskIterator's default max_depth


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


# get_tasks' arguments the quick answer below handles (the filter's); any other goes the walk's way
_FILTER_KEYS = frozenset(
    {"state", "updated_ts", "manual", "spec_name", "spec_class", "catches_event", "lane"}
)
_FEW = 6  # more tasks that may match than this: the walk is as quick


def _quick_tasks(workflow: Any, kwargs: dict[str, Any]) -> list[Any] | None:
    """What ``BpmnTaskIterator`` walking from ``workflow``'s root would give, worked out from the few tasks
    in the state asked for instead of the whole tree; None when the walk must decide.

    A walk (depth first, from the root) visits a task when every task above it was expanded: a task is
    expanded when its state is at least the walk's lowest state, or it runs a subprocess (whose root comes
    before its children); the depth limit cannot be reached when there are fewer tasks than it. The walk's
    order is then the order of the tasks' paths from the root (the position among the parent's children at
    each level, a subprocess's root first)."""
    top = getattr(workflow, "top_workflow", None)
    if top is None or not kwargs.keys() <= _FILTER_KEYS:
        return None
    state = kwargs.get("state", TaskState.ANY_MASK)
    subprocesses = top.subprocesses
    if workflow is not top and subprocesses.get(getattr(workflow, "parent_task_id", None)) is not workflow:
        return None  # a subprocess no longer registered: only the walk knows its tree
    scope = [top.tasks, *(sub.tasks for sub in subprocesses.values())]  # every task once
    if sum(map(len, scope)) >= _MAX_DEPTH:
        return None
    manual, name = kwargs.get("manual"), kwargs.get("spec_name")
    found = [
        task
        for tasks in scope
        for task in tasks.values()
        if task._state & state
        and (manual is None or task.task_spec.manual == manual)
        and (name is None or task.task_spec.name == name)
    ]
    if len(found) > _FEW:
        return None
    if state & TaskState.PREDICTED_MASK:
        lowest = TaskState.MAYBE
    elif state & TaskState.DEFINITE_MASK:
        lowest = TaskState.FUTURE
    else:
        lowest = TaskState.COMPLETED
    root, reached = workflow.task_tree, []
    for task in found:
        path = _path_from(task, root, top, subprocesses, lowest)
        if path is not None:
            reached.append((path, task))
    task_filter = BpmnTaskFilter(**kwargs)
    return [task for _, task in sorted(reached, key=lambda pair: pair[0]) if _bpmn_matches(task_filter, task)]


def _path_from(task: Any, root: Any, top: Any, subprocesses: dict[Any, Any], lowest: int) -> list[int] | None:
    """The task's position as a path from ``root`` (-1: into a subprocess), None if a walk from there never
    reaches it."""
    path: list[int] = []
    node = task
    while node is not root:
        flow = node.workflow
        if node._parent is None:  # the root of a subprocess: reached from the task that runs it
            owner_id = getattr(flow, "parent_task_id", None)
            if owner_id is None or subprocesses.get(owner_id) is not flow:
                return None  # another workflow's root: not below this walk's start
            owner = top.tasks.get(owner_id)
            if owner is None:
                owner = next((s.tasks[owner_id] for s in subprocesses.values() if owner_id in s.tasks), None)
                if owner is None:
                    return None
            path.append(-1)
            node = owner
            continue
        parent = flow.tasks.get(node._parent)
        if parent is None or not (parent._state >= lowest or parent.id in subprocesses):
            return None
        siblings = parent._children
        if siblings.count(node.id) != 1:
            return None
        path.append(siblings.index(node.id))
        node = parent
    path.reverse()
    return path


def _get_tasks(self: Any, first_task: Any = None, **kwargs: Any) -> list[Any]:
    """``Workflow.get_tasks``: from the root, with only the filter's arguments, answered from the tasks in the
    state asked for when they are few (the engine asks for ready tasks many times per action)."""
    if first_task is None:
        quick = _quick_tasks(self, kwargs)
        if quick is not None:
            return quick
    return ORIGINALS["Workflow.get_tasks"](self, first_task, **kwargs)  # type: ignore[no-any-return]


def _update_waiting_tasks(self: Any) -> None:
    """``Workflow.update_waiting_tasks`` (after every task the engine completes): nothing to update when no
    task of this workflow waits."""
    waiting = TaskState.WAITING
    for task in self.tasks.values():
        if task._state & waiting:
            ORIGINALS["Workflow.update_waiting_tasks"](self)
            return


_FILTERS = {TaskFilter: _matches, BpmnTaskFilter: _bpmn_matches}
_STEPS = {TaskIterator: _next, BpmnTaskIterator: _bpmn_next}


def install() -> None:
    Task.children = property(_children, ORIGINALS["Task.children"].fset)
    TaskFilter.matches = _matches
    BpmnTaskFilter.matches = _bpmn_matches
    TaskIterator._next = _next
    BpmnTaskIterator._next = _bpmn_next
    TaskIterator.__next__ = _iterate
    Workflow.get_tasks = _get_tasks
    Workflow.update_waiting_tasks = _update_waiting_tasks


def uninstall() -> None:
    """SpiffWorkflow's own code back (for the tests that compare the two)."""
    Task.children = ORIGINALS["Task.children"]
    TaskFilter.matches = ORIGINALS["TaskFilter.matches"]
    BpmnTaskFilter.matches = ORIGINALS["BpmnTaskFilter.matches"]
    TaskIterator._next = ORIGINALS["TaskIterator._next"]
    BpmnTaskIterator._next = ORIGINALS["BpmnTaskIterator._next"]
    TaskIterator.__next__ = ORIGINALS["TaskIterator.__next__"]
    Workflow.get_tasks = ORIGINALS["Workflow.get_tasks"]
    Workflow.update_waiting_tasks = ORIGINALS["Workflow.update_waiting_tasks"]


install()
