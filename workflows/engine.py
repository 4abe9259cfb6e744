"""The only module that imports SpiffWorkflow: parse, run, serialize, with safe expressions.

Three things are bent to our needs here and nowhere else:
- every expression, script, decision cell and timer goes through ``workflows.sandbox``;
- SpiffWorkflow's wall-clock reads (timers, task stamps) read the instant the service passes in;
- task ids are derived from the case id and a per-case counter, so a replay from the log
  recreates the very same task ids and can be compared with the stored case one to one.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import threading
import types
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from SpiffWorkflow import task as _spiff_task_module  # type: ignore[import-untyped]
from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow  # type: ignore[import-untyped]
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator  # type: ignore[import-untyped]
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine  # type: ignore[import-untyped]
from SpiffWorkflow.bpmn.script_engine.python_environment import (  # type: ignore[import-untyped]
    BasePythonScriptEngineEnvironment,
)
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # type: ignore[import-untyped]
from SpiffWorkflow.bpmn.serializer.default.workflow import (  # type: ignore[import-untyped]
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer  # type: ignore[import-untyped]
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
from SpiffWorkflow.bpmn.util.diff import (  # type: ignore[import-untyped]
    SpecDiff,
    WorkflowDiff,
    migrate_workflow,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException  # type: ignore[import-untyped]
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser  # type: ignore[import-untyped]
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG  # type: ignore[import-untyped]
from SpiffWorkflow.spiff.specs.event_definitions import (  # type: ignore[import-untyped]
    MessageEventDefinition as SpiffMessageEventDefinition,
)
from SpiffWorkflow.util.task import TaskState  # type: ignore[import-untyped]

from workflows.clock import CST, add_calendar_months, iso_utc, parse_iso
from workflows.errors import ModelError, NotFound, ValidationFailed
from workflows.forms import FormSet
from workflows.sandbox import Sandbox, SandboxError, compile_expression, compile_script

# --- time and task ids, routed through context variables ------------------------------------------
_NOW: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("shouhu_now", default=None)
_IDS: contextvars.ContextVar[_IdSource | None] = contextvars.ContextVar("shouhu_ids", default=None)
_real_datetime = datetime


class _ClockedDatetime(_real_datetime):
    """``datetime`` as SpiffWorkflow's timer module sees it: ``now()`` is the action's instant."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
        instant = _NOW.get()
        if instant is None:
            return _real_datetime.now(tz)
        return instant.astimezone(tz) if tz is not None else instant


def _clock_time() -> float:
    instant = _NOW.get()
    return instant.timestamp() if instant is not None else _real_datetime.now(UTC).timestamp()


class _IdSource:
    def __init__(self, case_id: str, counter: int) -> None:
        self.namespace = uuid.UUID(case_id)
        self.counter = counter

    def next(self) -> uuid.UUID:
        self.counter += 1
        return uuid.uuid5(self.namespace, str(self.counter))


def _task_uuid() -> uuid.UUID:
    source = _IDS.get()
    return source.next() if source is not None else uuid.uuid4()


_spiff_timer.datetime = _ClockedDatetime
_spiff_task_module.time = types.SimpleNamespace(time=_clock_time)
_spiff_task_module.uuid4 = _task_uuid


@contextmanager
def _acting(now: datetime, ids: _IdSource) -> Iterator[None]:
    t1, t2 = _NOW.set(now), _IDS.set(ids)
    try:
        yield
    finally:
        _NOW.reset(t1)
        _IDS.reset(t2)


# --- the sandboxed script engine ------------------------------------------------------------------
def _now_iso() -> str:
    instant = _NOW.get() or _real_datetime.now(UTC)
    return iso_utc(instant)


def _months_later(months: int, start: str | None = None) -> str:
    base = parse_iso(start) if start else (_NOW.get() or _real_datetime.now(UTC))
    return add_calendar_months(base, int(months)).isoformat()


def _today() -> str:
    instant = _NOW.get() or _real_datetime.now(UTC)
    return instant.astimezone(CST).date().isoformat()


def _age_years(birth_date: str, on: str | None = None) -> int:
    born, day = date.fromisoformat(birth_date), date.fromisoformat(on or _today())
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _months_between(start: str, end: str | None = None) -> int:
    """Whole calendar months from ``start`` to ``end`` (dates, China Standard Time)."""
    a, b = date.fromisoformat(start), date.fromisoformat(end or _today())
    months = (b.year - a.year) * 12 + b.month - a.month
    return months - (1 if b.day < a.day and not _is_last_day(b) else 0)


