"""Background jobs of the integrations domain (thin wrappers around services)."""

from __future__ import annotations

from django.tasks import task

from xinqiao.integrations import services


@task
def deliver_outbound() -> dict[str, int]:
    """Deliver the due outbox messages (idempotent: a message is sent once whatever runs this in parallel)."""
    result = services.outbound_deliver_due()
    return {"sent": result.sent, "retried": result.retried, "failed": result.failed, "deferred": result.deferred}
