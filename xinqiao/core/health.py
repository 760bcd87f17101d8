"""The deployment's health: what a load balancer and a monitoring system poll (``/health/live``, ``/health/ready``,
``/health/background``, ``/health/backup``) and what the system status page shows administrators.

- *ready*: this web process can serve: the database answers and every migration is applied.
- *background*: the work outside the web processes happens: a ``run_scheduler`` process ticked lately for every
  periodic job, and the ``db_worker`` processes take the queued tasks (the rule of ``periodic.watch_queue``).
- *backup*: the daily ``manage.py backup`` ran: the newest recorded backup is younger than
  ``backup.BACKUP_STALE_AFTER`` and its verification, when one ran, found it intact.

Every figure here is a count, an age in seconds or a code name; nothing personal, no hospital data.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connection
from django.tasks import task_backends

# A scheduler that has not ticked for two of its intervals plus this margin is stopped (a tick itself takes
# seconds; the clock-aligned sleep may add up to one interval).
SCHEDULER_MARGIN = dt.timedelta(seconds=60)
# A heartbeat not renewed for this long belongs to a scheduler that was taken away; the tick deletes it.
SCHEDULER_FORGET_AFTER = dt.timedelta(days=7)
# A task that has waited this long with no task started or finished meanwhile means no worker takes tasks.
QUEUE_STALL_AFTER = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **self.detail}


# -- ready ------------------------------------------------------------------------------------------------------


def check_database() -> Check:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        return Check("database", False, {"error": type(error).__name__})
    return Check(
        "database", True, {"vendor": connection.vendor, "ms": round((time.perf_counter() - started) * 1000, 1)}
    )


_migrations_applied = False  # once true it stays true for the process: a deploy that adds migrations restarts it


def check_migrations() -> Check:
    """Whether every migration of the code is applied (a web process of a new release in front of an old schema
    would fail on every page that reads a new column)."""
    global _migrations_applied
    if _migrations_applied:
        return Check("migrations", True, {"pending": 0})
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        return Check("migrations", False, {"error": type(error).__name__})
    _migrations_applied = not pending
    return Check("migrations", not pending, {"pending": len(pending)})


def ready_checks() -> list[Check]:
    database = check_database()
    if not database.ok:
        return [database, Check("migrations", False, {"error": "database"})]
    return [database, check_migrations()]


# -- background -------------------------------------------------------------------------------------------------


def scheduler_instance_name(job_names: list[str], all_jobs: bool) -> str:
    """The host's name; with the jobs it schedules when it was started for some jobs only (``--job``)."""
    host = socket.gethostname()
    return host[:200] if all_jobs else f"{host} · {', '.join(job_names)}"[:200]


def record_scheduler_tick(*, instance: str, job_names: list[str], interval_seconds: int, now: dt.datetime) -> None:
    """The scheduler's heartbeat, written at the end of every tick; heartbeats of schedulers gone for a week go."""
    from xinqiao.core.models import SchedulerHeartbeat

    SchedulerHeartbeat.objects.update_or_create(
        instance=instance,
        defaults={"ticked_at": now, "interval_seconds": interval_seconds, "jobs": ",".join(job_names)},
    )
    SchedulerHeartbeat.objects.filter(ticked_at__lt=now - SCHEDULER_FORGET_AFTER).delete()


@dataclass(frozen=True)
class SchedulerInstance:
    instance: str
    ticked_at: dt.datetime
    seconds_since_tick: int
    interval_seconds: int
    jobs: list[str]
    running: bool

    @property
    def all_jobs(self) -> bool:
        from xinqiao.core.periodic import PERIODIC_JOBS

        return {job.name for job in PERIODIC_JOBS} <= set(self.jobs)


def scheduler_instances(now: dt.datetime) -> list[SchedulerInstance]:
    from xinqiao.core.models import SchedulerHeartbeat

    found = []
    for beat in SchedulerHeartbeat.objects.order_by("instance"):
        age = now - beat.ticked_at
        found.append(
            SchedulerInstance(
                instance=beat.instance,
                ticked_at=beat.ticked_at,
                seconds_since_tick=max(0, int(age.total_seconds())),
                interval_seconds=beat.interval_seconds,
                jobs=[name for name in beat.jobs.split(",") if name],
                running=age <= 2 * dt.timedelta(seconds=beat.interval_seconds) + SCHEDULER_MARGIN,
            )
        )
    return found


def check_scheduler(now: dt.datetime, instances: list[SchedulerInstance] | None = None) -> Check:
    """Ok when every registered periodic job is scheduled by a scheduler process that ticked lately."""
    from xinqiao.core.periodic import PERIODIC_JOBS

    instances = scheduler_instances(now) if instances is None else instances
    covered = {name for instance in instances if instance.running for name in instance.jobs}
    unscheduled = [job.name for job in PERIODIC_JOBS if job.name not in covered]
    detail: dict[str, Any] = {
        "running": sum(1 for instance in instances if instance.running),
        "seconds_since_tick": min((instance.seconds_since_tick for instance in instances), default=None),
    }
    if unscheduled:
        detail["unscheduled_jobs"] = unscheduled
    return Check("scheduler", not unscheduled, detail)


@dataclass(frozen=True)
class QueueState:
    database_queue: bool  # False: tasks run inline (development, tests): nothing waits
    waiting: int = 0  # ready and due
    deferred: int = 0  # ready, due later
    running: int = 0
    oldest_wait: dt.timedelta | None = None
    oldest_task: str = ""  # the oldest waiting task's dotted path
    last_activity: dt.datetime | None = None  # the latest start or finish of any task
    failed_last_day: int = 0
    # The oldest due task has waited longer than QUEUE_STALL_AFTER and no task started or finished in that time
    # (a worker that did is alive, only busy: a long report, say).
    stalled: bool = False


