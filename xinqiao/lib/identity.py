"""Chinese personal identifiers: validation, normalisation and display masks.

Pure functions, no Django models. The resident identity number follows GB 11643-1999
(18 characters, ISO 7064 MOD 11-2 check character); masks follow REQ-ACC-005.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
# GB/T 2260 province-level codes (first two digits of the administrative division code).
PROVINCE_CODES = frozenset(
    {
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
    }
)
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")
_MOBILE_SHAPE = re.compile(r"^1[3-9]\d{9}$")
_MOBILE_NOISE = re.compile(r"[\s\-()（）]")


class IdentifierError(ValueError):
    """An identifier failed validation; ``code`` is stable, the message is for logs of shape only."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: dt.date
    sex: str  # "M" or "F", from the parity of the 17th digit


def id_check_char(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def parse_resident_id(raw: str, *, today: dt.date | None = None) -> ResidentId:
    """Validate an 18-character resident ID number and return what it encodes.

    Raises ``IdentifierError`` with one of: ``id_format``, ``id_region``, ``id_birth_date``, ``id_checksum``.
    """
    number = raw.strip().upper().replace(" ", "")
    if not _ID_SHAPE.match(number):
        raise IdentifierError("id_format")
    if number[:2] not in PROVINCE_CODES:
        raise IdentifierError("id_region")
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise IdentifierError("id_birth_date") from exc
    today = today or dt.date.today()  # noqa: DTZ011 - a calendar date, local to the caller
    if birth > today or birth.year < 1890:
        raise IdentifierError("id_birth_date")
    if id_check_char(number[:17]) != number[17]:
        raise IdentifierError("id_checksum")
    return ResidentId(number=number, birth_date=birth, sex="M" if int(number[16]) % 2 else "F")


def normalise_mobile(raw: str) -> str:
    """Return the 11-digit mainland mobile number or raise ``IdentifierError('mobile_format')``."""
    value = _MOBILE_NOISE.sub("", raw.strip())
    if value.startswith("+86"):
        value = value[3:]
    elif value.startswith("0086"):
        value = value[4:]
    if not _MOBILE_SHAPE.match(value):
        raise IdentifierError("mobile_format")
    return value


def mask_mobile(mobile: str) -> str:
    """138****1234"""
    if len(mobile) < 7:
        return "*" * len(mobile)
    return f"{mobile[:3]}****{mobile[-4:]}"


def mask_id_number(number: str) -> str:
    """110105********002X"""
    if len(number) < 10:
        return "*" * len(number)
    return f"{number[:6]}{'*' * (len(number) - 10)}{number[-4:]}"


# Compound surnames keep both characters visible (欧阳*), as REQ-ACC-005 shows.
COMPOUND_SURNAMES = frozenset(
    {
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "令狐",
        "夏侯",
        "轩辕",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "万俟",
        "闻人",
        "澹台",
        "公冶",
        "呼延",
    }
)


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧阳*; Latin names keep their first letter."""
    name = name.strip()
    if not name:
        return ""
    surname = name[:2] if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else name[:1]
    return f"{surname}*"


def generate_resident_id(region: str, birth: dt.date, sequence: int, *, male: bool) -> str:
    """Build a valid ID number (used by the demo generator and tests; synthetic only)."""
    seq = sequence % 500 * 2 + (1 if male else 0)
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_char(first17)
