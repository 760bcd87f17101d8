"""Large metric imports are worked on by the task worker: a large upload is read there (*analysing* → preview or
rejected), a file with many rows is committed there (*queued* → committed, rejected, or failed with the reason), the
page polling until it is done, an in-app notice for the team."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.urls import reverse

from xinqiao.analytics.models import ContentMetricDaily, ContentMonthRollup, ContentMonthStale, MetricImport
from xinqiao.analytics.services import imports as services
from xinqiao.analytics.tests.imports_support import csv_bytes, douyin_lines, make_account, upload
from xinqiao.channels.models import Notification
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.XINQIAO_IMPORT_BACKGROUND_ROWS = 1  # the two-row sample file goes to the worker


def preview(world, account, content: bytes | None = None) -> MetricImport:
    return services.metric_import_preview(
        principal=world.principal("brand"),
        account=account,
        platform="douyin",
        uploaded_file=upload("works.csv", content or csv_bytes(douyin_lines())),
    )


def queue(world, metric_import: MetricImport, capture) -> tuple[MetricImport, list]:
    """Commit from the UI's service; the task is enqueued when the transaction commits (run now: ImmediateBackend)."""
    with capture(execute=False) as callbacks:
        queued = services.metric_import_commit(principal=world.principal("brand"), metric_import=metric_import)
    assert queued.status == MetricImport.Status.QUEUED
    assert ContentMetricDaily.objects.count() == 0  # nothing written in the request
    return queued, callbacks


def test_a_large_import_is_queued_then_committed_by_the_task(world, django_capture_on_commit_callbacks):
    account = make_account(world)
    metric_import = preview(world, account)
    queued, callbacks = queue(world, metric_import, django_capture_on_commit_callbacks)
    assert (queued.queued_by, queued.failure) == (world.users["brand"], "")
    assert queued.queued_at is not None
    assert len(callbacks) == 1

    callbacks[0]()  # the enqueue: the immediate backend runs the task now

    metric_import.refresh_from_db()
    assert metric_import.status == MetricImport.Status.COMMITTED
    assert (metric_import.rows_created, metric_import.rows_updated, metric_import.rows_unchanged) == (2, 0, 0)
    assert ContentMetricDaily.objects.filter(account=account).count() == 2
    event = AuditEvent.objects.filter(action=AuditEvent.Action.METRIC_IMPORT).get()
    assert event.actor_id == world.users["brand"].pk  # the user who asked for it, not the worker
    notice = Notification.objects.get(hospital=world.hospital)
    assert notice.level == Notification.Level.INFO
    assert notice.audience_role == "brand"  # the team of the user who asked
    assert notice.link == reverse("analytics:import_detail", args=[metric_import.pk])
    assert "2 created" in notice.message
    assert "works.csv" in notice.message


def test_the_task_is_idempotent(world, django_capture_on_commit_callbacks):
    account = make_account(world)
    metric_import = preview(world, account)
    queue(world, metric_import, django_capture_on_commit_callbacks)
    assert services.metric_import_run_queued(import_id=metric_import.pk) == MetricImport.Status.COMMITTED
    assert services.metric_import_run_queued(import_id=metric_import.pk) == MetricImport.Status.COMMITTED
    assert ContentMetricDaily.objects.filter(account=account).count() == 2
    assert AuditEvent.objects.filter(action=AuditEvent.Action.METRIC_IMPORT).count() == 1
    assert Notification.objects.count() == 1
    assert services.metric_import_run_queued(import_id=metric_import.pk + 1000) == "missing"


def test_queuing_twice_is_refused(world, django_capture_on_commit_callbacks):
    metric_import = preview(world, make_account(world))
    queued, _callbacks = queue(world, metric_import, django_capture_on_commit_callbacks)
    with pytest.raises(ApplicationError) as raised:
        services.metric_import_commit(principal=world.principal("brand"), metric_import=queued)
    assert raised.value.code == "import_state"


def test_a_file_changed_while_queued_fails_with_the_reason_and_writes_nothing(
    world, django_capture_on_commit_callbacks
):
    account = make_account(world)
    metric_import = preview(world, account)
    queue(world, metric_import, django_capture_on_commit_callbacks)
    with default_storage.open(metric_import.stored_path, "wb") as handle:
        handle.write(b"tampered")

    assert services.metric_import_run_queued(import_id=metric_import.pk) == MetricImport.Status.FAILED

    metric_import.refresh_from_db()
    assert metric_import.status == MetricImport.Status.FAILED
    assert metric_import.failure == "The stored file changed since the preview; upload it again."
    assert ContentMetricDaily.objects.count() == 0
    notice = Notification.objects.get()
    assert notice.level == Notification.Level.WARNING
    assert "failed" in notice.message


