"""SpiffWorkflow's log records, built only when someone listens.

Every task state change calls ``logger.info(f"State changed to …", extra=task.collect_log_extras(…))``:
the message and a dict of extras are built before the logger decides to drop them, a few dozen times per
action; and a workflow's extras (built when a subprocess starts or ends) list every task of its tree. With
the ``spiff`` loggers off (their default: nothing is configured below WARNING) that work has no effect, so
it is skipped; with them on, SpiffWorkflow's own code runs unchanged. The state and the instant of the
change are set exactly as SpiffWorkflow sets them (tests/engine/test_quiet.py).
"""

from __future__ import annotations

import logging
from typing import Any

from SpiffWorkflow import task as _spiff_task  # type: ignore[import-untyped]
from SpiffWorkflow import workflow as _spiff_workflow  # type: ignore[import-untyped]

_TASK_LOG = _spiff_task.logger
_WORKFLOW_LOG = _spiff_workflow.logger
_set_state_logged = _spiff_task.Task._set_state
_workflow_extras = _spiff_workflow.Workflow.collect_log_extras


def _set_state(self: Any, value: int) -> None:
    if _TASK_LOG.isEnabledFor(logging.INFO):
        _set_state_logged(self, value)
    elif value != self._state:
        # SpiffWorkflow's module-level ``time`` (routed through the action's instant in clocking.py)
        self.last_state_change = _spiff_task.time.time()
        self._state = value


def _collect_workflow_extras(self: Any, dct: dict[str, Any] | None = None) -> dict[str, Any]:
    if _WORKFLOW_LOG.isEnabledFor(logging.INFO):
        return _workflow_extras(self, dct)  # type: ignore[no-any-return]
    return dict(dct or {})  # for a record that is not written


_spiff_task.Task._set_state = _set_state
_spiff_workflow.Workflow.collect_log_extras = _collect_workflow_extras
