"""003 §五(五)16 through the API: the appointment process is started with the village's figures from the
registry, whatever the caller posts, and offers the additional director."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.engine import test_worker_onboarding as onboarding
from workflows.children import registry
from workflows.infra.clock import FixedClock
from workflows.people.access import Actor

Login = Callable[[str], dict[str, str]]
OTHER_VILLAGE = "500111101202"  # one director ("neighbour") is posted there


def test_003_5_5_16_onboarding_starts_with_the_registry_count(
    client: TestClient, login: Login, session: Session, clock: FixedClock
) -> None:
    """003 §五(五)16: 31 children in care on 二村's register and one director → the appointment case carries
    those figures (posted values are replaced) and asks the committee about an additional director."""
    county = Actor("county", frozenset({"county_civil_affairs"}), "500111")
    for i in range(31):
        registry.register(
            session=session,
            clock=clock,
            actor=county,
            data={"name": f"儿童{i}", "village_code": OTHER_VILLAGE, "categories": ["left_behind"]},
        )
    registry.register(
        session=session, clock=clock, actor=county, data={"name": "甲", "village_code": OTHER_VILLAGE}
    )
    session.flush()
    response = client.post(
        "/api/cases",
        headers=login("county"),
        json={
            "process_key": "worker_onboarding",
            "jurisdiction_code": OTHER_VILLAGE,
            "data": {**onboarding.DIRECTOR, "children_in_care": 0, "directors_in_post": 5},
        },
    )
    assert response.status_code == 201, response.text
    case = response.json()
    assert case["data"]["children_in_care"] == 31 and case["data"]["directors_in_post"] == 1
    assert [t["bpmn_id"] for t in case["open_tasks"]] == ["consider_extra_director"]
    assert case["open_tasks"][0]["role"] == "village_committee"
