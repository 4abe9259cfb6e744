"""Resident ID numbers (公民身份号码, GB 11643): one check for the child registry and every form."""

from __future__ import annotations

from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_number_problem(number: str, birth_date: str | None = None) -> str | None:
    """Why a resident ID number (GB 11643) is not valid, or None: 18 characters, birth date, check digit."""
    if (
        len(number) != 18
        or not number.isascii()
        or not number[:17].isdigit()
        or number[17] not in "0123456789X"
    ):
        return "身份证号应为 18 位（最后一位可为 X）"
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "身份证号中的出生日期无效"
    if birth_date and born.isoformat() != birth_date:
        return "身份证号中的出生日期与填写的出生日期不一致"
    if _CHECK[sum(int(d) * w for d, w in zip(number[:17], _WEIGHTS, strict=True)) % 11] != number[17]:
        return "身份证号校验位不正确，请核对"
    return None
