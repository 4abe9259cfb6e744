"""Signed checkpoints: what a per-case chain cannot show (a deleted case, a truncated log with a fixed-up
case row, a consistently rewritten chain) is found by verify-all against the latest checkpoint."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from tests.unit.test_services import DIRECTOR, start
from tests.unit.test_verify import finished_case, half_case
from workflows.infra.clock import FixedClock
from workflows.infra.keys import SigningKeys, parse_private, private_pem
from workflows.infra.models import (
    AccessLog,
    Attachment,
    Case,
    CaseEvent,
    Checkpoint,
    Document,
    HumanTask,
    IdempotencyKey,
    OutboxMessage,
    TaskDraft,
)
from workflows.log import checkpoints, merkle
from workflows.log.events import event_hash
from workflows.ops.audit import verify_all
from workflows.papers import documents

KEYS = SigningKeys.generate()


def audit(session: Session, keys: SigningKeys = KEYS) -> list[str]:
    session.flush()
    session.expire_all()
    result = verify_all(session, keys)
    return [r.problem for _, r in result.failed] + [f.message for f in result.findings]


def checkpointed(session: Session, clock: FixedClock) -> Case:
    case = finished_case(session, clock)
    half_case(session, clock)
    documents.issue(session=session, clock=clock, actor=DIRECTOR, case_id=case.id, kind="report_receipt")
    session.flush()
    checkpoints.record(session=session, keys=KEYS, now=clock.now(), actor="system")
    assert audit(session) == []
    return case


def delete_whole_case(session: Session, case: Case) -> None:
    """Every row of the case and its tasks, as someone with write access to the database could delete them."""
    for table in (CaseEvent, Document, Attachment, AccessLog, OutboxMessage):
        session.execute(delete(table).where(table.case_id == case.id))  # type: ignore[attr-defined]
    task_ids = select(HumanTask.id).where(HumanTask.case_id == case.id)
    session.execute(delete(TaskDraft).where(TaskDraft.task_id.in_(task_ids)))
    session.execute(delete(HumanTask).where(HumanTask.case_id == case.id))
    session.execute(delete(IdempotencyKey))
    session.execute(delete(Case).where(Case.id == case.id))


def events_of(session: Session, case: Case) -> list[CaseEvent]:
    return list(
        session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))
    )


def test_merkle_proofs_lead_to_the_root_for_every_leaf_and_size() -> None:
    for size in range(1, 12):
        heads = [[f"case-{i:02d}", i + 1, f"{i:064x}"] for i in range(size)]
        root = merkle.root(heads)
        for index, head in enumerate(heads):
            path = merkle.proof(heads, index)
            assert merkle.root_from_proof(head, path) == root
            assert merkle.root_from_proof([head[0], head[1] + 1, head[2]], path) != root


def test_an_intact_database_and_a_case_created_after_the_checkpoint_pass(
    session: Session, clock: FixedClock
) -> None:
    checkpointed(session, clock)
    clock.advance(hours=1)
    start(session, clock)  # not in the checkpoint: fine
    assert audit(session) == []


def test_an_edited_event_is_detected(session: Session, clock: FixedClock) -> None:
    case = checkpointed(session, clock)
    event = next(e for e in events_of(session, case) if e.type == "task_completed")
    session.execute(
        update(CaseEvent)
        .where(CaseEvent.id == event.id)
        .values(payload={**event.payload, "data": {"score": 1}})
    )
    problems = audit(session)
    assert any("被改动" in p for p in problems), problems


def test_deleting_the_last_event_and_fixing_the_case_row_is_detected(
    session: Session, clock: FixedClock
) -> None:
    case = checkpointed(session, clock)
    *kept, last = events_of(session, case)
    assert last.type == "document_issued"  # replay alone cannot tell this one is gone
    session.execute(delete(CaseEvent).where(CaseEvent.id == last.id))
    session.execute(
        update(Case)
        .where(Case.id == case.id)
        .values(last_event_seq=kept[-1].seq, last_event_hash=kept[-1].hash)
    )
    problems = audit(session)
    assert problems == [
        f"案件 {case.case_no} 的日志短于检查点 #{latest_id(session)}记录的事件 #{last.seq}：日志末尾被删除"
    ]


def test_deleting_a_whole_case_is_detected(session: Session, clock: FixedClock) -> None:
    case = checkpointed(session, clock)
    delete_whole_case(session, case)
    problems = audit(session)
    assert len(problems) == 1 and case.id in problems[0] and "案件被删除" in problems[0]


def test_a_consistently_rewritten_chain_is_detected(session: Session, clock: FixedClock) -> None:
    """Who started the case is changed and every hash recomputed: the chain and the replay are satisfied."""
    case = checkpointed(session, clock)
    prev = None
    for event in events_of(session, case):
        actor = "someone_else" if event.seq == 1 else event.actor
        prev = prev or event.prev_hash
        new_hash = event_hash(
            case_id=case.id,
            seq=event.seq,
            type=event.type,
            actor=actor,
            occurred_at=event.occurred_at,
            payload=event.payload,
            prev_hash=prev,
        )
        session.execute(
            update(CaseEvent)
            .where(CaseEvent.id == event.id)
            .values(actor=actor, prev_hash=prev, hash=new_hash)
        )
        prev = new_hash
    session.execute(update(Case).where(Case.id == case.id).values(last_event_hash=prev))
    session.flush()
    session.expire_all()
    result = verify_all(session, KEYS)
    assert result.failed == []  # the per-case checks alone pass …
    assert [f.message for f in result.findings] == [  # … the checkpoint does not
        f"案件 {case.case_no} 的事件 #{case.last_event_seq} 与检查点 #{result.checkpoint.id}记录的哈希不符：日志被改写"  # type: ignore[union-attr]
    ]


def test_a_changed_checkpoint_or_a_foreign_key_is_refused(session: Session, clock: FixedClock) -> None:
    checkpointed(session, clock)
    assert any("签名无效" in p for p in audit(session, SigningKeys.generate()))
    cp = session.scalar(select(Checkpoint).order_by(Checkpoint.id.desc()))
    assert cp is not None
    forged = [list(h) for h in cp.heads]
    forged[0][2] = "f" * 64
    session.execute(update(Checkpoint).where(Checkpoint.id == cp.id).values(heads=forged))
    assert any("默克尔根不符" in p for p in audit(session))
    session.execute(update(Checkpoint).where(Checkpoint.id == cp.id).values(heads=cp.heads[1:]))
    assert any("默克尔根不符" in p for p in audit(session))
    session.execute(update(Checkpoint).where(Checkpoint.id == cp.id).values(cases=cp.cases - 1))
    assert any("签名无效" in p for p in audit(session))
    session.execute(update(Checkpoint).where(Checkpoint.id == cp.id).values(merkle_root="0" * 64))
    assert any("签名无效" in p for p in audit(session))


def test_a_retired_key_still_verifies_and_keys_round_trip(session: Session, clock: FixedClock) -> None:
    checkpointed(session, clock)
    rotated = SigningKeys(SigningKeys.generate().private, {KEYS.key_id: KEYS.private.public_key()})
    assert audit(session, rotated) == []
    assert parse_private(private_pem(KEYS.private)).public_key() == KEYS.private.public_key()


def latest_id(session: Session) -> int:
    cp = checkpoints.latest(session)
    assert cp is not None
    return cp.id


def test_chain_only_checks_every_log_and_the_checkpoint_without_replaying(
    session: Session, clock: FixedClock
) -> None:
    """`shouhu verify-all --chain-only`: every case's hash chain and the checkpoint, not the replay. A changed
    stored state is left to the full check; a changed event or a deleted case is found by both."""

    def chain_only() -> list[str]:
        session.flush()
        session.expire_all()
        result = verify_all(session, KEYS, chain_only=True)
        return [r.problem for _, r in result.failed] + [f.message for f in result.findings]

    case = checkpointed(session, clock)
    result = verify_all(session, KEYS, chain_only=True)
    assert result.ok and result.total == 2
    assert result.events == session.scalar(select(func.count()).select_from(CaseEvent))

    session.execute(update(Case).where(Case.id == case.id).values(data={"child_name": "改过"}))
    assert chain_only() == []  # the state is replay's business
    assert audit(session) != []

    event = next(e for e in events_of(session, case) if e.type == "task_completed")
    session.execute(update(CaseEvent).where(CaseEvent.id == event.id).values(actor="someone_else"))
    problems = chain_only()
    assert len(problems) == 1 and "哈希不符" in problems[0]

    delete_whole_case(session, case)
    problems = chain_only()  # the whole case gone: only the checkpoint can tell
    assert len(problems) == 1 and case.id in problems[0] and "案件被删除" in problems[0], problems
