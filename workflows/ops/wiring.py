"""The composition root: puts in place the message effects that each package registers for itself.

A case's thrown messages are carried out by handlers registered by the package that owns each effect
(``cases.messages`` is only the contract). Every entry point — the API, the scheduled flows, the command line,
the benchmarks and the tests — calls ``install()`` once before it runs an action.
"""

from __future__ import annotations

import importlib

from workflows.cases import messages

OWNERS = (
    "workflows.cases.lifecycle",  # start:<process> opens a linked case
    "workflows.cases.handover",  # worker_certified, worker_left
    "workflows.children.links",  # child_file_approved
)


def install() -> None:
    """Import every owner of a message effect; fail at start-up if a system effect has no handler."""
    for name in OWNERS:
        importlib.import_module(name)
    missing = sorted(messages.SYSTEM_EFFECTS - set(messages.HANDLERS))
    if missing or not messages.has_starter():
        raise RuntimeError(f"message effects without a handler: {missing or ['start:']}")
