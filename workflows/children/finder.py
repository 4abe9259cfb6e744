"""Finding a child's file: the files of one's area listed by name, searched by name, file number or ID number.

A search by name or ID number is a read of children's data: one access-log row (without the searched text).
A full ID number finds its file only when typed whole (no partial matching that would let numbers be guessed).
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from workflows.cases.views import record_access
from workflows.children.registry import READERS
from workflows.infra.clock import Clock
from workflows.infra.models import Child
from workflows.people.access import Actor, require_role


def find_children(
    *,
    session: Session,
    clock: Clock,
    actor: Actor,
    text: str = "",
    endpoint: str,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Child], int]:
    """Active files in the actor's jurisdiction by name (pinyin-free: by the characters' code order)."""
    require_role(actor, *READERS, action="查看儿童档案")
    cond = Child.village_code.startswith(actor.jurisdiction) & (Child.status == "active")
    text = text.strip()[:64]
    if text:
        plain = text.replace("%", "").replace("_", "")
        cond &= or_(
            Child.name.like(f"%{plain}%"),
            Child.file_no.like(f"%{plain}%"),
            Child.id_number == plain.upper(),
        )
        record_access(session, clock=clock, actor=actor, endpoint=endpoint, purpose="查找儿童档案")
    total = session.scalar(select(func.count()).select_from(Child).where(cond)) or 0
    rows = session.scalars(
        select(Child).where(cond).order_by(Child.name, Child.file_no).limit(min(limit, 200)).offset(offset)
    )
    return list(rows), int(total)
