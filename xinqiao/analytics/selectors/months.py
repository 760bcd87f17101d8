"""Long periods from the month rollup: the whole calendar months of a period are read from ``ContentMonthRollup``
(one row per content item and month), only the days outside them from the daily facts.

A GROUP BY content key over a year of a large hospital's facts read 5,000,000 rows (SQLite sorted them all: ≈ 20 s
for the topic or the post view); the same groups over the year's month rollup read about 180,000, and the days at
either end at most two months of facts. Each source is grouped by the database; the groups of a content item
present in both are added up here. Periods without a whole month (the 30-day default) keep their single query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db.models import Aggregate, Q, QuerySet

from xinqiao.analytics.models import ContentMetricDaily, ContentMonthRollup
from xinqiao.analytics.selectors import Filters, _filter_content, content_rows

Extremes = Mapping[str, tuple[Callable[[str], Aggregate], Callable[[Any, Any], Any]]]  # alias → (aggregate, pick)


def whole_months(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date] | None:
    """The first days of the first and the last calendar month lying wholly in [start, end], or None."""
    first = start if start.day == 1 else _next_month(start)
    after = end + dt.timedelta(days=1)
    last = after.replace(day=1)  # the month after the last whole one
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


def _sources(
    hospital, start: dt.date, end: dt.date, filters: Filters | None, department_ids: Iterable[int] | None
) -> list[tuple[QuerySet, dict[str, Any]]] | None:
    """(rows, their sum expressions) for each part of the period, or None when it holds no whole month."""
    from xinqiao.analytics.selectors.period import content_aggregate_expressions, rollup_aggregate_expressions

    months = whole_months(start, end)
    if months is None:
        return None
    sources: list[tuple[QuerySet, dict[str, Any]]] = [
        (month_rows(hospital, *months, filters, department_ids), rollup_aggregate_expressions())
    ]
    for first_day, last_day in edges(start, end, months):
        sources.append(
            (content_rows(hospital, first_day, last_day, filters, department_ids), content_aggregate_expressions())
        )
    return sources


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
    sources = _sources(hospital, start, end, filters, department_ids)
    if sources is None:
        return None
    extremes = extremes or {}
    merged: dict[tuple, dict[str, Any]] = {}
    for rows, sums in sources:
        if condition is not None:
            rows = rows.filter(condition)
        aggregates = {**sums, **{alias: make(alias) for alias, (make, _pick) in extremes.items()}}
        for row in rows.order_by().values(*fields).annotate(**aggregates):
            group = tuple(row[name] for name in fields)
            seen = merged.get(group)
            if seen is None:
                merged[group] = row
                continue
            for name in sums:
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
    ``account_ids``: read the facts of these accounts instead of applying ``filters`` (what the caller resolved the
    filters to); the month rollup still gets the filters."""
    months = whole_months(start, end)
    if months is None:
        return None
    pairs = set(
        month_rows(hospital, *months, filters, department_ids).order_by().values_list(group, "content_key").distinct()
    )
    for first_day, last_day in edges(start, end, months):
        if account_ids is None:
            facts = content_rows(hospital, first_day, last_day, filters, department_ids)
        else:
            facts = ContentMetricDaily.objects.filter(
                account_id__in=list(account_ids), stat_date__gte=first_day, stat_date__lte=last_day
            )
        pairs.update(facts.order_by().values_list(group, "content_key").distinct())
    return pairs
