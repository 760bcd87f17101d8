"""Accounts dashboard: the account matrix's performance and the influence-index rankings (weekly/monthly)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import Max, Sum

from xinqiao.analytics.models import AccountMetricDaily, InfluenceIndex
from xinqiao.analytics.selectors import Filters, account_q, account_rows
from xinqiao.analytics.selectors.content import _derived
from xinqiao.analytics.selectors.period import content_totals, grouped_content_totals
from xinqiao.channels.models import PlatformAccount
from xinqiao.core.models import Hospital


def account_table(
    *,
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
) -> list[dict[str, Any]]:
    """Per account: latest followers (≤ end), net growth, posts, views, interaction rate. Four queries."""
    filters = Filters.coerce(filters)
    accounts = list(
        PlatformAccount.objects.filter(account_q(filters, department_ids), hospital=hospital)
        .select_related("department", "doctor")
        .order_by("platform", "name")
    )
    growth = dict(
        account_rows(hospital, start, end, filters, department_ids)
        .values("account_id")
        .annotate(net=Sum("net_followers"))
        .values_list("account_id", "net")
    )
    last_days = (
        AccountMetricDaily.objects.filter(
            hospital=hospital, stat_date__lte=end, followers__isnull=False, account__in=[a.pk for a in accounts]
        )
        .values("account_id")
        .annotate(last_day=Max("stat_date"))
    )
    followers: dict[int, int] = {}
    if accounts:
        latest = AccountMetricDaily.objects.filter(
            hospital=hospital, stat_date__lte=end, followers__isnull=False, account__in=[a.pk for a in accounts]
        ).values_list("account_id", "stat_date", "followers")
        wanted = {row["account_id"]: row["last_day"] for row in last_days}
        followers = {aid: f for aid, day, f in latest if wanted.get(aid) == day}
    content_filters = Filters(platform=filters.platform, account_id=filters.account_id, topic=filters.topic)
    content = {
        row["account_id"]: row
        for row in grouped_content_totals(hospital, start, end, content_filters, None, "account_id")
    }
    rows = []
    for account in accounts:
        totals = content_totals(content.get(account.pk, {}))
        rows.append(
            {
                "account_id": account.pk,
                "account": account.name,
                "platform": account.platform,
                "platform_label": account.get_platform_display(),
                "department": account.department.name if account.department else "",
                "doctor": account.doctor.name if account.doctor else "",
                "followers": followers.get(account.pk),
                "net_followers": growth.get(account.pk, 0),
                "posts": content.get(account.pk, {}).get("posts", 0),
                "views": totals.get("views", 0),
                **_derived(totals),
            }
        )
    rows.sort(key=lambda r: (-(r["followers"] or 0), r["account"]))
    return rows


def influence_windows(hospital: Hospital, window: str) -> list[dt.date]:
    return list(
        InfluenceIndex.objects.filter(hospital=hospital, window=window)
        .values_list("window_start", flat=True)
        .distinct()
        .order_by("-window_start")[:26]
    )


def influence_ranking(
    *,
    hospital: Hospital,
    window: str,
    window_start: dt.date | None = None,
    department_ids: Iterable[int] | None = None,
) -> dict[str, Any]:
    """Stored index values of one window (the latest when not given), ranked within each version, and a
    department ranking (mean index of the department's active accounts, per version)."""
    if window_start is None:
        windows = influence_windows(hospital, window)
        window_start = windows[0] if windows else None
    if window_start is None:
        return {"window": window, "window_start": None, "versions": {}, "departments": {}}
    rows = InfluenceIndex.objects.filter(hospital=hospital, window=window, window_start=window_start)
    if department_ids is not None:
        rows = rows.filter(account__department_id__in=set(department_ids))
    versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    department_values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows.select_related("account", "account__department").order_by("version", "rank", "account__name"):
        department = row.account.department.name if row.account.department else ""
        versions[row.version].append(
            {
                "account_id": row.account_id,
                "account": row.account.name,
                "department": department,
                "value": row.value,
                "rank": row.rank,
                "is_inactive": row.is_inactive,
                "n": row.inputs.get("n", row.inputs.get("posts")),
                "capped_articles": row.capped_articles,
                "window_end": row.window_end,
                "days": row.days,
                "snapshot_at": row.snapshot_at,
            }
        )
        if department and not row.is_inactive:
            department_values[row.version][department].append(row.value)
    departments = {
        version: sorted(
            ({"department": name, "value": sum(v) / len(v), "accounts": len(v)} for name, v in values.items()),
            key=lambda r: (-r["value"], r["department"]),
        )
        for version, values in department_values.items()
    }
    return {"window": window, "window_start": window_start, "versions": dict(versions), "departments": departments}