def _database_queue() -> bool:
    """Whether tasks wait in the database queue (``db_worker``); the immediate backend runs them at once."""
    from django_tasks_db.backend import DatabaseBackend

    return isinstance(task_backends["default"], DatabaseBackend)


def queue_state(now: dt.datetime) -> QueueState:
    if not _database_queue():
        return QueueState(database_queue=False)
    from django.db.models import Count, Max, Q
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult, get_date_max

    results = DBTaskResult.objects.filter(backend_name="default")
    ready = results.filter(status=TaskResultStatus.READY)
    # A task waits from when it was enqueued, or from when it was due if it was deferred (run_after).
    undeferred = Q(run_after=get_date_max())
    due = undeferred | Q(run_after__lte=now)
    counts = ready.aggregate(waiting=Count("pk", filter=due), deferred=Count("pk", filter=~due))
    candidates = [
        ready.filter(undeferred).order_by("enqueued_at").values_list("enqueued_at", "task_path").first(),
        ready.exclude(undeferred)
        .filter(run_after__lte=now)
        .order_by("run_after")
        .values_list("run_after", "task_path")
        .first(),
    ]
    oldest = min((candidate for candidate in candidates if candidate is not None), default=None)
    activity = results.aggregate(started=Max("started_at"), finished=Max("finished_at"))
    last_activity = max((stamp for stamp in activity.values() if stamp is not None), default=None)
    oldest_wait = None if oldest is None else max(dt.timedelta(0), now - oldest[0])
    stalled = (
        oldest_wait is not None
        and oldest_wait > QUEUE_STALL_AFTER
        and (last_activity is None or last_activity < now - QUEUE_STALL_AFTER)
    )
    return QueueState(
        database_queue=True,
        waiting=counts["waiting"],
        deferred=counts["deferred"],
        running=results.filter(status=TaskResultStatus.RUNNING).count(),
        oldest_wait=oldest_wait,
        oldest_task="" if oldest is None else oldest[1],
        last_activity=last_activity,
        failed_last_day=results.filter(
            status=TaskResultStatus.FAILED, finished_at__gte=now - dt.timedelta(days=1)
        ).count(),
        stalled=stalled,
    )


def check_queue(now: dt.datetime, state: QueueState | None = None) -> Check:
    state = queue_state(now) if state is None else state
    if not state.database_queue:
        return Check("queue", True, {"backend": "inline"})
    detail: dict[str, Any] = {
        "waiting": state.waiting,
        "running": state.running,
        "oldest_wait_seconds": None if state.oldest_wait is None else int(state.oldest_wait.total_seconds()),
        "seconds_since_activity": None
        if state.last_activity is None
        else max(0, int((now - state.last_activity).total_seconds())),
        "failed_last_day": state.failed_last_day,
    }
    return Check("queue", not state.stalled, detail)


def _read_from_database(names: tuple[str, ...], read: Callable[[], list[Check]]) -> list[Check]:
    """The checks ``read`` gives; when the database does not answer, that is the failure of each of ``names``."""
    database = check_database()
    if not database.ok:
        return [database, *(Check(name, False, {"error": "database"}) for name in names)]
    try:
        return read()
    except DatabaseError as error:
        return [Check("database", False, {"error": type(error).__name__})]


def background_checks(now: dt.datetime) -> list[Check]:
    """The scheduler and the queue, read from the database."""
    return _read_from_database(("scheduler", "queue"), lambda: [check_scheduler(now), check_queue(now)])


# -- backup -----------------------------------------------------------------------------------------------------


def check_backup(now: dt.datetime) -> Check:
    """The newest recorded backup: its age, and what ``verify_backup`` found (None: not verified yet). Fails when
    there is none, when it is older than ``BACKUP_STALE_AFTER`` (the daily timer stopped) or when its verification
    failed. The backup's name and directory are left out (a path of the backup machine)."""
    from xinqiao.core.backup import BACKUP_STALE_AFTER
    from xinqiao.core.models import BackupRecord

    limit = int(BACKUP_STALE_AFTER.total_seconds())
    newest = BackupRecord.objects.order_by("-created_at").values("created_at", "verified_ok").first()
    if newest is None:
        return Check("backup", False, {"backups": 0, "max_age_seconds": limit})
    age = max(0, int((now - newest["created_at"]).total_seconds()))
    verified = newest["verified_ok"]
    return Check(
        "backup",
        age <= limit and verified is not False,
        {"age_seconds": age, "max_age_seconds": limit, "verified": verified},
    )


def backup_checks(now: dt.datetime) -> list[Check]:
    return _read_from_database(("backup",), lambda: [check_backup(now)])


def recent_failures(now: dt.datetime, limit: int = 20) -> list[dict[str, Any]]:
    """The tasks that failed in the last day: which task, when, and the exception's class (never its message or
    traceback, which may quote data)."""
    if not _database_queue():
        return []
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    rows = (
        DBTaskResult.objects.filter(
            backend_name="default", status=TaskResultStatus.FAILED, finished_at__gte=now - dt.timedelta(days=1)
        )
        .order_by("-finished_at")
        .values_list("task_path", "finished_at", "exception_class_path")[:limit]
    )
    return [
        {"task": path.rsplit(".", 1)[-1], "finished_at": finished, "exception": exception.rsplit(".", 1)[-1]}
        for path, finished, exception in rows
    ]
