"""Periodic job of the reports: deliver weekly and monthly reports whose period has just closed."""

from __future__ import annotations

from django.tasks import task

from xinqiao.analytics.services.reports import reports_deliver_due


@task
def deliver_due_reports() -> dict[str, list[int]]:
    """Idempotent: a schedule already delivered for its last closed period is skipped."""
    result = reports_deliver_due()
    return {"delivered": result.delivered, "skipped": result.skipped, "failed": result.failed}
