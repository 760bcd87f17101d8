"""Periodic jobs and the tick that enqueues them (run every minute by ``manage.py run_scheduler``).

Each job is a ``django.tasks`` task named by its dotted path. A tick enqueues every job that is due, at most once
per slot (``every``) across any number of scheduler processes: the check and the enqueue happen in one database
transaction that holds a lock (PostgreSQL: an advisory transaction lock per job; SQLite: the write lock that
XinQiao's ``IMMEDIATE`` transactions take at BEGIN), and a job whose previous run is still queued or running is
not enqueued again. The jobs themselves are idempotent too, so even a duplicate run changes nothing twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.tasks import task_backends
from django.utils import timezone
from django.utils.module_loading import import_string

from xinqiao.core.health import QUEUE_STALL_AFTER, queue_state

MINUTE = dt.timedelta(minutes=1)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task_path: str  # dotted path of a django.tasks task that takes no arguments
    every: dt.timedelta = MINUTE

    @property
    def lock_key(self) -> int:
        """A stable signed 64-bit key for the PostgreSQL advisory lock."""
        return int.from_bytes(hashlib.sha256(f"xinqiao.periodic:{self.name}".encode()).digest()[:8], "big", signed=True)


# The registry: add a domain's periodic job here (its task must be idempotent).
PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob("publish_due_content", "xinqiao.content.tasks.publish_due_content"),
    PeriodicJob("deliver_outbound", "xinqiao.integrations.tasks.deliver_outbound"),
    PeriodicJob("sweep_alerts", "xinqiao.listening.alert_tasks.sweep_alerts"),
    PeriodicJob(
        "pull_recent_wechat_comments",
        "xinqiao.listening.tasks.pull_recent_wechat_comments",
        every=dt.timedelta(hours=1),
    ),
    PeriodicJob("escalate_overdue_cases", "xinqiao.listening.case_tasks.escalate_overdue_cases"),
    PeriodicJob(
        "deliver_due_reports", "xinqiao.analytics.report_tasks.deliver_due_reports", every=dt.timedelta(hours=1)
    ),
    # Yesterday's WeChat datacube figures are reliable after 08:00 Beijing time; the task is idempotent, so an
    # hourly run simply upserts the same rows again until they stop changing.
    PeriodicJob("sync_wechat_metrics", "xinqiao.analytics.tasks.sync_wechat_metrics", every=dt.timedelta(hours=1)),
    # Each writer of content facts enqueues the rebuild of the months it made stale; this catches any it missed (a
    # task lost with a worker's queue): the dashboards read a stale month from the facts, exact but slower.
    PeriodicJob(
        "build_stale_content_months",
        "xinqiao.analytics.tasks.build_stale_content_months",
        every=dt.timedelta(hours=1),
    ),
    # Daily at 00:00 UTC (08:00 Beijing): last week's and last month's WCI/BCI, recomputed with late metrics.
    PeriodicJob(
        "compute_influence_indices", "xinqiao.analytics.tasks.compute_influence_indices", every=dt.timedelta(days=1)
    ),
    # REQ-AUD-006: reveal bursts, bulk exports, after-hours access, denied access, disabled accounts.
    PeriodicJob("scan_security_events", "xinqiao.core.tasks.scan_security_events_task", every=dt.timedelta(minutes=5)),
    PeriodicJob(
        "refresh_planner_statistics", "xinqiao.core.tasks.refresh_planner_statistics", every=dt.timedelta(days=1)
    ),
    # REQ-RET-001: delete or anonymise what has outlived its retention rule, except what a legal hold keeps.
    PeriodicJob("apply_retention", "xinqiao.core.tasks.apply_retention", every=dt.timedelta(days=1)),
)


@dataclass
class TickResult:
    enqueued: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stalled_minutes: int | None = None  # how long the oldest waiting task has waited, when no worker takes tasks


QUEUE_STALLED_FRAGMENT = "#queue-stalled"


def slot_start(now: dt.datetime, every: dt.timedelta) -> dt.datetime:
    """The start of the slot ``now`` falls in (slots are counted from the Unix epoch, in UTC)."""
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    length = int(every.total_seconds())
    elapsed = int((now - epoch).total_seconds())
    return epoch + dt.timedelta(seconds=elapsed - elapsed % length)


def _lock(job: PeriodicJob) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [job.lock_key])
    # SQLite: the surrounding transaction is IMMEDIATE (config/settings.py), so it already holds the write lock.


def _already_queued(task, slot: dt.datetime) -> bool:
    """Whether this slot's run exists, or an earlier run is still waiting or running (database backend only; the
    immediate backend used in tests and development has no queue to look at)."""
    from django_tasks_db.backend import DatabaseBackend

    backend = task_backends[task.backend]
    if not isinstance(backend, DatabaseBackend):
        return False
    from django.db.models import Q
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    pending = Q(status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING]) | Q(enqueued_at__gte=slot)
    return DBTaskResult.objects.filter(pending, task_path=task.module_path, backend_name=backend.alias).exists()


def scheduler_tick(*, now: dt.datetime | None = None, jobs: tuple[PeriodicJob, ...] = PERIODIC_JOBS) -> TickResult:
    """Enqueue every job due in this slot that is not queued yet."""
    now = now or timezone.now()
    result = TickResult()
    for job in jobs:
        task = import_string(job.task_path)
        with transaction.atomic():
            _lock(job)
            if _already_queued(task, slot_start(now, job.every)):
                result.skipped.append(job.name)
                continue
            # Enqueued inside the transaction on purpose: the queue row and the check above commit together.
            task.enqueue()
        result.enqueued.append(job.name)
    result.stalled_minutes = watch_queue(now=now)
    return result


def watch_queue(*, now: dt.datetime) -> int | None:
    """Tell the administrators when no worker takes tasks. The scheduler runs this itself, because a check run as a
    task would wait in the same queue. When the queue is stalled (``health.queue_state``: the oldest due task of
    the database queue has waited longer than ``QUEUE_STALL_AFTER`` and no task has started or finished within that
    time), every hospital's administrators get one in-app notice (one at a time: not repeated while it is open);
    once that is no longer so, the open notices are resolved. Returns the oldest task's wait in minutes when the
    queue is stalled, else None (no database queue: None)."""
    from xinqiao.channels.models import Notification

    state = queue_state(now)
    if not state.database_queue:
        return None
    open_notices = Notification.objects.filter(link__endswith=QUEUE_STALLED_FRAGMENT, resolved_at__isnull=True)
    if not state.stalled or state.oldest_wait is None:
        open_notices.update(resolved_at=now)
        return None
    minutes = int(state.oldest_wait.total_seconds() // 60)
    logger.warning("task queue stalled: the oldest task has waited %d minutes (%s)", minutes, state.oldest_task)
    _notify_stalled(minutes, state.oldest_task, already=set(open_notices.values_list("hospital_id", flat=True)))
    return minutes


def _notify_stalled(minutes: int, task_path: str, *, already: set[int]) -> None:
    from django.conf import settings
    from django.urls import reverse
    from django.utils import translation
    from django.utils.translation import gettext as _

    from xinqiao.channels.models import Notification
    from xinqiao.channels.services import notify
    from xinqiao.core.models import Hospital, Membership

    # The system status page: the hospital's administrators may open it (Django's admin is for staff users only).
    link = reverse("core:system_status") + QUEUE_STALLED_FRAGMENT
    with translation.override(settings.LANGUAGE_CODE):
        message = _(
            "The background workers seem stopped or stuck: the oldest waiting task (%(task)s) has waited %(minutes)d "
            "minutes and no task has started or finished in the last %(window)d. Large imports, publishing, reports "
            "and alert deliveries wait for them. Check the db_worker processes (docs/operations.md)."
        ) % {
            "minutes": minutes,
            "task": task_path.rsplit(".", 1)[-1],
            "window": int(QUEUE_STALL_AFTER.total_seconds() // 60),
        }
        for hospital_id in Hospital.objects.exclude(pk__in=already).values_list("pk", flat=True):
            notify(
                hospital_id=hospital_id,
                message=message,
                level=Notification.Level.ERROR,
                link=link,
                audience_role=Membership.Role.ADMIN,
            )
