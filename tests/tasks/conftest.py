"""Jobs and flows against the test transaction: their commits become savepoints that the test rolls back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tasks.runtime import Runtime, use
from tests.conftest import START
from workflows.infra.clock import FixedClock
from workflows.infra.models import Place, User
from workflows.infra.settings import Settings

# Guangzhou codes: nothing else in the test database lives here, so recipients are exactly these people.
CITY, COUNTY, TOWNSHIP, VILLAGE, OTHER_VILLAGE, OTHER_COUNTY = (
    "4401",
    "440103",
    "440103001",
    "440103001001",
    "440103001002",
    "440104",
)
PLACES = [
    ("44", "广东省", "province", None),
    (CITY, "广州市", "city", "44"),
    (COUNTY, "荔湾区", "county", CITY),
    (TOWNSHIP, "沙面街道", "township", COUNTY),
    (VILLAGE, "沙面社区", "village", TOWNSHIP),
    (OTHER_VILLAGE, "岭南社区", "village", TOWNSHIP),
    (OTHER_COUNTY, "越秀区", "county", CITY),
]
PEOPLE = {  # username: (roles, jurisdiction, certified, active)
    "gz_director": (["village_director"], VILLAGE, True, True),
    "gz_trainee": (["village_director"], VILLAGE, False, True),
    "gz_gone": (["village_director"], VILLAGE, True, False),
    "gz_neighbour": (["village_director"], OTHER_VILLAGE, True, True),
    "gz_supervisor": (["township_supervisor", "village_director"], TOWNSHIP, True, True),
    "gz_police": (["police"], COUNTY, True, True),
    "gz_center": (["protection_center"], COUNTY, True, True),
    "gz_county": (["county_civil_affairs"], COUNTY, True, True),
    "gz_other_county": (["county_civil_affairs"], OTHER_COUNTY, True, True),
    "gz_city": (["city_civil_affairs"], CITY, True, True),
}


def add_places_and_people(session: Session, now: datetime) -> None:
    for code, name, level, parent in PLACES:
        session.merge(Place(code=code, name=name, level=level, parent_code=parent))
    for username, (roles, code, certified, active) in PEOPLE.items():
        session.add(
            User(
                username=username,
                display_name=f"测试{username}",
                roles=roles,
                jurisdiction_code=code,
                password_hash="-",
                active=active,
                certified=certified,
                token_version=1,
                created_at=now,
                created_by="test",
                updated_at=now,
            )
        )
    session.flush()


def start_village_cases(session: Session, now: datetime, count: int) -> None:
    """``count`` cases of the test process ``review_demo`` in VILLAGE, each waiting at its first task."""
    from workflows.cases import lifecycle
    from workflows.people.access import SYSTEM

    for _ in range(count):
        lifecycle.start_case(
            session=session,
            clock=FixedClock(now),
            actor=SYSTEM,
            process_key="review_demo",
            data={"child_name": "甲"},
            jurisdiction_code=VILLAGE,
        )


def bearer_tokens(session: Session, *, secret: str, now: datetime) -> dict[str, str]:
    """A valid API token for every account, by username (an hour long)."""
    from api.security import issue_token

    return {
        user.username: issue_token(
            user_id=user.id, token_version=user.token_version, secret=secret, now=now, minutes=60
        )[0]
        for user in session.scalars(select(User))
    }


@pytest.fixture
def gz(session: Session) -> Session:
    """The Guangzhou places and people inside the test transaction."""
    add_places_and_people(session, START)
    return session


@pytest.fixture
def runtime(session: Session, clock: FixedClock) -> Iterator[Runtime]:
    sessions = sessionmaker(
        bind=session.connection(),
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        autoflush=False,
    )
    settings = Settings(demo=True, database_url="sqlite://")
    with use(Runtime(sessions, clock, settings)) as rt:
        yield rt
