"""An identification case approved by the supervisor writes the child's file, and tracking follows it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.engine import test_child_identification as ident
from tests.unit.test_services import DIRECTOR, SUPERVISOR
from workflows.cases import human_tasks
from workflows.cases import lifecycle as cases
from workflows.cases.replay import verify_case
from workflows.infra.clock import FixedClock
from workflows.infra.models import Case, Child, ChildRecord

VILLAGE = "500111101201"


def _do(session: Session, clock: FixedClock, actor, case: Case, bpmn_id: str, data: dict) -> None:  # type: ignore[no-untyped-def]
    [task] = [
        t
        for t in human_tasks.list_tasks(session=session, actor=actor, limit=200).items
        if t.case_id == case.id and t.bpmn_id == bpmn_id
    ]
    human_tasks.complete(session=session, clock=clock, actor=actor, task_id=task.id, data=data)


def identify(session: Session, clock: FixedClock, ref: str, **facts: object) -> Case:
    case = cases.start_case(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        process_key="child_identification",
        jurisdiction_code=VILLAGE,
        data={"child_ref": ref, "child_name": "小丽", "file_action": "new", "tracking_active": False},
    ).case
    _do(session, clock, DIRECTOR, case, "register_child", {**ident.BASE_FACTS, **facts})
    _do(
        session,
        clock,
        DIRECTOR,
        case,
        "confirm_file",
        {
            "guardian_name": "王奶奶",
            "guardian_relation": "grandparent",
            "has_entrusted_carer": False,
            "school_status": "compulsory",
            "file_complete": True,
        },
    )
    _do(session, clock, SUPERVISOR, case, "review_file", {"review_decision": "approved"})
    return session.get(Case, case.id)


def test_approval_registers_the_file_links_the_case_and_starts_tracking(
    session: Session, clock: FixedClock
) -> None:
    case = identify(session, clock, "未登记")
    child = session.get(Child, case.child_ref)
    assert child is not None and (child.name, child.village_code) == ("小丽", VILLAGE)
    assert child.categories == ["left_behind"] and child.risk_colour == "green" and child.household == "rural"
    assert child.guardians == [{"name": "王奶奶", "relation": "grandparent", "phone": ""}]
    tracking = session.scalars(select(Case).where(Case.parent_case_id == case.id)).one()
    assert tracking.process_key == "risk_visits" and tracking.child_ref == child.id
    for each in (case, tracking):
        assert verify_case(session, each).ok


def test_a_second_identification_updates_the_same_file_with_a_record(
    session: Session, clock: FixedClock
) -> None:
    first = identify(session, clock, "未登记")
    child_id = first.child_ref
    again = identify(session, clock, child_id, disability_grade=2, disability_type="physical")
    assert again.child_ref == child_id
    child = session.get(Child, child_id)
    assert child.categories == ["left_behind", "severe_disability"]
    records = session.scalars(
        select(ChildRecord).where(ChildRecord.child_id == child_id).order_by(ChildRecord.seq)
    ).all()
    assert [r.type for r in records][:2] == ["child_registered", "child_case_linked"]
    assert any(r.type == "child_updated" and "档案审核通过" in r.payload["reason"] for r in records)
