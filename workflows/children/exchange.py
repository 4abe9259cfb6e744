"""Import of existing children's files from CSV or Excel (all rows or none) and export for the quarterly update."""

from __future__ import annotations

import csv
import io
import itertools
import zipfile
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.cases.views import mask_id, record_access
from workflows.children.registry import KEEPERS, PERSON_PARTS, TEXT_FIELDS, _clean, list_children, register
from workflows.infra.clock import Clock
from workflows.infra.errors import ValidationFailed
from workflows.infra.models import Child
from workflows.people.access import Actor, require_role

MAX_ROWS = 10_000
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
CSV_COLUMNS = (
    "name",
    "gender",
    "birth_date",
    "id_number",
    "household",
    "village_code",
    "address",
    "guardian_name",
    "guardian_relation",
    "guardian_phone",
    "carer_name",
    "carer_relation",
    "carer_phone",
    "categories",
    "risk_colour",
    "notes",
)


def _row_to_data(row: dict[str, Any]) -> dict[str, Any]:
    def cell(key: str) -> str:
        value = row.get(key)
        return "" if value is None else str(value).strip()

    data: dict[str, Any] = {k: cell(k) for k in TEXT_FIELDS}
    person = {who: {p: cell(f"{who}_{p}") for p in PERSON_PARTS} for who in ("guardian", "carer")}
    if person["guardian"]["name"]:
        data["guardians"] = [person["guardian"]]
    if person["carer"]["name"]:
        data["carer"] = person["carer"]
    if cell("categories"):
        data["categories"] = [
            c.strip() for c in cell("categories").replace("；", ";").split(";") if c.strip()
        ]
    return {k: v for k, v in data.items() if v not in ("", None)}


def read_table(filename: str, content: bytes) -> list[dict[str, Any]]:
    """Rows of an uploaded CSV (UTF-8, with or without BOM) or Excel (.xlsx) file."""
    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        _refuse_zip_bomb(content)
        try:  # a damaged or hostile workbook (bad CRC, entity expansion, odd parts) is the sender's problem
            sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).active
            rows = list(itertools.islice(sheet.iter_rows(values_only=True), MAX_ROWS + 2))
        except Exception:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
            raise ValidationFailed(
                "Excel 文件已损坏或格式不受支持，无法读取", code="import_unreadable"
            ) from None
        if len(rows) > MAX_ROWS + 1:
            raise ValidationFailed(f"一次最多导入 {MAX_ROWS} 行，请分批导入", code="import_too_many_rows")
        header = [str(h or "").strip() for h in rows[0]] if rows else []
        return [
            dict(
                zip(
                    header,
                    (c.isoformat()[:10] if isinstance(c, datetime | date) else c for c in r),
                    strict=False,
                )
            )
            for r in rows[1:]
            if any(v not in (None, "") for v in r)
        ]
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            "文件应为 UTF-8 编码的 CSV 或 Excel（.xlsx）", code="import_encoding"
        ) from None
    try:
        rows = list(itertools.islice(csv.DictReader(io.StringIO(text, newline="")), MAX_ROWS + 1))
    except csv.Error as exc:
        raise ValidationFailed(f"CSV 文件格式有误，无法读取（{exc}）", code="import_unreadable") from None
    if len(rows) > MAX_ROWS:
        raise ValidationFailed(f"一次最多导入 {MAX_ROWS} 行，请分批导入", code="import_too_many_rows")
    return [row for row in rows if any((v or "").strip() for v in row.values())]


def _safe_cell(value: Any) -> Any:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _refuse_zip_bomb(content: bytes) -> None:
    """An .xlsx is a zip: refuse one that unpacks far beyond what a table of files can be."""
    try:
        unpacked = sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(content)).infolist())
    except zipfile.BadZipFile:
        raise ValidationFailed("Excel 文件已损坏，无法读取", code="import_unreadable") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise ValidationFailed("Excel 文件解压后过大，请分批导入", code="import_too_large")


def import_files(
    *, session: Session, clock: Clock, actor: Actor, filename: str, content: bytes
) -> list[Child]:
    """Register every row, or none: all rows are checked first and errors are reported per row."""
    require_role(actor, *KEEPERS, action="导入儿童档案")
    rows = read_table(filename, content)
    if not rows:
        raise ValidationFailed("文件中没有数据行", code="import_empty")
    problems: dict[str, dict[str, str]] = {}
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        unknown = [k for k in row if k and k not in CSV_COLUMNS]
        data = _row_to_data(row)
        clean, errors = _clean(data, partial=False)
        errors.update({k: "未知的列" for k in unknown})
        if (
            clean.get("village_code")
            and not errors.get("village_code")
            and not actor.sees(clean["village_code"])
        ):
            errors["village_code"] = "不在本人辖区"
        if clean.get("id_number") and not errors.get("id_number"):
            if clean["id_number"] in seen:
                errors["id_number"] = f"与第 {seen[clean['id_number']]} 行重复"
            elif session.scalar(
                select(Child.id).where(Child.id_number == clean["id_number"], Child.status == "active")
            ):
                errors["id_number"] = "系统中已有该身份证号的档案"
            seen.setdefault(clean["id_number"], number)
        if errors:
            problems[str(number)] = errors
    if problems:
        raise ValidationFailed(
            f"有 {len(problems)} 行数据有误，未导入任何数据；请修改后重新导入",
            code="import_rows_invalid",
            details={"rows": problems},
        )
    return [register(session=session, clock=clock, actor=actor, data=_row_to_data(row)) for row in rows]


def export_csv(
    *, session: Session, clock: Clock, actor: Actor, village_code: str | None, endpoint: str
) -> str:
    """The files of a village (or the actor's jurisdiction) for the quarterly update; ID numbers masked.

    Each exported child gets its own access-log row; cells that a spreadsheet would run as a formula are
    quoted.
    """
    children, _ = list_children(session=session, actor=actor, village_code=village_code, limit=500)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["file_no", *CSV_COLUMNS])
    for child in children:
        record_access(
            session, clock=clock, actor=actor, endpoint=endpoint, child_ref=child.id, purpose="导出档案"
        )
        guardian = (child.guardians or [{}])[0]
        carer = child.carer or {}
        writer.writerow(
            _safe_cell(cell)
            for cell in [
                child.file_no,
                child.name,
                child.gender or "",
                child.birth_date or "",
                mask_id(child.id_number) or "",
                child.household or "",
                child.village_code,
                child.address or "",
                guardian.get("name", ""),
                guardian.get("relation", ""),
                guardian.get("phone", ""),
                carer.get("name", ""),
                carer.get("relation", ""),
                carer.get("phone", ""),
                ";".join(child.categories or []),
                child.risk_colour or "",
                child.notes or "",
            ]
        )
    return "\ufeff" + out.getvalue()
