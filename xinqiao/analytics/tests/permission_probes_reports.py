"""Permission-matrix probe for ``report.view`` (see xinqiao/core/tests/test_permission_matrix.py)."""

from __future__ import annotations

from xinqiao.analytics.models import Report


def perform(action, client, world):
    if action == "report.view":
        return client.get("/analytics/reports/")
    return None


def snapshot() -> tuple:
    return (Report.objects.count(),)
