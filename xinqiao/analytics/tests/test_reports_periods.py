"""Report periods: months and ISO weeks, their previous period and the last closed one."""

from __future__ import annotations

import datetime as dt

import pytest

from xinqiao.analytics.reports.periods import last_closed_period, parse_period, period_for
from xinqiao.core.exceptions import ApplicationError


def test_month():
    period = parse_period("2026-10")

    assert (period.kind, period.start, period.end, period.days, period.label) == (
        "month", dt.date(2026, 10, 1), dt.date(2026, 10, 31), 31, "2026-10",
    )  # fmt: skip
    assert (period.previous.start, period.previous.end) == (dt.date(2026, 9, 1), dt.date(2026, 9, 30))


def test_iso_week_across_the_year_end():
    period = parse_period("2026-W53")

    assert (period.kind, period.start, period.end, period.label) == (
        "week", dt.date(2026, 12, 28), dt.date(2027, 1, 3), "2026-W53",
    )  # fmt: skip
    assert parse_period("2026-w43").start == dt.date(2026, 10, 19)
    assert parse_period("2027-W01").previous.label == "2026-W53"


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2025-W53", "2026-W00", "26-10", "2026/10", "", "october"])
def test_bad_periods_are_refused_with_the_syntax(text):
    with pytest.raises(ApplicationError) as caught:
        parse_period(text)

    assert caught.value.code == "report_period"
    assert "2026-W43" in caught.value.message


def test_last_closed_period():
    assert last_closed_period("week", dt.date(2026, 10, 26)).label == "2026-W43"  # a Monday
    assert last_closed_period("week", dt.date(2026, 10, 25)).label == "2026-W42"  # the Sunday before
    assert last_closed_period("month", dt.date(2026, 11, 1)).label == "2026-10"
    assert last_closed_period("month", dt.date(2026, 10, 31)).label == "2026-09"
    assert period_for("month", dt.date(2024, 2, 10)).end == dt.date(2024, 2, 29)
