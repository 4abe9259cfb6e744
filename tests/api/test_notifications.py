"""GET /api/notifications and marking read, on notices delivered from the outbox."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tasks import jobs
from workflows.infra.clock import FixedClock

VILLAGE = "500111101201"
Login = Callable[[str], dict[str, str]]


def deliver(session: Session, clock: FixedClock) -> None:
    sessions = sessionmaker(
        bind=session.connection(),
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        autoflush=False,
    )
    jobs.deliver_notifications(sessions=sessions, clock=clock, webhook=None)


def start_case(client: TestClient, login: Login) -> str:
    response = client.post(
        "/api/cases",
        headers=login("director"),
        json={"process_key": "review_demo", "jurisdiction_code": VILLAGE, "data": {"child_name": "小明"}},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_inbox_lists_unread_first_pages_and_marks_read(
    client: TestClient, login: Login, session: Session, clock: FixedClock
) -> None:
    first = start_case(client, login)
    clock.advance(minutes=5)
    second = start_case(client, login)
    deliver(session, clock)
    response = client.get("/api/notifications", headers=login("director"))
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 2 and page["unread"] == 2
    assert [i["case_id"] for i in page["items"]] == [second, first]  # newest first
    item = page["items"][1]
    assert item["title"] == "新待办：登记" and item["kind_label"] == "新待办" and item["read"] is False
    marked = client.post(f"/api/notifications/{item['id']}/read", headers=login("director"))
    assert marked.status_code == 200 and marked.json()["read"] is True
    clock.advance(minutes=5)
    third = start_case(client, login)
    deliver(session, clock)
    page = client.get("/api/notifications", headers=login("director"), params={"limit": 2}).json()
    assert page["unread"] == 2 and page["total"] == 3
    assert [i["case_id"] for i in page["items"]] == [third, second]  # unread first
    rest = client.get(
        "/api/notifications", headers=login("director"), params={"limit": 2, "offset": 2}
    ).json()
    assert [i["case_id"] for i in rest["items"]] == [first] and rest["items"][0]["read"] is True
    unread = client.get("/api/notifications", headers=login("director"), params={"unread_only": True}).json()
    assert unread["total"] == 2
    assert client.post("/api/notifications/read-all", headers=login("director")).json() == {"marked": 2}


def test_nobody_else_sees_or_marks_my_notices(
    client: TestClient, login: Login, session: Session, clock: FixedClock
) -> None:
    start_case(client, login)
    deliver(session, clock)
    [item] = client.get("/api/notifications", headers=login("director")).json()["items"]
    for other in ("trainee", "neighbour", "police"):
        assert client.get("/api/notifications", headers=login(other)).json()["total"] == 0
    response = client.post(f"/api/notifications/{item['id']}/read", headers=login("neighbour"))
    assert response.status_code == 404 and response.json()["message"] == "找不到该通知"
    assert client.get("/api/notifications").status_code == 401
