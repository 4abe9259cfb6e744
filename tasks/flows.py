"""The Prefect flows and their schedules: Prefect decides when; the jobs (and the BPMN models) decide what.

Test a flow's logic through ``flow.fn()`` inside ``tasks.runtime.use(...)``; ``deployments()`` gives what
``tasks.serve`` serves (or deploys to a work pool).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron, Interval

from tasks import jobs, reports, rounds
from tasks.runtime import current

TZ = "Asia/Shanghai"


def _log() -> Any:
    try:
        return get_run_logger()
    except Exception:  # noqa: BLE001 - outside a flow run (``.fn()``): the module logger
        return logging.getLogger("shouhu.tasks")


@flow(
    name="timer_sweep",
    description="触发到期的流程定时器（每批一个事务、每个案件核对版本，直到没有到期案件或时限用完）",
)
def timer_sweep(limit: int = 500, budget: float = jobs.SWEEP_BUDGET_SECONDS) -> dict[str, Any]:
    """Fire every due case's timers until none is due (or the budget is spent); a failing case is logged
    and skipped."""
    rt = current()
    return asdict(
        jobs.sweep_timers(sessions=rt.sessions, clock=rt.clock, limit=limit, budget=budget, log=_log())
    )


@flow(name="deliver_notifications", description="把待发送的通知投递到站内收件箱和 webhook")
def deliver_notifications(batch: int = 50) -> dict[str, Any]:
    """Drain the outbox into inboxes (and the webhook, when one is configured)."""
    rt = current()
    return asdict(
        jobs.deliver_notifications(
            sessions=rt.sessions, clock=rt.clock, webhook=rt.webhook, batch=batch, log=_log()
        )
    )


@flow(name="scan_due_tasks", description="登记即将到期（24 小时内）和已逾期待办的提醒")
def scan_due_tasks() -> dict[str, int]:
    """Stage due-soon and overdue notices, each once per task."""
    rt = current()
    return {"staged": jobs.scan_due_tasks(sessions=rt.sessions, clock=rt.clock)}


@flow(name="start_rounds", description="按日历启动季度核实、半年名单通报等周期性案件")
def start_rounds() -> dict[str, Any]:
    """Start the quarterly and half-yearly rounds of the current period that are not there yet."""
    rt = current()
    return asdict(rounds.start_rounds(sessions=rt.sessions, clock=rt.clock, log=_log()))


@flow(name="annual_report", description="生成市级（11月15日前）、省级（12月10日前）年度工作进展报告")
def annual_report(level: str = "city", year: int | None = None) -> dict[str, Any]:
    """Write this year's progress report of every city or province that has none yet."""
    rt = current()
    ids = reports.annual_reports(sessions=rt.sessions, clock=rt.clock, level=level, year=year, log=_log())
    return {"documents": ids}


@flow(name="record_checkpoint", description="记录全部案件日志末端的签名检查点（默克尔根，Ed25519 签名）")
def record_checkpoint() -> dict[str, Any]:
    """Record a signed checkpoint of every case log's head (daily, and on demand)."""
    rt = current()
    return jobs.record_checkpoint(sessions=rt.sessions, clock=rt.clock, keys=rt.keys, log=_log())


FLOWS = (timer_sweep, deliver_notifications, scan_due_tasks, start_rounds, annual_report, record_checkpoint)


def schedules() -> list[tuple[Any, str, list[Any], dict[str, Any]]]:
    """(flow, deployment name, schedules, parameters) for every scheduled job; calendars in CST."""
    return [
        (timer_sweep, "timer-sweep", [Interval(timedelta(minutes=1), timezone=TZ)], {}),
        (deliver_notifications, "deliver-notifications", [Interval(timedelta(minutes=1), timezone=TZ)], {}),
        (scan_due_tasks, "scan-due-tasks", [Interval(timedelta(minutes=15), timezone=TZ)], {}),
        (
            start_rounds,
            "start-rounds",
            [Cron("30 0 * * *", timezone=TZ)],
            {},
        ),  # daily 00:30: a new quarter's first day
        (record_checkpoint, "record-checkpoint", [Cron("15 2 * * *", timezone=TZ)], {}),  # daily 02:15
        (annual_report, "annual-report-city", [Cron("0 9 1 11 *", timezone=TZ)], {"level": "city"}),
        (annual_report, "annual-report-province", [Cron("0 9 1 12 *", timezone=TZ)], {"level": "province"}),
    ]


# A sweep may take longer than its one-minute schedule (a backlog after an outage): the next run is
# cancelled instead of sweeping the same cases beside it. The same for the outbox drain.
ONE_AT_A_TIME = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
SINGLE = ("timer-sweep", "deliver-notifications")


def deployments() -> list[Any]:
    """The deployments ``prefect.serve`` runs in-process (the embedded default)."""
    # _sync: Prefect would hand back a coroutine when an event loop happens to run in this thread.
    return [
        fl.to_deployment(
            name=name,
            schedules=sched,
            parameters=params,
            description=fl.description,
            paused=False,
            concurrency_limit=ONE_AT_A_TIME if name in SINGLE else None,
            _sync=True,
        )
        for fl, name, sched, params in schedules()
    ]
