"""What a scheduled job runs against: a session factory, a clock and the settings (replaceable in tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from workflows.infra import keys as signing
from workflows.infra.clock import Clock, SystemClock
from workflows.infra.db import make_engine, make_sessionmaker, unit_of_work
from workflows.infra.settings import Settings, get_settings
from workflows.ops import wiring
from workflows.outbox.notifications import Webhook


@dataclass
class Runtime:
    sessions: sessionmaker[Session]
    clock: Clock
    settings: Settings

    @property
    def webhook(self) -> Webhook | None:
        s = self.settings
        return Webhook(s.webhook_url, s.webhook_timeout_seconds, s.webhook_retries) if s.webhook_url else None

    @property
    def keys(self) -> signing.SigningKeys:
        """The checkpoint signing keys (outside the database; see workflows/infra/keys.py)."""
        return signing.load(self.settings)


_current: Runtime | None = None


def current() -> Runtime:
    """The process-wide runtime, built from the environment on first use."""
    global _current
    if _current is None:
        wiring.install()
        settings = get_settings()
        _current = Runtime(make_sessionmaker(make_engine(settings.database_url)), SystemClock(), settings)
    return _current


@contextmanager
def use(runtime: Runtime) -> Iterator[Runtime]:
    """Run jobs against ``runtime`` inside the block (tests: a fixed clock, the test database)."""
    global _current
    wiring.install()
    previous, _current = _current, runtime
    try:
        yield runtime
    finally:
        _current = previous


unit = unit_of_work  # one transaction per case or batch
