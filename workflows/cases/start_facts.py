"""Start-form fields the system fills from its own records (``"x-fill": "<fact>"`` on a start-form field).

What a caller posts for such a field is replaced: the figure comes from the registry at the moment the
case starts and is stored in the case's start event, so replay sees the same value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from workflows.people import staffing

# fact name → (session, the case's jurisdiction code) → value
FACTS: dict[str, Callable[[Session, str], Any]] = {
    # 003 §五(五)16: the children in care on the village's register, and its directors in post
    "children_in_care": lambda session, code: staffing.staffing_of(session, code).children_in_care,
    "directors_in_post": lambda session, code: staffing.staffing_of(session, code).directors,
}


def fill(
    session: Session, schema: dict[str, Any], data: dict[str, Any], jurisdiction_code: str
) -> dict[str, Any]:
    """``data`` with every ``x-fill`` field of the start form set from the records."""
    filled = dict(data)
    for name, field in (schema.get("properties") or {}).items():
        fact = FACTS.get(field.get("x-fill", "")) if isinstance(field, dict) else None
        if fact is not None:
            filled[name] = fact(session, jurisdiction_code)
    return filled
