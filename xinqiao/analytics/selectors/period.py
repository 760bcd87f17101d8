"""Headline KPI values of a period, the previous equal-length period and the change between them.

``period_summary`` is the one entry point the overview dashboard, the leadership one-pager and the reports
share. Inputs are gathered with a handful of aggregate queries (no per-row work), then every KPI of
``xinqiao.analytics.kpis.KPIS`` is computed from them.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Count, F, FloatField, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Cast

from xinqiao.analytics import attribution, kpis
from xinqiao.analytics.models import AccountMetricDaily, Consultation, ContentMetricDaily
from xinqiao.analytics.selectors import (
    Filters,
    account_q,
    account_rows,
    content_rows,
    cost_rows,
    department_scope,
    local_bounds,
    months,
    previous_period,
    prorated_fen,
    publication_q,
    rollup_rows,
)
from xinqiao.channels.models import PlatformAccount, TrackingClick
from xinqiao.core.models import Hospital

CONTENT_SUMS = ("impressions", "views", "viewers", "likes", "comments", "shares", "favorites", "follows_gained")


def content_aggregate_expressions() -> dict[str, Any]:
    """The SUM expressions of the content facts, aliased ``total_<input>`` (an alias may not shadow a field);
    ``content_totals`` turns a row of them back into KPI input names."""
    expressions: dict[str, Any] = {f"total_{name}": Sum(name) for name in CONTENT_SUMS}
    expressions["total_completion_weighted"] = Sum(
        Cast(F("completion_rate"), FloatField()) * F("views"), filter=Q(completion_rate__isnull=False)
    )
    expressions["total_completion_views"] = Sum("views", filter=Q(completion_rate__isnull=False))
    return expressions


def rollup_aggregate_expressions() -> dict[str, Any]:
    """``content_aggregate_expressions`` over the content rollup (whose rows hold those sums already)."""
    expressions: dict[str, Any] = {f"total_{name}": Sum(name) for name in CONTENT_SUMS}
    expressions["total_completion_weighted"] = Sum("completion_weighted")
    expressions["total_completion_views"] = Sum("completion_views")
    return expressions


def posts_per_group(
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters,
    department_ids: Iterable[int] | None,
    group: str,
) -> dict[Any, int]:
    """Per platform or per account (``group``): the content items (distinct content keys) with a fact in the period.

    A distinct count cannot be added up from daily sums, so this one reads the facts. Without a topic or department
    condition it reads only the (account, day, content key) unique index: the distinct (account, key) pairs of the
    matching accounts' days, with the platform taken from the account. (SQLite's DISTINCT keeps one entry per pair,
    where a GROUP BY over the facts sorted every row: 11 s of a year's 5,000,000 rows.)
    """
    if group not in ("platform", "account_id"):
        raise ValueError(f"posts are counted per platform or account, not {group!r}")
    if filters.topic or department_scope(filters, department_ids) is not None:
        pairs = months.distinct_pairs(hospital, start, end, filters, department_ids, group)
        if pairs is None:
            pairs = set(
                content_rows(hospital, start, end, filters, department_ids)
                .order_by()
                .values_list(group, "content_key")
                .distinct()
            )
    else:
        platforms = dict(
            PlatformAccount.objects.filter(account_q(filters, None), hospital=hospital).values_list("pk", "platform")
        )
        stored = months.distinct_pairs(hospital, start, end, filters, None, "account_id", account_ids=platforms)
        if stored is None:
            stored = set(
                ContentMetricDaily.objects.filter(
                    account_id__in=list(platforms), stat_date__gte=start, stat_date__lte=end
                )
                .order_by()
                .values_list("account_id", "content_key")
                .distinct()
            )
        pairs = {(platforms[account_id], key) for account_id, key in stored} if group == "platform" else stored
    return dict(Counter(value for value, _key in pairs))


def grouped_content_totals(
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters,
    department_ids: Iterable[int] | None,
    group: str,
) -> list[dict[str, Any]]:
    """What ``totals_with_posts`` gives for the facts of the period grouped by ``group`` ("platform" or
    "account_id"), the sums read from the content rollup: ``{group, "posts", total_…}`` per group, sorted."""
    posts = posts_per_group(hospital, start, end, filters, department_ids, group)
    rows = list(
        rollup_rows(hospital, start, end, filters, department_ids)
        .order_by()
        .values(group)
        .annotate(**rollup_aggregate_expressions())
    )
    for row in rows:
        row["posts"] = posts.get(row[group], 0)
    rows.sort(key=lambda row: (row[group] is None, row[group]))
    return rows


def totals_with_posts(queryset, *group_by: str) -> list[dict[str, Any]]:
    """Per group of ``group_by`` (fields or annotations of ``queryset``): ``posts`` (distinct content keys) and the
    ``content_aggregate_expressions`` sums, sorted by group.

    One GROUP BY (group, content key) rolled up in Python instead of ``COUNT(DISTINCT content_key)`` per group:
    PostgreSQL sorts every group's keys for a distinct count (5.3 s for the platform split of 5,000,000 rows) but
    hashes this grouping (about 1 s), and the roll-up adds at most one row per content item and group."""
    # the content key first: the comparisons of SQLite's grouping sort are decided by it at once (topics._fact_groups)
    return _with_posts(
        queryset.order_by().values("content_key", *group_by).annotate(**content_aggregate_expressions()), group_by
    )


def period_totals_with_posts(
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None,
    department_ids: Iterable[int] | None,
    *group_by: str,
    condition: Q | None = None,
) -> list[dict[str, Any]]:
    """``totals_with_posts`` of the period's facts (``condition`` applied): the whole months of a long period from
    the month rollup (``selectors.months``), the rest from the facts."""
    rows = months.grouped_totals(
        hospital, start, end, filters, department_ids, ("content_key", *group_by), condition=condition
    )
    if rows is None:
        queryset = content_rows(hospital, start, end, filters, department_ids)
        return totals_with_posts(queryset if condition is None else queryset.filter(condition), *group_by)
    return _with_posts(rows, group_by)


def _with_posts(rows: Iterable[dict[str, Any]], group_by: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows of (content key, ``group_by``) sums rolled up per ``group_by`` with their ``posts``, sorted by group."""
    groups: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[name] for name in group_by)
        group = groups.get(key)
        if group is None:
            groups[key] = {**row, "posts": 1}  # (its content_key is dropped below)
            continue
        group["posts"] += 1
        for name, value in row.items():
            if value is not None and name.startswith("total_"):
                group[name] = value if group[name] is None else group[name] + value  # SUM: None only if all are
    ordered = [groups[key] for key in sorted(groups, key=lambda key: tuple((value is None, value) for value in key))]
    for group in ordered:
        del group["content_key"]
    return ordered


