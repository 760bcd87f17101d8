"""Doctor-IP and department rankings over the content facts (GROUP BY doctor / department snapshot)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import Q

from xinqiao.analytics.selectors import Filters
from xinqiao.analytics.selectors.content import _derived
from xinqiao.analytics.selectors.period import content_totals, period_totals_with_posts
from xinqiao.core.models import Department, Doctor, Hospital


def _ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows.sort(key=lambda r: (-r["views"], -(r["interaction_rate"] or 0), r["name"]))
    for index, row in enumerate(rows, start=1):
        row["rank"] = index
    return rows


def doctor_ip_ranking(
    *,
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
) -> list[dict[str, Any]]:
    """Doctors marked as doctor IP ranked by views of the content linked to them, then interaction rate."""
    doctors = {d.pk: d.name for d in Doctor.objects.filter(hospital=hospital, is_ip=True)}
    rows = []
    for row in period_totals_with_posts(
        hospital,
        start,
        end,
        filters,
        department_ids,
        "doctor_id_snapshot",
        condition=Q(doctor_id_snapshot__in=list(doctors)),
    ):
        totals = content_totals(row)
        rows.append(
            {
                "doctor_id": row["doctor_id_snapshot"],
                "name": doctors[row["doctor_id_snapshot"]],
                "posts": row["posts"],
                "views": totals["views"],
                "shares": totals["shares"],
                "follows_gained": totals["follows_gained"],
                **_derived(totals),
            }
        )
    return _ranked(rows)


def department_ranking(
    *,
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
) -> list[dict[str, Any]]:
    """Departments ranked by views of their content, then interaction rate (rows without a department
    are left out). A department-scoped viewer sees their own departments' rows only."""
    names = dict(Department.objects.filter(hospital=hospital).values_list("pk", "name"))
    rows = []
    for row in period_totals_with_posts(
        hospital,
        start,
        end,
        filters,
        department_ids,
        "department_id_snapshot",
        condition=Q(department_id_snapshot__isnull=False),
    ):
        totals = content_totals(row)
        department_id = row["department_id_snapshot"]
        rows.append(
            {
                "department_id": department_id,
                "name": names.get(department_id, str(department_id)),
                "posts": row["posts"],
                "views": totals["views"],
                "shares": totals["shares"],
                **_derived(totals),
            }
        )
    return _ranked(rows)
