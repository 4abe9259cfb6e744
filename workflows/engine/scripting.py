"""The sandboxed script engine: every expression, script, decision cell and timer goes through the sandbox."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, timedelta
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine  # type: ignore[import-untyped]
from SpiffWorkflow.bpmn.script_engine.python_environment import (  # type: ignore[import-untyped]
    BasePythonScriptEngineEnvironment,
)

from workflows.engine.clocking import _NOW, _real_datetime
from workflows.infra.clock import CST, add_calendar_months, iso_utc, parse_iso
from workflows.sandbox import Sandbox, SandboxError, compile_expression


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
