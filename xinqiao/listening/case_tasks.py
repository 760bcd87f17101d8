"""Background job of crisis cases (a thin wrapper around the service); run every few minutes by the scheduler."""

from __future__ import annotations

from django.tasks import task

from xinqiao.listening.services.cases import cases_escalate_overdue


@task
def escalate_overdue_cases() -> dict[str, int]:
    """Warn 4 hours before a case's first-response deadline and escalate overdue cases to leadership (idempotent)."""
    return cases_escalate_overdue()
