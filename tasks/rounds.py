"""Periodic rounds started as cases on their calendar (China Standard Time), once per place and period.

- quarterly verification of the files in every village (每季度核实更新) — ``quarterly_verification``;
- half-yearly sharing of the red/yellow/blue lists by every county (至少每半年) — ``risk_list_sharing``;
- the yearly spot-check of the files by every county (每年开展一次抽查) — ``annual_file_check``.

A round is started once per (process, place, period): an existing case of that process and place whose start
data names the period counts (a person may have started it by hand), and an idempotency key written in the
starting transaction stops two schedulers starting it twice. A process that is not published is skipped.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tasks.runtime import unit
from workflows.cases import lifecycle as cases
from workflows.infra.clock import CST, Clock
from workflows.infra.models import Case, IdempotencyKey, Place, ProcessDefinition
from workflows.people.access import SYSTEM

LOG = logging.getLogger("shouhu.tasks")


def quarter_of(instant: datetime) -> str:
    """The quarter an instant falls in, in China Standard Time: ``2026Q1``."""
    local = instant.astimezone(CST)
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


def half_year_of(instant: datetime) -> str:
    """The half-year an instant falls in, in China Standard Time: ``2026H1``."""
    local = instant.astimezone(CST)
    return f"{local.year}H{1 if local.month <= 6 else 2}"


def year_of(instant: datetime) -> str:
    """The calendar year an instant falls in, in China Standard Time: ``2026``."""
    return str(instant.astimezone(CST).year)


@dataclass(frozen=True)
class Round:
    process_key: str
    level: str  # the level of the places that each get a case
    period_field: str  # the start-data field that names the period
    period_of: Callable[[datetime], str]
    start_data: Callable[[str, str], dict[str, Any]]  # (place code, period) → start data


ROUNDS: tuple[Round, ...] = (
    Round(
        "quarterly_verification",
        "village",
        "quarter",
        quarter_of,
        lambda code, period: {"village_code": code, "quarter": period},
    ),
    Round(
        "risk_list_sharing",
        "county",
        "period",
        half_year_of,
        lambda code, period: {"period": period, "county_code": code},
    ),
    Round(
        "annual_file_check", "county", "check_year", year_of, lambda code, period: {"check_year": int(period)}
    ),
)


@dataclass
class RoundsReport:
    started: int = 0
    existing: int = 0
    skipped_processes: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _round_key(spec: Round, code: str, period: str) -> str:
    return f"round:{spec.process_key}:{code}:{period}"


def is_published(session: Session, process_key: str) -> bool:
    definition = session.get(ProcessDefinition, process_key)
    return definition is not None and definition.published_version_id is not None


def existing_case(session: Session, *, spec: Round, code: str, period: str) -> str | None:
    """A case of this round already there: by its idempotency key, or one started by hand for the period."""
    key = _round_key(spec, code, period)
    if (
        session.scalar(
            select(IdempotencyKey.id).where(
                IdempotencyKey.actor == SYSTEM.username, IdempotencyKey.key == key
            )
        )
        is not None
    ):
        return key
    rows = session.execute(
        select(Case.id, Case.data).where(Case.process_key == spec.process_key, Case.jurisdiction_code == code)
    )
    return next(
        (case_id for case_id, data in rows if str((data or {}).get(spec.period_field)) == period), None
    )


def start_round_case(*, session: Session, clock: Clock, spec: Round, code: str, period: str) -> Case | None:
    """Start the round's case for one place and period unless it exists (no commit)."""
    if existing_case(session, spec=spec, code=code, period=period) is not None:
        return None
    outcome = cases.start_case(
        session=session,
        clock=clock,
        actor=SYSTEM,
        process_key=spec.process_key,
        data=spec.start_data(code, period),
        jurisdiction_code=code,
    )
    key = _round_key(spec, code, period)
    session.add(
        IdempotencyKey(
            actor=SYSTEM.username,
            key=key,
            action="start_round",
            request_hash=hashlib.sha256(key.encode()).hexdigest(),
            result={"case_id": outcome.case.id},
            created_at=clock.now(),
        )
    )
    session.flush()
    return outcome.case


def start_rounds(
    *,
    sessions: sessionmaker[Session],
    clock: Clock,
    rounds: tuple[Round, ...] = ROUNDS,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] = LOG,
) -> RoundsReport:
    """Start every round due in the current period, each case in its own transaction."""
    report = RoundsReport()
    for spec in rounds:
        with unit(sessions) as session:
            if not is_published(session, spec.process_key):
                log.info("流程 %s 尚未发布，本次不启动周期任务", spec.process_key)
                report.skipped_processes.append(spec.process_key)
                continue
            codes = list(
                session.scalars(select(Place.code).where(Place.level == spec.level).order_by(Place.code))
            )
        period = spec.period_of(clock.now())
        for code in codes:
            _start_one(sessions, clock, spec, code, period, report, log)
    if report.started:
        log.info("周期任务：新启动 %d 个案件，已存在 %d 个", report.started, report.existing)
    return report


def _start_one(
    sessions: sessionmaker[Session],
    clock: Clock,
    spec: Round,
    code: str,
    period: str,
    report: RoundsReport,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> None:
    try:
        with unit(sessions) as session:
            case = start_round_case(session=session, clock=clock, spec=spec, code=code, period=period)
    except IntegrityError:  # another scheduler started the same round a moment ago
        report.existing += 1
        return
    except Exception:  # noqa: BLE001 - one place's failure must not stop the others
        log.exception("为 %s 启动 %s（%s）失败", code, spec.process_key, period)
        report.failed.append(code)
        return
    if case is None:
        report.existing += 1
    else:
        report.started += 1
