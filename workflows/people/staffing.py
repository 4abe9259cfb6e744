"""Children's directors a village needs: 003 §五(五)16 (粤民发〔2024〕32号).

"每个村(社区)择优选任至少一名儿童主任……农村留守儿童和困境儿童总人数超过30人的村(社区)，根据实际需要增配儿童主任."
The count is of the active files in the child registry that carry a category (left-behind or one of the
difficulty categories): the children a director serves. Only figures leave this module, no child's data.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.infra.models import Child, User

RULE_SOURCE = "粤民发〔2024〕32号 五(五)16"
EXTRA_DIRECTOR_ABOVE = 30  # more than this many children in care: the village adds a director


@dataclass(frozen=True)
class VillageStaffing:
    """One village: the children in care on its register and the active directors posted there."""

    code: str
    children_in_care: int
    directors: int

    @property
    def needs_extra_director(self) -> bool:
        """Over 30 children in care and still only one director (or none): a second one is due."""
        return self.children_in_care > EXTRA_DIRECTOR_ABOVE and self.directors < 2


def children_in_care(session: Session, prefix: str) -> dict[str, int]:
    """Per village code under ``prefix``: active files with at least one category (left-behind or difficulty)."""
    counts: dict[str, int] = {}
    rows = session.execute(
        select(Child.village_code, Child.categories).where(
            Child.status == "active", Child.village_code.startswith(prefix)
        )
    )
    for code, categories in rows:
        if categories:
            counts[code] = counts.get(code, 0) + 1
    return counts


def directors_in_post(session: Session, prefix: str) -> dict[str, int]:
    """Per village code under ``prefix``: active accounts holding the village-director role there."""
    counts: dict[str, int] = {}
    rows = session.execute(
        select(User.jurisdiction_code, User.roles).where(
            User.active.is_(True), User.jurisdiction_code.startswith(prefix)
        )
    )
    for code, roles in rows:
        if "village_director" in (roles or []):
            counts[code] = counts.get(code, 0) + 1
    return counts


def village_staffing(session: Session, prefix: str) -> dict[str, VillageStaffing]:
    """Every village under ``prefix`` that has children in care or a director, keyed by code."""
    children = children_in_care(session, prefix)
    directors = directors_in_post(session, prefix)
    return {
        code: VillageStaffing(code, children.get(code, 0), directors.get(code, 0))
        for code in sorted(set(children) | set(directors))
    }


def staffing_of(session: Session, village_code: str) -> VillageStaffing:
    """One village's figures (zero when nothing is registered)."""
    found = village_staffing(session, village_code)
    exact = found.get(village_code)
    return exact or VillageStaffing(village_code, 0, 0)
