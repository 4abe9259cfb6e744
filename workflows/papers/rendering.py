"""Printed papers: one Jinja2 environment for templates/, and the labels no paper may carry (标签化)."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from workflows.infra.settings import REPO_ROOT
from workflows.processes.labelling import LABELLING_TERMS, labels_in

__all__ = ["LABELLING_TERMS", "environment", "labels_in"]


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
