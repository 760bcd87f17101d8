"""Read side of analytics: aggregated GROUP BY queries over the daily metric facts and the conversion tables.

Shared here: the dashboard ``Filters`` (dates are passed separately), the period arithmetic (inclusive local
dates in Asia/Shanghai → aware UTC bounds) and the scoped base querysets every selector module starts from.
Department scoping (``department_ids``, from ``Principal.department_ids_for(analytics.view)``) keeps only rows
whose department is in the set; rows that carry no department at all are left out for a department-scoped
viewer, except tables with no department dimension (listening mentions), which stay hospital-wide.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery

from xinqiao.analytics.models import AccountMetricDaily, ContentMetricDaily, ContentMetricRollup, CostEntry
from xinqiao.channels.models import Publication
from xinqiao.core.models import Hospital

LOCAL_TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
# ``publication_first_cells``: bound parameters per statement stay far below SQLite's limit (32,766)
PUBLICATIONS_PER_QUERY = 5_000
DAYS_PER_QUERY = 200


@dataclass(frozen=True)
class Filters:
    """Dashboard filters besides the dates; empty values mean "all"."""

    department_id: int | None = None
    platform: str = ""
    account_id: int | None = None
    topic: str = ""

    @classmethod
    def coerce(cls, value: Filters | Mapping[str, Any] | None) -> Filters:
        if value is None:
            return cls()
        if isinstance(value, Filters):
            return value
        return cls(
            department_id=int(value["department_id"]) if value.get("department_id") else None,
            platform=value.get("platform") or "",
            account_id=int(value["account_id"]) if value.get("account_id") else None,
            topic=value.get("topic") or "",
        )

    @property
    def is_empty(self) -> bool:
        return not (self.department_id or self.platform or self.account_id or self.topic)


def local_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start 00:00, end+1 00:00) in Asia/Shanghai as aware datetimes (the end is exclusive)."""
    lower = dt.datetime.combine(start, dt.time.min, tzinfo=LOCAL_TZ)
    upper = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=LOCAL_TZ)
    return lower, upper


