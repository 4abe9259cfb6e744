"""Publishing moves the pointer with a compare-and-set: two administrators at once, the second is told."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from tests.support.models import read_model
from workflows.infra.clock import FixedClock
from workflows.infra.errors import Conflict
from workflows.infra.models import ProcessDefinition
from workflows.processes import registry


def _variant(session: Session, clock: FixedClock, title: str) -> registry.ProcessVersion:
    files = dict(read_model("review_demo"))
    files["forms/close.json"] = files["forms/close.json"].replace('"title": "close"', f'"title": "{title}"')
    return registry.register(
        session, key="review_demo", files=files, source="uploaded", actor="a", now=clock.now()
    )


def test_a_publication_that_lost_the_race_is_refused(session: Session, clock: FixedClock) -> None:
    first, second = _variant(session, clock, "结案一"), _variant(session, clock, "结案二")
    definition = session.get(ProcessDefinition, "review_demo")
    seen = definition.published_version_id
    # another administrator publishes in between (another process: the row changes under this session)
    session.execute(
        update(ProcessDefinition)
        .where(ProcessDefinition.key == "review_demo")
        .values(published_version_id=first.id)
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(Conflict, match="另一位管理员"):
        registry.publish(session, second, actor="b", now=clock.now())
    session.expire_all()
    assert session.get(ProcessDefinition, "review_demo").published_version_id == first.id != seen
    registry.publish(session, second, actor="b", now=clock.now())  # after a refresh it goes through
    assert session.get(ProcessDefinition, "review_demo").published_version_id == second.id
