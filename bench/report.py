"""One table for every benchmark: each figure printed beside its goal and the reference measured in the same run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """A measured figure; ``goal`` is a text such as "≤ 30 ms" and ``met`` says whether this run reached it."""

    part: str
    name: str
    value: float
    unit: str
    goal: str = ""
    reference: str = ""
    met: bool | None = None

    def row(self) -> str:
        mark = {True: "met", False: "MISSED", None: ""}[self.met]
        return f"| {self.part} | {self.name} | {self.value:,.2f} {self.unit} | {self.goal} | {self.reference} | {mark} |"


HEADER = "| part | figure | measured | goal | reference (same run) | |\n|---|---|---|---|---|---|"


def print_table(figures: list[Figure]) -> None:
    """Print the figures as a Markdown table (the README's performance section holds the last one)."""
    print(HEADER)
    for figure in figures:
        print(figure.row(), flush=True)
