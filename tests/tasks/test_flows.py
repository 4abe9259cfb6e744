"""The flows' logic through ``.fn()``: the sweep, the periodic rounds and the annual report."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tasks import reports, rounds
from tasks.flows import annual_report, deployments, start_rounds, timer_sweep
from tasks.runtime import Runtime
from tests.tasks.conftest import CITY, COUNTY, OTHER_COUNTY, OTHER_VILLAGE, VILLAGE
from tests.tasks.models import publish_round_models
from workflows.cases import human_tasks, sweeping
from workflows.cases import lifecycle as cases
from workflows.children import registry
from workflows.infra.clock import FixedClock
from workflows.infra.models import Case, Document, HumanTask, ProcessDefinition
from workflows.people.access import SYSTEM, Actor


def start_red(session: Session, clock: FixedClock, code: str = VILLAGE) -> Case:
    case = cases.start_case(
        session=session,
        clock=clock,
        actor=SYSTEM,
        process_key="review_demo",
        data={"child_name": "小明"},
        jurisdiction_code=code,
    ).case
    task = session.scalar(select(HumanTask).where(HumanTask.case_id == case.id))
    human_tasks.complete(session=session, clock=clock, actor=SYSTEM, task_id=task.id, data={"score": 99})
    return case


def test_a_failing_case_is_logged_and_the_sweep_goes_on(
    gz: Session,
    clock: FixedClock,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken, fine = start_red(gz, clock), start_red(gz, clock)
    clock.advance(hours=25)
    real = sweeping.fire_case

    def fire(session: Session, case: Case, now: datetime) -> object:
        if case.id == broken.id:
            raise RuntimeError("模拟故障")
        return real(session, case, now)

    monkeypatch.setattr(sweeping, "fire_case", fire)
    report = timer_sweep.fn()
    assert report["failed"] == [broken.id] and report["fired"] >= 1
    assert "定时器触发失败" in caplog.text
    gz.refresh(fine)
    gz.refresh(broken)
    assert fine.next_due_at is None and broken.next_due_at is not None
    monkeypatch.setattr(sweeping, "fire_case", real)
    assert timer_sweep.fn()["fired"] == 1  # the next sweep picks the broken one up


def test_periods_are_reckoned_in_china_standard_time() -> None:
    assert rounds.quarter_of(datetime(2026, 3, 31, 15, 59, tzinfo=UTC)) == "2026Q1"
    assert rounds.quarter_of(datetime(2026, 3, 31, 16, 0, tzinfo=UTC)) == "2026Q2"  # 1 Apr 00:00 CST
    assert rounds.half_year_of(datetime(2026, 6, 30, 16, 0, tzinfo=UTC)) == "2026H2"
    assert rounds.half_year_of(datetime(2026, 12, 31, 15, 0, tzinfo=UTC)) == "2026H2"


def test_rounds_skip_a_process_that_is_not_published(
    gz: Session, clock: FixedClock, runtime: Runtime
) -> None:
    spec = rounds.Round("no_such_round", "village", "quarter", rounds.quarter_of, lambda c, p: {"quarter": p})
    report = rounds.start_rounds(sessions=runtime.sessions, clock=clock, rounds=(spec,))
    assert report.skipped_processes == ["no_such_round"] and report.started == 0


def test_rounds_start_once_per_place_and_period(gz: Session, clock: FixedClock, runtime: Runtime) -> None:
    publish_round_models(gz, clock.now())
    gz.flush()
    first = start_rounds.fn()

    def ours(key: str) -> list[Case]:
        return [
            c
            for c in gz.scalars(select(Case).where(Case.process_key == key))
            if c.jurisdiction_code.startswith("44")
        ]

    villages = {c.jurisdiction_code: c.data for c in ours("quarterly_verification")}
    counties = {c.jurisdiction_code: c.data for c in ours("risk_list_sharing")}
    assert villages == {
        VILLAGE: {"village_code": VILLAGE, "quarter": "2026Q1"},
        OTHER_VILLAGE: {"village_code": OTHER_VILLAGE, "quarter": "2026Q1"},
    }
    assert counties == {
        COUNTY: {"period": "2026H1", "county_code": COUNTY},
        OTHER_COUNTY: {"period": "2026H1", "county_code": OTHER_COUNTY},
    }
    checks = {c.jurisdiction_code: c.data for c in ours("annual_file_check")}
    assert checks == {COUNTY: {"check_year": 2026}, OTHER_COUNTY: {"check_year": 2026}}
    assert first["started"] >= 6 and all(c.created_by == "system" for c in ours("quarterly_verification"))
    again = start_rounds.fn()
    assert again["started"] == 0 and again["existing"] == first["started"] + first["existing"]
    clock.set(datetime(2026, 4, 1, 0, 30, tzinfo=UTC))  # 08:30 CST on 1 April: a new quarter, same half-year
    third = start_rounds.fn()
    assert len(ours("quarterly_verification")) == 4 and len(ours("risk_list_sharing")) == 2
    assert len(ours("annual_file_check")) == 2
    assert third["started"] >= 2


def test_a_round_started_by_hand_is_not_started_again(
    gz: Session, clock: FixedClock, runtime: Runtime
) -> None:
    publish_round_models(gz, clock.now())
    cases.start_case(
        session=gz,
        clock=clock,
        actor=SYSTEM,
        process_key="quarterly_verification",
        data={"village_code": VILLAGE, "quarter": "2026Q1"},
        jurisdiction_code=VILLAGE,
    )
    gz.flush()
    spec = rounds.ROUNDS[0]
    assert rounds.start_round_case(session=gz, clock=clock, spec=spec, code=VILLAGE, period="2026Q1") is None
    assert rounds.start_round_case(session=gz, clock=clock, spec=spec, code=OTHER_VILLAGE, period="2026Q1")


def test_annual_report_is_written_once_per_city_without_labels(
    gz: Session, clock: FixedClock, runtime: Runtime
) -> None:
    definition = gz.get(ProcessDefinition, "review_demo")
    definition.name = (
        "农村留守儿童和困境儿童关爱测试流程"  # a careless process name must not reach the report
    )
    start_red(gz, clock)
    start_red(gz, clock, OTHER_VILLAGE)
    cases.start_case(
        session=gz,
        clock=clock,
        actor=SYSTEM,
        process_key="review_demo",
        data={"child_name": "小红"},
        jurisdiction_code="440104001001",
    )
    gz.flush()
    clock.set(datetime(2026, 11, 1, 1, 0, tzinfo=UTC))
    result = annual_report.fn(level="city")
    document = gz.scalar(
        select(Document).where(Document.kind == "annual_report", Document.jurisdiction_code == CITY)
    )
    assert document is not None and document.id in result["documents"]
    assert document.period == "2026" and document.title == "广州市儿童关爱保护工作2026年度进展报告"
    html = document.content
    assert "留守儿童" not in html and "困境儿童" not in html and "小明" not in html
    assert "荔湾区" in html and "越秀区" in html and "2026年11月15日" in html
    assert "报送对象：省级民政部门" in html and "逾期待办" in html
    import hashlib

    assert document.sha256 == hashlib.sha256(html.encode("utf-8")).hexdigest()
    assert reports.write_annual_report(session=gz, clock=clock, code=CITY, level="city", year=2026) is None
    data = reports.gather(session=gz, code=CITY, level="city", year=2026, now=clock.now())
    by_county = {c["code"]: c for c in data.counties}
    assert by_county[COUNTY]["cases"] == 2 and by_county[OTHER_COUNTY]["cases"] == 1
    assert by_county[OTHER_COUNTY]["overdue"] == 1  # its intake was due in 3 days, months ago
    assert data.totals["running"] == 3


def test_annual_report_lists_villages_over_30_children_in_care_003_5_5_16(
    gz: Session, clock: FixedClock, runtime: Runtime
) -> None:
    """003 §五(五)16: the city's annual report lists the villages whose children in care exceed 30 and
    says which of them still have fewer than two directors (figures only, no labels)."""
    county = Actor("gz_c", frozenset({"county_civil_affairs"}), COUNTY)
    for village, count in ((VILLAGE, 32), (OTHER_VILLAGE, 31)):
        for i in range(count):
            registry.register(
                session=gz,
                clock=clock,
                actor=county,
                data={"name": f"儿童{i}", "village_code": village, "categories": ["orphan"]},
            )
    gz.flush()
    data = reports.gather(session=gz, code=CITY, level="city", year=2026, now=clock.now())
    rows = {r["code"]: r for r in data.villages_over}
    assert rows[VILLAGE] == {
        "code": VILLAGE,
        "name": "沙面社区",
        "township": "沙面街道",
        "children": 32,
        "directors": 2,
        "short": False,
    }
    assert rows[OTHER_VILLAGE]["children"] == 31 and rows[OTHER_VILLAGE]["short"] is True
    html = reports.render(data)
    assert "四、儿童主任配备情况" in html and "粤民发〔2024〕32号 五(五)16" in html
    assert "岭南社区" in html and "应增配" in html and "儿童0" not in html


def test_province_report_is_due_on_10_december(gz: Session, clock: FixedClock, runtime: Runtime) -> None:
    annual_report.fn(level="province", year=2026)
    document = gz.scalar(
        select(Document).where(Document.kind == "annual_report", Document.jurisdiction_code == "44")
    )
    assert "2026年12月10日" in document.content and "报送对象：民政部" in document.content
    assert document.pdf.startswith(b"%PDF-")  # the annual report is kept as PDF too, with its hash
    assert document.pdf_sha256 == hashlib.sha256(document.pdf).hexdigest()
    assert "本年度暂无案件" not in document.content or "广东省" in document.title


def test_the_schedules_are_in_china_standard_time() -> None:
    by_name = {d.name: d for d in deployments()}
    assert set(by_name) == {
        "timer-sweep",
        "deliver-notifications",
        "scan-due-tasks",
        "start-rounds",
        "annual-report-city",
        "annual-report-province",
        "record-checkpoint",
    }
    for deployment in by_name.values():
        assert all(s.schedule.timezone == "Asia/Shanghai" for s in deployment.schedules)
    assert by_name["annual-report-city"].schedules[0].schedule.cron == "0 9 1 11 *"
    assert by_name["annual-report-city"].parameters == {"level": "city"}
    assert by_name["annual-report-province"].schedules[0].schedule.cron == "0 9 1 12 *"
    assert by_name["timer-sweep"].schedules[0].schedule.interval.total_seconds() == 60
    assert by_name["record-checkpoint"].schedules[0].schedule.cron == "15 2 * * *"


def test_rounds_start_the_bundled_models(gz: Session, clock: FixedClock, runtime: Runtime) -> None:
    keys = [spec.process_key for spec in rounds.ROUNDS]
    missing = [key for key in keys if not rounds.is_published(gz, key)]
    if missing:
        pytest.skip(f"not published in this test database: {', '.join(missing)}")
    report = start_rounds.fn()
    assert report["failed"] == [] and report["skipped_processes"] == []
    started = {
        (c.process_key, c.jurisdiction_code)
        for c in gz.scalars(select(Case).where(Case.created_by == "system"))
    }
    assert {(k, VILLAGE) for k in keys[:1]} | {(k, COUNTY) for k in keys[1:]} <= started
