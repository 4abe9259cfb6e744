"""SpiffWorkflow's clock reads and task ids, routed through the action's instant and the case's counter."""

from __future__ import annotations

import contextvars
import hashlib
import types
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from SpiffWorkflow import task as _spiff_task_module  # type: ignore[import-untyped]
from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer  # type: ignore[import-untyped]

# --- time and task ids, routed through context variables ------------------------------------------
from workflows.infra.clock import CST

_NOW: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("shouhu_now", default=None)
_IDS: contextvars.ContextVar[_IdSource | None] = contextvars.ContextVar("shouhu_ids", default=None)
# the same instant as a POSIX timestamp, worked out once per action (SpiffWorkflow stamps every task with it)
_NOW_TS: contextvars.ContextVar[float | None] = contextvars.ContextVar("shouhu_now_ts", default=None)
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
    stamp = _NOW_TS.get()
    return stamp if stamp is not None else _real_datetime.now(UTC).timestamp()


# uuid.uuid5's version and variant bits, set on the sha1 of the namespace and the name
_V5_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_V5_SET = (0x8000 << 48) | (5 << 76)
_UNKNOWN_SAFETY = uuid.SafeUUID.unknown


class _IdSource:
    """Task ids: ``uuid.uuid5(UUID(case_id), str(n))`` for n = 1, 2, … (the very same values, built without
    the checks of ``UUID.__init__`` and with the namespace hashed once: a case creates dozens per action)."""

    def __init__(self, case_id: str, counter: int) -> None:
        self.namespace = uuid.UUID(case_id)
        self.counter = counter
        self._prefix = hashlib.sha1(self.namespace.bytes, usedforsecurity=False)

    def next(self) -> uuid.UUID:
        self.counter += 1
        digest = self._prefix.copy()
        digest.update(str(self.counter).encode())
        value = (int.from_bytes(digest.digest()[:16]) & _V5_CLEAR) | _V5_SET
        task_id = object.__new__(uuid.UUID)
        object.__setattr__(task_id, "int", value)
        object.__setattr__(task_id, "is_safe", _UNKNOWN_SAFETY)
        return task_id


def _task_uuid() -> uuid.UUID:
    source = _IDS.get()
    return source.next() if source is not None else uuid.uuid4()


_spiff_timer.datetime = _ClockedDatetime
# A timer date written without an offset means China Standard Time, whatever zone the server runs in.
_spiff_timer.LOCALTZ = CST
_spiff_task_module.time = types.SimpleNamespace(time=_clock_time)
_spiff_task_module.uuid4 = _task_uuid


@contextmanager
def _acting(now: datetime, ids: _IdSource) -> Iterator[None]:
    t1, t2, t3 = _NOW.set(now), _IDS.set(ids), _NOW_TS.set(now.timestamp())
    try:
        yield
    finally:
        _NOW.reset(t1)
        _IDS.reset(t2)
        _NOW_TS.reset(t3)