def test_a_file_that_no_longer_parses_is_rejected_with_its_row_errors(
    world, django_capture_on_commit_callbacks, monkeypatch
):
    account = make_account(world)
    metric_import = preview(world, account)
    queue(world, metric_import, django_capture_on_commit_callbacks)
    bad = csv_bytes(
        douyin_lines([["高血压的日常管理", "2025-03-02 09:30", "很多", "35.5%", "35秒", 800, 40, 30, 25, "x"]])
    )
    real_parse = services.parse_file
    # The same stored file read by a stricter parser (a newer version of the rules): its errors are recorded.
    monkeypatch.setattr(services, "parse_file", lambda _data, **kwargs: real_parse(bad, **kwargs))

    assert services.metric_import_run_queued(import_id=metric_import.pk) == MetricImport.Status.REJECTED

    metric_import.refresh_from_db()
    assert metric_import.status == MetricImport.Status.REJECTED
    assert metric_import.errors_total == 1
    assert metric_import.errors[0]["column"] == "播放量"
    assert ContentMetricDaily.objects.count() == 0
    assert "refused" in Notification.objects.get().message


def test_an_unexpected_error_fails_the_import_and_it_can_be_tried_again(
    world, django_capture_on_commit_callbacks, monkeypatch
):
    account = make_account(world)
    metric_import = preview(world, account)
    queue(world, metric_import, django_capture_on_commit_callbacks)

    def broken(**_kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "upsert_content", broken)
    with pytest.raises(RuntimeError):
        services.metric_import_run_queued(import_id=metric_import.pk)
    metric_import.refresh_from_db()
    assert metric_import.status == MetricImport.Status.FAILED
    assert metric_import.failure.startswith("The import stopped on an unexpected error")
    assert "database went away" not in metric_import.failure
    assert ContentMetricDaily.objects.count() == 0

    monkeypatch.undo()
    queue(world, metric_import, django_capture_on_commit_callbacks)  # "Try the import again"
    assert services.metric_import_run_queued(import_id=metric_import.pk) == MetricImport.Status.COMMITTED
    assert ContentMetricDaily.objects.filter(account=account).count() == 2


def test_small_files_are_still_committed_in_the_request(world, settings):
    settings.XINQIAO_IMPORT_BACKGROUND_ROWS = 2
    account = make_account(world)
    metric_import = preview(world, account)
    committed = services.metric_import_commit(principal=world.principal("brand"), metric_import=metric_import)
    assert committed.status == MetricImport.Status.COMMITTED
    assert ContentMetricDaily.objects.filter(account=account).count() == 2
    assert Notification.objects.count() == 0


def test_the_page_polls_while_queued_and_reloads_when_done(client, world, django_capture_on_commit_callbacks):
    account = make_account(world)
    metric_import = preview(world, account)
    client.force_login(world.users["brand"])
    detail = reverse("analytics:import_detail", args=[metric_import.pk])
    status = reverse("analytics:import_status", args=[metric_import.pk])
    assert 'data-testid="import-background-note"' in client.get(detail).content.decode()

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("analytics:import_commit", args=[metric_import.pk]), follow=True)
    page = response.content.decode()
    assert "being imported in the background" in page
    assert f'hx-get="{status}"' in page
    assert 'hx-trigger="every 2s"' in page
    assert 'data-testid="import-commit-button"' not in page

    polled = client.get(status)
    assert polled.json() == {"status": "queued", "status_label": "Importing"}
    assert "HX-Refresh" not in polled

    services.metric_import_run_queued(import_id=metric_import.pk)
    polled = client.get(status)
    assert polled.json()["status"] == "committed"
    assert polled["HX-Refresh"] == "true"
    page = client.get(detail).content.decode()
    assert "hx-trigger" not in page
    assert "2 created, 0 updated, 0 unchanged" in page


