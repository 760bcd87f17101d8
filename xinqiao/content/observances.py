"""The observance calendar: health observance days (data/health-observances.json), statutory holidays and 调休
working days (``chinesecalendar``), lunar festivals, the 24 solar terms and the 三伏/三九 seasons (``lunar-python``),
and topic suggestions for the departments an observance concerns.

Each package covers a limited range of years (``chinesecalendar`` only the years whose State Council notice it
ships). Outside that range the calendar shows a notice instead of the marks; nothing raises.
"""

from __future__ import annotations

import calendar as pycalendar
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import chinese_calendar
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from lunar_python import Solar

from xinqiao.core.models import Department, Hospital

DATA_FILE = Path(__file__).resolve().parent / "data" / "health-observances.json"
WHOLE_HOSPITAL = "全院"
# Years the lunar calendar is offered for; lunar-python computes any year, the calendar UI accepts these.
FIRST_YEAR, LAST_YEAR = 1901, 2199


def _is_chinese() -> bool:
    return (get_language() or "zh-hans").lower().startswith("zh")


@dataclass(frozen=True)
class Observance:
    key: str
    name_zh: str
    name_en: str
    rule: dict[str, Any]
    departments: tuple[str, ...]
    scope: str
    is_verified: bool
    since_year: int | None
    notes: str

    @property
    def name(self) -> str:
        return self.name_zh if _is_chinese() else self.name_en

    @property
    def is_announced(self) -> bool:
        """The dates are announced each year; the rule only gives a nominal hint."""
        return self.rule["type"] == "announced"

    @property
    def is_hospital_wide(self) -> bool:
        return WHOLE_HOSPITAL in self.departments


@dataclass(frozen=True)
class Occurrence:
    """An observance in one year: ``start`` to ``end`` inclusive."""

    observance: Observance
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def is_month_long(self) -> bool:
        return self.observance.rule["type"] in ("month", "announced")

    def covers(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _since_year(since: str) -> int | None:
    match = re.match(r"\s*(\d{4})", since or "")
    return int(match.group(1)) if match else None


@cache
def observances() -> tuple[Observance, ...]:
    """Every observance of the data file, in file order (by month)."""
    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    rows = []
    for entry in data["observances"]:
        rows.append(
            Observance(
                key=_slug(entry["name_en"]),
                name_zh=entry["name_zh"],
                name_en=entry["name_en"],
                rule=entry["rule"],
                departments=tuple(entry["departments"]),
                scope=entry["scope"],
                is_verified=bool(entry["verified"]),
                since_year=_since_year(entry.get("since", "")),
                notes=entry.get("notes", ""),
            )
        )
    return tuple(rows)


def observance(key: str) -> Observance:
    return next(row for row in observances() if row.key == key)


# --- date rules ----------------------------------------------------------------------------------------------


def nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The ``n``-th ISO ``weekday`` (1 = Monday … 7 = Sunday) of a month."""
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.isoweekday()) % 7 + 7 * (n - 1))


def last_weekday(year: int, month: int, weekday: int) -> dt.date:
    last = dt.date(year, month, pycalendar.monthrange(year, month)[1])
    return last - dt.timedelta(days=(last.isoweekday() - weekday) % 7)


def last_day_of_month(year: int, month: int) -> dt.date:
    return dt.date(year, month, pycalendar.monthrange(year, month)[1])


def occurrence_in(item: Observance, year: int) -> Occurrence | None:
    """The observance's dates in ``year``; None before the year it was established."""
    if item.since_year is not None and year < item.since_year:
        return None
    rule = item.rule
    kind = rule["type"]
    if kind == "fixed":
        start = end = dt.date(year, rule["month"], rule["day"])
    elif kind == "nth_weekday":
        start = nth_weekday(year, rule["month"], rule["weekday"], rule["n"])
        end = start + dt.timedelta(days=rule.get("duration_days", 1) - 1)
    elif kind == "last_weekday":
        start = end = last_weekday(year, rule["month"], rule["weekday"])
    elif kind == "last_day_of_month":
        start = end = last_day_of_month(year, rule["month"])
    elif kind == "range":
        start = dt.date(year, rule["start"]["month"], rule["start"]["day"])
        end = dt.date(year, rule["end"]["month"], rule["end"]["day"])
        if end < start:  # the range crosses the new year
            end = end.replace(year=year + 1)
    elif kind in ("month", "announced"):
        start, end = dt.date(year, rule["month"], 1), last_day_of_month(year, rule["month"])
    else:
        raise ValueError(f"unknown observance rule type {kind!r}")
    return Occurrence(item, start, end)


def occurrences_between(start: dt.date, end: dt.date) -> list[Occurrence]:
    """Occurrences overlapping ``start``..``end`` (inclusive), by start date."""
    found = []
    for year in range(start.year - 1, end.year + 1):
        for item in observances():
            occurrence = occurrence_in(item, year)
            if occurrence is not None and occurrence.start <= end and occurrence.end >= start:
                found.append(occurrence)
    return sorted(found, key=lambda o: (o.start, o.end, o.observance.key))


# --- statutory holidays, lunar festivals, solar terms -----------------------------------------------------------


@dataclass(frozen=True)
class DayMark:
    """A fact about one day: a statutory holiday, a 调休 working day, a solar term, a lunar festival or season."""

    day: dt.date
    kind: str  # holiday | working_day | solar_term | festival | season
    name_zh: str
    name_en: str
    departments: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.name_zh if _is_chinese() else self.name_en


HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}
SOLAR_TERMS = {
    "立春": "Start of Spring", "雨水": "Rain Water", "惊蛰": "Awakening of Insects", "春分": "Spring Equinox",
    "清明": "Pure Brightness", "谷雨": "Grain Rain", "立夏": "Start of Summer", "小满": "Grain Buds",
    "芒种": "Grain in Ear", "夏至": "Summer Solstice", "小暑": "Minor Heat", "大暑": "Major Heat",
    "立秋": "Start of Autumn", "处暑": "End of Heat", "白露": "White Dew", "秋分": "Autumn Equinox",
    "寒露": "Cold Dew", "霜降": "Frost's Descent", "立冬": "Start of Winter", "小雪": "Minor Snow",
    "大雪": "Major Snow", "冬至": "Winter Solstice", "小寒": "Minor Cold", "大寒": "Major Cold",
}  # fmt: skip
# (lunar month, lunar day) -> names and the departments a topic suits (重阳 is also 老年节, the seniors' day)
LUNAR_FESTIVALS: dict[tuple[int, int], tuple[str, str, tuple[str, ...]]] = {
    (1, 1): ("春节", "Spring Festival", ()),
    (1, 15): ("元宵节", "Lantern Festival", ()),
    (5, 5): ("端午节", "Dragon Boat Festival", ()),
    (7, 7): ("七夕", "Qixi Festival", ()),
    (8, 15): ("中秋节", "Mid-Autumn Festival", ()),
    (9, 9): ("重阳节（老年节）", "Double Ninth Festival (Seniors' Day)", ("老年科",)),
    (12, 8): ("腊八节", "Laba Festival", ()),
}
# Seasons that traditional Chinese medicine builds topics on: 冬病夏治 in 三伏, 冬令进补 in 三九.
SEASONS = {
    "初伏": ("入伏（三伏天开始，冬病夏治）", "Sanfu begins (summer treatment of winter illnesses)", ("中医科",)),
    "三九": ("三九（冬令进补）", "Sanjiu: the coldest nine days (winter tonics)", ("中医科",)),
}


