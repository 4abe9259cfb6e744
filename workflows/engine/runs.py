"""One running case: start, restore, act inside the action's instant, dump, and what it looks like."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow  # type: ignore[import-untyped]
from SpiffWorkflow.bpmn.specs.event_definitions.message import (  # type: ignore[import-untyped]
    MessageEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import (  # type: ignore[import-untyped]
    MultipleEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (  # type: ignore[import-untyped]
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent  # type: ignore[import-untyped]
from SpiffWorkflow.exceptions import SpiffWorkflowException  # type: ignore[import-untyped]
from SpiffWorkflow.spiff.specs.event_definitions import (  # type: ignore[import-untyped]
    MessageEventDefinition as SpiffMessageEventDefinition,
)
from SpiffWorkflow.util.task import TaskState  # type: ignore[import-untyped]

from workflows.engine.clocking import _NOW, _acting, _IdSource, _real_datetime
from workflows.engine.fingerprint import fingerprint
from workflows.engine.pruning import Pruned, prune
from workflows.engine.scripting import SANDBOX, SCRIPT_ENGINE
from workflows.engine.specs import _PARSED, _SERIALIZER, ParsedProcess
from workflows.infra.clock import iso_utc, parse_iso
from workflows.infra.errors import ModelError, NotFound, ValidationFailed
from workflows.sandbox import SandboxError, plain


# --- one running case -----------------------------------------------------------------------------
@dataclass
class OpenTask:
    id: str
    bpmn_id: str
    name: str
    role: str | None
    due_at: datetime | None


@dataclass
class StepResult:
    """What an action did, for the service to write down."""

    completed: list[str] = field(default_factory=list)  # human task ids completed by the action
    fired_timers: list[str] = field(default_factory=list)


@dataclass
class Message:
    """A message a case threw that no element of its own process catches (for another case)."""

    name: str
    payload: Any


def _engine_error(exc: BaseException) -> ModelError:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, SandboxError):
            break
        cause = getattr(cause, "exception", None) or cause.__cause__ or cause.__context__
    task = getattr(exc, "task", None)
    element = getattr(getattr(task, "task_spec", None), "bpmn_id", None) or ""
    reason = cause.message if isinstance(cause, SandboxError) else str(exc)
    return ModelError(
        f"流程模型在环节 {element or '（未知）'} 出错：{reason}。本次操作未生效，请联系流程管理员。",
        code="model_expression_rejected" if isinstance(cause, SandboxError) else "model_runtime_error",
        details={"element": element, "reason": reason},
    )


def plain_input(data: Any) -> Any:
    """Data from outside (forms, messages, corrections) must be plain JSON with no reserved keys."""
    try:
        return plain(data)
    except SandboxError as exc:
        raise ValidationFailed(f"提交的数据不能保存：{exc.message}", code="data_not_plain") from None


class CaseRun:
    """A deserialized case: act on it inside ``acting(now)``, then ``dump()`` it."""

    def __init__(
        self, process: ParsedProcess, workflow: Any, case_id: str, task_seq: int, pruned: Pruned | None = None
    ) -> None:
        self.process = process
        self.workflow = workflow
        self.case_id = case_id
        self._ids = _IdSource(case_id, task_seq)
        self.pruned = pruned or Pruned()  # what is kept of the history dropped from the tree (pruning.py)

    # construction
    @classmethod
    def start(cls, process: ParsedProcess, *, case_id: str, data: dict[str, Any], now: datetime) -> CaseRun:
        """Create the workflow, put the start data in, and run it to its first wait."""
        data = plain_input(data)
        run = cls(process, None, case_id, 0)
        with run.acting(now):
            workflow = BpmnWorkflow(process.spec, process.subprocess_specs, script_engine=SCRIPT_ENGINE)
            workflow.shouhu_spec_ref = process.content_hash
            run.workflow = workflow
            for task in workflow.get_tasks(state=TaskState.READY):
                task.data.update(data)
            run._steps()
        run._prune()
        return run

    @classmethod
    def restore(
        cls, process: ParsedProcess, state: dict[str, Any], *, case_id: str, owned: bool = False
    ) -> CaseRun:
        """Rebuild the workflow from a stored state (the spec comes from the parsed version); ``owned``: the
        caller hands ``state`` over and never reads it again, so no copy is taken (``_copy``)."""
        _PARSED.setdefault(process.content_hash, process)
        dct = state["workflow"] if owned else _copy(state["workflow"])
        dct["spec_ref"] = process.content_hash
        try:
            workflow = _SERIALIZER.from_dict(dct)
        except Exception as exc:  # noqa: BLE001 - a damaged stored state is reported, never a bare 500
            raise ModelError(
                f"案件状态无法读取（{type(exc).__name__}），请联系系统管理员核验该案件",
                code="case_state_unreadable",
            ) from None
        workflow.script_engine = SCRIPT_ENGINE
        return cls(process, workflow, case_id, state["task_seq"], Pruned.load(state.get("pruned")))

    def dump(self) -> dict[str, Any]:
        """The case state as JSON-ready data: the workflow without its spec, and the id counter."""
        _SERIALIZER.registry._encoder_mode = True
        try:
            dct = _SERIALIZER.to_dict(self.workflow)
        finally:
            _SERIALIZER.registry._encoder_mode = False
        dct.pop("spec_ref", None)
        return {
            "spec_ref": self.process.content_hash,
            "task_seq": self._ids.counter,
            "pruned": self.pruned.dump(),
            "workflow": dct,
        }

    def _prune(self) -> None:
        """Drop the finished history from the task tree after an action (live and in replay alike)."""
        prune(self.workflow, self.pruned)

    @contextmanager
    def acting(self, now: datetime) -> Iterator[None]:
        with _acting(now, self._ids):
            yield

    # actions
    def complete(self, task_id: str, data: dict[str, Any], *, now: datetime) -> StepResult:
        """Complete a ready user task with validated data and run the engine to its next wait."""
        data = plain_input(data)
        task = self._ready_user_task(task_id)
        with self.acting(now):
            task.data.update(data)
            try:
                task.run()
            except (SpiffWorkflowException, SandboxError) as exc:
                raise _engine_error(exc) from None
            self._steps()
        self._prune()
        return StepResult(completed=[task_id])

    def fire_timers(self, *, now: datetime) -> StepResult:
        """Fire the timers due at ``now`` and run the engine on (timers reached on the way fire too)."""
        before = {t.id for t in self._timer_tasks(TaskState.COMPLETED)}
        with self.acting(now):
            try:
                self.workflow.refresh_timers()
            except (SpiffWorkflowException, SandboxError) as exc:
                raise _engine_error(exc) from None
            self._steps()
        fired = sorted(
            t.task_spec.bpmn_id for t in self._timer_tasks(TaskState.COMPLETED) if t.id not in before
        )
        self._prune()
        return StepResult(fired_timers=fired)

    def receive(self, name: str, payload: Any, *, now: datetime) -> None:
        """Deliver a message to a catching event of this case, then run the engine on."""
        payload = plain_input(payload)
        definition = SpiffMessageEventDefinition(name)
        with self.acting(now):
            try:
                self.workflow.send_event(BpmnEvent(definition, payload=payload))
            except SpiffWorkflowException:
                raise ValidationFailed(
                    f"该案件当前不在等待消息“{name}”", code="message_not_expected"
                ) from None
            self._steps()
        self._prune()

    def take_messages(self) -> list[Message]:
        """Messages thrown by the last action for other cases (each is returned once)."""
        return [
            Message(e.event_definition.name, e.payload)
            for e in self.workflow.get_events()
            if isinstance(e.event_definition, MessageEventDefinition)
        ]

    def correct(self, changes: dict[str, Any], *, now: datetime) -> None:
        """Apply corrected values to the live data of the case; the original submission stays in the log.
        A waiting task (a deadline) takes its data from its parent again when it fires, so the parents of
        unfinished tasks are corrected too; otherwise a timer would silently bring the old value back."""
        changes = plain_input(changes)
        with self.acting(now):
            live = self.workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK)
            for task in {
                t.id: t for t in [*live, *(t.parent for t in live if t.parent is not None)]
            }.values():
                task.data.update(changes)
            self.workflow.data.update({k: v for k, v in changes.items() if k in self.workflow.data})

    def _steps(self) -> None:
        try:
            self.workflow.do_engine_steps()
        except (SpiffWorkflowException, SandboxError) as exc:
            raise _engine_error(exc) from None
        self._stamp_due_times()

    def _ready_user_task(self, task_id: str) -> Any:
        try:
            task = self.workflow.get_task_from_id(uuid.UUID(task_id))
        except (ValueError, SpiffWorkflowException, KeyError):
            task = None
        if task is None or not task.task_spec.manual:
            raise NotFound("找不到该任务", code="task_not_found")
        if task.state != TaskState.READY:
            raise ValidationFailed("该任务已办结或尚未就绪", code="task_not_ready")
        return task

    def _stamp_due_times(self) -> None:
        now = _NOW.get() or _real_datetime.now(UTC)
        for task in self.workflow.get_tasks(state=TaskState.READY, manual=True):
            if "shouhu_due" in task.internal_data:
                continue
            info = self.process.user_tasks.get(task.task_spec.bpmn_id)
            due = None
            if info and info.due:
                try:
                    value = SANDBOX.evaluate(info.due, task.data)
                    due = _due_from(value, now)
                except Exception as exc:  # noqa: BLE001 - SpiffWorkflow raises a bare Exception on a bad duration
                    raise ModelError(
                        f"任务 {info.bpmn_id} 的期限表达式无效：{exc}", code="model_due_invalid"
                    ) from None
            task.internal_data["shouhu_due"] = iso_utc(due) if due else None

    def _timer_tasks(self, state: int, among: list[Any] | None = None) -> list[Any]:
        """Catching events (and event-based gateways) in ``state`` waiting on a timer (among ``among``)."""
        return [
            t
            for t in (self.workflow.get_tasks(state=state) if among is None else among)
            if t._state & state
            and isinstance(t.task_spec, CatchingEvent)
            and _has_timer(getattr(t.task_spec, "event_definition", None))
        ]

    # views
    @property
    def status(self) -> str:
        return "completed" if self.workflow.completed else "running"

    def open_tasks(self) -> list[OpenTask]:
        """Ready user tasks, with their lane (role) and due instant."""
        result = []
        for task in self.workflow.get_tasks(state=TaskState.READY, manual=True):
            due = task.internal_data.get("shouhu_due")
            result.append(
                OpenTask(
                    id=str(task.id),
                    bpmn_id=task.task_spec.bpmn_id,
                    name=task.task_spec.bpmn_name or task.task_spec.bpmn_id,
                    role=task.task_spec.lane,
                    due_at=parse_iso(due) if due else None,
                )
            )
        return result

    def next_due_at(self, live: list[Any] | None = None) -> datetime | None:
        """The earliest instant at which a waiting timer of this case falls due."""
        instants = []
        for task in self._timer_tasks(TaskState.WAITING, live):
            value = task.internal_data.get("event_value")
            if isinstance(value, dict):
                value = value.get("next") if value.get("cycles") != 0 else None
            if value:
                instants.append(parse_iso(value))
        return min(instants) if instants else None

    def data(self, live: list[Any] | None = None) -> dict[str, Any]:
        """The case's current data: the live tasks' data merged oldest first, or the finished process's."""
        if self.workflow.completed:
            end = self.workflow.last_task
            return dict(end.data) if end is not None else dict(self.workflow.data)
        if live is None:
            live = self.workflow.get_tasks(state=_LIVE)
        merged: dict[str, Any] = {}
        # a task opened long ago (an escalation) holds an old copy: newer tasks' values must win
        for _, _, task in sorted((t.last_state_change, i, t) for i, t in enumerate(live)):
            merged.update(task.data)
        return merged

    def completed_count(self) -> int:
        """How many user tasks the case has completed (those still in the tree and those pruned)."""
        return self.pruned.done + len(self.workflow.get_tasks(state=TaskState.COMPLETED, manual=True))

    def completed_user_tasks(self) -> list[dict[str, Any]]:
        """Completed user tasks still in the tree, in tree order, with their data (what replay compares)."""
        return [
            {"id": str(t.id), "bpmn_id": t.task_spec.bpmn_id, "data": t.data}
            for t in self.workflow.get_tasks(state=TaskState.COMPLETED, manual=True)
        ]

    def trail(self) -> tuple[list[str], list[str]]:
        """BPMN ids of the elements that ran (in the tree, or pruned from it) and of those open now."""
        done: dict[str, None] = dict.fromkeys(sorted(self.pruned.steps))
        open_: dict[str, None] = {}
        for task in self.workflow.get_tasks():
            bpmn_id = getattr(task.task_spec, "bpmn_id", None)
            if not bpmn_id:
                continue
            if task.state == TaskState.COMPLETED:
                done[bpmn_id] = None
            elif task.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED):
                open_[bpmn_id] = None
        return list(done), list(open_)

    def digest(self, open_tasks: list[OpenTask] | None = None) -> str:
        """A short fingerprint of the observable state, logged with every event (``open_tasks``: this run's
        ``open_tasks()`` if just listed). One walk gives the open tasks, the data and the timers: the three
        walks it stands for have its traversal, their tasks are picked from it in its order."""
        live = self.workflow.get_tasks(state=_LIVE)
        if open_tasks is None:
            ready = TaskState.READY
            opened = sorted(
                (str(t.id), t.task_spec.bpmn_id)
                for t in live
                if t._state & ready and t.task_spec.manual == True  # noqa: E712 - the filter's own test
            )
        else:
            opened = sorted((t.id, t.bpmn_id) for t in open_tasks)
        view = {
            "status": self.status,
            "open": opened,
            "data": self.data(live),
            "due": iso_utc(d) if (d := self.next_due_at(live)) else None,
            "done": self.completed_count(),
        }
        return fingerprint(view)


_LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def _copy(value: Any) -> Any:
    """A deep copy of JSON data (the serializer takes apart what it restores; the stored state must not move):
    through orjson, or the standard encoder for what orjson refuses (integers past 64 bits)."""
    try:
        return orjson.loads(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        return json.loads(json.dumps(value))


def _has_timer(definition: Any) -> bool:
    if isinstance(definition, TimerEventDefinition):
        return True
    return isinstance(definition, MultipleEventDefinition) and any(
        isinstance(d, TimerEventDefinition) for d in definition.event_definitions
    )


def _due_from(value: Any, now: datetime) -> datetime:
    text = str(value)
    if text.upper().startswith("P"):
        parsed = TimerEventDefinition.parse_iso_duration(text)
        return now + TimerEventDefinition.get_timedelta_from_start(parsed, now)
    return parse_iso(text)


def duration_of(expression: str) -> timedelta:
    """The length of an ISO-8601 duration such as 'PT24H' (for validation and tests)."""
    start = _real_datetime(2000, 1, 1, tzinfo=UTC)
    return TimerEventDefinition.get_timedelta_from_start(
        TimerEventDefinition.parse_iso_duration(expression), start
    )