def sum_content_totals(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Add up ``content_totals`` of several groups (e.g. days) into the totals of the whole period."""
    result: dict[str, Any] = {name: 0 for name in CONTENT_SUMS} | {"completion_views": 0, "completion_weighted": None}
    for row in rows:
        for name, value in row.items():
            if value is None:
                continue
            result[name] = (result.get(name) or 0) + value
    return result


def content_totals(row: Mapping[str, Any]) -> dict[str, Any]:
    """KPI inputs from one aggregated row: ``total_x`` → ``x``, missing sums → 0 (the weighted completion
    stays None when no row reports a completion rate)."""
    values: dict[str, Any] = {}
    for key, value in row.items():
        if not key.startswith("total_"):
            continue
        name = key.removeprefix("total_")
        values[name] = value if value is not None or name == "completion_weighted" else 0
    return values


def latest_followers(
    hospital: Hospital,
    end: dt.date,
    filters: Filters,
    department_ids: Iterable[int] | None,
    *,
    doctor_ip_only: bool = False,
) -> int | None:
    """Σ over matching accounts of the latest follower count on or before ``end``; None without any count."""
    total, doctor_ip_total = latest_follower_totals(hospital, end, filters, department_ids)
    return doctor_ip_total if doctor_ip_only else total


def latest_follower_totals(
    hospital: Hospital, end: dt.date, filters: Filters, department_ids: Iterable[int] | None
) -> tuple[int | None, int | None]:
    """(all accounts, doctor-IP accounts): Σ of each account's latest follower count on or before ``end``.

    One query: a correlated subquery per account row reads the (account, stat_date) unique index backwards.
    """
    latest = (
        AccountMetricDaily.objects.filter(account=OuterRef("pk"), stat_date__lte=end, followers__isnull=False)
        .order_by("-stat_date")
        .values("followers")[:1]
    )
    rows = (
        PlatformAccount.objects.filter(account_q(filters, department_ids), hospital=hospital)
        .annotate(latest_followers=Subquery(latest))
        .values_list("latest_followers", "doctor__is_ip")
    )
    total = doctor_ip_total = None
    for followers, is_ip in rows:
        if followers is None:
            continue
        total = (total or 0) + followers
        if is_ip:
            doctor_ip_total = (doctor_ip_total or 0) + followers
    return total, doctor_ip_total


def sentiment_counts(hospital: Hospital, start: dt.date, end: dt.date) -> tuple[int, int]:
    """(positive, classified) listening mentions posted in the period; listening has no department column."""
    from xinqiao.listening.models import Mention, Sentiment

    lower, upper = local_bounds(start, end)
    counts = Mention.objects.filter(hospital=hospital, posted_at__gte=lower, posted_at__lt=upper).aggregate(
        positive=Count("pk", filter=Q(sentiment=Sentiment.POSITIVE)),
        classified=Count("pk", filter=~Q(sentiment="")),
    )
    return counts["positive"], counts["classified"]


def tracking_click_count(
    hospital: Hospital, start: dt.date, end: dt.date, filters: Filters, department_ids: Iterable[int] | None
) -> int:
    lower, upper = local_bounds(start, end)
    return TrackingClick.objects.filter(
        publication_q(hospital, filters, department_ids, prefix="link__publication__"),
        link__hospital=hospital,
        clicked_at__gte=lower,
        clicked_at__lt=upper,
    ).count()


def consultation_count(
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters,
    department_ids: Iterable[int] | None,
    attributed: attribution.AttributionResult,
) -> int:
    """Consultations in the period. Account and topic filters have no meaning for a consultation itself, so
    with either of them only the consultations attributed to matching publications are counted; the
    department filter uses the patient's first department and the platform filter the consultation channel."""
    if filters.account_id or filters.topic:
        return attributed.consultations
    lower, upper = local_bounds(start, end)
    rows = Consultation.objects.filter(hospital=hospital, occurred_at__gte=lower, occurred_at__lt=upper)
    if filters.platform:
        rows = rows.filter(channel=filters.platform)
    scope = None if department_ids is None else set(department_ids)
    if filters.department_id:
        scope = {filters.department_id} if scope is None else scope & {filters.department_id}
    if scope is not None:
        rows = rows.filter(patient__first_department_id__in=scope)
    return rows.count()


def cost_total(
    hospital: Hospital, start: dt.date, end: dt.date, filters: Filters, department_ids: Iterable[int] | None
) -> int | None:
    """Cost in the period (entries pro rata by overlapping days); None with a topic filter (costs have none)."""
    if filters.topic:
        return None
    rows = cost_rows(hospital, start, end, filters, department_ids).values_list("amount_fen", "date_from", "date_to")
    return sum(prorated_fen(amount, date_from, date_to, start, end) for amount, date_from, date_to in rows)


def period_aggregates(
    *,
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | Mapping[str, Any] | None = None,
    department_ids: Iterable[int] | None = None,
    content_values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Every aggregated input the KPI formulas need, for one period (``content_values``: the content sums when
    the caller already has them from its own GROUP BY, which saves a pass over the facts)."""
    filters = Filters.coerce(filters)
    department_ids = None if department_ids is None else frozenset(department_ids)
    if content_values is not None:
        values = dict(content_values)
    else:
        values = content_totals(
            rollup_rows(hospital, start, end, filters, department_ids).aggregate(**rollup_aggregate_expressions())
        )
    values["net_followers"] = (
        account_rows(hospital, start, end, filters, department_ids).aggregate(total=Sum("net_followers"))["total"] or 0
    )
    values["followers"], values["doctor_ip_followers"] = latest_follower_totals(hospital, end, filters, department_ids)
    positive, classified = sentiment_counts(hospital, start, end)
    values["positive"], values["classified"] = positive, classified
    values["clicks"] = tracking_click_count(hospital, start, end, filters, department_ids)
    attributed = attribution.attribute(
        hospital=hospital, start=start, end=end, filters=filters, department_ids=department_ids
    )
    values["consultations"] = consultation_count(hospital, start, end, filters, department_ids, attributed)
    values["attributed_consultations"] = attributed.consultations
    values["attributed_visits"] = attributed.appointments_and_visits
    values["acquired_patients"] = attributed.new_patients
    values["attributed_revenue_fen"] = attributed.revenue_fen
    values["attributed_patients"] = attributed.patients
    values["touched_patients"] = attributed.touched_patients
    values["revisits"] = attributed.revisits
    values["cost_fen"] = cost_total(hospital, start, end, filters, department_ids)
    # No XinQiao app records UGC, referrals or NPS answers yet: they stay None ("no data"), never 0.
    values.update(ugc=None, referrals=None, promoters=None, passives=None, detractors=None)
    return values


def period_summary(
    *,
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | Mapping[str, Any] | None = None,
    department_ids: Iterable[int] | None = None,
    current_content: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Headline KPIs for [start, end] and for the previous equal-length period, with the relative change.

    Returns ``{"start", "end", "previous_start", "previous_end", "current": {key: value},
    "previous": {key: value}, "change": {key: ratio | None}, "aggregates": {...}, "previous_aggregates": {...},
    "kpis": [row per KPI], "layers": [{"key", "label", "kpis": [rows]}]}`` where a row is
    ``{"key", "layer", "label", "unit", "description", "value", "previous", "change", "display",
    "previous_display", "has_data", "higher_is_better"}``.
    """
    if end < start:
        start, end = end, start
    filters = Filters.coerce(filters)
    previous_start, previous_end = previous_period(start, end)
    current_inputs = period_aggregates(
        hospital=hospital,
        start=start,
        end=end,
        filters=filters,
        department_ids=department_ids,
        content_values=current_content,
    )
    previous_inputs = period_aggregates(
        hospital=hospital, start=previous_start, end=previous_end, filters=filters, department_ids=department_ids
    )
    current = kpis.compute_all(current_inputs)
    previous = kpis.compute_all(previous_inputs)
    change = {key: kpis.relative_change(current[key], previous[key]) for key in current}
    rows = [
        {
            "key": kpi.key,
            "layer": kpi.layer,
            "label": kpi.label,
            "unit": kpi.unit,
            "description": kpi.description,
            "value": current[kpi.key],
            "previous": previous[kpi.key],
            "change": change[kpi.key],
            "display": kpis.format_value(current[kpi.key], kpi.unit),
            "previous_display": kpis.format_value(previous[kpi.key], kpi.unit),
            "change_display": "" if change[kpi.key] is None else f"{change[kpi.key] * 100:+.1f}%",
            "change_is_good": None if not change[kpi.key] else (change[kpi.key] > 0) == kpi.higher_is_better,
            "has_data": current[kpi.key] is not None,
            "higher_is_better": kpi.higher_is_better,
        }
        for kpi in kpis.KPIS
    ]
    layers = [
        {"key": layer, "label": kpis.LAYER_LABELS[layer], "kpis": [row for row in rows if row["layer"] == layer]}
        for layer in kpis.LAYER_ORDER
    ]
    return {
        "start": start,
        "end": end,
        "previous_start": previous_start,
        "previous_end": previous_end,
        "filters": filters,
        "current": current,
        "previous": previous,
        "change": change,
        "aggregates": current_inputs,
        "previous_aggregates": previous_inputs,
        "kpis": rows,
        "layers": layers,
    }
