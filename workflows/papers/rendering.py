"""Printed papers: one Jinja2 environment for templates/, and the labels no paper may carry (标签化)."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from workflows.infra.settings import REPO_ROOT

# Nothing a family, a reporter or the public sees may call a child by these [002 §二(三), 003 §七(四)].
LABELLING_TERMS = ("留守儿童", "困境儿童")


def labels_in(text: str) -> list[str]:
    """The labelling terms a text carries."""
    return [term for term in LABELLING_TERMS if term in text]


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Autoescaped, strict templates from templates/ (built once per process)."""
    return Environment(
        loader=FileSystemLoader(REPO_ROOT / "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
