"""Report periods: a calendar month (``2026-10``) or an ISO week (``2026-W43``), in Asia/Shanghai days."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

from xinqiao.core.exceptions import ApplicationError

WEEK = "week"
MONTH = "month"
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)


@dataclass(frozen=True)
class ReportPeriod:
    kind: str  # "week" or "month"
    start: dt.date
    end: dt.date  # inclusive

    @property
    def label(self) -> str:
        if self.kind == MONTH:
            return f"{self.start:%Y-%m}"
        year, week, _weekday = self.start.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous(self) -> ReportPeriod:
        return period_for(self.kind, self.start - dt.timedelta(days=1))

    @property
    def next(self) -> ReportPeriod:
        return period_for(self.kind, self.end + dt.timedelta(days=1))

    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=offset) for offset in range(self.days)]


def period_for(kind: str, day: dt.date) -> ReportPeriod:
    """The week (Monday to Sunday) or calendar month that contains ``day``."""
    if kind == WEEK:
        start = day - dt.timedelta(days=day.weekday())
        return ReportPeriod(WEEK, start, start + dt.timedelta(days=6))
    if kind == MONTH:
        last = calendar.monthrange(day.year, day.month)[1]
        return ReportPeriod(MONTH, day.replace(day=1), day.replace(day=last))
    raise ApplicationError(_("Unknown report period type: %(kind)s.") % {"kind": kind}, code="report_period")


def parse_period(text: str) -> ReportPeriod:
    """``2026-10`` (a month) or ``2026-W43`` (an ISO week); anything else is a clear error."""
    value = (text or "").strip()
    month = _MONTH_RE.match(value)
    if month:
        year, number = int(month.group(1)), int(month.group(2))
        if 1 <= number <= 12 and year >= 2000:
            return period_for(MONTH, dt.date(year, number, 1))
    week = _WEEK_RE.match(value)
    if week:
        year, number = int(week.group(1)), int(week.group(2))
        if year >= 2000:
            try:
                return period_for(WEEK, dt.date.fromisocalendar(year, number, 1))
            except ValueError:
                pass
    raise ApplicationError(
        _("“%(value)s” is not a report period: use a month like 2026-10 or an ISO week like 2026-W43.")
        % {"value": value},
        code="report_period",
        field="period",
    )


def last_closed_period(kind: str, today: dt.date) -> ReportPeriod:
    """The most recent period that has fully ended before ``today`` (a local date)."""
    return period_for(kind, today).previous
