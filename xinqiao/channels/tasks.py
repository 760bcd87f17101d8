"""Background jobs of the channels domain (thin wrappers around services)."""

from __future__ import annotations

from django.tasks import task

from xinqiao.channels import services


@task
def run_publication(*, publication_id: int) -> str:
    """Publish one publication through its platform API; idempotent, safe to retry."""
    return services.publication_run(publication_id=publication_id).status
