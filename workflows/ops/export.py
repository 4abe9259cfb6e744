"""One file per case for an outside reviewer: the log, the pinned model files, paper hashes, the checkpoint proof.

The file is canonical JSON (keys sorted, no spaces) ``{"format", "body", "signature"}``; the Ed25519
signature covers the canonical body, so any changed byte fails ``shouhu verify-export`` (export_check.py),
which needs no database: only the file and, to trust the signer, the published public key.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.cases import lifecycle as cases
from workflows.cases.views import record_access
from workflows.infra.clock import Clock, iso_utc
from workflows.infra.errors import ModelError
from workflows.infra.keys import ALGORITHM, SigningKeys
from workflows.infra.models import Attachment, Case, CaseEvent, Document, ProcessVersion
from workflows.log import checkpoints
from workflows.log.events import canonical, events_of
from workflows.people.access import Actor, require_role

FORMAT = "shouhu-case-export/1"
EXPORTERS = ("auditor", "county_civil_affairs", "city_civil_affairs", "province_civil_affairs")


def export_case(*, session: Session, clock: Clock, actor: Actor, keys: SigningKeys, case_id: str) -> bytes:
    """The signed export file of a case the actor may read (the read is logged)."""
    require_role(actor, *EXPORTERS, action="导出案件核验文件")
    case = cases.get_case(session=session, actor=actor, case_id=case_id)
    record_access(session, clock=clock, actor=actor, endpoint="export", case=case, purpose="导出核验文件")
    body = build_body(session, case, exported_at=iso_utc(clock.now()), exported_by=actor.username)
    return sign(body, keys)


def sign(body: dict[str, Any], keys: SigningKeys) -> bytes:
    signature = {
        "algorithm": ALGORITHM,
        "key_id": keys.key_id,
        "public_key": keys.public_key,
        "value": keys.sign(canonical(body)),
    }
    return canonical({"format": FORMAT, "body": body, "signature": signature})


def build_body(session: Session, case: Case, *, exported_at: str, exported_by: str) -> dict[str, Any]:
    events = events_of(session, case.id)
    pinned = session.get(ProcessVersion, case.process_version_id)
    if pinned is None:
        raise ModelError("案件所用的流程版本不存在", code="version_missing")
    return {
        "exported_at": exported_at,
        "exported_by": exported_by,
        "case": {
            "id": case.id,
            "business_key": case.business_key,
            "case_no": case.case_no,
            "process_key": case.process_key,
            "process_version": pinned.content_hash,
            "status": case.status,
            "jurisdiction_code": case.jurisdiction_code,
            "created_at": iso_utc(case.created_at),
            "completed_at": iso_utc(case.completed_at) if case.completed_at else None,
            "last_event_seq": case.last_event_seq,
            "last_event_hash": case.last_event_hash,
        },
        "events": [_event(e) for e in events],
        "versions": _versions(session, _version_hashes(pinned, events)),
        "documents": _documents(session, case.id),
        "attachments": [
            {"id": a.id, "kind": a.kind, "filename": a.filename, "size": a.size, "sha256": a.sha256}
            for a in session.scalars(
                select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id)
            )
        ],
        "checkpoint": _checkpoint(session, case.id),
    }


def _event(event: CaseEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "type": event.type,
        "actor": event.actor,
        "occurred_at": iso_utc(event.occurred_at),
        "payload": event.payload,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def _version_hashes(pinned: ProcessVersion, events: list[CaseEvent]) -> list[str]:
    hashes = {pinned.content_hash}
    for event in events:
        for key in ("version", "from_version", "to_version"):
            if event.type in ("case_started", "case_migrated") and event.payload.get(key):
                hashes.add(event.payload[key])
    return sorted(hashes)


def _versions(session: Session, hashes: list[str]) -> dict[str, Any]:
    """Each named version and every version it calls, with its files as stored."""
    out: dict[str, Any] = {}
    todo = list(hashes)
    while todo:
        content_hash = todo.pop()
        if content_hash in out:
            continue
        version = session.scalar(select(ProcessVersion).where(ProcessVersion.content_hash == content_hash))
        if version is None:
            raise ModelError(f"流程版本 {content_hash[:12]} 不存在，无法导出", code="version_missing")
        out[content_hash] = {
            "process_key": version.process_key,
            "files": dict(version.files),
            "calls": list(version.calls or []),
        }
        todo.extend(version.calls or [])
    return out


def _documents(session: Session, case_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(select(Document).where(Document.case_id == case_id).order_by(Document.id))
    return [{"id": d.id, "kind": d.kind, "title": d.title, "sha256": d.sha256, **_pdf_hash(d)} for d in rows]


def _pdf_hash(document: Document) -> dict[str, Any]:
    value = getattr(document, "pdf_sha256", None)
    return {"pdf_sha256": value} if value else {}


def _checkpoint(session: Session, case_id: str) -> dict[str, Any] | None:
    """The latest checkpoint with the Merkle path from the case's head to its signed root (None: not in it)."""
    checkpoint = checkpoints.latest(session)
    proof = checkpoints.head_proof(checkpoint, case_id) if checkpoint is not None else None
    if checkpoint is None or proof is None:
        return None
    return {
        "id": checkpoint.id,
        "created_at": iso_utc(checkpoint.created_at),
        "cases": checkpoint.cases,
        "root": checkpoint.merkle_root,
        "previous": checkpoint.previous,
        "algorithm": checkpoint.algorithm,
        "key_id": checkpoint.key_id,
        "public_key": checkpoint.public_key,
        "signature": checkpoint.signature,
        **proof,
    }
