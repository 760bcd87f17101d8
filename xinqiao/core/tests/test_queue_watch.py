"""The scheduler tells the administrators when no worker takes tasks (``periodic.watch_queue``), once, and resolves
the notice when the queue moves again."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from xinqiao.channels.models import Notification
from xinqiao.core.models import Hospital
from xinqiao.core.periodic import PERIODIC_JOBS, QUEUE_STALL_AFTER, PeriodicJob, scheduler_tick, watch_queue

START = dt.datetime(2025, 9, 22, 2, 0, 30, tzinfo=dt.UTC)
# No jobs: the tick's own enqueues are not what is watched here.
NO_JOBS: tuple[PeriodicJob, ...] = ()


@pytest.fixture
def database_queue(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.LANGUAGE_CODE = "en"  # the notices are written in the deployment's language


def stalled_notices():
    return Notification.objects.filter(link__endswith="#queue-stalled")


def enqueue_waiting_task():
    from xinqiao.analytics.tasks import commit_metric_import

    return commit_metric_import.enqueue(import_id=999_999)  # a queued task that no worker runs


def test_a_queue_nobody_works_on_notifies_every_hospitals_administrators_once(world, database_queue):
    with time_machine.travel(START, tick=False):
        enqueue_waiting_task()
    assert watch_queue(now=START + QUEUE_STALL_AFTER) is None  # ten minutes is still a busy queue
    assert not stalled_notices().exists()

    later = START + QUEUE_STALL_AFTER + dt.timedelta(minutes=2)
    assert watch_queue(now=later) == 12
    notices = list(stalled_notices().order_by("hospital_id"))
    assert [notice.hospital_id for notice in notices] == sorted(Hospital.objects.values_list("pk", flat=True))
    assert len(notices) >= 2  # hospital A and hospital B of the test world
    assert {notice.audience_role for notice in notices} == {"admin"}
    assert {notice.level for notice in notices} == {Notification.Level.ERROR}
    assert "commit_metric_import" in notices[0].message
    assert "12 minutes" in notices[0].message
    assert notices[0].link == "/system/#queue-stalled"

    assert watch_queue(now=later + dt.timedelta(minutes=5)) == 17
    assert stalled_notices().count() == len(notices)  # not repeated while open


@pytest.mark.django_db(transaction=True)  # the worker closes its database connection when it is done
def test_the_notice_is_resolved_when_the_worker_has_run(world, database_queue):
    with time_machine.travel(START, tick=False):
        enqueue_waiting_task()
    with time_machine.travel(START + dt.timedelta(minutes=20), tick=False):
        scheduler_tick(jobs=NO_JOBS)
        assert stalled_notices().filter(resolved_at__isnull=True).exists()
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0", verbosity=0)
        result = scheduler_tick(jobs=NO_JOBS)
    assert result.stalled_minutes is None
    assert not stalled_notices().filter(resolved_at__isnull=True).exists()
    assert stalled_notices().exists()  # kept, resolved


def test_a_deferred_task_waits_from_when_it_is_due(world, database_queue):
    from xinqiao.analytics.tasks import commit_metric_import

    with time_machine.travel(START, tick=False):
        commit_metric_import.using(run_after=timezone.now() + dt.timedelta(hours=1)).enqueue(import_id=1)
    assert watch_queue(now=START + dt.timedelta(minutes=30)) is None  # not due yet
    assert watch_queue(now=START + dt.timedelta(minutes=65)) is None  # due five minutes ago
    assert watch_queue(now=START + dt.timedelta(minutes=75)) == 15


def test_the_scheduler_says_so_in_its_output(world, database_queue):
    with time_machine.travel(START, tick=False):
        enqueue_waiting_task()
    out = io.StringIO()
    with time_machine.travel(START + dt.timedelta(minutes=30), tick=False):
        call_command("run_scheduler", "--once", "--job", PERIODIC_JOBS[0].name, stdout=out)
    assert "warning: no worker is taking tasks (the oldest has waited 30 min)" in out.getvalue()


def test_without_a_database_queue_there_is_nothing_to_watch(world):
    # the immediate backend runs tasks at once: nothing ever waits
    assert watch_queue(now=timezone.now() + dt.timedelta(days=1)) is None
    assert not stalled_notices().exists()


def test_a_busy_worker_is_not_a_stopped_one(world, database_queue):
    """A task that started lately shows a worker is alive (a long job keeps the others waiting): no notice."""
    from django_tasks_db.models import DBTaskResult

    with time_machine.travel(START, tick=False):
        enqueue_waiting_task()
        busy = enqueue_waiting_task()
    DBTaskResult.objects.filter(pk=busy.id).update(status="RUNNING", started_at=START + dt.timedelta(minutes=15))
    assert watch_queue(now=START + dt.timedelta(minutes=20)) is None
    assert not stalled_notices().exists()
    assert watch_queue(now=START + dt.timedelta(minutes=26)) == 26  # nothing started or finished for ten minutes
