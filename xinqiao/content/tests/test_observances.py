"""Observance date rules against examples from shared/domain/health-observances.md (hand-checked dates), the
statutory holiday and lunar marks, the far-future fallback and the topic suggestions."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from django.utils import translation

from xinqiao.content import observances as obs

D = dt.date
SHARED = Path(__file__).resolve().parents[4] / "shared" / "domain" / "health-observances.json"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def dates(key: str, year: int) -> tuple[dt.date, dt.date] | None:
    occurrence = obs.occurrence_in(obs.observance(key), year)
    return None if occurrence is None else (occurrence.start, occurrence.end)


def test_the_data_file_is_the_shared_one_and_complete():
    data = obs.DATA_FILE.read_bytes()
    readme = (obs.DATA_FILE.parent / "README.md").read_text(encoding="utf-8")
    assert hashlib.sha256(data).hexdigest() in readme
    if SHARED.exists():  # beside the repository on developer machines and in CI
        assert SHARED.read_bytes() == data
    rows = obs.observances()
    assert len(rows) == 73  # "共 73 条，其中已核实 63 条，未核实 10 条"
    assert sum(row.is_verified for row in rows) == 63
    assert len({row.key for row in rows}) == 73
    assert {row.rule["type"] for row in rows} == {
        "fixed", "nth_weekday", "last_weekday", "last_day_of_month", "range", "month", "announced",
    }  # fmt: skip
    assert json.loads(data)["weekday_convention"].startswith("ISO 8601")


@pytest.mark.parametrize(
    ("key", "year", "expected"),
    [
        # fixed dates
        ("world-heart-day", 2025, (D(2025, 9, 29), D(2025, 9, 29))),
        ("world-hypertension-day", 2025, (D(2025, 5, 17), D(2025, 5, 17))),
        ("national-hypertension-day", 2025, (D(2025, 10, 8), D(2025, 10, 8))),
        # 10 月第 3 个周一起共 7 天: "2006 年 10/16–22、2007 年 10/15–21、2008 年 10/20–26"
        ("china-pain-week", 2006, (D(2006, 10, 16), D(2006, 10, 22))),
        ("china-pain-week", 2007, (D(2007, 10, 15), D(2007, 10, 21))),
        ("china-pain-week", 2008, (D(2008, 10, 20), D(2008, 10, 26))),
        # 3 月第 2 个周四 (source: world-kidney-day 12 March 2020)
        ("world-kidney-day", 2020, (D(2020, 3, 12), D(2020, 3, 12))),
        # 11 月第 3 个周三 (source: world-copd-day-2020-18-november)
        ("world-copd-day", 2020, (D(2020, 11, 18), D(2020, 11, 18))),
        # 5 月第 1 个周二 (World Asthma Day 2024 was 7 May)
        ("world-asthma-day", 2024, (D(2024, 5, 7), D(2024, 5, 7))),
        # 9 月第 3 个周六起共 2 天
        ("national-science-popularization-day", 2025, (D(2025, 9, 20), D(2025, 9, 21))),
        # last weekday of the month
        ("world-leprosy-day", 2025, (D(2025, 1, 26), D(2025, 1, 26))),
        ("international-day-of-the-deaf", 2025, (D(2025, 9, 28), D(2025, 9, 28))),
        # 2 月最后一天：平年 2-28，闰年 2-29
        ("rare-disease-day", 2024, (D(2024, 2, 29), D(2024, 2, 29))),
        ("rare-disease-day", 2025, (D(2025, 2, 28), D(2025, 2, 28))),
        # ranges, one across the month end ("近年均为 4-25 至 5-1")
        ("occupational-disease-prevention-law-publicity-week", 2025, (D(2025, 4, 25), D(2025, 5, 1))),
        ("world-antimicrobial-resistance-awareness-week", 2025, (D(2025, 11, 18), D(2025, 11, 24))),
        # whole month; announced each year (nominal month only)
        ("national-patriotic-health-campaign-month", 2025, (D(2025, 4, 1), D(2025, 4, 30))),
        ("national-nutrition-week", 2025, (D(2025, 5, 1), D(2025, 5, 31))),
        # not before the year it was established (World Patient Safety Day: WHA72.6, 2019)
        ("world-patient-safety-day", 2018, None),
        ("world-patient-safety-day", 2019, (D(2019, 9, 17), D(2019, 9, 17))),
    ],
)
def test_date_rules(key, year, expected):
    assert dates(key, year) == expected


def test_every_rule_computes_for_many_years():
    for year in range(1990, 2101):
        for row in obs.observances():
            occurrence = obs.occurrence_in(row, year)
            assert occurrence is None or (occurrence.start.year == year and occurrence.end >= occurrence.start)


def test_nth_and_last_weekday_helpers():
    assert obs.nth_weekday(2025, 9, 6, 2) == D(2025, 9, 13)  # World First Aid Day: 2nd Saturday
    assert obs.nth_weekday(2025, 6, 7, 1) == D(2025, 6, 1)  # the 1st is itself a Sunday
    assert obs.last_weekday(2025, 8, 7) == D(2025, 8, 31)  # the last day is itself a Sunday
    assert obs.last_day_of_month(2100, 2) == D(2100, 2, 28)  # 2100 is not a leap year


def test_holidays_working_days_solar_terms_and_festivals_2025():
    marks = obs.day_marks(D(2025, 1, 1), D(2025, 12, 31))
    assert marks.notices == []

    def names(day):
        return [(mark.kind, mark.name) for mark in marks.of(day)]

    assert names(D(2025, 1, 28)) == [("holiday", "Spring Festival (day off)")]
    assert names(D(2025, 1, 29)) == [("holiday", "Spring Festival (day off)"), ("festival", "Spring Festival")]
    assert names(D(2025, 1, 26)) == [("working_day", "Working day in lieu (Spring Festival)")]
    assert names(D(2025, 4, 4)) == [("holiday", "Tomb-sweeping Day (day off)"), ("solar_term", "Pure Brightness")]
    assert names(D(2025, 5, 31)) == [
        ("holiday", "Dragon Boat Festival (day off)"),
        ("festival", "Dragon Boat Festival"),
    ]
    assert names(D(2025, 7, 20)) == [("season", "Sanfu begins (summer treatment of winter illnesses)")]
    assert names(D(2025, 10, 29)) == [("festival", "Double Ninth Festival (Seniors' Day)")]
    assert names(D(2025, 12, 21)) == [("solar_term", "Winter Solstice")]
    assert sum(1 for mark in marks.all() if mark.kind == "solar_term") == 24
    assert sum(1 for mark in marks.all() if mark.kind == "working_day") == 5  # 1-26, 2-8, 4-27, 9-28, 10-11
    # 三九 starts 18 days after the winter solstice (2024-12-21); 初伏 on the third 庚 day after the summer solstice
    assert [m.day for m in marks.all() if m.kind == "season"] == [D(2025, 1, 8), D(2025, 7, 20)]


def test_chinese_names_in_the_chinese_ui():
    marks = obs.day_marks(D(2025, 10, 1), D(2025, 10, 1))
    with translation.override("zh-hans"):
        assert [mark.name for mark in marks.of(D(2025, 10, 1))] == ["国庆节（放假）"]
        assert obs.observance("world-heart-day").name == "世界心脏日"


def test_years_without_holiday_tables_get_a_notice_not_an_error():
    marks = obs.day_marks(D(2099, 1, 1), D(2099, 12, 31))
    assert marks.notices == [
        "Statutory holidays and adjusted working days for 2099 are not available yet (the holiday tables cover "
        "2004–2026): check the State Council's notice before planning around them."
    ]
    assert [m.kind for m in marks.all() if m.kind in ("holiday", "working_day")] == []
    assert sum(1 for mark in marks.all() if mark.kind == "solar_term") == 24
    spring = [m.day for m in marks.all() if m.kind == "festival" and m.name == "Spring Festival"]
    assert spring == [D(2099, 1, 21)]
    outside = obs.day_marks(D(2300, 1, 1), D(2300, 1, 31))
    assert outside.by_day == {}
    assert outside.notices[-1] == "Lunar festivals and solar terms for 2300 cannot be computed."


def test_suggestions_group_by_department_and_skip_unverified(world):
    groups = obs.observance_suggestions(hospital=world.hospital, start=D(2025, 8, 1), days=30)
    got = {group.label: [(s.name, str(s.start), str(s.end), s.days_ahead) for s in group.suggestions]
           for group in groups}  # fmt: skip
    assert got == {
        "Whole hospital": [("Chinese Doctors' Day", "2025-08-19", "2025-08-19", 18)],
        "儿科": [("World Breastfeeding Week", "2025-08-01", "2025-08-07", 0)],
    }
    # 10-13 World Thrombosis Day (心内科) is unverified: proposed only when asked for
    plain = obs.observance_suggestions(hospital=world.hospital, start=D(2025, 10, 9), days=5)
    assert [s.name for g in plain for s in g.suggestions] == []
    asked = obs.observance_suggestions(hospital=world.hospital, start=D(2025, 10, 9), days=5, include_unverified=True)
    assert [(g.label, [s.name for s in g.suggestions]) for g in asked] == [("心内科", ["World Thrombosis Day"])]
    limited = obs.observance_suggestions(
        hospital=world.hospital,
        start=D(2025, 8, 1),
        days=30,
        department_ids=frozenset({world.departments["cardiology"].pk}),
    )
    assert [g.label for g in limited] == ["Whole hospital"]


def test_seasons_are_proposed_to_traditional_medicine(world):
    from xinqiao.core.models import Department

    tcm = Department.objects.create(hospital=world.hospital, name="中医科", code="tcm")
    groups = obs.observance_suggestions(hospital=world.hospital, start=D(2025, 7, 15), days=10)
    by_label = {g.label: [(s.name, str(s.start)) for s in g.suggestions] for g in groups}
    assert by_label[tcm.name] == [("Sanfu begins (summer treatment of winter illnesses)", "2025-07-20")]