def previous_period(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The equal-length period right before [start, end]."""
    days = (end - start).days + 1
    return start - dt.timedelta(days=days), start - dt.timedelta(days=1)


def department_scope(filters: Filters, department_ids: Iterable[int] | None) -> set[int] | None:
    """The departments rows must belong to, or None for no department restriction."""
    scope: set[int] | None = None if department_ids is None else set(department_ids)
    if filters.department_id:
        scope = {filters.department_id} if scope is None else scope & {filters.department_id}
    return scope


def content_rows(
    hospital: Hospital,
    start: dt.date | None,
    end: dt.date | None,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
) -> QuerySet[ContentMetricDaily]:
    """Content metric facts of one hospital in [start, end] with every filter applied."""
    rows = ContentMetricDaily.objects.filter(hospital=hospital)
    if start is not None:
        rows = rows.filter(stat_date__gte=start)
    if end is not None:
        rows = rows.filter(stat_date__lte=end)
    return _filter_content(rows, filters, department_ids)


def rollup_rows(
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
) -> QuerySet[ContentMetricRollup]:
    """The content rollup of one hospital in [start, end] with every filter applied: the same sums as
    ``content_rows`` from a row per account, day, topic and department (the filters' columns are all there)."""
    rows = ContentMetricRollup.objects.filter(hospital=hospital, stat_date__gte=start, stat_date__lte=end)
    return _filter_content(rows, filters, department_ids)


def _hospital_facts(hospital: Hospital, *conditions: Q, **lookups: Any) -> QuerySet[ContentMetricDaily]:
    """Content metric facts of one hospital matching ``conditions`` and ``lookups``.

    The hospital is matched as a one-value range (≥ and ≤) rather than an equality: without planner statistics SQLite
    otherwise prefers the hospital index (every row of the hospital) over the selective publication index.
    """
    return ContentMetricDaily.objects.filter(
        *conditions, hospital_id__gte=hospital.pk, hospital_id__lte=hospital.pk, **lookups
    )


def publication_first_days(
    hospital: Hospital,
    publication_ids: Iterable[int],
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
) -> QuerySet:
    """(publication id, first day with facts) of each of the publications with a fact (every filter applied): a
    correlated ``ORDER BY stat_date LIMIT 1`` per publication, one seek in the (publication, day) index."""
    earliest = _filter_content(_hospital_facts(hospital, publication_id=OuterRef("pk")), filters, department_ids)
    return (
        Publication.objects.filter(pk__in=list(publication_ids))
        .annotate(first_day=Subquery(earliest.order_by("stat_date").values("stat_date")[:1]))
        .filter(first_day__isnull=False)
        .values_list("pk", "first_day")
    )


def publication_first_cells(
    hospital: Hospital,
    publication_ids: Iterable[int],
    keys: tuple[str, ...],
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
) -> dict[int, tuple]:
    """Each publication's values of ``keys`` (topic, format, platform …) on the first day it has facts (every filter
    applied); of several on that day, the least compared as text. A publication without a matching fact is left out.

    Two short queries instead of reading every fact of the publications: each publication's first day
    (``publication_first_days``), then the facts of those (publication, day) pairs (a year's 1,686 credited
    publications at bench scale: 3.1 → 0.1 s)."""
    ids = sorted(set(publication_ids))
    by_day: dict[dt.date, list[int]] = {}
    for start in range(0, len(ids), PUBLICATIONS_PER_QUERY):
        chunk = ids[start : start + PUBLICATIONS_PER_QUERY]
        for publication_id, day in publication_first_days(hospital, chunk, filters, department_ids):
            by_day.setdefault(day, []).append(publication_id)
    cells: dict[int, tuple[tuple[str, ...], tuple]] = {}
    pairs = sorted(by_day.items())
    for start in range(0, len(pairs), DAYS_PER_QUERY):
        on_first_days = functools.reduce(
            operator.or_,
            (
                Q(stat_date=day, publication_id__in=publications)
                for day, publications in pairs[start : start + DAYS_PER_QUERY]
            ),
        )
        rows = _filter_content(_hospital_facts(hospital, on_first_days), filters, department_ids)
        for publication_id, *cell in rows.order_by().values_list("publication_id", *keys).distinct():
            candidate = (tuple(str(value) for value in cell), tuple(cell))
            if publication_id not in cells or candidate[0] < cells[publication_id][0]:
                cells[publication_id] = candidate
    return {publication_id: cell for publication_id, (_text, cell) in cells.items()}


def _filter_content(rows: QuerySet, filters: Filters | None, department_ids: Iterable[int] | None) -> QuerySet:
    """The dashboard filters and the department scope on content facts (or their rollup)."""
    filters = filters or Filters()
    if filters.platform:
        rows = rows.filter(platform=filters.platform)
    if filters.account_id:
        rows = rows.filter(account_id=filters.account_id)
    if filters.topic:
        # (the explicit "not empty" lets SQLite read the partial topic index, see the model)
        rows = rows.filter(topic=filters.topic).exclude(topic="")
    departments = department_scope(filters, department_ids)
    if departments is not None:
        rows = rows.filter(department_id_snapshot__in=departments)
    return rows


def account_rows(
    hospital: Hospital,
    start: dt.date | None,
    end: dt.date | None,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
) -> QuerySet[AccountMetricDaily]:
    """Account follower facts; the topic filter does not apply (followers belong to accounts, not topics)."""
    filters = filters or Filters()
    rows = AccountMetricDaily.objects.filter(hospital=hospital)
    if start is not None:
        rows = rows.filter(stat_date__gte=start)
    if end is not None:
        rows = rows.filter(stat_date__lte=end)
    return rows.filter(account_q(filters, department_ids, prefix="account__"))


def account_q(filters: Filters, department_ids: Iterable[int] | None, *, prefix: str = "") -> Q:
    """Filter on PlatformAccount fields (platform, account, owner department)."""
    q = Q()
    if filters.platform:
        q &= Q(**{f"{prefix}platform": filters.platform})
    if filters.account_id:
        q &= Q(**{f"{prefix}pk": filters.account_id})
    departments = department_scope(filters, department_ids)
    if departments is not None:
        q &= Q(**{f"{prefix}department_id__in": departments})
    return q


def publication_q(
    hospital: Hospital, filters: Filters, department_ids: Iterable[int] | None, *, prefix: str = "publication__"
) -> Q:
    """Filter on publications (touches, tracking links): account, platform, the item's department, topic.

    The topic of a publication is the topic of its content metric rows (the same topic the topic dashboard
    groups by), so one subquery keeps SQLite and PostgreSQL on the same plan.
    """
    q = Q()
    if filters.platform:
        q &= Q(**{f"{prefix}account__platform": filters.platform})
    if filters.account_id:
        q &= Q(**{f"{prefix}account_id": filters.account_id})
    departments = department_scope(filters, department_ids)
    if departments is not None:
        q &= Q(**{f"{prefix}item__department_id__in": departments})
    if filters.topic:
        topic_publications = (
            ContentMetricDaily.objects.filter(hospital=hospital, topic=filters.topic, publication__isnull=False)
            .exclude(topic="")
            .values("publication_id")
        )
        q &= Q(**{f"{prefix}pk__in": topic_publications})
    return q


def cost_rows(
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
) -> QuerySet[CostEntry]:
    """Cost entries overlapping [start, end]; platform/account/department filters go through the entry's
    platform and account (an entry without an account has no department and is hidden from scoped viewers)."""
    filters = filters or Filters()
    rows = CostEntry.objects.filter(hospital=hospital, date_from__lte=end, date_to__gte=start)
    if filters.platform:
        rows = rows.filter(Q(platform=filters.platform) | Q(account__platform=filters.platform))
    if filters.account_id:
        rows = rows.filter(account_id=filters.account_id)
    departments = department_scope(filters, department_ids)
    if departments is not None:
        rows = rows.filter(account__department_id__in=departments)
    return rows


def prorated_fen(amount_fen: int, date_from: dt.date, date_to: dt.date, start: dt.date, end: dt.date) -> int:
    """The share of a cost entry falling in [start, end], pro rata by days (integer 分, rounded half up)."""
    total_days = (date_to - date_from).days + 1
    overlap = (min(date_to, end) - max(date_from, start)).days + 1
    if overlap <= 0 or total_days <= 0:
        return 0
    return (amount_fen * overlap * 2 + total_days) // (total_days * 2)
