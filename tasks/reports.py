"""The annual progress report (年度工作进展报告): a city's by 15 Nov, a province's by 10 Dec [003 §七(三)].

Figures only (cases per process and status, overdue tasks, per county); no child's data. Nothing in the
report carries the labels the documents forbid; a render that would is refused.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tasks.runtime import unit
from workflows.infra.clock import CST, Clock
from workflows.infra.models import Case, Document, HumanTask, Place, ProcessDefinition
from workflows.papers.pdf import pdf_with_hash
from workflows.papers.rendering import LABELLING_TERMS, environment, labels_in
from workflows.people.staffing import EXTRA_DIRECTOR_ABOVE, RULE_SOURCE, village_staffing

LOG = logging.getLogger("shouhu.tasks")
KIND = "annual_report"
DUE = {"city": (11, 15, "省级民政部门"), "province": (12, 10, "民政部")}
STATUS_LABELS = {"running": "办理中", "completed": "已办结", "cancelled": "已撤销"}
COUNTY_DIGITS = 6


def neutral(text: str) -> str:
    """A name without the labels the documents forbid (a process named after them reads '儿童…')."""
    for label in LABELLING_TERMS:
        text = text.replace(label, "儿童")
    return text.replace("儿童和儿童", "儿童").replace("儿童、儿童", "儿童")


@dataclass
class ReportData:
    code: str
    place: str
    level: str
    year: int
    generated_at: datetime
    due: date
    addressee: str
    processes: list[dict[str, Any]] = field(default_factory=list)
    counties: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    villages_over: list[dict[str, Any]] = field(default_factory=list)  # 003 §五(五)16
    staffing_rule: str = RULE_SOURCE
    extra_director_above: int = EXTRA_DIRECTOR_ABOVE


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    start = datetime(year, 1, 1, tzinfo=CST).astimezone(UTC)
    return start, datetime(year + 1, 1, 1, tzinfo=CST).astimezone(UTC)


def _case_counts(session: Session, code: str, year: int) -> list[tuple[str, str, str, int]]:
    start, end = _year_bounds(year)
    county = func.substr(Case.jurisdiction_code, 1, COUNTY_DIGITS)
    stmt = (
        select(Case.process_key, Case.status, county, func.count())
        .where(Case.jurisdiction_code.startswith(code), Case.created_at >= start, Case.created_at < end)
        .group_by(Case.process_key, Case.status, county)
    )
    return [(p, s, c, int(n)) for p, s, c, n in session.execute(stmt)]


def _overdue_counts(session: Session, code: str, now: datetime) -> list[tuple[str, str, int]]:
    county = func.substr(HumanTask.jurisdiction_code, 1, COUNTY_DIGITS)
    stmt = (
        select(HumanTask.process_key, county, func.count())
        .where(
            HumanTask.status == "ready", HumanTask.due_at < now, HumanTask.jurisdiction_code.startswith(code)
        )
        .group_by(HumanTask.process_key, county)
    )
    return [(p, c, int(n)) for p, c, n in session.execute(stmt)]


def _process_row(key: str, titles: dict[str, str]) -> dict[str, Any]:
    return {
        "key": key,
        "name": titles.get(key, key),
        "running": 0,
        "completed": 0,
        "cancelled": 0,
        "overdue": 0,
    }


def _county_row(code: str, names: dict[str, str]) -> dict[str, Any]:
    return {
        "code": code,
        "name": neutral(names.get(code, code)),
        "cases": 0,
        "running": 0,
        "completed": 0,
        "overdue": 0,
    }


def gather(*, session: Session, code: str, level: str, year: int, now: datetime) -> ReportData:
    """The figures of one city's or province's report for ``year`` (cases started that year, CST)."""
    names = {p.code: p.name for p in session.scalars(select(Place).where(Place.code.startswith(code[:2])))}
    titles = {d.key: neutral(d.name) for d in session.scalars(select(ProcessDefinition))}
    month, day, addressee = DUE[level]
    data = ReportData(
        code, neutral(names.get(code, code)), level, year, now, date(year, month, day), addressee
    )
    processes: dict[str, dict[str, Any]] = {}
    counties: dict[str, dict[str, Any]] = {}
    for process_key, status, county, n in _case_counts(session, code, year):
        per = processes.setdefault(process_key, _process_row(process_key, titles))
        per[status] = per.get(status, 0) + n  # a status the table has no column for is still counted
        row = counties.setdefault(county, _county_row(county, names))
        row["cases"] += n
        row[status] = row.get(status, 0) + n
    for process_key, county, n in _overdue_counts(session, code, now):
        processes.setdefault(process_key, _process_row(process_key, titles))["overdue"] += n
        counties.setdefault(county, _county_row(county, names))["overdue"] += n
    data.processes = sorted(processes.values(), key=lambda r: r["key"])
    data.counties = sorted(counties.values(), key=lambda r: r["code"])
    data.totals = {
        k: sum(r[k] for r in data.processes) for k in ("running", "completed", "cancelled", "overdue")
    }
    data.villages_over = _villages_over(session, code, names)
    return data


def _villages_over(session: Session, code: str, names: dict[str, str]) -> list[dict[str, Any]]:
    """Villages with more than 30 children in care on the register (003 §五(五)16), as they stand now."""
    rows = []
    for village, figures in village_staffing(session, code).items():
        if figures.children_in_care <= EXTRA_DIRECTOR_ABOVE:
            continue
        rows.append(
            {
                "code": village,
                "name": neutral(names.get(village, village)),
                "township": neutral(names.get(village[:9], "")),
                "children": figures.children_in_care,
                "directors": figures.directors,
                "short": figures.needs_extra_director,
            }
        )
    return rows


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """The shared templates, with the report's filters (a copy: the documents' environment stays plain)."""
    env = environment().overlay()
    env.filters = dict(env.filters)  # an overlay shares its parent's filters: keep these to the report
    env.filters["neutral"] = neutral
    env.filters["cst"] = lambda value: f"{value.astimezone(CST):%Y年%m月%d日 %H:%M}"
    env.filters["cn_date"] = lambda value: f"{value.year}年{value.month}月{value.day}日"
    return env


def render(data: ReportData) -> str:
    """The printable HTML of a report; refused if it would carry a forbidden label."""
    html = (
        _environment()
        .get_template("documents/annual_report.html.j2")
        .render(report=data, status_labels=STATUS_LABELS, title=title_of(data))
    )
    found = labels_in(html)
    if found:
        raise ValueError(f"年度报告中出现了不得使用的标签化称谓：{'、'.join(found)}")
    return html


def title_of(data: ReportData) -> str:
    return f"{data.place}儿童关爱保护工作{data.year}年度进展报告"


def write_annual_report(
    *, session: Session, clock: Clock, code: str, level: str, year: int, actor: str = "system"
) -> Document | None:
    """Render and store one report unless this place already has one for the year (no commit)."""
    exists = session.scalar(
        select(Document.id).where(
            Document.kind == KIND, Document.jurisdiction_code == code, Document.period == str(year)
        )
    )
    if exists is not None:
        return None
    data = gather(session=session, code=code, level=level, year=year, now=clock.now())
    content = render(data)
    document = Document(
        kind=KIND,
        title=title_of(data),
        jurisdiction_code=code,
        period=str(year),
        content=content,
        sha256=hashlib.sha256(content.encode("utf-8")).hexdigest(),
        created_at=clock.now(),
        created_by=actor,
    )
    document.pdf, document.pdf_sha256 = pdf_with_hash(content)
    session.add(document)
    session.flush()
    return document


def annual_reports(
    *,
    sessions: sessionmaker[Session],
    clock: Clock,
    level: str,
    year: int | None = None,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] = LOG,
) -> list[int]:
    """Write the year's report of every city (or province) that has none yet; the new documents' ids."""
    if level not in DUE:
        raise ValueError("level 只能是 city 或 province")
    year = year or clock.now().astimezone(CST).year
    with unit(sessions) as session:
        codes = list(session.scalars(select(Place.code).where(Place.level == level).order_by(Place.code)))
    written = []
    for code in codes:
        try:
            with unit(sessions) as session:
                document = write_annual_report(
                    session=session, clock=clock, code=code, level=level, year=year
                )
                if document is not None:
                    written.append(document.id)
        except Exception:  # noqa: BLE001 - one place's failure must not stop the others
            log.exception("生成 %s 的 %d 年度报告失败", code, year)
    return written
