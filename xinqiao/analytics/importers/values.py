"""Cell values of platform back-end exports → Python values (exports.md §0.4–0.5).

Every parser takes the raw cell (a ``str`` from CSV, or whatever the spreadsheet reader gives: ``int``,
``float``, ``bool``, ``datetime``, ``date``, ``time``, ``timedelta``) and returns the typed value or ``None`` for
an empty/null cell; a value that cannot be read raises ``ValueProblem`` with a translated explanation (the caller
adds row and column).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import unicodedata
import zoneinfo
from typing import Any

from django.utils.translation import gettext as _

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 = 1900-01-01 (Excel's 1900 leap-year bug folded in)
# Serials we accept as dates: 1982-01-01 .. 2173-10-14; smaller/larger numbers are not plausible stat dates.
EXCEL_SERIAL_MIN = 29_952
EXCEL_SERIAL_MAX = 100_000

NULL_MARKERS = frozenset({"", "-", "--", "---", "—", "——", "–", "/", "n/a", "na", "null", "none", "暂无", "无", "nan"})
MULTIPLIERS = {"万": 10_000, "w": 10_000, "亿": 100_000_000, "千": 1_000, "k": 1_000}
# WeChat shows reads above 100,000 as "10万+"; the influence indices substitute 100001 (influence-index.md).
MAX_COUNT = 2**62  # far above any real counter, safely inside the database's 64-bit integers
CAPPED = {"10万+": 100_001, "100000+": 100_001, "10w+": 100_001}

_NUMBER = re.compile(r"^([+-]?\d+(?:\.\d+)?)(万|w|亿|千|k)?\+?$")
_PERCENT = re.compile(r"^([+-]?\d+(?:\.\d+)?)%$")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(小时|时|h|分钟|分|min|m|秒钟|秒|sec|s)")
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ tT]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:[ tT]?(\d{2}):?(\d{2})(?::?(\d{2}))?)?$")
_RANGE = re.compile(
    r"(\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?|\d{8})\s*(?:至|到|~|～|—|–|-{1,2})\s*(\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?|\d{8})"
)


class ValueProblem(ValueError):
    """A cell that cannot be read; ``message`` is translated and names the value."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def clean_text(value: Any) -> str:
    """Trimmed text of a cell (full-width spaces too); the text itself is kept as written (titles match)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).strip().strip("\u3000").strip()


def is_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        text = value.strip()
        return not text or text.lower() in NULL_MARKERS
    return isinstance(value, float) and value != value  # NaN


def _number_text(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().replace(",", "").replace(" ", "").lower()


def parse_number(value: Any) -> float | None:
    """A count that may carry thousands separators or 万/亿/w/k multipliers (``"1.2万"`` → 12000.0)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if value != value else float(value)
    if isinstance(value, dt.date | dt.time | dt.timedelta):
        raise ValueProblem(_("“%(value)s” is a date or time, not a number.") % {"value": value})
    text = _number_text(str(value))
    if not text or text in NULL_MARKERS:
        return None
    if text in CAPPED:
        return float(CAPPED[text])
    match = _NUMBER.match(text)
    if match is None:
        if text.endswith("%"):
            raise ValueProblem(_("“%(value)s” is a percentage, not a count (mixed units).") % {"value": value})
        raise ValueProblem(_("“%(value)s” is not a number.") % {"value": value})
    number = float(match.group(1))
    unit = match.group(2)
    return number * MULTIPLIERS[unit] if unit else number


def parse_count(value: Any) -> int | None:
    """A whole count; ``"1.2万"`` → 12000, ``"1,234"`` → 1234, ``"--"`` → None."""
    if type(value) is str:
        try:  # noqa: SIM105 - the hot path of a 200,000-row import: plain try is cheaper than suppress()
            value = int(value)
        except ValueError:
            pass
    if type(value) is int:
        if -MAX_COUNT <= value <= MAX_COUNT:
            return value
        raise ValueProblem(_("“%(value)s” is too large for a count.") % {"value": value})
    number = parse_number(value)
    if number is None:
        return None
    if not -MAX_COUNT <= number <= MAX_COUNT:
        raise ValueProblem(_("“%(value)s” is too large for a count.") % {"value": value})
    return round(number)


def percent_form(value: Any) -> str | None:
    """``"percent"`` for a ``"12%"`` string, ``"bare"`` for a plain number, None for nulls (mixed-unit check)."""
    if is_null(value):
        return None
    if isinstance(value, str) and _number_text(value).endswith("%"):
        return "percent"
    return "bare"


def hundredth(number: str | float) -> float:
    """``number`` / 100 as the float nearest to the decimal the export shows: 79.49 → 0.7949, where ``79.49 / 100``
    gives 0.7948999999999999 (the division rounds twice). ``number`` is a numeric text or a float (read through its
    shortest representation)."""
    text = number if isinstance(number, str) else repr(float(number))
    try:
        return float(decimal.Decimal(text).scaleb(-2))
    except decimal.InvalidOperation:
        raise ValueError(text) from None


