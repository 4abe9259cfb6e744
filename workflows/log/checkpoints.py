"""Signed checkpoints of every case log's head, and the check of the database against the latest one.

A per-case hash chain cannot show that a whole case, or a log's tail together with the case row, was
deleted or consistently rewritten. A checkpoint can: it lists (case id, last seq, last hash) of every
case, their Merkle root, and an Ed25519 signature by a key kept outside the database. Later, every
case in it must still exist, and its log must still hold the checkpointed event with the same hash
(the chain then proves everything before it). Cases created after the checkpoint are not in it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from workflows.infra.clock import iso_utc
from workflows.infra.keys import ALGORITHM, SigningKeys
from workflows.infra.models import Case, CaseEvent, Checkpoint
from workflows.log import merkle
from workflows.log.events import GENESIS, canonical

FORMAT = "shouhu-checkpoint/1"
_BATCH = 400


def statement(
    *, created_at: datetime, cases: int, root: str, previous: str, key_id: str, algorithm: str = ALGORITHM
) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return canonical(
        {
            "format": FORMAT,
            "created_at": iso_utc(created_at),
            "cases": cases,
            "root": root,
            "previous": previous,
            "key_id": key_id,
            "algorithm": algorithm,
        }
    )


def statement_of(checkpoint: Checkpoint) -> bytes:
    return statement(
        created_at=checkpoint.created_at,
        cases=checkpoint.cases,
        root=checkpoint.merkle_root,
        previous=checkpoint.previous,
        key_id=checkpoint.key_id,
        algorithm=checkpoint.algorithm,
    )


def latest(session: Session) -> Checkpoint | None:
    return session.scalar(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1))


def record(*, session: Session, keys: SigningKeys, now: datetime, actor: str) -> Checkpoint:
    """Sign the heads of every case as they stand in this transaction, and store the checkpoint."""
    heads = [
        [row.id, row.last_event_seq, row.last_event_hash]
        for row in session.execute(
            select(Case.id, Case.last_event_seq, Case.last_event_hash).order_by(Case.id)
        )
    ]
    previous = latest(session)
    prev = hashlib.sha256(previous.signature.encode("ascii")).hexdigest() if previous else GENESIS
    root = merkle.root(heads)
    body = statement(created_at=now, cases=len(heads), root=root, previous=prev, key_id=keys.key_id)
    checkpoint = Checkpoint(
        created_at=now,
        created_by=actor,
        cases=len(heads),
        heads=heads,
        merkle_root=root,
        previous=prev,
        algorithm=ALGORITHM,
        key_id=keys.key_id,
        public_key=keys.public_key,
        signature=keys.sign(body),
    )
    session.add(checkpoint)
    session.flush()
    return checkpoint


@dataclass
class Finding:
    case_id: str | None
    message: str


def check(session: Session, checkpoint: Checkpoint, keys: SigningKeys) -> list[Finding]:
    """What in the database contradicts a checkpoint (an empty list: nothing)."""
    label = f"检查点 #{checkpoint.id}"
    problem = keys.verify(checkpoint.key_id, statement_of(checkpoint), checkpoint.signature)
    if problem:
        return [Finding(None, f"{label}的签名无效：{problem}")]
    heads = [tuple(h) for h in checkpoint.heads]
    if len(heads) != checkpoint.cases or merkle.root(heads) != checkpoint.merkle_root:
        return [Finding(None, f"{label}的案件清单与签名的默克尔根不符（检查点被改动）")]
    findings = []
    for batch in _batches(heads):
        findings.extend(_check_batch(session, label, batch))
    return findings


def _batches(heads: Sequence[tuple[Any, ...]]) -> Iterator[Sequence[tuple[Any, ...]]]:
    for i in range(0, len(heads), _BATCH):
        yield heads[i : i + _BATCH]


def _check_batch(session: Session, label: str, heads: Sequence[tuple[Any, ...]]) -> list[Finding]:
    ids = [h[0] for h in heads]
    cases = {
        row.id: row
        for row in session.execute(select(Case.id, Case.case_no, Case.last_event_seq).where(Case.id.in_(ids)))
    }
    logged = dict(
        ((row.case_id, row.seq), row.hash)
        for row in session.execute(
            select(CaseEvent.case_id, CaseEvent.seq, CaseEvent.hash).where(
                tuple_(CaseEvent.case_id, CaseEvent.seq).in_([(h[0], h[1]) for h in heads if h[1] > 0])
            )
        )
    )
    findings = []
    for case_id, seq, head_hash in heads:
        case = cases.get(case_id)
        if case is None:
            findings.append(
                Finding(case_id, f"案件 {case_id} 在{label}中（至事件 #{seq}），但已不存在：案件被删除")
            )
            continue
        name = case.case_no
        if case.last_event_seq < seq or (case_id, seq) not in logged and seq > 0:
            findings.append(
                Finding(case_id, f"案件 {name} 的日志短于{label}记录的事件 #{seq}：日志末尾被删除")
            )
        elif seq > 0 and logged[(case_id, seq)] != head_hash:
            findings.append(
                Finding(case_id, f"案件 {name} 的事件 #{seq} 与{label}记录的哈希不符：日志被改写")
            )
    return findings


def head_proof(checkpoint: Checkpoint, case_id: str) -> dict[str, Any] | None:
    """The checkpoint's head of a case and its Merkle path to the signed root (None: not in it)."""
    heads = checkpoint.heads
    index = next((i for i, h in enumerate(heads) if h[0] == case_id), None)
    if index is None:
        return None
    return {"head": list(heads[index]), "path": merkle.proof(heads, index)}
