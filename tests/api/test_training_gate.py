"""The training gate, the township supervisor standing in, and hand-over when a worker leaves."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.test_happy_path import my_tasks, start_case
from workflows.infra.clock import FixedClock
from workflows.people import accounts

Login = Callable[[str], dict[str, str]]


def test_uncertified_director_sees_no_task_until_certified(
    client: TestClient, login: Login, session: Session, clock: FixedClock
) -> None:
    start_case(client, login)
    response = client.get("/api/tasks", headers=login("trainee"))
    assert response.json()["items"] == [] and response.json()["certified"] is False
    [task] = my_tasks(client, login("director"))
    claim = client.post(f"/api/tasks/{task['id']}/claim", headers=login("trainee"))
    assert claim.status_code == 403 and "岗前培训" in claim.json()["message"]
    done = client.post(
        f"/api/tasks/{task['id']}/complete", headers=login("trainee"), json={"data": {"score": 1}}
    )
    assert done.status_code == 403 and done.json()["code"] == "not_certified"
    accounts.set_certified(
        session=session, clock=clock, username="trainee", certified=True, certificate_no="DZ-2026-001"
    )
    assert [t["id"] for t in my_tasks(client, login("trainee"))] == [task["id"]]
    assert client.post(f"/api/tasks/{task['id']}/claim", headers=login("trainee")).status_code == 200


def test_supervisor_takes_tasks_of_a_village_without_a_certified_director(
    client: TestClient, login: Login, session: Session, clock: FixedClock, people: dict[str, int]
) -> None:
    start_case(client, login)
    assert my_tasks(client, login("supervisor")) == []
    admin = login("admin")
    assert client.post(f"/api/users/{people['director']}/deactivate", headers=admin).status_code == 200
    [task] = my_tasks(client, login("supervisor"))
    assert task["role"] == "village_director"
    response = client.post(
        f"/api/tasks/{task['id']}/complete", headers=login("supervisor"), json={"data": {"score": 20}}
    )
    assert response.status_code == 200, response.text


def test_hand_over_moves_claimed_tasks(
    client: TestClient, login: Login, session: Session, clock: FixedClock, people: dict[str, int]
) -> None:
    case = start_case(client, login)
    [task] = my_tasks(client, login("director"))
    client.post(f"/api/tasks/{task['id']}/claim", headers=login("director"))
    accounts.set_certified(session=session, clock=clock, username="trainee", certified=True)
    response = client.post(
        f"/api/users/{people['director']}/handover", headers=login("admin"), json={"successor": "trainee"}
    )
    assert response.status_code == 200 and response.json()["moved_tasks"] == [task["id"]]
    [moved] = my_tasks(client, login("trainee"))
    assert moved["assignee"] == "trainee"
    history = client.get(f"/api/cases/{case['id']}/history", headers=login("county")).json()
    assert [e["type"] for e in history][-2:] == ["task_handed_over", "task_claimed"]
    assert client.post(f"/api/cases/{case['id']}/verify", headers=login("auditor")).json()["ok"] is True


def test_deactivation_returns_claimed_tasks_to_the_pool(
    client: TestClient, login: Login, people: dict[str, int]
) -> None:
    start_case(client, login)
    [task] = my_tasks(client, login("director"))
    client.post(f"/api/tasks/{task['id']}/claim", headers=login("director"))
    client.post(f"/api/users/{people['director']}/deactivate", headers=login("admin"))
    [task] = my_tasks(client, login("supervisor"))
    assert task["assignee"] is None


def test_passing_the_onboarding_process_opens_the_gate(client: TestClient, login: Login) -> None:
    """The certificate comes from the worker_onboarding case itself: its `worker_certified` message opens the gate."""
    from tests.engine import test_worker_onboarding as onboarding

    start_case(client, login)
    assert my_tasks(client, login("trainee")) == []
    response = client.post(
        "/api/cases",
        headers=login("county"),
        json={
            "process_key": "worker_onboarding",
            "jurisdiction_code": "500111101201",
            "data": {**onboarding.DIRECTOR, "username": "trainee", "real_name": "测试trainee"},
        },
    )
    assert response.status_code == 201, response.text
    case_id = response.json()["id"]
    steps = [
        (
            "committee",
            "appoint_director",
            {
                "appointment_date": "2026-03-02",
                "background": "committee_member",
                "is_female_committee_member": True,
                "post_basis": "first",
            },
        ),
        (
            "county",
            "register_worker",
            {"registration_date": "2026-03-03", "system_record_no": "RS-1", "identity_verified": True},
        ),
        (
            "county",
            "initial_training_director",
            {
                "initial_training_date": "2026-03-20",
                "initial_training_hours": 16,
                "initial_training_form": "classroom",
                "initial_training_topics": ["duties"],
            },
        ),
        (
            "county",
            "assess_director",
            {
                "assessment_date": "2026-03-20",
                "assessment_score": 90,
                "assessment_result": "pass",
                "certificate_no": "DZ-2026-007",
            },
        ),
    ]
    for who, bpmn_id, data in steps:
        [task] = [
            t for t in my_tasks(client, login(who)) if t["case_id"] == case_id and t["bpmn_id"] == bpmn_id
        ]
        response = client.post(f"/api/tasks/{task['id']}/complete", headers=login(who), json={"data": data})
        assert response.status_code == 200, response.text
    me = client.get("/api/auth/me", headers=login("trainee")).json()
    assert me["certified"] is True and me["certificate_no"] == "DZ-2026-007"
    [task] = my_tasks(client, login("trainee"))
    assert task["process_key"] == "review_demo"
    history = client.get(f"/api/cases/{case_id}/history", headers=login("county")).json()
    assert "message_sent" in [e["type"] for e in history]
    assert client.post(f"/api/cases/{case_id}/verify", headers=login("auditor")).json()["ok"] is True


def _refused(response, action: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "not_certified" and "岗前培训考核" in body["message"] and action in body["message"]
    assert body["details"]["source"] == "民发〔2019〕34号 二(二)"


def test_training_gate_001_2_2_covers_every_action_on_a_case(
    client: TestClient, login: Login, session: Session, clock: FixedClock
) -> None:
    """001 §二(二) 初任儿童督导员和儿童主任经培训考核合格后方可开展工作: an uncertified director or supervisor
    cannot start, list, view, claim, complete, correct or message a case, nor issue or read its papers."""
    case = start_case(client, login)
    [task] = my_tasks(client, login("director"))
    issued = client.post(
        f"/api/cases/{case['id']}/documents", headers=login("county"), json={"kind": "report_receipt"}
    )
    assert issued.status_code == 201, issued.text
    for who in ("trainee", "new_supervisor"):
        headers = login(who)
        _refused(
            client.post(
                "/api/cases",
                headers=headers,
                json={
                    "process_key": "review_demo",
                    "jurisdiction_code": "500111101201",
                    "data": {"child_name": "小明"},
                },
            ),
            "开启案件",
        )
        assert client.get("/api/cases", headers=headers).json()["items"] == []
        _refused(client.get(f"/api/cases/{case['id']}", headers=headers), "查看案件")
        _refused(client.get(f"/api/cases/{case['id']}/history", headers=headers), "查看案件")
        _refused(client.get(f"/api/tasks/{task['id']}", headers=headers), "查看案件任务")
        _refused(client.post(f"/api/tasks/{task['id']}/claim", headers=headers), "查看案件任务")
        _refused(
            client.post(f"/api/tasks/{task['id']}/complete", headers=headers, json={"data": {"score": 1}}),
            "查看案件任务",
        )
        _refused(
            client.post(
                f"/api/cases/{case['id']}/corrections",
                headers=headers,
                json={"changes": {"child_name": "小亮"}, "reason": "笔误"},
            ),
            "查看案件",
        )
        _refused(client.get(f"/api/cases/{case['id']}/papers", headers=headers), "查看案件文书和附件")
        _refused(
            client.post(
                f"/api/cases/{case['id']}/documents", headers=headers, json={"kind": "report_receipt"}
            ),
            "出具文书",
        )
        _refused(client.get(f"/api/documents/{issued.json()['id']}", headers=headers), "查看案件文书")
    # certified workers, departments and administrators are not affected
    assert client.get(f"/api/cases/{case['id']}", headers=login("director")).status_code == 200
    assert client.get(f"/api/cases/{case['id']}", headers=login("county")).status_code == 200
    assert client.get(f"/api/cases/{case['id']}/history", headers=login("auditor")).status_code == 200
    accounts.set_certified(session=session, clock=clock, username="trainee", certified=True)
    assert client.get(f"/api/cases/{case['id']}", headers=login("trainee")).status_code == 200
    assert client.get(f"/api/tasks/{task['id']}", headers=login("trainee")).status_code == 200
