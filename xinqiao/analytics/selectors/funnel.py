"""Funnel dashboard: exposure → click → consultation → appointment/visit → revisit, first vs last touch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import Sum
from django.utils.translation import gettext_lazy as _

from xinqiao.analytics import attribution, kpis
from xinqiao.analytics.selectors import Filters, rollup_rows
from xinqiao.analytics.selectors.period import tracking_click_count
from xinqiao.channels.models import Publication
from xinqiao.core.models import Hospital

STAGES = (
    ("exposure", _("Exposure")),
    ("clicks", _("Tracking-link clicks")),
    ("consultations", _("Attributed consultations")),
    ("visits", _("Attributed appointments and visits")),
    ("revisits", _("Revisits")),
)


def funnel(
    *,
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    """Stage counts with the step rate from the previous stage, and per publication first/last-touch credit."""
    filters = Filters.coerce(filters)
    exposure = rollup_rows(hospital, start, end, filters, department_ids).aggregate(total=Sum("impressions"))["total"]
    result = attribution.attribute(
        hospital=hospital, start=start, end=end, filters=filters, department_ids=department_ids
    )
    values = {
        "exposure": exposure or 0,
        "clicks": tracking_click_count(hospital, start, end, filters, department_ids),
        "consultations": result.consultations,
        "visits": result.appointments_and_visits,
        "revisits": result.revisits,
    }
    stages = []
    previous = None
    for key, label in STAGES:
        stages.append(
            {
                "key": key,
                "label": label,
                "value": values[key],
                "step_rate": kpis.ratio(values[key], previous) if previous is not None else None,
            }
        )
        previous = values[key]
    first, last = result.by_publication[attribution.FIRST_TOUCH], result.by_publication[attribution.LAST_TOUCH]
    publication_ids = set(first) | set(last)
    titles = {
        pk: (title, account)
        for pk, title, account in Publication.objects.filter(hospital=hospital, pk__in=publication_ids).values_list(
            "pk", "item__title", "account__name"
        )
    }
    empty = attribution.PublicationCredit()
    rows = []
    for pk in publication_ids:
        f, la = first.get(pk, empty), last.get(pk, empty)
        title, account = titles.get(pk, ("", ""))
        rows.append(
            {
                "publication_id": pk,
                "title": title,
                "account": account,
                "first_consultations": f.consultations,
                "first_visits": f.appointments_and_visits,
                "first_revenue_fen": f.revenue_fen,
                "last_consultations": la.consultations,
                "last_visits": la.appointments_and_visits,
                "last_revenue_fen": la.revenue_fen,
            }
        )
    rows.sort(key=lambda r: (-(r["last_visits"] + r["first_visits"]), -r["last_revenue_fen"], r["publication_id"]))
    return {
        "stages": stages,
        "publications": rows[:limit],
        "lookback_days": result.lookback_days,
        "revenue_fen": result.revenue_fen,
        "new_patients": result.new_patients,
        "patients": result.patients,
    }
