"""Long periods from the month rollup: the whole calendar months of a period are read from ``ContentMonthRollup``
(one row per content item and month), only the days outside them, and the months still waiting for their rebuild
after a write (``ContentMonthStale``), from the daily facts.

A GROUP BY content key over a year of a large hospital's facts read 5,000,000 rows (SQLite sorted them all: ≈ 20 s
for the topic or the post view); the same groups over the year's month rollup read about 180,000, and the days at
either end at most two months of facts. Each part is grouped by the database; the groups of a content item present
in several parts are added up here. Periods without a whole month (the 30-day default) keep their single query.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from django.db import connection, transaction
from django.db.models import Aggregate, Q, QuerySet

from xinqiao.analytics.models import ContentMetricDaily, ContentMonthRollup, ContentMonthStale
from xinqiao.analytics.selectors import Filters, _filter_content, content_rows

Extremes = Mapping[str, tuple[Callable[[str], Aggregate], Callable[[Any, Any], Any]]]  # alias → (aggregate, pick)
# Days of facts to read: (first day, last day, only these accounts or None for every account the filters allow)
FactDays = tuple[dt.date, dt.date, list[int] | None]


def whole_months(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date] | None:
    """The first days of the first and the last calendar month lying wholly in [start, end], or None."""
    first = start if start.day == 1 else _next_month(start)
    last = (end + dt.timedelta(days=1)).replace(day=1)  # the month after the last whole one
    if last <= first:
        return None
    return first, _previous_month(last)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def _previous_month(first_day: dt.date) -> dt.date:
    return (first_day - dt.timedelta(days=1)).replace(day=1)


def edges(start: dt.date, end: dt.date, months: tuple[dt.date, dt.date]) -> list[tuple[dt.date, dt.date]]:
    """The day ranges of [start, end] outside the whole months ``months`` (none, one or two)."""
    first, last = months
    ranges = []
    if start < first:
        ranges.append((start, first - dt.timedelta(days=1)))
    after = _next_month(last)
    if after <= end:
        ranges.append((after, end))
    return ranges


def month_rows(
    hospital, first: dt.date, last: dt.date, filters: Filters | None, department_ids: Iterable[int] | None
) -> QuerySet[ContentMonthRollup]:
    """The month rollup of the months ``first`` … ``last`` (their first days) with every dashboard filter."""
    rows = ContentMonthRollup.objects.filter(hospital=hospital, month__gte=first, month__lte=last)
    return _filter_content(rows, filters, department_ids)


def _parts(
    hospital, start: dt.date, end: dt.date, filters: Filters | None, department_ids: Iterable[int] | None
) -> tuple[QuerySet[ContentMonthRollup], list[FactDays]] | None:
    """(the month rollup rows, the days of facts) that together hold the period, or None when it holds no whole
    month: the whole months' rollup rows except the stale months of their accounts, whose facts are read instead,
    as are the days outside the whole months."""
    months = whole_months(start, end)
    if months is None:
        return None
    rolled = month_rows(hospital, *months, filters, department_ids)
    days: list[FactDays] = [(first_day, last_day, None) for first_day, last_day in edges(start, end, months)]
    stale: dict[dt.date, list[int]] = {}
    for account_id, month in ContentMonthStale.objects.filter(
        hospital=hospital, month__gte=months[0], month__lte=months[1]
    ).values_list("account_id", "month"):
        stale.setdefault(month, []).append(account_id)
    for month, account_ids in sorted(stale.items()):
        rolled = rolled.exclude(month=month, account_id__in=account_ids)
        days.append((month, _next_month(month) - dt.timedelta(days=1), account_ids))
    return rolled, days


def _facts(hospital, days: FactDays, filters: Filters | None, department_ids: Iterable[int] | None) -> QuerySet:
    first_day, last_day, account_ids = days
    rows = content_rows(hospital, first_day, last_day, filters, department_ids)
    return rows if account_ids is None else rows.filter(account_id__in=account_ids)


@contextlib.contextmanager
def _snapshot() -> Iterator[None]:
    """Read a period's parts from one snapshot: a writer committing between two of the reads could otherwise mark a
    month stale (and delete its rows) after the stale months were read, and the month would be missing. SQLite reads
    a transaction from one snapshot; PostgreSQL does at REPEATABLE READ. Inside a caller's transaction, that one's."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def grouped_totals(
    hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None,
    department_ids: Iterable[int] | None,
    fields: tuple[str, ...],
    *,
    condition: Q | None = None,
    extremes: Extremes | None = None,
) -> list[dict[str, Any]] | None:
    """Per ``fields`` (columns both tables have): the ``content_aggregate_expressions`` sums (``total_…``) of the
    period's facts and each ``extremes`` alias (its aggregate over either table, and how two values combine: ``max``
    or ``min``), as the one GROUP BY over the facts gives them; unordered. None when the period holds no whole month
    (the caller runs that GROUP BY itself)."""
    from xinqiao.analytics.selectors.period import content_aggregate_expressions, rollup_aggregate_expressions

    extremes = extremes or {}
    picked = {alias: make(alias) for alias, (make, _pick) in extremes.items()}
    with _snapshot():
        parts = _parts(hospital, start, end, filters, department_ids)
        if parts is None:
            return None
        rolled, days = parts
        sources = [(rolled, rollup_aggregate_expressions())]
        sources += [(_facts(hospital, part, filters, department_ids), content_aggregate_expressions()) for part in days]
        grouped = [
            list(
                (rows if condition is None else rows.filter(condition))
                .order_by()
                .values(*fields)
                .annotate(**sums, **picked)
            )
            for rows, sums in sources
        ]
    names = list(content_aggregate_expressions())
    merged: dict[tuple, dict[str, Any]] = {}
    for rows in grouped:
        for row in rows:
            group = tuple(row[name] for name in fields)
            seen = merged.get(group)
            if seen is None:
                merged[group] = row
                continue
            for name in names:
                if row[name] is not None:  # SUM: None only when every part is
                    seen[name] = row[name] if seen[name] is None else seen[name] + row[name]
            for alias, (_make, pick) in extremes.items():
                if row[alias] is not None:
                    seen[alias] = row[alias] if seen[alias] is None else pick(seen[alias], row[alias])
    return list(merged.values())


def distinct_pairs(
    hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None,
    department_ids: Iterable[int] | None,
    group: str,
    *,
    account_ids: Iterable[int] | None = None,
) -> set[tuple[Any, str]] | None:
    """The distinct (``group``, content key) pairs of the period's facts, or None when it holds no whole month.
    ``account_ids``: the accounts the filters allow (no topic or department condition), whose facts are then read
    through the (account, day, content key) index alone."""
    with _snapshot():
        parts = _parts(hospital, start, end, filters, department_ids)
        if parts is None:
            return None
        rolled, days = parts
        pairs = set(rolled.order_by().values_list(group, "content_key").distinct())
        allowed = None if account_ids is None else set(account_ids)
        for part in days:
            if allowed is None:
                rows = _facts(hospital, part, filters, department_ids)
            else:
                first_day, last_day, only = part
                rows = ContentMetricDaily.objects.filter(
                    account_id__in=sorted(allowed if only is None else allowed.intersection(only)),
                    stat_date__gte=first_day,
                    stat_date__lte=last_day,
                )
            pairs.update(rows.order_by().values_list(group, "content_key").distinct())
    return pairs
