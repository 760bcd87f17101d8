"""Topic dashboard: topic × format × platform performance (completion, interaction, conversions)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from xinqiao.analytics import attribution
from xinqiao.analytics.models import ContentMetricDaily
from xinqiao.analytics.selectors import Filters, content_rows, months, publication_first_cells
from xinqiao.analytics.selectors.content import _derived
from xinqiao.analytics.selectors.period import CONTENT_SUMS, content_aggregate_expressions
from xinqiao.core.models import Hospital

GRAIN = ("topic", "content_format", "platform")
SUMMED = (*CONTENT_SUMS, "completion_views")  # added up when rolling groups up


def _publication_cells(
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters,
    department_ids: Iterable[int] | None,
    keys: tuple[str, ...],
    result: attribution.AttributionResult | None = None,
) -> dict[tuple, dict[str, int]]:
    """Attributed (last-touch) visits and consultations summed per cell of ``keys``, each credited publication's
    under the cell of its first day (``publication_first_cells``)."""
    if result is None:
        result = attribution.attribute(
            hospital=hospital, start=start, end=end, filters=filters, department_ids=department_ids
        )
    credits = result.by_publication[attribution.LAST_TOUCH]
    cells: dict[tuple, dict[str, int]] = defaultdict(lambda: {"conversions": 0, "consultations": 0})
    # a publication re-tagged later counts once, under the cell of its first day
    first_cells = publication_first_cells(hospital, credits, keys, filters, department_ids)
    for publication_id, cell in first_cells.items():
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
    """The period's facts summed per ``keys`` + content key: the one GROUP BY every breakdown is rolled up from.
    The content key comes first in the grouping: SQLite sorts the rows to group them, and a comparison that the
    (nearly unique) key decides at once is cheaper than one that first compares the long, mostly equal topic texts
    (a year of 5,000,000 facts: 38.9 → 28.9 s). A long period's whole months are read from the month rollup
    (``selectors.months``: the same year, ≈ 180,000 rows)."""
    merged = months.grouped_totals(hospital, start, end, filters, department_ids, ("content_key", *keys))
    if merged is not None:
        return merged
    return list(
        content_rows(hospital, start, end, filters, department_ids)
        .values("content_key", *keys)
        .annotate(**content_aggregate_expressions())
        .order_by()
    )


Accumulated = dict[tuple, tuple[dict[str, Any], set[str]]]  # cell → (summed KPI inputs, distinct content keys)


def _accumulate(groups: Iterable[dict[str, Any]], size: int) -> Accumulated:
    """Add the fine-grained groups up per cell of their first ``size`` keys (``groups`` rows carry ``cell``)."""
    result: Accumulated = {}
    for group in groups:
        cell = group["cell"][:size]
        entry = result.get(cell)
        if entry is None:
            result[cell] = entry = (dict.fromkeys(SUMMED, 0) | {"completion_weighted": None}, set())
        totals, posts = entry
        posts |= group["posts"]
        for name in SUMMED:
            totals[name] += group[name]
        if group["completion_weighted"] is not None:
            totals["completion_weighted"] = (totals["completion_weighted"] or 0.0) + group["completion_weighted"]
    return result


def _cells_of(groups: Iterable[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """The GROUP BY (keys, content key) rows as accumulator input: one content key each, missing sums → 0."""
    return [
        {
            "cell": tuple(group[key] for key in keys),
            "posts": {group["content_key"]},
            "completion_weighted": group["total_completion_weighted"],
            **{name: group[f"total_{name}"] or 0 for name in SUMMED},
        }
        for group in groups
    ]


def _rows(
    accumulated: Accumulated, keys: tuple[str, ...], conversions: dict[tuple, dict[str, int]]
) -> list[dict[str, Any]]:
    """Dashboard rows of accumulated cells: sums, posts, derived rates and conversions, most viewed first."""
    rows = []
    for cell, (totals, posts) in accumulated.items():
        credited = conversions.get(cell, {})
        rows.append(
            {
                **dict(zip(keys, cell, strict=True)),
                "posts": len(posts),
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


def _coarser(accumulated: Accumulated, size: int) -> Accumulated:
    """Accumulated cells rolled up to their first ``size`` keys."""
    return _accumulate(
        ({"cell": cell, "posts": posts, **totals} for cell, (totals, posts) in accumulated.items()),
        size,
    )


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
    groups = _cells_of(_fact_groups(hospital, start, end, filters, department_ids, keys), keys)
    return _rows(_accumulate(groups, len(keys)), keys, conversions)


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
    cells = _accumulate(
        _cells_of(_fact_groups(hospital, start, end, filters, department_ids, GRAIN), GRAIN), len(GRAIN)
    )
    return {
        "topics": _rows(_coarser(cells, 1), GRAIN[:1], _project(conversions, 1)),
        "topic_formats": _rows(_coarser(cells, 2), GRAIN[:2], _project(conversions, 2)),
        "cells": _rows(cells, GRAIN, conversions),
    }


def topic_choices(
    hospital: Hospital,
    department_ids: Iterable[int] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[str]:
    """Distinct topics of the facts in [start, end] (for the filter), in order.

    Read topic by topic through the (hospital, topic, day) index: the next topic after the last one found, then
    whether it has a row in the period. A hospital has tens of topics and hundreds of thousands of rows a month;
    ``SELECT DISTINCT topic`` over the period made SQLite (without planner statistics) walk the hospital's whole
    topic index, 1 s at 5,000,000 rows, on every dashboard page."""
    topics: list[str] = []
    named = ContentMetricDaily.objects.filter(hospital=hospital).exclude(topic="")
    in_period = content_rows(hospital, start, end, None, department_ids).exclude(topic="")
    topic = named.order_by("topic").values_list("topic", flat=True).first()
    while topic is not None:
        if in_period.filter(topic=topic).exists():
            topics.append(topic)
        topic = named.filter(topic__gt=topic).order_by("topic").values_list("topic", flat=True).first()
    return topics
