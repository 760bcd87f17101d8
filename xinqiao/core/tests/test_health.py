"""The health endpoints (``/health/live``, ``/health/ready``, ``/health/background``, ``/health/backup``) and the administrators'
system status page: what a load balancer, a monitoring system and an administrator learn about the database, the
scheduler and the task workers."""

from __future__ import annotations

import datetime as dt
import io
import socket

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from xinqiao.core import health
from xinqiao.core.models import SchedulerHeartbeat
from xinqiao.core.periodic import PERIODIC_JOBS

START = dt.datetime(2025, 9, 22, 2, 0, 30, tzinfo=dt.UTC)
ALL_JOBS = [job.name for job in PERIODIC_JOBS]


@pytest.fixture(autouse=True)
def fresh_migration_check():
    health._migrations_applied = False
    yield
    health._migrations_applied = False


@pytest.fixture
def database_queue(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def tick(*job_names: str) -> str:
    out = io.StringIO()
    arguments = [argument for name in job_names for argument in ("--job", name)]
    call_command("run_scheduler", "--once", *arguments, stdout=out)
    return out.getvalue()


def test_liveness_needs_no_database_and_no_sign_in(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {}}
    assert response["Cache-Control"] == "no-store"
    assert client.head("/health/live").status_code == 200
    assert client.post("/health/live").status_code == 405


@pytest.mark.django_db
def test_ready_when_the_database_answers_and_every_migration_is_applied(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["vendor"] == connection.vendor
    assert body["checks"]["migrations"] == {"ok": True, "pending": 0}


@pytest.mark.django_db
def test_not_ready_while_a_migration_is_not_applied(client):
    # as after deploying a release whose newest migration has not run yet (the test transaction undoes this)
    [(_app, newest)] = MigrationLoader(connection).graph.leaf_nodes("core")
    MigrationRecorder.Migration.objects.filter(app="core", name=newest).delete()
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "fail"
    assert response.json()["checks"]["migrations"] == {"ok": False, "pending": 1}

    MigrationRecorder.Migration.objects.create(app="core", name=newest)
    assert client.get("/health/ready").status_code == 200


@pytest.mark.django_db
def test_background_fails_until_a_scheduler_ticks(client):
    response = client.get("/health/background")
    assert response.status_code == 503
    scheduler = response.json()["checks"]["scheduler"]
    assert scheduler == {"ok": False, "running": 0, "seconds_since_tick": None, "unscheduled_jobs": ALL_JOBS}

    with time_machine.travel(START, tick=False):
        tick()
    with time_machine.travel(START + dt.timedelta(seconds=100), tick=False):
        response = client.get("/health/background")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["scheduler"] == {"ok": True, "running": 1, "seconds_since_tick": 100}
    assert checks["queue"] == {"ok": True, "backend": "inline"}  # the test settings run tasks at once


@pytest.mark.django_db
def test_a_scheduler_that_stopped_ticking_fails_the_check(client):
    with time_machine.travel(START, tick=False):
        tick()
    beat = SchedulerHeartbeat.objects.get()
    assert beat.interval_seconds == 60
    assert beat.jobs.split(",") == ALL_JOBS
    assert beat.instance == socket.gethostname()
    # two intervals and a minute of margin: still running; a second later: stopped
    with time_machine.travel(START + dt.timedelta(seconds=180), tick=False):
        assert client.get("/health/background").status_code == 200
    with time_machine.travel(START + dt.timedelta(seconds=181), tick=False):
        response = client.get("/health/background")
    assert response.status_code == 503
    assert response.json()["checks"]["scheduler"]["unscheduled_jobs"] == ALL_JOBS


@pytest.mark.django_db
def test_split_schedulers_count_together_and_a_removed_one_is_forgotten(client):
    first, rest = ALL_JOBS[:2], ALL_JOBS[2:]
    with time_machine.travel(START - dt.timedelta(days=8), tick=False):
        tick()  # a scheduler of all jobs that was taken away a week ago
    with time_machine.travel(START, tick=False):
        tick(*first)
        response = client.get("/health/background")
        assert response.status_code == 503
        assert response.json()["checks"]["scheduler"]["unscheduled_jobs"] == rest
        tick(*rest)
        response = client.get("/health/background")
    assert response.status_code == 200
    assert response.json()["checks"]["scheduler"]["running"] == 2
    assert SchedulerHeartbeat.objects.filter(instance=f"{socket.gethostname()} · {', '.join(first)}").exists()
    # the old heartbeat went with the first tick after it was a week old
    assert sorted(SchedulerHeartbeat.objects.values_list("jobs", flat=True)) == sorted(
        [",".join(first), ",".join(rest)]
    )


@pytest.mark.django_db
def test_a_stalled_queue_fails_the_check_with_its_figures(client, database_queue):
    from django_tasks_db.models import DBTaskResult

    from xinqiao.analytics.tasks import commit_metric_import

    with time_machine.travel(START, tick=False):
        commit_metric_import.enqueue(import_id=999_999)  # a queued task that no worker runs
        failed = commit_metric_import.enqueue(import_id=999_998)
    DBTaskResult.objects.filter(pk=failed.id).update(
        status="FAILED", started_at=START, finished_at=START, exception_class_path="builtins.ValueError"
    )
    with time_machine.travel(START + dt.timedelta(minutes=9), tick=False):
        tick()  # the scheduler is fine; the workers are not (its own enqueued jobs wait too)
        assert client.get("/health/background").status_code == 200  # nine minutes: a busy queue
    with time_machine.travel(START + dt.timedelta(minutes=11), tick=False):
        tick()
        response = client.get("/health/background")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["scheduler"]["ok"] is True
    assert checks["queue"] == {
        "ok": False,
        "waiting": 1 + len(PERIODIC_JOBS),
        "running": 0,
        "oldest_wait_seconds": 660,
        "seconds_since_activity": 660,
        "failed_last_day": 1,
    }


@pytest.mark.django_db
def test_the_task_time_indexes_exist():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "django_tasks_database_dbtaskresult")
    indexed = {name: spec["columns"] for name, spec in constraints.items() if spec["index"]}
    assert indexed["xinqiao_task_started_at"] == ["started_at"]
    assert indexed["xinqiao_task_finished_at"] == ["finished_at"]


def test_the_system_status_page_shows_the_checks_the_queue_and_the_failures(client, world, database_queue, settings):
    settings.LANGUAGE_CODE = "en"  # the English UI (Simplified Chinese is the default: the next test)
    from django_tasks_db.models import DBTaskResult

    from xinqiao.analytics.tasks import commit_metric_import

    with time_machine.travel(START, tick=False):
        tick()
        failed = commit_metric_import.enqueue(import_id=999_998)
    DBTaskResult.objects.filter(pk=failed.id).update(
        status="FAILED",
        started_at=START,
        finished_at=START + dt.timedelta(seconds=5),
        exception_class_path="django.db.utils.IntegrityError",
        traceback="IntegrityError: Key (mobile)=(13800138000) already exists",
    )
    client.force_login(world.users["admin"])
    with time_machine.travel(START + dt.timedelta(minutes=20), tick=False):
        response = client.get("/system/")
    assert response.status_code == 200
    page = response.content.decode()
    # the scheduler stopped twenty minutes ago and its jobs have waited as long: both checks fail
    assert page.count('<span class="badge off">Failing</span>') == 2
    assert page.count('<span class="badge ok">OK</span>') == 2  # database, migrations
    assert "Start manage.py run_scheduler" in page
    assert "check the db_worker processes" in page
    assert '<dd data-figure="waiting">' + str(len(PERIODIC_JOBS)) + "</dd>" in page
    assert "waiting for 20\xa0minutes" in page
    assert '<dd data-figure="failed">1</dd>' in page
    assert "<code>commit_metric_import</code>" in page
    assert "<code>IntegrityError</code>" in page
    assert "13800138000" not in page  # never the exception's message or traceback
    assert '<span class="badge off">Stopped</span>' in page
    for interval in ("every minute", "every 5 minutes", "every hour", "every day"):
        assert interval in page


def test_the_system_status_page_is_in_chinese_by_default(client, world):
    client.force_login(world.users["admin"])
    with time_machine.travel(START, tick=False):
        tick()
        page = client.get("/system/").content.decode()
    assert "系统状态" in page
    assert "调度进程" in page
    assert "运行中" in page
    assert "任务在 Web 进程内运行" in page  # the test settings run tasks inline


@pytest.mark.django_db
def test_probes_over_plain_http_are_not_redirected(client, settings):
    settings.SECURE_SSL_REDIRECT = True  # production: every page redirects to HTTPS
    assert client.get("/login/").status_code == 301
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").status_code == 200


@pytest.mark.django_db
def test_a_database_that_does_not_answer_fails_every_check_with_json(client):
    from django.db import OperationalError

    def refuse(execute, sql, params, many, context):
        raise OperationalError("connection refused")

    with connection.execute_wrapper(refuse):
        ready = client.get("/health/ready")
        background = client.get("/health/background")
        backup = client.get("/health/backup")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {
        "database": {"ok": False, "error": "OperationalError"},
        "migrations": {"ok": False, "error": "database"},
    }
    assert background.status_code == 503
    assert background.json()["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    assert background.json()["checks"]["scheduler"] == {"ok": False, "error": "database"}
    assert backup.status_code == 503
    assert backup.json()["checks"] == {
        "database": {"ok": False, "error": "OperationalError"},
        "backup": {"ok": False, "error": "database"},
    }
    assert client.get("/health/live").status_code == 200  # liveness never asks the database


def backup_record(created_at: dt.datetime, verified_ok: bool | None):
    from xinqiao.core.models import BackupRecord

    return BackupRecord.objects.create(
        name=f"xinqiao-{created_at:%Y%m%dT%H%M%SZ}",
        location=f"/backup/xinqiao/xinqiao-{created_at:%Y%m%dT%H%M%SZ}",
        created_at=created_at,
        vendor=connection.vendor,
        bytes=1024,
        verified_at=None if verified_ok is None else created_at + dt.timedelta(minutes=1),
        verified_ok=verified_ok,
    )


@pytest.mark.django_db
def test_backup_health_fails_until_a_backup_is_recorded(client):
    with time_machine.travel(START, tick=False):
        response = client.get("/health/backup")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["backup"] == {"ok": False, "backups": 0, "max_age_seconds": 26 * 3600}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("age", "verified_ok", "status"),
    [
        (dt.timedelta(hours=3), True, 200),
        (dt.timedelta(hours=3), None, 200),  # made, not verified yet
        (dt.timedelta(hours=3), False, 503),  # verify_backup found it damaged
        (dt.timedelta(hours=26), True, 200),
        (dt.timedelta(hours=26, seconds=1), True, 503),  # the daily timer stopped
    ],
)
def test_backup_health_reads_the_newest_backup(client, age, verified_ok, status):
    backup_record(START - dt.timedelta(days=3), True)  # an older backup does not count
    backup_record(START - age, verified_ok)

    with time_machine.travel(START, tick=False):
        response = client.get("/health/backup")

    assert response.status_code == status
    assert response.json()["checks"]["backup"] == {
        "ok": status == 200,
        "age_seconds": int(age.total_seconds()),
        "max_age_seconds": 26 * 3600,
        "verified": verified_ok,
    }
    assert "xinqiao-" not in response.content.decode()  # neither the backup's name nor its directory
    assert response["Cache-Control"] == "no-store"