def _is_last_day(day: date) -> bool:
    return (day + timedelta(days=1)).month != day.month


MODEL_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "iso_hours": lambda n: f"PT{int(n)}H",
    "iso_days": lambda n: f"P{int(n)}D",
    "now": _now_iso,
    "today": _today,
    "months_later": _months_later,
    "age_years": _age_years,
    "months_between": _months_between,
}
SANDBOX = Sandbox(MODEL_FUNCTIONS)


class _SandboxEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]
    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None) -> Any:
        names: Mapping[str, Any] = {**context, **(external_context or {})} if external_context else context
        return SANDBOX.evaluate(expression, names)

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        SANDBOX.execute(script, context, external_context)
        return True

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        raise SandboxError("本系统的流程模型不允许调用外部服务")


class _SandboxScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    def validate(self, expression: str) -> None:
        try:
            compile_expression(expression)
        except SandboxError as exc:
            raise SyntaxError(exc.message) from None


SCRIPT_ENGINE = _SandboxScriptEngine(environment=_SandboxEnvironment())


# --- parsed process versions and the spec-reference serializer ------------------------------------
@dataclass
class UserTaskInfo:
    bpmn_id: str
    name: str
    lane: str | None
    instructions: str
    due: str | None


@dataclass
class ParsedProcess:
    key: str
    content_hash: str
    name: str
    spec: Any
    subprocess_specs: dict[str, Any]
    forms: FormSet
    user_tasks: dict[str, UserTaskInfo] = field(default_factory=dict)


_PARSED: dict[str, ParsedProcess] = {}


class _SpecRefConverter(BpmnWorkflowConverter):  # type: ignore[misc]
    """Stores a reference to the process version instead of the ~10 KB spec in every case row."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["spec_ref"] = workflow.shouhu_spec_ref
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> Any:
        parsed = _PARSED[dct.pop("spec_ref")]
        workflow = self.target_class(parsed.spec, parsed.subprocess_specs, deserializing=True)
        workflow.shouhu_spec_ref = parsed.content_hash
        workflow.tasks = self.mapping_from_dict(dct["tasks"], uuid.UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(uuid.UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_REGISTRY = BpmnWorkflowSerializer.configure({**SPIFF_CONFIG, BpmnWorkflow: _SpecRefConverter})
_SERIALIZER = BpmnWorkflowSerializer(_REGISTRY)


def parse_process(
    key: str, files: Mapping[str, str], content_hash: str, extra_files: Mapping[str, str] | None = None
) -> ParsedProcess:
    """Parse one version's BPMN, DMN and forms once; ``extra_files`` are the versions it calls."""
    if content_hash in _PARSED:
        return _PARSED[content_hash]
    parser = SpiffBpmnParser()
    try:
        for name, text in {**(extra_files or {}), **files}.items():
            if name.endswith(".bpmn"):
                parser.add_bpmn_str(text.encode("utf-8"), filename=name)
            elif name.endswith(".dmn"):
                parser.add_dmn_str(text.encode("utf-8"), filename=name)
        spec = parser.get_spec(key)
        subprocess_specs = parser.get_subprocess_specs(key)
    except (SpiffWorkflowException, ValueError, KeyError) as exc:
        where = {"element": getattr(exc, "id", "") or "", "file": getattr(exc, "file_name", "") or ""}
        raise ModelError(f"流程模型无法解析：{exc}", code="model_unparseable", details=where) from None
    for spec_ in [spec, *subprocess_specs.values()]:
        _space_dmn_operators(spec_)
    # a called process's user tasks are completed with its own forms ("<key>/forms/<task>.json")
    called_forms = {n.split("/", 1)[1]: t for n, t in (extra_files or {}).items() if "/forms/" in n}
    forms = FormSet.from_files({**called_forms, **files})
    parsed = ParsedProcess(key, content_hash, spec.description or key, spec, subprocess_specs, forms)
    for spec_ in [spec, *subprocess_specs.values()]:
        for task_spec in spec_.task_specs.values():
            if getattr(task_spec, "manual", False):
                props = task_spec.extensions.get("properties", {}) if hasattr(task_spec, "extensions") else {}
                parsed.user_tasks[task_spec.bpmn_id] = UserTaskInfo(
                    bpmn_id=task_spec.bpmn_id,
                    name=task_spec.bpmn_name or task_spec.bpmn_id,
                    lane=task_spec.lane,
                    due=props.get("due"),
                    instructions=(task_spec.extensions.get("instructionsForEndUser") or "")
                    if hasattr(task_spec, "extensions")
                    else "",
                )
    _PARSED[content_hash] = parsed
    return parsed


