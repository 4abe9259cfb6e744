"""What a card or a list row says about a case at a glance: the child (name masked), village, situation.

Lists show a masked name (张*明): enough to tell two cases apart, not a read of the child's data; the full
name is on the opened task or case, whose reads are logged (``views``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.forms.validator import START_FORM
from workflows.infra.errors import DomainError
from workflows.infra.models import Case, Place, ProcessVersion
from workflows.processes import registry


def mask_name(name: str | None) -> str:
    """A name with its middle hidden: 张* (two characters), 张*明, 欧阳**华; empty when unknown."""
    text = (name or "").strip()
    if len(text) <= 1:
        return "*" if text else ""
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


@dataclass(frozen=True)
class CaseFacts:
    child: str  # the masked name, "" when the report named no child
    village: str
    situation: str  # the Chinese label of the reported situation, "" when the process has none


def _labels(session: Session, version_id: int) -> dict[str, str]:
    version = session.get(ProcessVersion, version_id)
    if version is None:
        return {}
    try:
        start = registry.parsed(session, version).forms.get(START_FORM)
    except DomainError:  # a card must render even when a version cannot be parsed
        return {}
    prop = ((start.schema if start else {}).get("properties") or {}).get("situation") or {}
    return {str(o.get("const")): str(o.get("title")) for o in prop.get("oneOf") or [] if "const" in o}


def case_facts(session: Session, case_ids: Iterable[str]) -> dict[str, CaseFacts]:
    """The facts of each case for its card, in two queries (cases, places)."""
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    # only the columns a card needs: the serialized workflow state stays in the database
    rows = session.execute(
        select(Case.id, Case.data, Case.jurisdiction_code, Case.process_version_id).where(Case.id.in_(ids))
    ).all()
    codes = sorted({row.jurisdiction_code for row in rows})
    places = dict(session.execute(select(Place.code, Place.name).where(Place.code.in_(codes))).tuples().all())
    labels: dict[int, dict[str, str]] = {}
    facts = {}
    for case_id, data, code, version_id in rows:
        data = data or {}
        if version_id not in labels:
            labels[version_id] = _labels(session, version_id)
        facts[case_id] = CaseFacts(
            child=mask_name(data.get("child_name")),
            village=places.get(code, code),
            situation=labels[version_id].get(str(data.get("situation") or ""), ""),
        )
    return facts
