"""Message effects: every message a bundled model throws has a handler once the entry point has installed them,
and a system effect without a handler fails the action instead of being skipped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from workflows.cases import messages
from workflows.engine import Message
from workflows.infra.errors import ModelError
from workflows.infra.models import Case
from workflows.ops import wiring

BPMN = Path(__file__).resolve().parents[2] / "bpmn"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}


def _thrown_message_names() -> set[str]:
    names = set()
    for path in BPMN.rglob("*.bpmn"):
        root = etree.parse(str(path)).getroot()
        declared = {m.get("id"): m.get("name") for m in root.iterfind(".//bpmn:message", NS)}
        for kind in ("intermediateThrowEvent", "endEvent"):
            for event in root.iterfind(f".//bpmn:{kind}/bpmn:messageEventDefinition", NS):
                names.add(declared[event.get("messageRef")])
    return names


def test_every_thrown_message_of_the_bundled_models_has_its_handler() -> None:
    wiring.install()
    thrown = _thrown_message_names()
    assert thrown, "the bundled models throw messages"
    missing = {n for n in thrown if not n.startswith(messages.START_PREFIX) and n not in messages.HANDLERS}
    assert missing == set()
    assert messages.SYSTEM_EFFECTS <= set(messages.HANDLERS) and messages.has_starter()


def test_a_system_effect_without_its_handler_fails_the_action(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(messages.HANDLERS, "worker_certified")
    planned = [messages.Planned(Message("worker_certified", {"username": "x"}), None)]
    with pytest.raises(ModelError) as raised:
        messages.dispatch(None, datetime.now(UTC), Case(), planned)  # type: ignore[arg-type]
    assert raised.value.code == "message_handler_missing"


def test_install_refuses_to_start_when_an_effect_has_no_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(messages, "SYSTEM_EFFECTS", messages.SYSTEM_EFFECTS | {"unowned_effect"})
    with pytest.raises(RuntimeError, match="unowned_effect"):
        wiring.install()
