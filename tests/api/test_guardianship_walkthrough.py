"""A guardianship-intervention case walked over HTTP by the demo users, report to court petition."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.engine.guardianship_scenarios import SCENARIOS
from workflows.cases import lifecycle as cases
from workflows.cases.replay import verify_case
from workflows.infra.clock import FixedClock
from workflows.infra.models import Case
from workflows.infra.settings import Settings
from workflows.ops import demo
from workflows.people.access import SYSTEM

WALK = SCENARIOS["red_violence_relatives_protection_order"]


@pytest.fixture
def demo_passwords(session: Session, tmp_path: Path) -> dict[str, str]:
    settings = Settings(demo=True, data_dir=tmp_path, database_url="sqlite://")
    return demo.ensure(session, settings=settings)


def test_demo_cases_all_verify(session: Session, demo_passwords: dict[str, str]) -> None:
    made = [c for c in session.query(Case).filter(Case.created_by == "demo_village_director")]
    assert len(made) == len(demo.scripted_stories())
    assert {c.status for c in made} == {"running", "completed"}
    for case in made:
        report = verify_case(session, case)
        assert report.ok, report.problem


def test_report_to_court_petition_over_http(client: TestClient, demo_passwords: dict[str, str]) -> None:
    tokens: dict[str, dict[str, str]] = {}

    def as_user(username: str) -> dict[str, str]:
        if username not in tokens:
            response = client.post(
                "/api/auth/token", data={"username": username, "password": demo_passwords[username]}
            )
            assert response.status_code == 200, response.text
            tokens[username] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return tokens[username]

    director = as_user("demo_village_director")
    response = client.post(
        "/api/cases",
        headers=director,
        json={
            "process_key": "guardianship_intervention",
            "jurisdiction_code": demo.VILLAGE,
            "data": WALK["start"],
        },
    )
    assert response.status_code == 201, response.text
    case_id = response.json()["id"]
    steps = [s for s in WALK["steps"] if s[0] != "__timer__"]
    for bpmn_id, data in steps:
        role_task = None
        for role in (
            "protection_center",
            "police",
            "village_director",
            "township_supervisor",
            "county_civil_affairs",
            "procuratorate",
            "court",
            "welfare_institution",
            "village_committee",
            "judicial_admin",
        ):
            items = client.get(
                "/api/tasks",
                headers=as_user(demo.demo_username(role)),
                params={"process_key": "guardianship_intervention", "limit": 200},
            ).json()["items"]
            role_task = next((t for t in items if t["case_id"] == case_id and t["bpmn_id"] == bpmn_id), None)
            if role_task:
                break
        assert role_task, f"no demo user sees {bpmn_id}"
        who = as_user(demo.demo_username(role_task["role"]))
        response = client.post(f"/api/tasks/{role_task['id']}/complete", headers=who, json={"data": data})
        assert response.status_code == 200, (bpmn_id, response.text)
        if bpmn_id == "court_ruling":
            break
    case = client.get(f"/api/cases/{case_id}", headers=as_user("demo_county_civil_affairs")).json()
    assert case["data"]["court_result"] == "granted" and case["data"]["petition_type"] == "protection_order"
    assert client.post(f"/api/cases/{case_id}/verify", headers=as_user("demo_auditor")).json()["ok"] is True


def test_demo_cases_walk_when_many_tasks_are_already_waiting(
    session: Session, clock: FixedClock, tmp_path: Path
) -> None:
    """More ready tasks than one worklist page, all due before the demo's: the demo still walks its stories."""
    for _ in range(205):
        cases.start_case(
            session=session,
            clock=clock,
            actor=SYSTEM,
            process_key="review_demo",
            data={"child_name": "甲"},
            jurisdiction_code=demo.VILLAGE,
        )
    session.flush()
    demo.ensure(session, settings=Settings(demo=True, data_dir=tmp_path, database_url="sqlite://"))
    made = [c for c in session.query(Case).filter(Case.created_by == "demo_village_director")]
    assert len(made) == len(demo.scripted_stories())
    assert {c.status for c in made} == {"running", "completed"}
