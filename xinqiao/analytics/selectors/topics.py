"""Topic dashboard: topic × format × platform performance (completion, interaction, conversions)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import Count

from xinqiao.analytics import attribution
from xinqiao.analytics.selectors import Filters, content_rows
from xinqiao.analytics.selectors.content import _derived
from xinqiao.analytics.selectors.period import content_aggregate_expressions, content_totals
from xinqiao.core.models import Hospital


def _conversions_by_cell(
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters,
    department_ids: Iterable[int] | None,
    keys: tuple[str, ...],
    result: attribution.AttributionResult | None = None,
) -> dict[tuple, dict[str, int]]:
    """Attributed (last-touch) visits and consultations summed per (topic, format, platform) cell."""
    if result is None:
        result = attribution.attribute(
            hospital=hospital, start=start, end=end, filters=filters, department_ids=department_ids
        )
    credits = result.by_publication[attribution.LAST_TOUCH]
    cells: dict[tuple, dict[str, int]] = defaultdict(lambda: {"conversions": 0, "consultations": 0})
    if not credits:
        return cells
    mapping = (
        content_rows(hospital, None, None, filters, department_ids)
        .filter(publication_id__in=list(credits))
        .values_list("publication_id", *keys)
        .distinct()
    )
    seen: set[int] = set()
    for publication_id, *cell in mapping:
        if publication_id in seen:  # a publication re-tagged later: count it once, under its first cell
            continue
        seen.add(publication_id)
        credit = credits[publication_id]
        cells[tuple(cell)]["conversions"] += credit.appointments_and_visits
        cells[tuple(cell)]["consultations"] += credit.consultations
    return cells


def topic_cells(
    *,
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
    keys: tuple[str, ...] = ("topic", "content_format", "platform"),
    attributed: attribution.AttributionResult | None = None,
) -> list[dict[str, Any]]:
    """One row per combination of ``keys`` (a GROUP BY over the facts) with posts, views, completion,
    interaction rate and attributed conversions; rows without a topic are grouped under ""."""
    filters = Filters.coerce(filters)
    conversions = _conversions_by_cell(hospital, start, end, filters, department_ids, keys, attributed)
    rows = []
    for row in (
        content_rows(hospital, start, end, filters, department_ids)
        .values(*keys)
        .annotate(posts=Count("content_key", distinct=True), **content_aggregate_expressions())
        .order_by(*keys)
    ):
        totals = content_totals(row)
        cell = tuple(row[key] for key in keys)
        rows.append(
            {
                **{key: row[key] for key in keys},
                "posts": row["posts"],
                "impressions": totals["impressions"],
                "views": totals["views"],
                "completion_views": totals["completion_views"],
                **_derived(totals),
                "conversions": conversions.get(cell, {}).get("conversions", 0),
                "consultations": conversions.get(cell, {}).get("consultations", 0),
            }
        )
    rows.sort(key=lambda r: (-r["views"], *(str(r[key]) for key in keys)))
    return rows


def topic_overview(
    *,
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
) -> dict[str, Any]:
    """The topic dashboard: per topic, per topic × format, and the full topic × format × platform table."""
    filters = Filters.coerce(filters)
    attributed = attribution.attribute(
        hospital=hospital, start=start, end=end, filters=filters, department_ids=department_ids
    )
    common = {
        "hospital": hospital,
        "start": start,
        "end": end,
        "filters": filters,
        "department_ids": department_ids,
        "attributed": attributed,
    }
    return {
        "topics": topic_cells(**common, keys=("topic",)),
        "topic_formats": topic_cells(**common, keys=("topic", "content_format")),
        "cells": topic_cells(**common),
    }


def topic_choices(
    hospital: Hospital,
    department_ids: Iterable[int] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[str]:
    """Distinct topics of the facts in [start, end] (for the filter; bounded by the period so the query reads
    the period's index range, not the whole table)."""
    rows = content_rows(hospital, start, end, None, department_ids).exclude(topic="")
    return list(rows.values_list("topic", flat=True).distinct().order_by("topic"))
