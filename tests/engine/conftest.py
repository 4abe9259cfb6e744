"""Engine tests: the flow-coverage tests read which flows were taken from the whole task tree."""

from __future__ import annotations

import pytest

from workflows.engine import runs


@pytest.fixture(autouse=True)
def keep_history_for_flow_coverage(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine drops finished history from the tree after every action (``engine/pruning.py``); the
    flow-coverage tests inspect that history, so their runs keep it."""
    if request.node.name.startswith("test_every_sequence_flow_is_taken"):
        monkeypatch.setattr(runs, "prune", lambda workflow, into: None)
