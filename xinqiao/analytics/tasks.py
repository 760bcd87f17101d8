"""Background jobs of the analytics domain (thin wrappers around services)."""

from __future__ import annotations

from django.tasks import task

from xinqiao.analytics import influence
from xinqiao.analytics.services import datacube, imports, rollup


@task
def sync_wechat_metrics() -> list[dict]:
    """Sync the latest available day of every connected WeChat OA account; idempotent (periodic job)."""
    return datacube.metrics_sync_wechat_all(days=1)


@task
def compute_influence_indices() -> int:
    """WCI/BCI of the last complete week and month for every hospital (periodic job; idempotent upserts)."""
    return influence.influence_compute_due()


@task
def commit_metric_import(import_id: int) -> str:
    """Commit a large metric import queued from the UI (``imports.metric_import_queue``); idempotent."""
    return imports.metric_import_run_queued(import_id=import_id)


@task
def preview_metric_import(import_id: int) -> str:
    """Read a large uploaded export for its preview (``imports.metric_import_preview``); idempotent."""
    return imports.metric_import_run_analysis(import_id=import_id)


@task
def build_content_months(account_id: int) -> int:
    """Rebuild an account's stale months of the month rollup after a writer changed their facts; idempotent."""
    return rollup.content_months_build(account_id=account_id)


@task
def build_stale_content_months() -> int:
    """Rebuild every stale month of the month rollup (periodic job; idempotent)."""
    return rollup.content_months_build_stale()
