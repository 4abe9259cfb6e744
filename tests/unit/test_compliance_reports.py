"""The compliance overview (deadlines missed per place, cases open too long) and the access report."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import REPORT, REVIEW
from tests.unit.test_services import VILLAGE
from tests.unit.test_verify import AUDITOR
from workflows.cases import compliance, human_tasks
from workflows.cases import lifecycle as cases
from workflows.cases.views import record_access
from workflows.children.access_report import access_report, burst_instants, outside_hours
from workflows.infra.clock import CST, FixedClock
from workflows.infra.errors import NotFound, PermissionDenied
from workflows.infra.models import AccessLog, Case, HumanTask
from workflows.people.access import Actor

CENTER = Actor("center", frozenset({"protection_center"}), "500111")
COUNTY = Actor("county", frozenset({"county_civil_affairs"}), "500111")
OTHER_COUNTY = Actor("other", frozenset({"county_civil_affairs"}), "500112")
DIRECTOR = Actor("director", frozenset({"village_director"}), VILLAGE)


def red_case(session: Session, clock: FixedClock) -> Case:
    case = cases.start_case(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        process_key="guardianship_intervention",
        data=REPORT,
        jurisdiction_code=VILLAGE,
    ).case
    task = session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "ready"))
    assert task is not None and task.bpmn_id == "review_report"
    human_tasks.complete(session=session, clock=clock, actor=CENTER, task_id=task.id, data=REVIEW)
    return case


def test_missed_police_response_is_counted_per_place_and_links_to_the_case(
    session: Session, clock: FixedClock, people: dict[str, int]
) -> None:
    case = red_case(session, clock)
    police = session.scalar(
        select(HumanTask).where(
            HumanTask.case_id == case.id, HumanTask.bpmn_id == "emergency_response_police"
        )
    )
    assert police is not None and police.due_at is not None
    before = compliance.overview(session=session, clock=clock, actor=COUNTY)[1][0].counts["police_response"]
    clock.set(police.due_at + timedelta(hours=3))
    here, rows = compliance.overview(session=session, clock=clock, actor=COUNTY)
    assert here is not None and here.code == "500111"
    total, *places = rows
    assert total.counts["police_response"] == before + 1
    township = next(r for r in places if r.code == "500111101")
    assert township.counts["police_response"] >= 1
    behind = compliance.cases_behind(
        session=session, clock=clock, actor=AUDITOR, place="500111101", metric="police_response"
    )
    mine = next(f for f in behind if f.case_id == case.id)
    assert mine.step == police.name and mine.text.startswith("已逾期 3小时")
    with pytest.raises(NotFound):
        compliance.overview(session=session, clock=clock, actor=OTHER_COUNTY, place="500111")
    with pytest.raises(PermissionDenied):
        compliance.overview(session=session, clock=clock, actor=DIRECTOR)


def test_a_case_open_past_its_expected_duration_is_listed(session: Session, clock: FixedClock) -> None:
    case = red_case(session, clock)
    clock.advance(days=compliance.EXPECTED_DAYS["guardianship_intervention"] + 2)
    found = compliance.cases_behind(
        session=session, clock=clock, actor=COUNTY, place="500111", metric=compliance.OVERDUE_CASES
    )
    assert any(f.case_id == case.id and "已超出 2天" in f.text for f in found)


def test_reads_are_reported_with_role_and_unusual_ones_flagged(
    session: Session, clock: FixedClock, people: dict[str, int]
) -> None:
    case = red_case(session, clock)
    clock.set(
        clock.now().astimezone(CST).replace(hour=10, minute=0)
        + timedelta(days=(7 - clock.now().astimezone(CST).weekday()) % 7)
    )
    record_access(session, clock=clock, actor=CENTER, endpoint="GET /cases/x", case=case)  # Monday 10:00
    clock.advance(hours=12)  # 22:00
    record_access(session, clock=clock, actor=DIRECTOR, endpoint="GET /cases/x", case=case)
    reads = access_report(session=session, clock=clock, actor=AUDITOR, endpoint="test", case_id=case.id)
    by_user = {r.username: r for r in reads if r.endpoint == "GET /cases/x"}
    assert by_user["center"].flags == [] and by_user["center"].roles == "未成年人救助保护机构"
    assert by_user["director"].flags == ["非工作时间"]
    assert by_user["director"].who.startswith("测试director（")
    with pytest.raises(PermissionDenied):
        access_report(session=session, clock=clock, actor=DIRECTOR, endpoint="test", case_id=case.id)


def test_many_files_in_a_short_time_are_flagged(clock: FixedClock) -> None:
    def read(n: int, minutes: float, user: str = "u") -> AccessLog:
        return AccessLog(
            id=n,
            at=clock.now() + timedelta(minutes=minutes),
            username=user,
            endpoint="e",
            child_ref=f"child-{n}",
            purpose="",
            roles="",
        )

    calm = [read(n, n * 1.0) for n in range(30)]  # one a minute: never more than 11 in ten minutes
    assert burst_instants(calm) == set()
    rush = [read(n, n * 0.3) for n in range(25)]  # 25 children in 7.5 minutes
    assert burst_instants(rush) == {r.id for r in rush}
    same_child = [
        AccessLog(id=n, at=clock.now(), username="u", endpoint="e", child_ref="one", roles="")
        for n in range(40)
    ]
    assert burst_instants(same_child) == set()
    assert outside_hours(clock.now().astimezone(CST).replace(hour=7, minute=59))
