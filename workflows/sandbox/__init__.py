"""The one evaluator for every expression and script in a process model.

Process models are data edited by administrators, yet their conditions, scripts, decision-table cells and
timer expressions run on children's data. Python's ``eval`` cannot be made safe, so this package interprets an
allowlisted subset of Python's syntax tree itself: no imports, no names or attributes that start with ``_``, a
short list of functions, and a budget on steps and sizes.

Owns: ``limits`` (bounds, ``SandboxError``), ``grammar`` (allowed syntax; parse and check once per text),
``values`` (size checks, the JSON-like values that may be stored), ``interpreter`` (``Sandbox``).
May import: the standard library only — nothing else of Shouhu, so everything may use it.
"""

from workflows.sandbox.grammar import compile_expression, compile_script
from workflows.sandbox.interpreter import Sandbox
from workflows.sandbox.limits import (
    MAX_DEPTH,
    MAX_INT_BITS,
    MAX_RANGE,
    MAX_SEQUENCE,
    MAX_SOURCE_CHARS,
    MAX_STEPS,
    MAX_STRING,
    MAX_WEIGHT,
    RESERVED_KEYS,
    SandboxError,
)
from workflows.sandbox.values import plain

__all__ = [
    "MAX_DEPTH",
    "MAX_INT_BITS",
    "MAX_RANGE",
    "MAX_SEQUENCE",
    "MAX_SOURCE_CHARS",
    "MAX_STEPS",
    "MAX_STRING",
    "MAX_WEIGHT",
    "RESERVED_KEYS",
    "Sandbox",
    "SandboxError",
    "compile_expression",
    "compile_script",
    "plain",
]
