"""Content dashboard: per-post performance, best posting hours per platform and the drill-down to one post."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import Max, Min
from django.db.models.functions import ExtractHour

from xinqiao.analytics.selectors import LOCAL_TZ, Filters, content_rows, months
from xinqiao.analytics.selectors.period import content_aggregate_expressions, content_totals, totals_with_posts
from xinqiao.core.models import Hospital

INTERACTIONS = ("likes", "comments", "shares", "favorites")
# What the post table shows of each post besides its sums: alias → (its aggregate over the facts or the month
# rollup, how two parts' values combine)
POST_EXTREMES: months.Extremes = {
    "account_name": (lambda _alias: Max("account__name"), max),
    "title": (Max, max),
    "topic": (Max, max),
    "content_format": (Max, max),
    "published_at": (Min, min),
    "publication_id": (Max, max),
}


def _derived(totals: dict[str, Any]) -> dict[str, Any]:
    interactions = sum(totals.get(name, 0) for name in INTERACTIONS)
    views = totals.get("views", 0)
    weighted, completion_views = totals.get("completion_weighted"), totals.get("completion_views", 0)
    return {
        "interactions": interactions,
        "interaction_rate": interactions / views if views else None,
        "completion_rate": weighted / completion_views if weighted is not None and completion_views else None,
    }


def post_table(
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
    *,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The most viewed posts of the period (one GROUP BY account, content key; a long period's whole months from
    the month rollup), with rates."""
    # Key first (see topics._fact_groups); the account's name is not a grouping column (it follows from the
    # account): PostgreSQL multiplies the groups it expects by each grouping column's distinct values, and the
    # name's would make it sort a year's rows on disk instead of summing them in parallel hash tables.
    fields = ("content_key", "account_id", "platform")
    merged = months.grouped_totals(hospital, start, end, filters, department_ids, fields, extremes=POST_EXTREMES)
    if merged is None:
        rows = (
            content_rows(hospital, start, end, filters, department_ids)
            .values(*fields)
            .annotate(
                **{alias: make(alias) for alias, (make, _pick) in POST_EXTREMES.items()},
                **content_aggregate_expressions(),
            )
            .order_by("-total_views", "account_id", "content_key")[:limit]
        )
    else:
        merged.sort(key=lambda row: (-(row["total_views"] or 0), row["account_id"], row["content_key"]))
        rows = merged[:limit]
    result = []
    for row in rows:
        totals = content_totals(row)
        result.append(
            {
                "account_id": row["account_id"],
                "account": row["account_name"],
                "platform": row["platform"],
                "content_key": row["content_key"],
                "title": row["title"],
                "topic": row["topic"],
                "content_format": row["content_format"],
                "published_at": row["published_at"],
                "publication_id": row["publication_id"],
                "impressions": totals["impressions"],
                "views": totals["views"],
                "shares": totals["shares"],
                **_derived(totals),
            }
        )
    return result


def best_hours(
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
) -> list[dict[str, Any]]:
    """Per platform and local publish hour: posts, views per post and interaction rate (GROUP BY hour)."""
    rows = totals_with_posts(
        content_rows(hospital, start, end, filters, department_ids)
        .filter(published_at__isnull=False)
        .annotate(hour=ExtractHour("published_at", tzinfo=LOCAL_TZ)),
        "platform",
        "hour",
    )
    result = []
    for row in rows:
        totals = content_totals(row)
        result.append(
            {
                "platform": row["platform"],
                "hour": row["hour"],
                "posts": row["posts"],
                "views": totals["views"],
                "views_per_post": totals["views"] / row["posts"] if row["posts"] else None,
                **_derived(totals),
            }
        )
    return result


def post_detail(
    hospital: Hospital, account_id: int, content_key: str, department_ids: Iterable[int] | None = None
) -> dict[str, Any] | None:
    """Every daily row of one post (all dates), or None when the post is not visible."""
    rows = list(
        content_rows(hospital, None, None, Filters(account_id=account_id), department_ids)
        .filter(content_key=content_key)
        .select_related("account")
        .order_by("stat_date")
    )
    if not rows:
        return None
    first = rows[0]
    series = [
        {
            "date": row.stat_date.isoformat(),
            "impressions": row.impressions,
            "views": row.views,
            "likes": row.likes,
            "comments": row.comments,
            "shares": row.shares,
            "favorites": row.favorites,
            "completion_rate": row.completion_rate,
        }
        for row in rows
    ]
    totals = {name: sum(r[name] for r in series) for name in ("impressions", "views", *INTERACTIONS)}
    weighted = [r["completion_rate"] * r["views"] for r in series if r["completion_rate"] is not None]
    totals["completion_weighted"] = sum(weighted) if weighted else None
    totals["completion_views"] = sum(r["views"] for r in series if r["completion_rate"] is not None)
    return {
        "account": first.account,
        "platform": first.platform,
        "content_key": content_key,
        "title": first.title,
        "topic": first.topic,
        "content_format": first.content_format,
        "published_at": first.published_at,
        "publication_id": first.publication_id,
        "series": series,
        "totals": totals | _derived(totals),
    }
