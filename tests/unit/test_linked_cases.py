"""A case that throws `start:<process>` opens a linked case in the same transaction, logged both ways."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.unit.test_services import DIRECTOR
from workflows.cases import human_tasks
from workflows.cases import lifecycle as cases
from workflows.cases.replay import verify_case
from workflows.infra.clock import FixedClock
from workflows.infra.models import Case, CaseEvent

VILLAGE = "500111101201"


def test_red_found_at_a_visit_opens_an_intervention_case(session: Session, clock: FixedClock) -> None:
    tracking = cases.start_case(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        process_key="risk_visits",
        jurisdiction_code=VILLAGE,
        child_ref="child-1",
        data={
            "child_ref": "child-1",
            "child_name": "小华",
            "address": "乙村 3 组",
            "risk_facts": ["parent_addicted"],
            "last_visit_date": "2026-02-20",
            "facts_note": "父亲长期酗酒。",
        },
    ).case
    [visit] = [
        t for t in human_tasks.list_tasks(session=session, actor=DIRECTOR).items if t.case_id == tracking.id
    ]
    human_tasks.complete(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        task_id=visit.id,
        data={
            "visit_date": "2026-03-02",
            "child_seen": True,
            "carer_present": True,
            "findings": "身上有多处伤痕。",
            "risk_facts": ["violence", "parent_addicted"],
            "tracking_outcome": "continue",
        },
    )
    [opened] = session.scalars(select(Case).where(Case.parent_case_id == tracking.id)).all()
    assert opened.process_key == "guardianship_intervention"
    assert (opened.child_ref, opened.jurisdiction_code) == ("child-1", VILLAGE)
    assert opened.data["situation"] == "violence" and opened.data["reporter_type"] == "village_director"
    sent = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == tracking.id, CaseEvent.type == "message_sent")
    ).one()
    assert sent.payload["target_case_id"] == opened.id
    started = session.scalars(select(CaseEvent).where(CaseEvent.case_id == opened.id)).first()
    assert started.type == "case_started" and started.payload["parent_case_id"] == tracking.id
    for case in (tracking, opened):
        assert verify_case(session, case).ok
