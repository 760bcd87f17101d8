"""Background jobs of the core domain (thin wrappers around services)."""

from __future__ import annotations

from django.tasks import task

from xinqiao.core import monitoring


@task
def scan_security_events_task() -> dict[str, int]:
    """Run the REQ-AUD-006 security rules over the recent audit log and alert admins once per finding (periodic
    job, every 5 minutes; idempotent: a re-run or an overlapping window creates no second alert)."""
    result = monitoring.scan_security_events()
    return {"findings": len(result.findings), "new_alerts": len(result.new_alerts), "emails": result.emails}
