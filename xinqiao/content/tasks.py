"""Background jobs of the content domain (thin wrappers around services)."""

from __future__ import annotations

from django.tasks import task

from xinqiao.content import workflow


@task
def publish_due_content() -> int:
    """Start publishing every scheduled item whose time has come; run it every minute from the scheduler."""
    return workflow.content_publish_due()