@cache
def _statutory_years() -> tuple[int, int]:
    years = {day.year for day in chinese_calendar.holidays} | {day.year for day in chinese_calendar.workdays}
    return min(years), max(years)


@dataclass
class Marks:
    by_day: dict[dt.date, list[DayMark]] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    def add(self, mark: DayMark) -> None:
        self.by_day.setdefault(mark.day, []).append(mark)

    def of(self, day: dt.date) -> list[DayMark]:
        return self.by_day.get(day, [])

    def all(self) -> list[DayMark]:
        return [mark for day in sorted(self.by_day) for mark in self.by_day[day]]


def _days(start: dt.date, end: dt.date):
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def _statutory_marks(day: dt.date) -> list[DayMark]:
    """Holidays and 调休 from chinesecalendar's tables (raises NotImplementedError for years it does not cover)."""
    is_holiday, name = chinese_calendar.get_holiday_detail(day)
    if name is None:
        return []
    name_en = str(name)
    name_zh = HOLIDAY_NAMES.get(name_en, name_en)
    if is_holiday:
        return [DayMark(day, "holiday", f"{name_zh}（放假）", f"{name_en} (day off)")]
    return [DayMark(day, "working_day", f"调休上班（{name_zh}）", f"Working day in lieu ({name_en})")]


def _lunar_marks(day: dt.date) -> list[DayMark]:
    lunar = Solar.fromYmd(day.year, day.month, day.day).getLunar()
    marks = []
    term = lunar.getJieQi()
    if term in SOLAR_TERMS:
        marks.append(DayMark(day, "solar_term", term, SOLAR_TERMS[term]))
    if lunar.getMonth() > 0:  # leap months (negative) have no festivals
        festival = LUNAR_FESTIVALS.get((lunar.getMonth(), lunar.getDay()))
        if festival is not None:
            marks.append(DayMark(day, "festival", festival[0], festival[1], festival[2]))
    for period in (lunar.getFu(), lunar.getShuJiu()):
        if period is not None and period.getIndex() == 1 and period.getName() in SEASONS:
            zh, en, departments = SEASONS[period.getName()]
            marks.append(DayMark(day, "season", zh, en, departments))
    return marks


