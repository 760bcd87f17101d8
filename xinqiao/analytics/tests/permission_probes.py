"""Permission-matrix probe for ``analytics.view`` (called by xinqiao/core/tests/test_permission_matrix.py)."""

from __future__ import annotations

from xinqiao.analytics.models import CostEntry


def perform(action: str, client, world):
    if action != "analytics.view":
        return None
    return client.get("/analytics/")


def snapshot() -> tuple:
    return (CostEntry.objects.count(),)