def test_the_status_is_for_the_hospitals_viewers_only(client, world):
    metric_import = preview(world, make_account(world))
    status = reverse("analytics:import_status", args=[metric_import.pk])
    client.force_login(world.users["leadership"])  # may view analytics, may not import
    assert client.get(status).status_code == 200
    client.force_login(world.users["outsider"])  # another hospital's user
    assert client.get(status).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_real_worker_commits_a_queued_import(world, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    from django_tasks_db.models import DBTaskResult

    account = make_account(world)
    metric_import = preview(world, account)
    queued = services.metric_import_commit(principal=world.principal("brand"), metric_import=metric_import)
    assert queued.status == MetricImport.Status.QUEUED
    assert list(DBTaskResult.objects.values_list("task_path", "status")) == [
        ("xinqiao.analytics.tasks.commit_metric_import", "READY")
    ]

    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0", verbosity=0)

    # the import, then the rebuild of its month of the month rollup that it enqueued on commit
    assert sorted(DBTaskResult.objects.values_list("task_path", "status")) == [
        ("xinqiao.analytics.tasks.build_content_months", "SUCCESSFUL"),
        ("xinqiao.analytics.tasks.commit_metric_import", "SUCCESSFUL"),
    ]
    metric_import.refresh_from_db()
    assert metric_import.status == MetricImport.Status.COMMITTED
    assert ContentMetricDaily.objects.filter(account=account).count() == 2
    assert not ContentMonthStale.objects.filter(account=account).exists()
    assert ContentMonthRollup.objects.filter(account=account).count() == 2


# --- large uploads are read by the worker --------------------------------------------------------------------------


def analyse(world, account, content: bytes, capture, settings) -> MetricImport:
    settings.XINQIAO_IMPORT_BACKGROUND_BYTES = len(content) - 1
    with capture(execute=False) as callbacks:
        metric_import = preview(world, account, content)
    assert metric_import.status == MetricImport.Status.ANALYSING
    assert (metric_import.export_type, metric_import.rows_total, metric_import.errors) == ("", 0, [])
    assert default_storage.exists(metric_import.stored_path)
    assert len(callbacks) == 1
    return metric_import, callbacks


def test_a_large_upload_is_read_by_the_task_then_shows_its_preview(world, settings, django_capture_on_commit_callbacks):
    account = make_account(world)
    metric_import, callbacks = analyse(
        world, account, csv_bytes(douyin_lines()), django_capture_on_commit_callbacks, settings
    )
    callbacks[0]()  # the enqueue: the immediate backend runs the task now

    metric_import.refresh_from_db()
    assert metric_import.status == MetricImport.Status.PREVIEW
    assert (metric_import.export_type, metric_import.rows_total, metric_import.header_row) == ("douyin.works", 2, 3)
    assert len(metric_import.preview_rows) == 2
    assert ContentMetricDaily.objects.count() == 0
    notice = Notification.objects.get()
    assert "2 rows ready to import" in notice.message
    assert notice.link == reverse("analytics:import_detail", args=[metric_import.pk])
    assert services.metric_import_run_analysis(import_id=metric_import.pk) == MetricImport.Status.PREVIEW  # again
    assert Notification.objects.count() == 1

    committed = services.metric_import_commit(principal=world.principal("brand"), metric_import=metric_import)
    assert committed.status == MetricImport.Status.QUEUED  # two rows > XINQIAO_IMPORT_BACKGROUND_ROWS = 1


def test_a_large_upload_with_errors_is_rejected_by_the_task(world, settings, django_capture_on_commit_callbacks):
    account = make_account(world)
    bad = csv_bytes(
        douyin_lines([["高血压的日常管理", "2025-03-02 09:30", "很多", "35.5%", "35秒", 800, 40, 30, 25, "x"]])
    )
    metric_import, _callbacks = analyse(world, account, bad, django_capture_on_commit_callbacks, settings)
    assert services.metric_import_run_analysis(import_id=metric_import.pk) == MetricImport.Status.REJECTED
    metric_import.refresh_from_db()
    assert metric_import.errors_total == 1
    assert metric_import.errors[0]["column"] == "播放量"
    assert "refused" in Notification.objects.get().message
    with pytest.raises(ApplicationError):
        services.metric_import_commit(principal=world.principal("brand"), metric_import=metric_import)


def test_a_large_upload_whose_file_is_gone_is_rejected_with_the_reason(
    world, settings, django_capture_on_commit_callbacks
):
    metric_import, _callbacks = analyse(
        world, make_account(world), csv_bytes(douyin_lines()), django_capture_on_commit_callbacks, settings
    )
    default_storage.delete(metric_import.stored_path)
    assert services.metric_import_run_analysis(import_id=metric_import.pk) == MetricImport.Status.REJECTED
    metric_import.refresh_from_db()
    assert metric_import.errors == [
        {"row": 0, "column": "", "message": "The stored file changed since the preview; upload it again."}
    ]


def test_an_unexpected_error_while_reading_rejects_the_upload(
    world, settings, django_capture_on_commit_callbacks, monkeypatch
):
    metric_import, _callbacks = analyse(
        world, make_account(world), csv_bytes(douyin_lines()), django_capture_on_commit_callbacks, settings
    )

    def broken(*_args, **_kwargs):
        raise MemoryError

    monkeypatch.setattr(services, "parse_file", broken)
    with pytest.raises(MemoryError):
        services.metric_import_run_analysis(import_id=metric_import.pk)
    metric_import.refresh_from_db()
    assert metric_import.status == MetricImport.Status.REJECTED
    assert metric_import.errors[0]["message"].startswith("The file could not be read because of an unexpected error")


def test_a_large_upload_page_says_it_is_being_read_and_polls(client, world, settings):
    account = make_account(world)
    content = csv_bytes(douyin_lines())
    settings.XINQIAO_IMPORT_BACKGROUND_BYTES = len(content) - 1
    client.force_login(world.users["brand"])
    response = client.post(
        reverse("analytics:import_upload"),
        {"platform": "douyin", "account": account.pk, "uploaded_file": upload("works.csv", content)},
        follow=True,
    )
    page = response.content.decode()
    metric_import = MetricImport.objects.get()
    assert "it is read in the background" in page
    assert 'data-testid="import-analysing"' in page
    assert f'hx-get="{reverse("analytics:import_status", args=[metric_import.pk])}"' in page
    assert 'data-testid="import-commit-button"' not in page
    assert 'data-testid="export-type"' not in page  # nothing is known of the file yet
    status = client.get(reverse("analytics:import_status", args=[metric_import.pk]))
    assert status.json() == {"status": "analysing", "status_label": "Analysing"}
    assert "HX-Refresh" not in status


def test_an_administrators_import_notifies_the_administrators(world, django_capture_on_commit_callbacks):
    """An admin without a brand role would not see a notice addressed to the brand team."""
    account = make_account(world)
    metric_import = services.metric_import_preview(
        principal=world.principal("admin"),
        account=account,
        platform="douyin",
        uploaded_file=upload("works.csv", csv_bytes(douyin_lines())),
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.metric_import_commit(principal=world.principal("admin"), metric_import=metric_import)
    notice = Notification.objects.get()
    assert notice.audience_role == "admin"
    metric_import.refresh_from_db()
    assert metric_import.status == MetricImport.Status.COMMITTED


# --- stop waiting -------------------------------------------------------------------------------------------------


def test_a_queued_import_can_be_cancelled_and_the_task_then_leaves_it_alone(
    client, world, django_capture_on_commit_callbacks
):
    account = make_account(world)
    metric_import = preview(world, account)
    queue(world, metric_import, django_capture_on_commit_callbacks)
    client.force_login(world.users["brand"])
    detail = reverse("analytics:import_detail", args=[metric_import.pk])
    assert 'data-testid="import-cancel-button"' in client.get(detail).content.decode()

    page = client.post(reverse("analytics:import_cancel", args=[metric_import.pk]), follow=True).content.decode()

    assert "Cancelled" in page
    metric_import.refresh_from_db()
    assert metric_import.status == MetricImport.Status.PREVIEW  # can be imported again later
    assert services.metric_import_run_queued(import_id=metric_import.pk) == MetricImport.Status.PREVIEW
    assert ContentMetricDaily.objects.count() == 0
    assert Notification.objects.count() == 0
    page = client.post(reverse("analytics:import_cancel", args=[metric_import.pk]), follow=True).content.decode()
    assert "no longer waiting for the background worker" in page


def test_a_file_being_read_can_be_cancelled(world, settings, django_capture_on_commit_callbacks):
    metric_import, _callbacks = analyse(
        world, make_account(world), csv_bytes(douyin_lines()), django_capture_on_commit_callbacks, settings
    )
    cancelled = services.metric_import_cancel(principal=world.principal("brand"), metric_import=metric_import)
    assert cancelled.status == MetricImport.Status.REJECTED
    assert cancelled.errors[0]["message"] == "Reading the file was cancelled; upload it again."
    assert services.metric_import_run_analysis(import_id=metric_import.pk) == MetricImport.Status.REJECTED
    metric_import.refresh_from_db()
    assert metric_import.export_type == ""  # the task did not read it after all


def test_only_importers_of_the_hospital_may_cancel(client, world, django_capture_on_commit_callbacks):
    metric_import = preview(world, make_account(world))
    queue(world, metric_import, django_capture_on_commit_callbacks)
    cancel = reverse("analytics:import_cancel", args=[metric_import.pk])
    client.force_login(world.users["leadership"])
    assert (
        'data-testid="import-cancel-button"'
        not in client.get(reverse("analytics:import_detail", args=[metric_import.pk])).content.decode()
    )
    assert client.post(cancel).status_code == 403
    client.force_login(world.users["outsider"])
    assert client.post(cancel).status_code == 404
    metric_import.refresh_from_db()
    assert metric_import.status == MetricImport.Status.QUEUED
