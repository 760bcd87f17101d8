"""``manage.py run_scheduler --once``: due content is published through the WeChat sandbox exactly once, however
often the scheduler ticks, with the immediate backend and with the real database queue and worker."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command

from xinqiao.channels.models import Publication
from xinqiao.channels.tests.conftest import wechat_oa_sandbox, wechat_oa_sandbox_server  # noqa: F401
from xinqiao.channels.tests.fixtures import fast_wechat, wechat_account  # noqa: F401
from xinqiao.content import services as content_services
from xinqiao.content.models import ContentItem
from xinqiao.content.tests.helpers import approve_through, make_item, png_bytes, principal_of, writer
from xinqiao.core.periodic import PERIODIC_JOBS, slot_start

State = ContentItem.State
START = dt.datetime(2025, 9, 22, 2, 0, 30, tzinfo=dt.UTC)


def scheduler(*args: str) -> str:
    out = io.StringIO()
    call_command("run_scheduler", *args, stdout=out)
    return out.getvalue()


def calls(sandbox, path: str) -> int:
    return sum(1 for entry in sandbox.requests() if entry["path"] == path)


@pytest.fixture
def due_item(world, wechat_oa_sandbox, fast_wechat):  # noqa: F811
    """An item scheduled for START + 1 hour on the sandbox-connected WeChat account, fully approved."""
    with time_machine.travel(START, tick=False):
        author = writer(world)
        account = wechat_account(world, wechat_oa_sandbox.base_url)
        cover = content_services.image_upload(principal=principal_of(author, world), data=png_bytes("cover"))
        item = make_item(
            world, author, cover_id=cover.pk, account_ids=[account.pk], scheduled_at=START + dt.timedelta(hours=1)
        )
        approve_through(world, item, until=State.SCHEDULED)
    return item


def test_registry_and_slots():
    assert [(job.name, job.task_path) for job in PERIODIC_JOBS] == [
        ("publish_due_content", "xinqiao.content.tasks.publish_due_content"),
        ("deliver_outbound", "xinqiao.integrations.tasks.deliver_outbound"),
        ("sweep_alerts", "xinqiao.listening.alert_tasks.sweep_alerts"),
        ("pull_recent_wechat_comments", "xinqiao.listening.tasks.pull_recent_wechat_comments"),
        ("escalate_overdue_cases", "xinqiao.listening.case_tasks.escalate_overdue_cases"),
        ("deliver_due_reports", "xinqiao.analytics.report_tasks.deliver_due_reports"),
        ("sync_wechat_metrics", "xinqiao.analytics.tasks.sync_wechat_metrics"),
        ("build_stale_content_months", "xinqiao.analytics.tasks.build_stale_content_months"),
        ("compute_influence_indices", "xinqiao.analytics.tasks.compute_influence_indices"),
        ("scan_security_events", "xinqiao.core.tasks.scan_security_events_task"),
        ("refresh_planner_statistics", "xinqiao.core.tasks.refresh_planner_statistics"),
        ("apply_retention", "xinqiao.core.tasks.apply_retention"),
    ]
    assert [int(job.every.total_seconds()) for job in PERIODIC_JOBS] == [
        60, 60, 60, 3600, 60, 3600, 3600, 3600, 86400, 300, 86400, 86400
    ]  # fmt: skip
    assert slot_start(START, dt.timedelta(minutes=1)) == dt.datetime(2025, 9, 22, 2, 0, tzinfo=dt.UTC)
    assert scheduler("--list", "--job", "publish_due_content") == (
        "publish_due_content\txinqiao.content.tasks.publish_due_content\tevery 60s\n"
    )
    with pytest.raises(CommandError, match="Unknown job"):
        scheduler("--list", "--job", "no_such_job")
    with pytest.raises(CommandError, match="--interval must be between 1 and 3600 seconds."):
        scheduler("--once", "--interval", "0")


def test_once_publishes_due_content_once(world, due_item, wechat_oa_sandbox, django_capture_on_commit_callbacks):  # noqa: F811
    with time_machine.travel(START + dt.timedelta(minutes=30), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            output = scheduler("--once", "--job", "publish_due_content")
        assert output == "2025-09-22 10:30:30 enqueued publish_due_content\n"
    assert Publication.objects.count() == 0  # not due yet
    for minute in (61, 62):
        with (
            time_machine.travel(START + dt.timedelta(minutes=minute), tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            scheduler("--once", "--job", "publish_due_content")
    publication = Publication.objects.get()
    assert (publication.status, publication.attempts) == (Publication.Status.PUBLISHED, 1)
    due_item.refresh_from_db()
    assert due_item.state == State.PUBLISHED
    assert calls(wechat_oa_sandbox, "/cgi-bin/draft/add") == 1
    assert calls(wechat_oa_sandbox, "/cgi-bin/freepublish/submit") == 1


@pytest.fixture
def database_queue(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.mark.django_db(transaction=True)
def test_database_queue_two_schedulers_and_the_worker(
    world,
    due_item,
    wechat_oa_sandbox,  # noqa: F811
    database_queue,
):
    from django_tasks_db.models import DBTaskResult

    def rows():
        return list(DBTaskResult.objects.order_by("enqueued_at").values_list("task_path", "status"))

    def publish_tick():
        return scheduler("--once", "--job", "publish_due_content")

    with time_machine.travel(START + dt.timedelta(minutes=61), tick=False):
        first, second = publish_tick(), publish_tick()  # two schedulers in the same minute
    assert first == "2025-09-22 11:01:30 enqueued publish_due_content\n"
    assert second == "2025-09-22 11:01:30 skipped publish_due_content: already queued for this slot\n"
    with time_machine.travel(START + dt.timedelta(minutes=62), tick=False):
        assert "skipped" in publish_tick()  # the first run is still waiting for a worker
    assert rows() == [("xinqiao.content.tasks.publish_due_content", "READY")]

    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0", verbosity=0)
    assert rows() == [
        ("xinqiao.content.tasks.publish_due_content", "SUCCESSFUL"),
        ("xinqiao.channels.tasks.run_publication", "SUCCESSFUL"),
    ]
    publication = Publication.objects.get()
    assert (publication.status, publication.attempts) == (Publication.Status.PUBLISHED, 1)
    due_item.refresh_from_db()
    assert due_item.state == State.PUBLISHED

    # the next minute's tick runs again and finds nothing to publish
    with time_machine.travel(START + dt.timedelta(minutes=63), tick=False):
        assert publish_tick() == "2025-09-22 11:03:30 enqueued publish_due_content\n"
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0", verbosity=0)
    assert [status for _path, status in rows()] == ["SUCCESSFUL", "SUCCESSFUL", "SUCCESSFUL"]
    assert DBTaskResult.objects.filter(task_path="xinqiao.content.tasks.publish_due_content").count() == 2
    assert Publication.objects.count() == 1
    assert calls(wechat_oa_sandbox, "/cgi-bin/draft/add") == 1
    assert calls(wechat_oa_sandbox, "/cgi-bin/freepublish/submit") == 1
