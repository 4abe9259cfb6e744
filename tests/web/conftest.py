"""Page tests: the app bound to the test transaction (from tests/api), signed in through the sign-in form."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.support.people import PASSWORD
from workflows.cases import lifecycle as cases
from workflows.infra.clock import FixedClock
from workflows.infra.models import User
from workflows.people import accounts

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
VILLAGE = "500111101201"


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture
def web_login(client: TestClient) -> Callable[[str], str]:  # noqa: F811
    """Sign in through the form; returns the session's CSRF token for later posts."""

    def sign_in(username: str) -> str:
        client.cookies.clear()
        page = client.get("/login")
        response = client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "next": "/", "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        return csrf_of(client.get("/tasks").text)

    return sign_in


@pytest.fixture
def actor_of(session: Session) -> Callable[[str], accounts.Actor]:
    def find(username: str) -> accounts.Actor:
        user = session.query(User).filter_by(username=username).one()
        return accounts.actor_for(user)

    return find


@pytest.fixture
def demo_case(
    session: Session, clock: FixedClock, actor_of: Callable[[str], accounts.Actor]
) -> Callable[..., str]:
    """Start a review_demo case (first task: 登记, for the village director) and return its id."""

    def start(child_name: str = "小明", child_ref: str | None = None) -> str:
        outcome = cases.start_case(
            session=session,
            clock=clock,
            actor=actor_of("director"),
            process_key="review_demo",
            data={"child_name": child_name, "reporter_name": "张三"},
            jurisdiction_code=VILLAGE,
            child_ref=child_ref,
        )
        session.flush()
        return outcome.case.id

    return start
