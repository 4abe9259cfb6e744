"""Labelling (标签化): terms no paper, form or model text shown to people may carry about a child."""

from __future__ import annotations

# Nothing a family, a reporter or the public sees may call a child by these [002 §二(三), 003 §七(四)].
LABELLING_TERMS = ("留守儿童", "困境儿童")


def labels_in(text: str) -> list[str]:
    """The labelling terms found in ``text``."""
    return [term for term in LABELLING_TERMS if term in text]
