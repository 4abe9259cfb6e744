"""The sandbox's bounds and its one error: what a model's expression may use up, and how it is refused."""

from __future__ import annotations

MAX_SOURCE_CHARS = 10_000
MAX_DEPTH = 60
MAX_STEPS = 100_000
MAX_INT_BITS = 4_096
MAX_SEQUENCE = 100_000
MAX_STRING = 1_000_000
MAX_RANGE = 10_000
MAX_WEIGHT = 200_000
# Work done inside built-ins and copies (elements touched, 64 characters of text count as one), on top of
# the step budget: copying a 90 000-item list costs 90 000, so a loop of copies is stopped early.
MAX_WORK = 2_000_000
MAX_SECONDS = 2.0  # wall-clock bound of one evaluation or script
MAX_NESTING = 32  # lists and dicts inside each other
MAX_ROUND_DIGITS = 100
MAX_CASE_DATA_CHARS = 2_000_000  # the whole case data after each step, as JSON
# SpiffWorkflow's serializer turns any dict holding "typename" back into one of its own objects.
RESERVED_KEYS = frozenset({"typename"})


class SandboxError(Exception):
    """An expression or script was refused or stopped; ``message`` is for a person (Chinese)."""

    def __init__(self, message: str, *, source: str = "", line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line
