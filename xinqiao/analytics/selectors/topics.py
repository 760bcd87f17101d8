"""Topic dashboard: topic × format × platform performance (completion, interaction, conversions)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import Min

from xinqiao.analytics import attribution
from xinqiao.analytics.selectors import Filters, content_rows
from xinqiao.analytics.selectors.content import _derived
from xinqiao.analytics.selectors.period import CONTENT_SUMS, content_aggregate_expressions
from xinqiao.core.models import Hospital

SUMMED = (*CONTENT_SUMS, "completion_views")


GRAIN = ("topic", "content_format", "platform")


def _publication_cells(
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters,
    department_ids: Iterable[int] | None,
    keys: tuple[str, ...],
    result: attribution.AttributionResult | None = None,
) -> dict[tuple, dict[str, int]]:
    """Attributed (last-touch) visits and consultations summed per cell of ``keys``: one GROUP BY over the
    credited publications' facts (read through the (publication, stat_date) index)."""
    if result is None:
        result = attribution.attribute(
            hospital=hospital, start=start, end=end, filters=filters, department_ids=department_ids
        )
    credits = result.by_publication[attribution.LAST_TOUCH]
    cells: dict[tuple, dict[str, int]] = defaultdict(lambda: {"conversions": 0, "consultations": 0})
    if not credits:
        return cells
    # each (publication, cell) pair with the first day it was seen; a publication re-tagged later counts once,
    # under the cell of its first day
    first: dict[int, tuple[dt.date, tuple]] = {}
    for publication_id, first_day, *cell in (
        content_rows(hospital, None, None, filters, department_ids)
        .filter(publication_id__in=list(credits))
        .values("publication_id", *keys)
        .annotate(first_day=Min("stat_date"))
        .order_by()
        .values_list("publication_id", "first_day", *keys)
    ):
        candidate = (first_day, tuple(cell))
        if publication_id not in first or candidate < first[publication_id]:
            first[publication_id] = candidate
    for publication_id, (_, cell) in first.items():
        credit = credits[publication_id]
        counts = cells[cell]
        counts["conversions"] += credit.appointments_and_visits
        counts["consultations"] += credit.consultations
    return cells


def _fact_groups(
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters,
    department_ids: Iterable[int] | None,
    keys: tuple[str, ...],
) -> list[dict[str, Any]]:
    """The period's facts summed per ``keys`` + content key: the one GROUP BY every breakdown is rolled up from."""
    return list(
        content_rows(hospital, start, end, filters, department_ids)
        .values(*keys, "content_key")
        .annotate(**content_aggregate_expressions())
        .order_by()
    )


def _roll_up(
    groups: Iterable[dict[str, Any]], keys: tuple[str, ...], conversions: dict[tuple, dict[str, int]]
) -> list[dict[str, Any]]:
    """One row per combination of ``keys`` from the fine-grained groups: sums added up, posts = distinct content
    keys, rates derived from the sums, most viewed first."""
    sums: dict[tuple, dict[str, Any]] = {}
    posts: dict[tuple, set[str]] = defaultdict(set)
    for group in groups:
        cell = tuple(group[key] for key in keys)
        posts[cell].add(group["content_key"])
        totals = sums.get(cell)
        if totals is None:
            sums[cell] = totals = dict.fromkeys(SUMMED, 0) | {"completion_weighted": None}
        for name in SUMMED:
            value = group[f"total_{name}"]
            if value is not None:
                totals[name] += value
        weighted = group["total_completion_weighted"]
        if weighted is not None:
            totals["completion_weighted"] = (totals["completion_weighted"] or 0.0) + weighted
    rows = []
    for cell, totals in sums.items():
        credited = conversions.get(cell, {})
        rows.append(
            {
                **dict(zip(keys, cell, strict=True)),
                "posts": len(posts[cell]),
                "impressions": totals["impressions"],
                "views": totals["views"],
                "completion_views": totals["completion_views"],
                **_derived(totals),
                "conversions": credited.get("conversions", 0),
                "consultations": credited.get("consultations", 0),
            }
        )
    rows.sort(key=lambda r: (-r["views"], *(str(r[key]) for key in keys)))
    return rows


def _project(cells: dict[tuple, dict[str, int]], size: int) -> dict[tuple, dict[str, int]]:
    """Conversions per cell of the first ``size`` keys, summed from the finer cells."""
    result: dict[tuple, dict[str, int]] = defaultdict(lambda: {"conversions": 0, "consultations": 0})
    for cell, counts in cells.items():
        target = result[cell[:size]]
        target["conversions"] += counts["conversions"]
        target["consultations"] += counts["consultations"]
    return result


def topic_cells(
    *,
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
    keys: tuple[str, ...] = GRAIN,
    attributed: attribution.AttributionResult | None = None,
) -> list[dict[str, Any]]:
    """One row per combination of ``keys`` with posts, views, completion, interaction rate and attributed
    conversions; rows without a topic are grouped under ""."""
    filters = Filters.coerce(filters)
    conversions = _publication_cells(hospital, start, end, filters, department_ids, keys, attributed)
    return _roll_up(_fact_groups(hospital, start, end, filters, department_ids, keys), keys, conversions)


def topic_overview(
    *,
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
) -> dict[str, Any]:
    """The topic dashboard: per topic, per topic × format, and the full topic × format × platform table.

    One GROUP BY (topic, format, platform, content key) over the period and one read of the credited
    publications; the coarser breakdowns are rolled up from those in Python."""
    filters = Filters.coerce(filters)
    attributed = attribution.attribute(
        hospital=hospital, start=start, end=end, filters=filters, department_ids=department_ids
    )
    conversions = _publication_cells(hospital, start, end, filters, department_ids, GRAIN, attributed)
    groups = _fact_groups(hospital, start, end, filters, department_ids, GRAIN)
    return {
        "topics": _roll_up(groups, GRAIN[:1], _project(conversions, 1)),
        "topic_formats": _roll_up(groups, GRAIN[:2], _project(conversions, 2)),
        "cells": _roll_up(groups, GRAIN, conversions),
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
