"""The periodic jobs as plain functions: each opens its own sessions and commits per batch, case or notice."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, as_completed
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy.orm import Session, sessionmaker

from tasks import sweep_workers
from tasks.runtime import unit
from workflows.cases import lifecycle as cases
from workflows.cases import sweeping
from workflows.infra.clock import Clock
from workflows.infra.db import READ_ONLY
from workflows.infra.keys import SigningKeys
from workflows.log import checkpoints
from workflows.outbox import notifications
from workflows.outbox.notifications import PostResult, Webhook

LOG = logging.getLogger("shouhu.tasks")
Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]
# A sweep stops taking new cases after this long; the next scheduled sweep carries on (flows.py runs one
# sweep at a time).
SWEEP_BUDGET_SECONDS = 240.0
# Cases per write transaction: the work is computed before the transaction, which then holds its locks
# (on SQLite, the write lock of the whole database) only while the batch's rows are written.
SWEEP_BATCH = 100
# A backlog (a page of this many due cases) is computed by this process and helper processes together, one
# per core in all (sweep_workers.py).
HELPERS_FROM = 200
SWEEP_HELPERS = min((os.cpu_count() or 1) - 1, 3)


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
    batch: int = SWEEP_BATCH,
    helpers: int = SWEEP_HELPERS,
    log: Logger = LOG,
) -> SweepReport:
    """Fire the due timers of every due case, a batch of cases per transaction; a failure skips that case.

    Runs until no case is due or ``budget`` seconds have passed. Cases are taken in pages of ``limit``
    in the order of their due instant, each page after the last case of the one before, so a case that
    failed or had nothing to fire (another sweeper was first) is not taken again by this sweep. Each case
    is written only if it is still at the version its timers were fired from (workflows/cases/sweeping.py).
    A page of at least ``HELPERS_FROM`` cases starts ``helpers`` processes that share the computing.
    """
    report = SweepReport()
    deadline = time.monotonic() + budget

    def go_on() -> bool:
        if time.monotonic() > deadline:
            report.out_of_time = True
        return not report.out_of_time

    pool: sweep_workers.Helpers | None = None
    after: tuple[datetime, str] | None = None
    try:
        while True:
            with unit(sessions) as session:
                due = cases.due_cases(session=session, clock=clock, limit=limit, after=after)
            if pool is None and helpers > 0 and len(due) >= HELPERS_FROM:
                url = sweep_workers.database_url(sessions)
                pool = sweep_workers.Helpers(url, helpers) if url else None
            page = [case_id for _, case_id in due]
            if pool is None:
                done = _sweep_here(sessions, clock, page, batch, report, go_on, log)
            else:
                done = _sweep_with(pool, sessions, clock, page, deadline, batch, report, go_on, log)
            if done:
                after = due[done - 1]
            if report.out_of_time or len(due) < limit:
                break
    finally:
        if pool is not None:
            pool.close()
    if report.fired or report.failed or report.out_of_time:
        log.info(
            "定时器巡检：触发 %d 个案件，失败 %d 个%s",
            report.fired,
            len(report.failed),
            "，时限已到，其余下次巡检继续" if report.out_of_time else "",
        )
    return report


def _sweep_here(
    sessions: sessionmaker[Session],
    clock: Clock,
    page: list[str],
    batch: int,
    report: SweepReport,
    go_on: Callable[[], bool],
    log: Logger,
) -> int:
    """Compute and write the page's batches in this process; returns how many cases were taken."""
    done = 0
    while done < len(page) and not report.out_of_time:
        prepared = _prepare_here(sessions, page[done : done + batch], clock.now, go_on)
        _write_batch(sessions, clock, prepared, report, log)
        done += prepared.taken
    return done


