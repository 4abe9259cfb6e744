"""Move running cases to another version of their process when it is safe (keyword-only, no commit).

Safe means: every step the case has finished is unchanged in the new version, every step it is at
is still there (same id, same role), and nothing the case waits for is lost. Open tasks keep their
ids, claims and due times; pending timers keep their instants. Each migration is one
``case_migrated`` event, written with the new state and ``cases.process_version_id`` in the
action's transaction; replay switches versions at that event the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from workflows.cases.actions import act, load_case, process_of
from workflows.engine import CaseRun, MigrationReport, ParsedProcess, migrate_run
from workflows.infra.clock import Clock
from workflows.infra.errors import DomainError, NotFound, ValidationFailed
from workflows.infra.models import Case, HumanTask, ProcessVersion
from workflows.log.events import NewEvent
from workflows.people.access import Actor, require_role
from workflows.processes import registry, validation

ADMIN_ROLE = "process_admin"
MAX_CASES = 500  # per request: larger populations are migrated in several requests


@dataclass
class CaseMigration:
    """What happened (or would happen) to one case."""

    case_id: str
    business_key: str
    from_version_id: int
    safe: bool
    migrated: bool = False
    reasons: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "business_key": self.business_key,
            "from_version_id": self.from_version_id,
            "safe": self.safe,
            "migrated": self.migrated,
            "reasons": self.reasons,
            "changed": self.changed,
            "kept_task_ids": self.kept,
        }


def migrate(
    *,
    session: Session,
    clock: Clock,
    actor: Actor,
    process_key: str,
    to_version_id: int,
    case_ids: list[str] | None = None,
    from_version_id: int | None = None,
    dry_run: bool = True,
    note: str = "",
) -> list[CaseMigration]:
    """Migrate the named cases (or every running case on ``from_version_id``) to ``to_version_id``."""
    require_role(actor, ADMIN_ROLE, action="迁移案件")
    target = _target(session, process_key, to_version_id)
    cases = _select(session, target, case_ids, from_version_id)
    parsed = registry.parsed(session, target)
    results = []
    for case in cases:
        if dry_run:
            results.append(_dry_run(session, clock.now(), case, target, parsed))
            continue
        start = CaseMigration(case.id, case.business_key, case.process_version_id, safe=False)
        try:
            with session.begin_nested():
                results.append(_migrate_one(session, clock.now(), actor, start, target, parsed, note))
        except DomainError as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            start.reasons = list(details.get("reasons") or [exc.message])
            results.append(start)
    refused = [r for r in results if not r.migrated]
    if case_ids and not dry_run and refused:
        # named cases move together or not at all; a filter moves every case that is safe
        raise ValidationFailed(
            "以下案件不能安全迁移，本次未迁移任何案件："
            + "；".join(f"{r.business_key}：{'；'.join(r.reasons)}" for r in refused),
            code="migration_unsafe",
            details={"results": [r.as_dict() for r in results]},
        )
    return results


def _target(session: Session, process_key: str, version_id: int) -> ProcessVersion:
    target = session.get(ProcessVersion, version_id)
    if target is None or target.process_key != process_key:
        raise NotFound("找不到该流程版本", code="version_not_found")
    problems = validation.validate(
        key=target.process_key, files=target.files, extra_files=registry.called_files(session, target)
    )
    if problems:
        raise ValidationFailed(
            "目标版本未通过校验，不能把案件迁移到该版本",
            code="model_invalid",
            details={"problems": [p.as_dict() for p in problems]},
        )
    return target


def _select(
    session: Session, target: ProcessVersion, case_ids: list[str] | None, from_version_id: int | None
) -> list[Case]:
    if case_ids:
        if len(case_ids) > MAX_CASES:
            raise ValidationFailed(f"一次最多迁移 {MAX_CASES} 个案件", code="too_many_cases")
        cases = [load_case(session, case_id) for case_id in case_ids]
        other = [c.business_key for c in cases if c.process_key != target.process_key]
        if other:
            raise ValidationFailed(
                f"案件 {'、'.join(other)} 不属于流程 {target.process_key}", code="process_mismatch"
            )
        return cases
    if from_version_id is None:
        raise ValidationFailed("请指定要迁移的案件，或要迁出的流程版本", code="migration_scope_required")
    return list(
        session.scalars(
            select(Case)
            .where(
                Case.process_key == target.process_key,
                Case.process_version_id == from_version_id,
                Case.status == "running",
            )
            .order_by(Case.created_at)
            .limit(MAX_CASES)
        )
    )


def _precheck(case: Case, target: ProcessVersion) -> str | None:
    if case.status != "running":
        return "案件已结束，不需要迁移"
    if case.process_version_id == target.id:
        return "案件已在该版本上"
    return None


def _dry_run(
    session: Session, now: datetime, case: Case, target: ProcessVersion, parsed: ParsedProcess
) -> CaseMigration:
    result = CaseMigration(case.id, case.business_key, case.process_version_id, safe=False)
    if (reason := _precheck(case, target)) is not None:
        result.reasons.append(reason)
        return result
    run = CaseRun.restore(process_of(session, case), case.state, case_id=case.id)
    if case.next_due_at is not None and case.next_due_at < now:
        run.fire_timers(now=now)  # as the real migration does first
    return _fill(result, migrate_run(run, parsed, now=now))


def _fill(result: CaseMigration, report: MigrationReport) -> CaseMigration:
    result.safe, result.reasons, result.changed, result.kept = (
        report.safe,
        report.reasons,
        report.changed,
        report.kept,
    )
    return result


def _migrate_one(
    session: Session,
    now: datetime,
    actor: Actor,
    result: CaseMigration,
    target: ProcessVersion,
    parsed: ParsedProcess,
    note: str,
) -> CaseMigration:
    case = load_case(session, result.case_id)
    if (reason := _precheck(case, target)) is not None:
        raise ValidationFailed(reason, code="migration_not_needed")
    reports: list[MigrationReport] = []

    def step(case: Case, run: CaseRun, at: datetime) -> list[NewEvent]:
        source = run.process.content_hash
        report = migrate_run(run, parsed, now=at)
        reports.append(report)
        if not report.safe:
            raise ValidationFailed(
                "该案件不能安全迁移：" + "；".join(report.reasons),
                code="migration_unsafe",
                details={"reasons": report.reasons},
            )
        return [
            NewEvent(
                "case_migrated",
                actor.username,
                {
                    "from_version": source,
                    "to_version": target.content_hash,
                    "changed": report.changed,
                    "kept_task_ids": report.kept,
                    "note": note,
                    "digest": run.digest(),
                },
            )
        ]

    outcome = act(session, case_id=case.id, now=now, actor=actor.username, step=step)
    session.execute(update(Case).where(Case.id == case.id).values(process_version_id=target.id))
    set_committed_value(outcome.case, "process_version_id", target.id)
    _rename_open_tasks(session, case.id, outcome.run)
    result.migrated = True
    return _fill(result, reports[-1])


def _rename_open_tasks(session: Session, case_id: str, run: CaseRun) -> None:
    """Open task rows keep their ids, claims and due times; only a renamed step's name changes."""
    names = {t.id: t.name for t in run.open_tasks()}
    rows = session.scalars(select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == "ready"))
    for row in rows:
        if row.id in names and row.name != names[row.id]:
            row.name = names[row.id]
    session.flush()