def decision_tables(spec: Any) -> Iterator[tuple[str, Any]]:
    """(business rule task id, decision table) of a process spec."""
    for task_spec in spec.task_specs.values():
        engine = getattr(task_spec, "dmnEngine", None)
        if engine is not None:
            yield task_spec.bpmn_id, engine.decision_table


def _space_dmn_operators(spec: Any) -> None:
    """SpiffWorkflow glues an input expression to a cell ('situation' + 'in (...)'); keep a space between."""
    for _task_id, table in decision_tables(spec):
        for rule in table.rules:
            for entry in rule.inputEntries:
                entry.lhs = [
                    f" {text.lstrip()}"
                    if isinstance(text, str) and text.lstrip()[:3] in ("in ", "not")
                    else text
                    for text in entry.lhs
                ]


def check_expressions(parsed: ParsedProcess) -> list[tuple[str, str]]:
    """Every condition, script and timer of a version compiled in the sandbox: (element id, error)."""
    problems: list[tuple[str, str]] = []
    for spec_ in [parsed.spec, *parsed.subprocess_specs.values()]:
        for task_spec in spec_.task_specs.values():
            element = getattr(task_spec, "bpmn_id", None) or task_spec.name
            for source, kind in _expressions_of(task_spec):
                try:
                    (compile_script if kind == "script" else compile_expression)(source)
                except SandboxError as exc:
                    problems.append((element, exc.message))
    return problems


def _expressions_of(task_spec: Any) -> Iterator[tuple[str, str]]:
    for attr in ("script", "prescript", "postscript"):
        if getattr(task_spec, attr, None):
            yield getattr(task_spec, attr), "script"
    for condition, _target in getattr(task_spec, "cond_task_specs", None) or []:
        text = condition.args[0] if condition is not None and getattr(condition, "args", None) else condition
        if isinstance(text, str):
            yield text, "expression"
    definition = getattr(task_spec, "event_definition", None)
    if isinstance(definition, TimerEventDefinition):
        yield definition.expression, "expression"


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


