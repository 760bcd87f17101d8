"""Background jobs of the core domain (thin wrappers around services)."""

from __future__ import annotations

from django.db import connection
from django.tasks import task

from xinqiao.core import monitoring, retention

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
