"""Periodic alert job (registered in xinqiao/core/periodic.py as ``xinqiao.listening.alert_tasks.sweep_alerts``)."""

from __future__ import annotations

from django.tasks import task

from xinqiao.listening.services import alerts


@task
def sweep_alerts() -> dict[str, int]:
    """Burst checks of the closing window, increase alerts and the daily digest (idempotent by dedup keys)."""
    return alerts.alerts_sweep()


RED_LINE_PRIORITY = 60  # ahead of mention processing and outbox delivery in the same queue


@task
def check_red_lines(*, hospital_id: int, mention_ids: list[int]) -> int:
    """Red lines on just-stored mentions, before the pipeline (enqueue with ``RED_LINE_PRIORITY``)."""
    return len(alerts.red_lines_check(hospital_id=hospital_id, mention_ids=mention_ids, deliver_now=True))