def day_marks(start: dt.date, end: dt.date) -> Marks:
    """Holidays, 调休 working days, solar terms, lunar festivals and seasons from ``start`` to ``end``, with a
    notice for each year a package does not cover."""
    marks = Marks()
    first, last = _statutory_years()
    for year in range(start.year, end.year + 1):
        if not first <= year <= last:
            marks.notices.append(
                _(
                    "Statutory holidays and adjusted working days for %(year)d are not available yet (the holiday "
                    "tables cover %(first)d–%(last)d): check the State Council's notice before planning around them."
                )
                % {"year": year, "first": first, "last": last}
            )
    lunar_failed: set[int] = set()
    for day in _days(start, end):
        if first <= day.year <= last:
            try:
                for mark in _statutory_marks(day):
                    marks.add(mark)
            except NotImplementedError:
                pass  # the table has no data for this day's year; the notice above says so
        if day.year in lunar_failed or not FIRST_YEAR <= day.year <= LAST_YEAR:
            lunar_failed.add(day.year)
            continue
        try:
            for mark in _lunar_marks(day):
                marks.add(mark)
        except Exception:  # lunar-python raises bare Exception for dates it cannot convert
            lunar_failed.add(day.year)
    for year in sorted(lunar_failed):
        marks.notices.append(_("Lunar festivals and solar terms for %(year)d cannot be computed.") % {"year": year})
    return marks


# --- topic suggestions --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    name: str
    start: dt.date
    end: dt.date
    days_ahead: int
    is_verified: bool
    is_announced: bool
    planned: int  # items of the department already planned for it
    notes: str = ""

    @property
    def is_planned(self) -> bool:
        return self.planned > 0


@dataclass
class DepartmentSuggestions:
    department: Department | None  # None: the whole hospital
    suggestions: list[Suggestion]

    @property
    def label(self) -> str:
        return self.department.name if self.department is not None else _("Whole hospital")


def observance_suggestions(
    *,
    hospital: Hospital,
    start: dt.date,
    days: int,
    department_ids: frozenset[int] | None = None,
    include_unverified: bool = False,
) -> list[DepartmentSuggestions]:
    """Topics to propose from ``start`` for ``days`` days: each observance (and season or festival with a
    department) that begins or runs in that window, grouped by the hospital's departments it names (by name;
    ``全院`` goes to the whole-hospital group). Unverified observances are left out unless asked for, as the
    data file's notes require. ``department_ids`` limits the groups (department reviewers see their own)."""
    from xinqiao.content.models import ContentItem

    if days < 0:
        raise ValueError("days must not be negative")
    end = start + dt.timedelta(days=days)
    departments = list(Department.objects.filter(hospital=hospital).order_by("name", "pk"))
    if department_ids is not None:
        departments = [d for d in departments if d.pk in department_ids]
    by_name = {department.name.strip(): department for department in departments}

    # Items planned in the window (and the lead time before it), to show what is already covered.
    window_start = timezone.make_aware(dt.datetime.combine(start - dt.timedelta(days=days), dt.time.min))
    window_end = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=62), dt.time.min))
    planned_rows = (
        ContentItem.objects.filter(hospital=hospital, scheduled_at__gte=window_start, scheduled_at__lt=window_end)
        .exclude(state=ContentItem.State.REJECTED)
        .values_list("department_id", "scheduled_at")
    )
    planned = [(department_id, timezone.localdate(at)) for department_id, at in planned_rows]

    def planned_for(department: Department | None, first: dt.date, last: dt.date) -> int:
        lead_from = first - dt.timedelta(days=days)
        return sum(
            1
            for department_id, day in planned
            if lead_from <= day <= last and (department is None or department_id == department.pk)
        )

    groups: dict[int | None, list[Suggestion]] = {}

    def propose(names: tuple[str, ...], suggestion_args: dict[str, Any]) -> None:
        targets: list[Department | None] = [by_name[n] for n in names if n in by_name]
        if WHOLE_HOSPITAL in names:
            targets.append(None)
        for department in targets:
            key = department.pk if department is not None else None
            groups.setdefault(key, []).append(
                Suggestion(
                    **suggestion_args,
                    planned=planned_for(department, suggestion_args["start"], suggestion_args["end"]),
                )
            )

    for occurrence in occurrences_between(start, end):
        item = occurrence.observance
        if not item.is_verified and not include_unverified:
            continue
        propose(
            item.departments,
            {
                "name": item.name,
                "start": occurrence.start,
                "end": occurrence.end,
                "days_ahead": max(0, (occurrence.start - start).days),
                "is_verified": item.is_verified,
                "is_announced": item.is_announced,
                "notes": item.notes,
            },
        )
    for mark in day_marks(start, end).all():
        if mark.departments:
            propose(
                mark.departments,
                {
                    "name": mark.name,
                    "start": mark.day,
                    "end": mark.day,
                    "days_ahead": (mark.day - start).days,
                    "is_verified": True,
                    "is_announced": False,
                },
            )
    result = [DepartmentSuggestions(None, groups[None])] if None in groups else []
    result += [DepartmentSuggestions(d, groups[d.pk]) for d in departments if d.pk in groups]
    for group in result:
        group.suggestions.sort(key=lambda s: (s.start, s.name))
    return result
