"""The export for an outside reviewer verifies with no database, and any changed byte fails it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.unit.test_checkpoints import KEYS, checkpointed
from tests.unit.test_services import DIRECTOR, start
from tests.unit.test_verify import AUDITOR
from workflows.infra.clock import FixedClock
from workflows.infra.errors import PermissionDenied
from workflows.infra.keys import SigningKeys
from workflows.infra.models import AccessLog
from workflows.log.events import canonical
from workflows.ops import cli
from workflows.ops.export import export_case, sign
from workflows.ops.export_check import check_export


def exported(session: Session, clock: FixedClock) -> bytes:
    case = checkpointed(session, clock)
    return export_case(session=session, clock=clock, actor=AUDITOR, keys=KEYS, case_id=case.id)


def test_an_export_verifies_offline_with_its_proof(session: Session, clock: FixedClock) -> None:
    raw = exported(session, clock)
    result = check_export(raw, [KEYS.public_key])
    assert result.ok, result.problems
    body = json.loads(raw)["body"]
    assert body["checkpoint"]["head"][1] == body["case"]["last_event_seq"]
    assert body["documents"][0]["sha256"] and body["case"]["process_version"] in body["versions"]
    assert any("检查点" in n for n in result.notes)
    assert session.scalar(select(AccessLog).where(AccessLog.endpoint == "export")) is not None


def test_any_changed_byte_fails(session: Session, clock: FixedClock) -> None:
    raw = exported(session, clock)
    step = max(len(raw) // 300, 1)
    # every byte outside the events and model files (the case, the proof, the signature), a sample of the rest
    every = [
        *range(0, raw.index(b'"documents"')),
        *range(raw.index(b'"exported_at"'), raw.index(b'"versions"')),
        *range(raw.index(b',"format"'), len(raw)),
    ]
    for position in sorted({*every, *range(0, len(raw), step)}):
        changed = bytearray(raw)
        changed[position] = ord("x") if raw[position] != ord("x") else ord("y")
        assert not check_export(bytes(changed), [KEYS.public_key]).ok, position
    assert not check_export(raw + b"\n", [KEYS.public_key]).ok
    # the signature's and the public key's last base64 characters carry spare bits: every value is checked
    document = json.loads(raw)
    for field in ("value", "public_key"):
        text = document["signature"][field].rstrip("=")
        for other in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/":
            if other != text[-1]:
                spelled = raw.replace(text.encode(), (text[:-1] + other).encode(), 1)
                assert not check_export(spelled, [KEYS.public_key]).ok, (field, other)
    assert not check_export(raw[:-1], [KEYS.public_key]).ok


def test_a_re_signed_forgery_fails_without_the_trusted_key(session: Session, clock: FixedClock) -> None:
    """Someone who edits the log and signs with their own key is caught by the published key,
    and even when trusted blindly, by the chain, the model hashes and the checkpoint proof."""
    document = json.loads(exported(session, clock))
    body = document["body"]
    body["events"][1]["payload"]["data"] = {"score": 1}
    forger = SigningKeys.generate()
    forged = sign(body, forger)
    assert any("不是所提供的可信公钥" in p for p in check_export(forged, [KEYS.public_key]).problems)
    assert any("内容被改动" in p for p in check_export(forged).problems)
    body["versions"][body["case"]["process_version"]]["files"]["process.bpmn"] += " "
    assert any("模型文件与其哈希不符" in p for p in check_export(sign(body, forger)).problems)


def test_a_case_without_checkpoint_exports_and_only_reviewers_may_export(
    session: Session, clock: FixedClock
) -> None:
    case = start(session, clock)
    raw = export_case(session=session, clock=clock, actor=AUDITOR, keys=KEYS, case_id=case.id)
    result = check_export(raw, [KEYS.public_key])
    assert result.ok and json.loads(raw)["body"]["checkpoint"] is None
    with pytest.raises(PermissionDenied):
        export_case(session=session, clock=clock, actor=DIRECTOR, keys=KEYS, case_id=case.id)
    assert canonical(json.loads(raw)) == raw


def test_verify_export_command(
    session: Session, clock: FixedClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = exported(session, clock)
    path, key = tmp_path / "case.shouhu.json", tmp_path / "key.pub"
    path.write_bytes(raw)
    key.write_text(KEYS.public_key)
    assert cli.main(["verify-export", str(path), "--public-key", str(key)]) == 0
    assert "核验通过" in capsys.readouterr().out
    path.write_bytes(raw.replace(b'"score":90', b'"score":91', 1))
    assert cli.main(["verify-export", str(path), "--public-key", KEYS.public_key]) == 1
    assert "核验失败" in capsys.readouterr().out