def _sweep_with(
    pool: sweep_workers.Helpers,
    sessions: sessionmaker[Session],
    clock: Clock,
    page: list[str],
    deadline: float,
    batch: int,
    report: SweepReport,
    go_on: Callable[[], bool],
    log: Logger,
) -> int:
    """Share the page's batches between the helpers (from the front) and this process (from the back);
    each batch is written here, in one transaction, as soon as it is computed."""
    size = max(batch // 4, 10)
    chunks = deque(page[i : i + size] for i in range(0, len(page), size))
    running: dict[Future[sweeping.Prepared], list[str]] = {}
    done = 0
    while (chunks or running) and not report.out_of_time:
        while chunks and len(running) < 2 * pool.count and not pool.broken:
            try:
                running[pool.prepare(chunks[0], now=clock.now(), deadline=deadline)] = chunks[0]
            except Exception:  # noqa: BLE001 - helpers cannot start: this process does the rest alone
                log.exception("定时器巡检：辅助进程无法启动，其余案件在本进程处理")
                pool.broken = True
                break
            chunks.popleft()
        finished = [future for future in running if future.done()]
        if not finished and chunks:
            chunk = chunks.pop()
            prepared = _prepare_here(sessions, chunk, clock.now, go_on)
        else:
            future = finished[0] if finished else next(as_completed(running))
            chunk = running.pop(future)
            try:
                prepared = future.result()
            except Exception:  # noqa: BLE001 - a helper died: it wrote nothing; its cases are done here
                log.exception("定时器巡检：辅助进程失败，%d 个案件改在本进程处理", len(chunk))
                prepared = _prepare_here(sessions, chunk, clock.now, go_on)
        _write_batch(sessions, clock, prepared, report, log)
        done += prepared.taken
        if prepared.taken < len(chunk):
            report.out_of_time = True
    for future in running:  # out of time: what the helpers still compute is dropped (nothing written)
        future.cancel()
    return done


def _prepare_here(
    sessions: sessionmaker[Session],
    case_ids: list[str],
    now: Callable[[], datetime],
    go_on: Callable[[], bool],
) -> sweeping.Prepared:
    with unit(sessions) as session:
        session.connection(execution_options=READ_ONLY)
        return sweeping.prepare(session, case_ids, now=now, go_on=go_on)


def _write_batch(
    sessions: sessionmaker[Session],
    clock: Clock,
    batch: sweeping.Prepared,
    report: SweepReport,
    log: Logger,
) -> None:
    """Write a computed batch in one transaction; changed cases go through the action path there."""
    for case_id, error in batch.failed:
        log.error("案件 %s 的定时器触发失败，已跳过，下次巡检重试\n%s", case_id, error)
        report.failed.append(case_id)
    report.idle += len(batch.idle)
    try:
        with unit(sessions) as session:
            changed = sweeping.write(session, batch.fired, lock=batch.by_action)
            results = _by_action(session, clock, batch.by_action + changed, log)
            written = [f.case_id for f in batch.fired if f.case_id not in results]
    except Exception:  # noqa: BLE001 - the batch was rolled back: each of its cases goes on its own
        log.exception("定时器巡检：%d 个案件的批量写入失败，改为逐案件处理", len(batch.fired))
        written, results = [], {}
        for case_id in [f.case_id for f in batch.fired] + batch.by_action:
            with unit(sessions) as session:
                results.update(_by_action(session, clock, [case_id], log))
    outcomes = list(results.values())
    report.fired += len(written) + outcomes.count("fired")
    report.idle += outcomes.count("idle")
    report.failed.extend(case_id for case_id, result in results.items() if result == "failed")


def _by_action(session: Session, clock: Clock, case_ids: list[str], log: Logger) -> dict[str, str]:
    """Fire each case through the action path (which re-reads it), each in a savepoint of its own."""
    results: dict[str, str] = {}
    for case_id in case_ids:
        try:
            with session.begin_nested():
                outcome = cases.fire_due_timers(session=session, clock=clock, case_id=case_id)
        except Exception:  # noqa: BLE001 - one broken case must not stop the others
            log.exception("案件 %s 的定时器触发失败，已跳过，下次巡检重试", case_id)
            results[case_id] = "failed"
            continue
        # A sweep that lost the race to another one finds nothing left to fire (no timer_fired event).
        fired = outcome is not None and any(event.type == "timer_fired" for event in outcome.events)
        results[case_id] = "fired" if fired else "idle"
    return results


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
