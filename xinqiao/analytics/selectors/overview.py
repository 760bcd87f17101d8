"""Overview dashboard: headline KPIs with period-over-period change, the daily trend and the platform split."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from xinqiao.analytics.selectors import Filters, rollup_rows
from xinqiao.analytics.selectors.period import (
    content_totals,
    grouped_content_totals,
    period_summary,
    rollup_aggregate_expressions,
    sum_content_totals,
)
from xinqiao.core.models import Hospital


def daily_totals(
    hospital: Hospital, start: dt.date, end: dt.date, filters: Filters, department_ids: Iterable[int] | None
) -> dict[dt.date, dict[str, Any]]:
    """Content sums per day (one GROUP BY stat_date over the content rollup)."""
    return {
        row["stat_date"]: content_totals(row)
        for row in rollup_rows(hospital, start, end, filters, department_ids)
        .values("stat_date")
        .annotate(**rollup_aggregate_expressions())
        .order_by("stat_date")
    }


def daily_trend(
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters,
    department_ids: Iterable[int] | None,
    grouped: dict[dt.date, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One row per day (days without data included, as zeros): impressions, views, interactions."""
    if grouped is None:
        grouped = daily_totals(hospital, start, end, filters, department_ids)
    rows = []
    day = start
    while day <= end:
        totals = grouped.get(day, {})
        interactions = sum(totals.get(name, 0) for name in ("likes", "comments", "shares", "favorites"))
        rows.append(
            {
                "date": day.isoformat(),
                "impressions": totals.get("impressions", 0),
                "views": totals.get("views", 0),
                "interactions": interactions,
            }
        )
        day += dt.timedelta(days=1)
    return rows


def platform_split(
    hospital: Hospital, start: dt.date, end: dt.date, filters: Filters, department_ids: Iterable[int] | None
) -> list[dict[str, Any]]:
    """Per platform: posts, impressions, views, interactions, interaction rate; most viewed first."""
    rows = []
    for row in grouped_content_totals(hospital, start, end, filters, department_ids, "platform"):
        totals = content_totals(row)
        interactions = sum(totals[name] for name in ("likes", "comments", "shares", "favorites"))
        rows.append(
            {
                "platform": row["platform"],
                "posts": row["posts"],
                "impressions": totals["impressions"],
                "views": totals["views"],
                "interactions": interactions,
                "interaction_rate": interactions / totals["views"] if totals["views"] else None,
            }
        )
    rows.sort(key=lambda r: (-r["views"], r["platform"]))
    return rows


def overview(
    *,
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
) -> dict[str, Any]:
    filters = Filters.coerce(filters)
    by_day = daily_totals(hospital, start, end, filters, department_ids)
    return {
        "summary": period_summary(
            hospital=hospital,
            start=start,
            end=end,
            filters=filters,
            department_ids=department_ids,
            current_content=sum_content_totals(by_day.values()),
        ),
        "trend": daily_trend(hospital, start, end, filters, department_ids, by_day),
        "platforms": platform_split(hospital, start, end, filters, department_ids),
    }
