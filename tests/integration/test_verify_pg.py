"""Verify on PostgreSQL: the chain is read from the driver's cursor (the instant written by the server in the
form SQLite stores, the payload as the json column's text), and a changed event is still found."""

from __future__ import annotations

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from tests.conftest import START
from tests.unit.test_verify import finished_case
from workflows.cases.replay import verify_case
from workflows.infra.clock import FixedClock
from workflows.infra.models import CaseEvent
from workflows.log import chaincheck


def test_a_case_verifies_and_a_changed_payload_is_found(pg: Engine) -> None:
    with Session(pg) as session:
        case = finished_case(session, FixedClock(START))
        session.commit()
        rows = chaincheck.chain_rows(session, case.id)
        events = list(
            session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))
        )
        assert [chaincheck._instant_text(r[3]) for r in rows] == [
            chaincheck._instant_text(e.occurred_at) for e in events
        ]
        assert all(isinstance(r[4], str) for r in rows) and chaincheck._intact(case, rows)
        report = verify_case(session, case)
        assert report.ok and report.events == len(events), report.problem
        target = next(e for e in events if e.type == "task_completed")
        session.execute(
            update(CaseEvent)
            .where(CaseEvent.id == target.id)
            .values(payload={**target.payload, "data": {**target.payload["data"], "score": 1}})
        )
        session.commit()
        report = verify_case(session, case)
        assert not report.ok and report.seq == target.seq and "内容被改动" in report.problem