class CaseRun:
    """A deserialized case: act on it inside ``acting(now)``, then ``dump()`` it."""

    def __init__(self, process: ParsedProcess, workflow: Any, case_id: str, task_seq: int) -> None:
        self.process = process
        self.workflow = workflow
        self.case_id = case_id
        self._ids = _IdSource(case_id, task_seq)

    # construction
    @classmethod
    def start(cls, process: ParsedProcess, *, case_id: str, data: dict[str, Any], now: datetime) -> CaseRun:
        """Create the workflow, put the start data in, and run it to its first wait."""
        run = cls(process, None, case_id, 0)
        with run.acting(now):
            workflow = BpmnWorkflow(process.spec, process.subprocess_specs, script_engine=SCRIPT_ENGINE)
            workflow.shouhu_spec_ref = process.content_hash
            run.workflow = workflow
            for task in workflow.get_tasks(state=TaskState.READY):
                task.data.update(data)
            run._steps()
        return run

    @classmethod
    def restore(cls, process: ParsedProcess, state: dict[str, Any], *, case_id: str) -> CaseRun:
        """Rebuild the workflow from a stored state (the spec comes from the parsed version)."""
        _PARSED.setdefault(process.content_hash, process)
        dct = json.loads(json.dumps(state["workflow"]))
        dct["spec_ref"] = process.content_hash
        workflow = _SERIALIZER.from_dict(dct)
        workflow.script_engine = SCRIPT_ENGINE
        return cls(process, workflow, case_id, state["task_seq"])

    def dump(self) -> dict[str, Any]:
        """The case state as JSON-ready data: the workflow without its spec, and the id counter."""
        _SERIALIZER.registry._encoder_mode = True
        try:
            dct = _SERIALIZER.to_dict(self.workflow)
        finally:
            _SERIALIZER.registry._encoder_mode = False
        dct.pop("spec_ref", None)
        return {"spec_ref": self.process.content_hash, "task_seq": self._ids.counter, "workflow": dct}

    @contextmanager
    def acting(self, now: datetime) -> Iterator[None]:
        with _acting(now, self._ids):
            yield

    # actions
    def complete(self, task_id: str, data: dict[str, Any], *, now: datetime) -> StepResult:
        """Complete a ready user task with validated data and run the engine to its next wait."""
        task = self._ready_user_task(task_id)
        with self.acting(now):
            task.data.update(data)
            try:
                task.run()
            except (SpiffWorkflowException, SandboxError) as exc:
                raise _engine_error(exc) from None
            self._steps()
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
        return StepResult(fired_timers=fired)

    def receive(self, name: str, payload: Any, *, now: datetime) -> None:
        """Deliver a message to a catching event of this case, then run the engine on."""
        definition = SpiffMessageEventDefinition(name)
        with self.acting(now):
            try:
                self.workflow.send_event(BpmnEvent(definition, payload=payload))
            except SpiffWorkflowException:
                raise ValidationFailed(
                    f"该案件当前不在等待消息“{name}”", code="message_not_expected"
                ) from None
            self._steps()

    def take_messages(self) -> list[Message]:
        """Messages thrown by the last action for other cases (each is returned once)."""
        return [
            Message(e.event_definition.name, e.payload)
            for e in self.workflow.get_events()
            if isinstance(e.event_definition, MessageEventDefinition)
        ]

    def correct(self, changes: dict[str, Any], *, now: datetime) -> None:
        """Apply corrected values to the live data of the case (completed tasks keep their originals)."""
        with self.acting(now):
            for task in self.workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK):
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
                except (SandboxError, ValueError) as exc:
                    raise ModelError(
                        f"任务 {info.bpmn_id} 的期限表达式无效：{exc}", code="model_due_invalid"
                    ) from None
            task.internal_data["shouhu_due"] = iso_utc(due) if due else None

    def _timer_tasks(self, state: int) -> list[Any]:
        """Catching events (and event-based gateways) in ``state`` that wait on a timer."""
        return [
            t
            for t in self.workflow.get_tasks(state=state)
            if isinstance(t.task_spec, CatchingEvent)
            and _has_timer(getattr(t.task_spec, "event_definition", None))
        ]

    def _waiting_timers(self) -> list[Any]:
        return self._timer_tasks(TaskState.WAITING)

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

    def next_due_at(self) -> datetime | None:
        """The earliest instant at which a waiting timer of this case falls due."""
        instants = []
        for task in self._waiting_timers():
            value = task.internal_data.get("event_value")
            if isinstance(value, dict):
                value = value.get("next") if value.get("cycles") != 0 else None
            if value:
                instants.append(parse_iso(value))
        return min(instants) if instants else None

    def data(self) -> dict[str, Any]:
        """The case's current data: the live tasks' data merged oldest first, or the finished process's."""
        if self.workflow.completed:
            end = self.workflow.last_task
            return dict(end.data) if end is not None else dict(self.workflow.data)
        live = self.workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED)
        merged: dict[str, Any] = {}
        # a task opened long ago (an escalation) holds an old copy: newer tasks' values must win
        for _, _, task in sorted((t.last_state_change, i, t) for i, t in enumerate(live)):
            merged.update(task.data)
        return merged

    def completed_user_tasks(self) -> list[dict[str, Any]]:
        """Completed user tasks in tree order with their data (what replay compares)."""
        return [
            {"id": str(t.id), "bpmn_id": t.task_spec.bpmn_id, "data": t.data}
            for t in self.workflow.get_tasks(state=TaskState.COMPLETED, manual=True)
        ]

    def digest(self) -> str:
        """A short fingerprint of the observable state, logged with every event."""
        view = {
            "status": self.status,
            "open": sorted((t.id, t.bpmn_id) for t in self.open_tasks()),
            "data": self.data(),
            "due": iso_utc(d) if (d := self.next_due_at()) else None,
            "done": len(self.workflow.get_tasks(state=TaskState.COMPLETED, manual=True)),
        }
        text = json.dumps(view, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


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


def _check_step(task: Any, spec_diff: Any, report: MigrationReport) -> None:
    spec = task.task_spec
    new = spec_diff.alignment.get(spec)
    finished = task.state == TaskState.COMPLETED
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
        taken = {c.task_spec.name for c in task.children if c.state & (TaskState.COMPLETED | _OPEN)}
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
                _check_step(task, spec_diff, report)
        result.append((workflow, WorkflowDiff(workflow, spec_diff), target))
    return result


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
