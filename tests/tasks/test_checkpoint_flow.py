"""The checkpoint flow through ``.fn()``: it signs every case's head and is scheduled daily."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tasks.flows import record_checkpoint, schedules
from tasks.runtime import Runtime, use
from tests.unit.test_services import start
from workflows.infra.clock import FixedClock
from workflows.infra.keys import SigningKeys, private_pem
from workflows.infra.settings import Settings
from workflows.log import checkpoints
from workflows.ops.audit import verify_all


def test_the_flow_records_a_checkpoint_the_audit_accepts(
    session: Session, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    case = start(session, clock)
    keys = SigningKeys.generate()
    settings = Settings(demo=False, secret_key="x" * 40, checkpoint_key=private_pem(keys.private))
    sessions = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint")
    caplog.set_level(logging.INFO)
    with use(Runtime(sessions, clock, settings)):
        summary = record_checkpoint.fn()
    cp = checkpoints.latest(session)
    assert cp is not None and summary["id"] == cp.id and summary["key_id"] == keys.key_id
    assert [case.id, case.last_event_seq, case.last_event_hash] in cp.heads
    assert cp.merkle_root in caplog.text  # the root also lands in the run log, outside the database
    assert verify_all(session, keys).ok
    assert any(fl is record_checkpoint for fl, *_ in schedules())


def test_production_without_a_key_refuses_and_demo_generates_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from workflows.infra import keys

    with pytest.raises(keys.KeyMissing):
        keys.load(Settings(demo=False, secret_key="x" * 40, data_dir=tmp_path))
    generated = keys.load(Settings(demo=True, data_dir=tmp_path))
    assert (tmp_path / keys.KEY_FILE).stat().st_mode & 0o077 == 0
    assert keys.load(Settings(demo=True, data_dir=tmp_path)).key_id == generated.key_id
