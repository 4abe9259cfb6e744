"""Whole-database checks: every case verified, then the database held against the latest checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.cases.replay import Report, verify_case
from workflows.infra import place_counts
from workflows.infra.clock import CST
from workflows.infra.keys import SigningKeys
from workflows.infra.models import Case, Checkpoint
from workflows.log import checkpoints
from workflows.log.checkpoints import Finding
from workflows.ops import chain_jobs


@dataclass
class AuditResult:
    total: int = 0
    events: int = 0  # events whose chain was checked
    failed: list[tuple[str, Report]] = field(default_factory=list)  # (business key, report)
    checkpoint: Checkpoint | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.findings

    def lines(self) -> list[str]:
        """The result in Chinese, one finding a line, the summary last."""
        out = [f"✗ {key}: {r.problem} (事件 #{r.seq})" for key, r in self.failed]
        out += [f"✗ {f.message}" for f in self.findings]
        if self.checkpoint is None:
            out.append("提示：尚无签名检查点，无法发现整案删除或整条日志被改写（请运行 shouhu checkpoint）。")
        else:
            cp = self.checkpoint
            at = cp.created_at.astimezone(CST).strftime("%Y-%m-%d %H:%M")
            out.append(
                f"检查点 #{cp.id}（{at}，{cp.cases} 个案件，根 {cp.merkle_root[:16]}…，密钥 {cp.key_id}）："
                + ("一致" if not self.findings else f"{len(self.findings)} 处不符")
            )
        out.append(f"核验完成：{self.total - len(self.failed)}/{self.total} 个案件通过。")
        return out


# what a chain check needs of a case: its log's head (not its stored state)
_HEADS = select(Case.id, Case.case_no, Case.last_event_seq, Case.last_event_hash).order_by(Case.created_at)


def verify_all(
    session: Session, keys: SigningKeys | None, *, chain_only: bool = False, jobs: int = 1
) -> AuditResult:
    """Verify each case (chain and replay; only the chain with ``chain_only``, a far quicker check of every
    log's integrity, shared among ``jobs`` processes), the overview's kept counts against the cases, then the
    latest checkpoint against the database."""
    result = AuditResult()
    if chain_only:
        chain_jobs.repeatable_read(session)
        heads = (tuple(head) for head in session.execute(_HEADS))
        checked = chain_jobs.check_heads(session, heads, jobs)  # type: ignore[arg-type]
        result.total, result.events = checked.total, checked.events
        result.failed.extend((case_no, report) for _, case_no, report in checked.failed)
    for case in () if chain_only else session.scalars(select(Case).order_by(Case.created_at)):
        result.total += 1
        report = verify_case(session, case)
        result.events += report.events
        if not report.ok:
            result.failed.append((case.case_no, report))
    for code, colour, kept, counted in place_counts.differences(session.connection()):
        result.findings.append(
            Finding(
                None,
                f"概览计数与案件不符：{code} {colour or '未分级'} 记为 {kept} 件，运行中的案件实有 {counted} 件"
                "（shouhu recount-overview 可按案件重算）",
            )
        )
    result.checkpoint = checkpoints.latest(session)
    if result.checkpoint is not None:
        if keys is None:
            result.findings.append(Finding(None, "未配置检查点密钥，无法核对签名检查点"))
        else:
            result.findings.extend(checkpoints.check(session, result.checkpoint, keys))
    return result
