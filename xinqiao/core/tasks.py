"""Background jobs of the core domain (thin wrappers around services)."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import connection
from django.tasks import task
from django.utils import timezone

from xinqiao.core import monitoring, retention

logger = logging.getLogger(__name__)

# Seconds before the 2nd … 5th attempt of a security alert e-mail to the admins (then it gives up, logged; the
# in-app notice stays and subscribed routes have the outbox's own retries).
SECURITY_EMAIL_BACKOFF = (60, 300, 900, 3600)

# Rows SQLite's ANALYZE reads per index (approximate statistics, a fraction of a second even for millions of rows).
SQLITE_ANALYSIS_LIMIT = 1_000


@task
def scan_security_events_task() -> dict[str, int]:
    """Run the REQ-AUD-006 security rules over the recent audit log and alert admins once per finding (periodic
    job, every 5 minutes; idempotent: a re-run or an overlapping window creates no second alert)."""
    result = monitoring.scan_security_events()
    return {"findings": len(result.findings), "new_alerts": len(result.new_alerts), "emails": result.emails}


@task
def refresh_planner_statistics() -> dict[str, str]:
    """Daily: fresh query-planner statistics on SQLite (``ANALYZE`` with ``analysis_limit``). SQLite keeps none
    until asked, and loses a table's when a migration rebuilds it; without them it chose, for instance, to walk a
    whole index of 5,000,000 rows where a range of the period was enough. PostgreSQL's autovacuum analyzes by
    itself, so this is a no-op there. Idempotent: a second run replaces the statistics with the same ones."""
    if connection.vendor != "sqlite":
        return {"analyzed": "no (PostgreSQL's autovacuum keeps the statistics)"}
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}")
        cursor.execute("ANALYZE")
    return {"analyzed": "yes"}


@task
def apply_retention() -> dict[str, int]:
    """Daily: the retention sweep (REQ-RET-001) over every hospital and the global tables; idempotent (what it
    removed is gone, what it anonymised is skipped next time)."""
    report = retention.sweep()
    names = {name for counts in report.by_hospital.values() for name in counts} | set(report.global_counts)
    return {name: report.total(name) for name in sorted(names)}


@task
def send_security_email(*, hospital_id: int, subject: str, body: str, key: str, attempt: int = 1) -> dict[str, int]:
    """E-mail a security alert to the hospital's admin members (REQ-AUD-006), read at sending time. A mail-server
    failure is retried after ``SECURITY_EMAIL_BACKOFF`` (a deferred task on the database backend; at once on
    a backend that cannot defer) and given up after the last attempt. The text holds no patient data: staff
    names, counts, times and an audit-log link only."""
    from xinqiao.integrations.email import email_send

    recipients = monitoring.admin_emails(hospital_id)
    if not recipients:
        return {"sent": 0, "attempt": attempt}
    try:
        email_send(to=recipients, subject=subject, body=body)
    except OSError as error:  # smtplib errors are OSErrors
        if attempt > len(SECURITY_EMAIL_BACKOFF):
            logger.warning(
                "security alert %s: e-mail failed %d times (%s); giving up", key, attempt, type(error).__name__
            )
            return {"sent": 0, "attempt": attempt}
        delay = SECURITY_EMAIL_BACKOFF[attempt - 1]
        logger.info("security alert %s: e-mail failed (%s); retry in %d s", key, type(error).__name__, delay)
        retry = send_security_email
        if retry.get_backend().supports_defer:
            retry = retry.using(run_after=timezone.now() + dt.timedelta(seconds=delay))
        retry.enqueue(hospital_id=hospital_id, subject=subject, body=body, key=key, attempt=attempt + 1)
        return {"sent": 0, "attempt": attempt}
    return {"sent": len(recipients), "attempt": attempt}
