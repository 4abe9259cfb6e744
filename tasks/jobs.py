"""The periodic jobs as plain functions: each opens its own sessions and commits per case or per notice."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy.orm import Session, sessionmaker

from tasks.runtime import unit
from workflows.cases import lifecycle as cases
from workflows.infra.clock import Clock
from workflows.infra.keys import SigningKeys
from workflows.log import checkpoints
from workflows.outbox import notifications
from workflows.outbox.notifications import PostResult, Webhook

LOG = logging.getLogger("shouhu.tasks")
# A sweep stops taking new cases after this long; the next scheduled sweep carries on (flows.py runs one
# sweep at a time).
SWEEP_BUDGET_SECONDS = 240.0


@dataclass
class SweepReport:
    fired: int = 0
    idle: int = 0
    failed: list[str] = field(default_factory=list)
    out_of_time: bool = False  # the budget ran out with cases still due: the next sweep goes on


@dataclass
class DeliveryReport:
    messages: int = 0
    inbox_items: int = 0
    webhook_failures: int = 0
    taken_over: int = 0
    failed: list[int] = field(default_factory=list)


def sweep_timers(
    *,
    sessions: sessionmaker[Session],
    clock: Clock,
    limit: int = 500,
    budget: float = SWEEP_BUDGET_SECONDS,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] = LOG,
) -> SweepReport:
    """Fire the due timers of every due case, each case in its own transaction; a failure skips that case.

    Runs until no case is due or ``budget`` seconds have passed. Cases are taken in batches of ``limit``
    in the order of their due instant, each batch after the last case of the one before, so a case that
    failed or had nothing to fire (another sweeper was first) is not taken again by this sweep.
    """
    report = SweepReport()
    deadline = time.monotonic() + budget
    after: tuple[datetime, str] | None = None
    while True:
        with unit(sessions) as session:
            due = cases.due_cases(session=session, clock=clock, limit=limit, after=after)
        for due_at, case_id in due:
            if time.monotonic() > deadline:
                report.out_of_time = True
                break
            _fire_one(sessions, clock, case_id, report, log)
            after = (due_at, case_id)
        if report.out_of_time or len(due) < limit:
            break
    if report.fired or report.failed or report.out_of_time:
        log.info(
            "定时器巡检：触发 %d 个案件，失败 %d 个%s",
            report.fired,
            len(report.failed),
            "，时限已到，其余下次巡检继续" if report.out_of_time else "",
        )
    return report


def _fire_one(
    sessions: sessionmaker[Session],
    clock: Clock,
    case_id: str,
    report: SweepReport,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> None:
    try:
        with unit(sessions) as session:
            outcome = cases.fire_due_timers(session=session, clock=clock, case_id=case_id)
    except Exception:  # noqa: BLE001 - one broken case must not stop the others
        log.exception("案件 %s 的定时器触发失败，已跳过，下次巡检重试", case_id)
        report.failed.append(case_id)
        return
    # A sweep that lost the race to another one finds nothing left to fire (no timer_fired event).
    if outcome is not None and any(event.type == "timer_fired" for event in outcome.events):
        report.fired += 1
    else:
        report.idle += 1


def scan_due_tasks(
    *, sessions: sessionmaker[Session], clock: Clock, limit: int = 500, max_batches: int = 20
) -> int:
    """Stage the due-soon (within 24 h) and overdue notices, each once per task."""
    total = 0
    for _ in range(max_batches):
        with unit(sessions) as session:
            staged = notifications.scan_due(session=session, clock=clock, limit=limit)
        total += staged
        if staged < limit:
            break
    return total


def deliver_notifications(
    *,
    sessions: sessionmaker[Session],
    clock: Clock,
    webhook: Webhook | None,
    batch: int = 50,
    max_batches: int = 20,
    client: httpx.Client | None = None,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] = LOG,
) -> DeliveryReport:
    """Drain the outbox: claim a batch (commit), post each to the webhook, write its inbox rows (commit)."""
    report = DeliveryReport()
    for _ in range(max_batches):
        worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        with unit(sessions) as session:
            claimed = notifications.claim(session=session, clock=clock, worker=worker, limit=batch)
            bodies = (
                {m.id: notifications.webhook_body(m, notifications.recipients(session, m)) for m in claimed}
                if webhook
                else {m.id: {} for m in claimed}
            )
        for message_id, body in bodies.items():
            _deliver_one(sessions, clock, webhook, client, worker, message_id, body, report, log)
        if len(bodies) < batch:
            break
    return report


def _deliver_one(
    sessions: sessionmaker[Session],
    clock: Clock,
    webhook: Webhook | None,
    client: httpx.Client | None,
    worker: str,
    message_id: int,
    body: dict[str, object],
    report: DeliveryReport,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> None:
    try:
        result = notifications.post_webhook(webhook, body, client=client) if webhook else PostResult(True)
        if not result.ok:
            report.webhook_failures += 1
            log.warning("通知 %s 推送到 webhook 失败：%s", message_id, result.error)
        with unit(sessions) as session:
            written = notifications.finish(
                session=session, clock=clock, message_id=message_id, worker=worker, result=result
            )
    except Exception:  # noqa: BLE001 - the claim expires and another drain tries again
        log.exception("通知 %s 投递失败，稍后重试", message_id)
        report.failed.append(message_id)
        return
    if written is None:
        report.taken_over += 1
    else:
        report.messages += 1
        report.inbox_items += written


def record_checkpoint(
    *,
    sessions: sessionmaker[Session],
    clock: Clock,
    keys: SigningKeys,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] = LOG,
) -> dict[str, object]:
    """Sign every case log's head in one transaction; the root also goes to the run log, outside the database."""
    with unit(sessions) as session:
        cp = checkpoints.record(session=session, keys=keys, now=clock.now(), actor="system")
        summary: dict[str, object] = {
            "id": cp.id,
            "cases": cp.cases,
            "merkle_root": cp.merkle_root,
            "key_id": cp.key_id,
            "signature": cp.signature,
        }
    log.info("检查点 #%(id)s：%(cases)s 个案件，默克尔根 %(merkle_root)s，密钥 %(key_id)s", summary)
    return summary
