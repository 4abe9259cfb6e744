"""An app bound to the test transaction, and a set of people in two counties (one definition for all tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from tests.support.clock import START
from workflows.infra.clock import FixedClock
from workflows.infra.models import Place, User
from workflows.infra.settings import Settings
from workflows.people import accounts
from workflows.people.access import SYSTEM

PASSWORD = "correct-horse-1"
PLACES = [
    ("50", "重庆市", "province", None),
    ("5001", "重庆市辖区", "city", "50"),
    ("500111", "大足区", "county", "5001"),
    ("500111101", "龙岗街道", "township", "500111"),
    ("500111101201", "一村", "village", "500111101"),
    ("500111101202", "二村", "village", "500111101"),
    ("500112", "渝北区", "county", "5001"),
]
PEOPLE = {
    "director": (["village_director"], "500111101201", True),
    "trainee": (["village_director"], "500111101201", False),
    "neighbour": (["village_director"], "500111101202", True),
    "supervisor": (["township_supervisor"], "500111101", True),
    "new_supervisor": (["township_supervisor"], "500111101", False),
    "police": (["police"], "500111", True),
    "other_police": (["police"], "500112", True),
    "center": (["protection_center"], "500111", True),
    "county": (["county_civil_affairs"], "500111", True),
    "education": (["education"], "500111", True),
    "court": (["court"], "500111", True),
    "committee": (["village_committee"], "500111101201", True),
    "admin": (["user_admin"], "500111", True),
    "auditor": (["auditor"], "50", True),
}


@pytest.fixture(scope="session")
def people(db_engine: Engine) -> dict[str, int]:
    """The test people, created once for the whole run (committed), whichever test folder runs first."""
    ids = {}
    with Session(db_engine) as session:
        for code, name, level, parent in PLACES:
            session.merge(Place(code=code, name=name, level=level, parent_code=parent))
        clock = FixedClock(START)
        for username, (roles, code, certified) in PEOPLE.items():
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                user = accounts.create_user(
                    session=session,
                    clock=clock,
                    actor=SYSTEM,
                    username=username,
                    display_name=f"测试{username}",
                    roles=roles,
                    jurisdiction_code=code,
                    password=PASSWORD,
                    certified=certified,
                )
            ids[username] = user.id
        session.commit()
    return ids


@pytest.fixture
def client(session: Session, clock: FixedClock, people: dict[str, int]) -> Iterator[TestClient]:
    connection = session.connection()
    sessions = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False, autoflush=False
    )
    settings = Settings(demo=True, database_url="sqlite://")
    app = create_app(settings, sessions=sessions, clock=clock, prepare=False)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def login(client: TestClient) -> Callable[[str], dict[str, str]]:
    cache: dict[str, dict[str, str]] = {}

    def headers(username: str) -> dict[str, str]:
        if username not in cache:
            response = client.post("/api/auth/token", data={"username": username, "password": PASSWORD})
            assert response.status_code == 200, response.text
            cache[username] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return cache[username]

    return headers
