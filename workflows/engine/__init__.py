"""The only package that imports SpiffWorkflow: parse, run, serialize, with safe expressions.

Four things are bent to our needs here and nowhere else:
- every expression, script, decision cell and timer goes through ``workflows.sandbox`` (``scripting``);
- SpiffWorkflow's wall-clock reads (timers, task stamps) read the instant the service passes in (``clocking``);
- task ids are derived from the case id and a per-case counter, so a replay from the log
  recreates the very same task ids and can be compared with the stored case one to one (``clocking``);
- SpiffWorkflow's log records are built only when its loggers are on (``quiet``), and its walks over the
  task tree run with their per-task calls inlined, or answered from the few tasks that can match
  (``walks``): the same results, less work.

Owns: parsing (``specs``), running one case (``runs``, its digest in ``fingerprint``), expressions
(``scripting``), time and ids (``clocking``), schema checks and instance migration (``migrate``).
May import: ``infra``, ``sandbox``, ``forms``.
"""

from workflows.engine import quiet, walks  # noqa: F401 - they install themselves
from workflows.engine.migrate import MigrationReport, migrate_run, schema_errors
from workflows.engine.runs import CaseRun, Message, OpenTask, StepResult, duration_of
from workflows.engine.scripting import MODEL_FUNCTIONS, SANDBOX, SCRIPT_ENGINE
from workflows.engine.specs import (
    _PARSED,
    _SERIALIZER,
    ParsedProcess,
    UserTaskInfo,
    check_expressions,
    decision_tables,
    parse_process,
)

__all__ = [
    "MODEL_FUNCTIONS",
    "SANDBOX",
    "SCRIPT_ENGINE",
    "_PARSED",
    "_SERIALIZER",
    "CaseRun",
    "Message",
    "MigrationReport",
    "OpenTask",
    "ParsedProcess",
    "StepResult",
    "UserTaskInfo",
    "check_expressions",
    "decision_tables",
    "duration_of",
    "migrate_run",
    "parse_process",
    "schema_errors",
]
