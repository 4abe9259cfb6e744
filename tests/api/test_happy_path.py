"""The API end to end on the small test process, and every error a caller can meet."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.infra.clock import FixedClock
from workflows.infra.models import AccessLog, CaseEvent

VILLAGE = "500111101201"
Login = Callable[[str], dict[str, str]]


def start_case(client: TestClient, login: Login) -> dict:
    response = client.post(
        "/api/cases",
        headers=login("director"),
        json={
            "process_key": "review_demo",
            "jurisdiction_code": VILLAGE,
            "data": {"child_name": "小明", "reporter_name": "张三"},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def my_tasks(client: TestClient, headers: dict[str, str]) -> list[dict]:
    response = client.get("/api/tasks", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_whole_case_over_http(client: TestClient, login: Login, clock: FixedClock) -> None:
    case = start_case(client, login)
    assert case["status"] == "running" and case["open_tasks"][0]["bpmn_id"] == "intake"
    [task] = my_tasks(client, login("director"))
    detail = client.get(f"/api/tasks/{task['id']}", headers=login("director")).json()
    assert detail["form"]["properties"]["score"]["title"] == "评分" and detail["instructions"] == "填写评分。"
    assert (
        client.post(f"/api/tasks/{task['id']}/claim", headers=login("director")).json()["assignee"]
        == "director"
    )
    done = client.post(
        f"/api/tasks/{task['id']}/complete", headers=login("director"), json={"data": {"score": 90}}
    )
    assert done.status_code == 200, done.text
    assert {t["bpmn_id"] for t in done.json()["next_tasks"]} == {"police_check", "center_check"}
    for who in ("police", "center"):
        [task] = my_tasks(client, login(who))
        response = client.post(
            f"/api/tasks/{task['id']}/complete",
            headers=login(who),
            json={"data": {f"{task['bpmn_id']}_result": "已处置"}},
        )
        assert response.status_code == 200, response.text
    [task] = my_tasks(client, login("director"))
    client.post(
        f"/api/tasks/{task['id']}/complete",
        headers=login("director"),
        json={"data": {"close_result": "结案"}},
    )
    final = client.get(f"/api/cases/{case['id']}", headers=login("director")).json()
    assert final["status"] == "completed" and final["open_tasks"] == []
    history = client.get(f"/api/cases/{case['id']}/history", headers=login("director")).json()
    assert [e["type"] for e in history][-2:] == ["task_completed", "case_completed"]
    report = client.post(f"/api/cases/{case['id']}/verify", headers=login("auditor")).json()
    assert report["ok"] is True, report


def test_401_without_or_with_a_bad_token(client: TestClient) -> None:
    response = client.get("/api/tasks")
    assert response.status_code == 401 and response.json()["message"] == "请先登录"
    response = client.get("/api/tasks", headers={"Authorization": "Bearer nonsense.token"})
    assert response.status_code == 401 and response.json()["code"] == "token_invalid"
    response = client.post("/api/auth/token", data={"username": "director", "password": "wrong-password"})
    assert response.status_code == 401 and response.json()["message"] == "用户名或密码不正确"


def test_expired_token_is_refused(client: TestClient, login: Login, clock: FixedClock) -> None:
    headers = login("director")
    clock.advance(hours=9)
    response = client.get("/api/tasks", headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "token_expired"


def test_403_for_the_wrong_role(client: TestClient, login: Login) -> None:
    start_case(client, login)
    [task] = my_tasks(client, login("director"))
    response = client.post(
        f"/api/tasks/{task['id']}/complete", headers=login("county"), json={"data": {"score": 1}}
    )
    assert response.status_code == 403 and "儿童主任" in response.json()["message"]


def test_404_across_jurisdictions(client: TestClient, login: Login) -> None:
    case = start_case(client, login)
    [task] = my_tasks(client, login("director"))
    for who in ("neighbour", "other_police"):
        assert client.get(f"/api/cases/{case['id']}", headers=login(who)).status_code == 404
        assert client.get(f"/api/tasks/{task['id']}", headers=login(who)).status_code == 404
        assert client.get(f"/api/cases/{case['id']}/history", headers=login(who)).status_code == 404
    assert my_tasks(client, login("neighbour")) == []
    response = client.post(
        "/api/cases",
        headers=login("neighbour"),
        json={"process_key": "review_demo", "jurisdiction_code": VILLAGE, "data": {"child_name": "x"}},
    )
    assert response.status_code == 404


def test_409_when_completed_twice_and_422_in_chinese(client: TestClient, login: Login) -> None:
    start_case(client, login)
    [task] = my_tasks(client, login("director"))
    bad = client.post(
        f"/api/tasks/{task['id']}/complete", headers=login("director"), json={"data": {"score": "高"}}
    )
    assert bad.status_code == 422
    assert bad.json()["details"]["fields"] == {"score": "应填写整数"} and "评分" in bad.json()["message"]
    ok = client.post(
        f"/api/tasks/{task['id']}/complete", headers=login("director"), json={"data": {"score": 10}}
    )
    assert ok.status_code == 200
    again = client.post(
        f"/api/tasks/{task['id']}/complete", headers=login("director"), json={"data": {"score": 10}}
    )
    assert again.status_code == 409 and "已办结" in again.json()["message"]


def test_idempotent_retry_returns_the_first_result(
    client: TestClient, login: Login, session: Session
) -> None:
    case = start_case(client, login)
    [task] = my_tasks(client, login("director"))
    headers = {**login("director"), "Idempotency-Key": "retry-7"}
    first = client.post(f"/api/tasks/{task['id']}/complete", headers=headers, json={"data": {"score": 55}})
    second = client.post(f"/api/tasks/{task['id']}/complete", headers=headers, json={"data": {"score": 55}})
    assert first.status_code == second.status_code == 200 and first.json() == second.json()
    completed = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case["id"], CaseEvent.type == "task_completed")
    ).all()
    assert len(completed) == 1


def test_reads_of_child_data_are_logged(client: TestClient, login: Login, session: Session) -> None:
    case = start_case(client, login)
    client.get(f"/api/cases/{case['id']}", headers=login("police"))
    rows = session.scalars(select(AccessLog).where(AccessLog.case_id == case["id"])).all()
    assert ("police", f"GET /api/cases/{case['id']}") in {(r.username, r.endpoint) for r in rows}


def test_reporter_is_hidden_from_roles_that_do_not_handle_reports(client: TestClient, login: Login) -> None:
    case = start_case(client, login)
    [task] = my_tasks(client, login("director"))
    client.post(f"/api/tasks/{task['id']}/complete", headers=login("director"), json={"data": {"score": 90}})
    assert (
        client.get(f"/api/cases/{case['id']}", headers=login("police")).json()["data"]["reporter_name"]
        == "张三"
    )
    court_view = client.get(f"/api/cases/{case['id']}", headers=login("court")).json()
    assert court_view["data"]["child_name"] == "小明" and "reporter_name" not in court_view["data"]
    history = client.get(f"/api/cases/{case['id']}/history", headers=login("court")).json()
    assert "张三" not in str(history)
    # education is not a case reader: it sees nothing until it is asked to act on the case
    assert client.get(f"/api/cases/{case['id']}", headers=login("education")).status_code == 404


def test_deactivated_user_token_stops_working(
    client: TestClient, login: Login, people: dict[str, int]
) -> None:
    headers = login("neighbour")
    assert client.get("/api/tasks", headers=headers).status_code == 200
    response = client.post(f"/api/users/{people['neighbour']}/deactivate", headers=login("admin"))
    assert response.status_code == 200 and response.json()["active"] is False
    response = client.get("/api/tasks", headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "token_revoked"
    response = client.post("/api/auth/token", data={"username": "neighbour", "password": "correct-horse-1"})
    assert response.status_code == 401 and "停用" in response.json()["message"]


def test_corrections_and_verify_over_http(client: TestClient, login: Login) -> None:
    case = start_case(client, login)
    response = client.post(
        f"/api/cases/{case['id']}/corrections",
        headers=login("director"),
        json={"changes": {"child_name": "小红"}, "reason": ""},
    )
    assert response.status_code == 422 and response.json()["message"] == "更正必须填写理由"
    response = client.post(
        f"/api/cases/{case['id']}/corrections",
        headers=login("director"),
        json={"changes": {"child_name": "小红"}, "reason": "登记错误"},
    )
    assert response.status_code == 200 and response.json()["data"]["child_name"] == "小红"
    assert client.post(f"/api/cases/{case['id']}/verify", headers=login("director")).status_code == 403
    assert client.post(f"/api/cases/{case['id']}/verify", headers=login("auditor")).json()["ok"] is True


def test_processes_list_shows_start_forms(client: TestClient, login: Login) -> None:
    processes = {p["key"]: p for p in client.get("/api/processes", headers=login("director")).json()}
    assert processes["review_demo"]["start_form"]["required"] == ["child_name"]


def test_request_body_errors_are_chinese(client: TestClient, login: Login) -> None:
    response = client.post("/api/cases", headers=login("director"), json={"data": {}})
    assert response.status_code == 422
    assert response.json()["details"]["fields"]["process_key"] == "此项为必填项"


def test_changing_role_or_jurisdiction_revokes_tokens(
    client: TestClient, login: Login, people: dict[str, int]
) -> None:
    for change in (
        {"roles": ["village_director", "village_committee"]},
        {"jurisdiction_code": "500111101201"},
    ):
        response = client.post(
            "/api/auth/token", data={"username": "neighbour", "password": "correct-horse-1"}
        )
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        assert client.get("/api/tasks", headers=headers).status_code == 200
        assert (
            client.patch(f"/api/users/{people['neighbour']}", headers=login("admin"), json=change).status_code
            == 200
        )
        assert client.get("/api/tasks", headers=headers).status_code == 401


def test_user_admin_acts_only_inside_their_jurisdiction(
    client: TestClient, login: Login, people: dict[str, int]
) -> None:
    response = client.post(
        "/api/users",
        headers=login("admin"),
        json={
            "username": "far_away",
            "display_name": "外县",
            "roles": ["police"],
            "jurisdiction_code": "500112",
            "password": "long-enough-pw",
        },
    )
    assert response.status_code == 403 and "辖区" in response.json()["message"]
    assert client.get(f"/api/users/{people['other_police']}", headers=login("admin")).status_code == 404
    assert client.get("/api/users", headers=login("director")).status_code == 403


def test_password_guessing_is_slowed_down(client: TestClient, clock: FixedClock) -> None:
    for _ in range(5):
        wrong = client.post("/api/auth/token", data={"username": "court", "password": "not-the-password"})
        assert wrong.status_code == 401 and wrong.json()["code"] == "bad_credentials"
    right = client.post("/api/auth/token", data={"username": "court", "password": "correct-horse-1"})
    assert (
        right.status_code == 401
        and right.json()["code"] == "too_many_attempts"
        and "分钟后再试" in right.json()["message"]
    )
    clock.advance(minutes=16)
    assert (
        client.post("/api/auth/token", data={"username": "court", "password": "correct-horse-1"}).status_code
        == 200
    )


def test_logout_revokes_the_token(client: TestClient) -> None:
    response = client.post("/api/auth/token", data={"username": "center", "password": "correct-horse-1"})
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert client.post("/api/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/tasks", headers=headers).status_code == 401


def test_oversized_bodies_are_refused_before_parsing(client: TestClient, login: Login) -> None:
    from api.limits import MAX_BODY_BYTES

    response = client.post(
        "/api/children/import",
        headers=login("director"),
        files={"file": ("big.csv", b"0" * (MAX_BODY_BYTES + 1), "text/csv")},
    )
    assert response.status_code == 413 and "过大" in response.json()["message"]
