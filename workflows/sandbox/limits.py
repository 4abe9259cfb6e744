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
# SpiffWorkflow's serializer turns any dict holding "typename" back into one of its own objects.
RESERVED_KEYS = frozenset({"typename"})


class SandboxError(Exception):
    """An expression or script was refused or stopped; ``message`` is for a person (Chinese)."""

    def __init__(self, message: str, *, source: str = "", line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line