def parse_rate(value: Any, *, bare_is_percent: bool = False) -> float | None:
    """A rate as a fraction: ``"12.34%"`` → 0.1234. A bare number is a fraction unless ``bare_is_percent``
    (the header said ``(%)`` or other values of the column exceed 1)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if value != value:
            return None
        return hundredth(value) if bare_is_percent else float(value)
    if isinstance(value, dt.date | dt.time | dt.timedelta):
        raise ValueProblem(_("“%(value)s” is a date or time, not a percentage.") % {"value": value})
    text = _number_text(str(value))
    if not text or text in NULL_MARKERS:
        return None
    match = _PERCENT.match(text)
    if match is not None:
        return hundredth(match.group(1))
    try:
        number = float(text)
    except ValueError:
        raise ValueProblem(_("“%(value)s” is not a percentage.") % {"value": value}) from None
    return hundredth(number) if bare_is_percent else number


def parse_duration(value: Any, *, unit_seconds: float = 1.0) -> float | None:
    """Seconds from ``"35s"``, ``"35秒"``, ``"00:00:35"``, ``"1:05"`` (mm:ss), ``"1分5秒"``, ``"2小时3分"``,
    a bare number (in the header's unit, seconds by default) or a spreadsheet time/timedelta."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if value != value else float(value) * unit_seconds
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dt.time):
        return value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
    if isinstance(value, dt.date):
        raise ValueProblem(_("“%(value)s” is a date, not a duration.") % {"value": value})
    text = unicodedata.normalize("NFKC", str(value)).strip().lower().replace(" ", "")
    if not text or text in NULL_MARKERS:
        return None
    try:
        return float(text) * unit_seconds
    except ValueError:
        pass
    clock = _CLOCK.match(text)
    if clock is not None:
        hours, minutes, seconds = clock.groups()
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    parts = _DURATION_PART.findall(text)
    if parts and _DURATION_PART.sub("", text) == "":
        total = 0.0
        for number, unit in parts:
            if unit in ("小时", "时", "h"):
                total += float(number) * 3600
            elif unit in ("分钟", "分", "min", "m"):
                total += float(number) * 60
            else:
                total += float(number)
        return total
    if text.endswith("%"):
        raise ValueProblem(_("“%(value)s” is a percentage, not a duration (mixed units).") % {"value": value})
    raise ValueProblem(_("“%(value)s” is not a duration.") % {"value": value})


def _local(moment: dt.datetime) -> dt.datetime:
    """A datetime in Shanghai time: naive values are read as Shanghai wall-clock time."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=SHANGHAI)
    return moment.astimezone(SHANGHAI)


def parse_datetime(value: Any) -> dt.datetime | None:
    """An aware datetime (Asia/Shanghai) from the export's date/time formats or an Excel serial number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dt.datetime):
        return _local(value)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(0, 0), tzinfo=SHANGHAI)
    if isinstance(value, int | float):
        return _from_serial(float(value), value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text or text.lower() in NULL_MARKERS:
        return None
    match = _DATE.match(text) or _COMPACT_DATE.match(text)
    if match is None:
        try:
            serial = float(text)
        except ValueError:
            raise ValueProblem(_("“%(value)s” is not a date.") % {"value": value}) from None
        return _from_serial(serial, value)
    year, month, day, hour, minute, second = match.groups()
    try:
        return dt.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=SHANGHAI
        )
    except ValueError:
        raise ValueProblem(_("“%(value)s” is not a valid date.") % {"value": value}) from None


def _from_serial(serial: float, original: Any) -> dt.datetime:
    if not EXCEL_SERIAL_MIN <= serial < EXCEL_SERIAL_MAX:
        raise ValueProblem(_("“%(value)s” is not a date.") % {"value": original})
    days = int(serial)
    seconds = round((serial - days) * 86_400)
    moment = dt.datetime.combine(EXCEL_EPOCH + dt.timedelta(days=days), dt.time(0, 0)) + dt.timedelta(seconds=seconds)
    return moment.replace(tzinfo=SHANGHAI)


def parse_date(value: Any) -> dt.date | None:
    moment = parse_datetime(value)
    return None if moment is None else moment.date()


def find_date_range(text: str) -> tuple[dt.date, dt.date] | None:
    """The ``2025-03-01 至 2025-03-07`` range of an export's title line, if it has one."""
    match = _RANGE.search(unicodedata.normalize("NFKC", text))
    if match is None:
        return None
    try:
        first, last = parse_date(match.group(1)), parse_date(match.group(2))
    except ValueProblem:
        return None
    if first is None or last is None or last < first:
        return None
    return first, last


def shanghai_today() -> dt.date:
    from django.utils import timezone

    return timezone.now().astimezone(SHANGHAI).date()
