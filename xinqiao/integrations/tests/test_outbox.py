"""The outbox: idempotent enqueue, one send per message whatever runs the worker, lease, token bucket, retries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from xinqiao.channels.models import Notification
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent
from xinqiao.integrations import services
from xinqiao.integrations.models import NotificationRoute, OutboundMessage
from xinqiao.integrations.tests.conftest import OTHER_ROBOT_KEY, ROBOT_KEY
from xinqiao.integrations.wecom_robot.client import WeComRobotClient

Status = OutboundMessage.Status


def make_route(world, url: str, *, name: str = "舆情群", purposes=("alerts",), min_severity: int = 0):
    return services.notification_route_create(
        principal=world.principal("admin"),
        data=services.RouteInput(
            name=name, kind="wecom_robot", webhook_url=url, purposes=list(purposes), min_severity=min_severity
        ),  # fmt: skip
    )


def enqueue(world, key: str, body: str = "### 告警\n> 测试", **kwargs):
    return services.outbound_enqueue(hospital_id=world.hospital.pk, purpose="alerts", dedup_key=key,
                                     subject="告警", body_markdown=body, **kwargs)  # fmt: skip


@pytest.mark.django_db
def test_route_create_seals_the_url_shows_a_hint_and_audits(world, robot_sandbox):
    url = robot_sandbox.webhook_url(ROBOT_KEY)
    route = make_route(world, url)
    assert route.webhook_hint == "…5aaa"
    assert ROBOT_KEY not in route.webhook_url_sealed
    assert services.notification_route_webhook_url(route) == url
    event = AuditEvent.objects.get(action=AuditEvent.Action.INTEGRATION_CHANGE, object_id=str(route.pk))
    assert event.detail["change"] == "create"
    assert ROBOT_KEY not in str(event.detail)


@pytest.mark.django_db
def test_route_validation_and_permissions(world):
    with pytest.raises(ApplicationError) as caught:
        make_route(world, "https://example.com/cgi-bin/webhook/send?key=abc")
    assert caught.value.field == "webhook_url"
    with pytest.raises(PermissionDenied):
        services.notification_route_create(
            principal=world.principal("brand"),
            data=services.RouteInput(name="x", kind="email", emails=["a@example.com"], purposes=["alerts"]),
        )
    with pytest.raises(ApplicationError) as caught:
        services.notification_route_create(
            principal=world.principal("admin"),
            data=services.RouteInput(name="mail", kind="email", emails=["not-an-address"], purposes=["alerts"]),
        )
    assert caught.value.field == "emails"
    assert NotificationRoute.objects.count() == 0


@pytest.mark.django_db
def test_enqueue_is_idempotent_and_picks_routes_by_purpose_and_severity(world, robot_sandbox):
    alerts_route = make_route(world, robot_sandbox.webhook_url(ROBOT_KEY))
    high_only = make_route(world, robot_sandbox.webhook_url(OTHER_ROBOT_KEY), name="领导群", min_severity=80)
    make_route(world, robot_sandbox.webhook_url(OTHER_ROBOT_KEY), name="报表群", purposes=("reports",))
    first = enqueue(world, "alert:1", severity=50)
    again = enqueue(world, "alert:1", severity=50)
    assert [m.route_id for m in first] == [alerts_route.pk]
    assert [m.pk for m in again] == [m.pk for m in first]
    severe = enqueue(world, "alert:2", severity=90)
    assert sorted(m.route_id for m in severe) == sorted([alerts_route.pk, high_only.pk])
    assert OutboundMessage.objects.count() == 3
    services.notification_route_deactivate(principal=world.principal("admin"), route=high_only)
    assert [m.route_id for m in enqueue(world, "alert:3", severity=90)] == [alerts_route.pk]


@pytest.mark.django_db
def test_two_delivery_passes_send_once(world, robot_sandbox):
    make_route(world, robot_sandbox.webhook_url(ROBOT_KEY))
    [message] = enqueue(world, "alert:7")
    first = services.outbound_deliver_due()
    second = services.outbound_deliver_due(now=timezone.now() + dt.timedelta(minutes=5))
    assert (first.sent, second.claimed, second.sent) == (1, 0, 0)
    message.refresh_from_db()
    assert (message.status, message.attempts, message.posts) == (Status.SENT, 1, 1)
    assert len(robot_sandbox.messages(ROBOT_KEY)) == 1


@pytest.mark.django_db
def test_a_leased_message_is_left_alone_until_the_lease_expires(world, robot_sandbox):
    make_route(world, robot_sandbox.webhook_url(ROBOT_KEY))
    [message] = enqueue(world, "alert:8")
    now = timezone.now()
    # another worker holds the lease (it claimed the message and is still sending)
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=Status.SENDING, lease_until=now + dt.timedelta(seconds=60)
    )
    assert services.outbound_deliver_due(now=now).claimed == 0
    assert robot_sandbox.messages() == []
    taken_over = services.outbound_deliver_due(now=now + dt.timedelta(seconds=61))
    assert (taken_over.claimed, taken_over.sent) == (1, 1)
    message.refresh_from_db()
    assert (message.status, message.sent_at) == (Status.SENT, now + dt.timedelta(seconds=61))


@pytest.mark.django_db
def test_token_bucket_holds_the_21st_message_for_the_next_minute(world, robot_sandbox):
    make_route(world, robot_sandbox.webhook_url(ROBOT_KEY))
    for index in range(25):
        enqueue(world, f"alert:{index}", body=f"告警 {index}")
    now = timezone.now()
    first = services.outbound_deliver_due(now=now)
    assert (first.sent, first.deferred) == (20, 5)
    assert robot_sandbox.rejections() == []  # the bucket kept us under the robot's limit: no 45009 at all
    waiting = OutboundMessage.objects.filter(status=Status.PENDING)
    assert set(waiting.values_list("next_attempt_at", flat=True)) == {now + dt.timedelta(seconds=60, milliseconds=50)}
    assert services.outbound_deliver_due(now=now + dt.timedelta(seconds=30)).claimed == 0
    robot_sandbox.advance_clock(61)
    later = services.outbound_deliver_due(now=now + dt.timedelta(seconds=61))
    assert later.sent == 5
    assert [m.content for m in robot_sandbox.messages(ROBOT_KEY)] == [f"告警 {i}" for i in range(25)]


@pytest.mark.django_db
def test_45009_from_someone_else_filling_the_robot_is_retried_after_the_window(world, robot_sandbox):
    url = robot_sandbox.webhook_url(ROBOT_KEY)
    make_route(world, url)
    with WeComRobotClient(url) as other_system:
        for index in range(20):
            other_system.send(f"other {index}")
    [message] = enqueue(world, "alert:9")
    now = timezone.now()
    result = services.outbound_deliver_due(now=now)
    message.refresh_from_db()
    assert (result.retried, message.status, message.attempts) == (1, Status.PENDING, 1)
    assert message.next_attempt_at == now + dt.timedelta(seconds=61)
    assert "45009" in message.last_error
    robot_sandbox.advance_clock(61)
    assert services.outbound_deliver_due(now=now + dt.timedelta(seconds=61)).sent == 1
    assert len(robot_sandbox.messages(ROBOT_KEY)) == 21


@pytest.mark.django_db
def test_a_split_message_resumes_after_45009_without_resending_parts(world, robot_sandbox):
    url = robot_sandbox.webhook_url(ROBOT_KEY)
    make_route(world, url)
    with WeComRobotClient(url) as other_system:
        for index in range(18):
            other_system.send(f"other {index}")
    body = "\n".join(f"- 第{i:03d}条 " + "舆" * 200 for i in range(30))  # five posts
    [message] = enqueue(world, "alert:10", body=body)
    now = timezone.now()
    services.outbound_deliver_due(now=now)
    message.refresh_from_db()
    assert (message.status, message.provider_response["parts_sent"], message.posts) == (Status.PENDING, 2, 2)
    robot_sandbox.advance_clock(61)
    services.outbound_deliver_due(now=now + dt.timedelta(seconds=61))
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.SENT, 2)
    ours = [m.content for m in robot_sandbox.messages(ROBOT_KEY) if not m.content.startswith("other")]
    assert "\n".join(ours) == body
    assert len(ours) == 5


@pytest.mark.django_db
def test_invalid_key_fails_for_good_and_tells_the_admins(world, robot_sandbox):
    make_route(world, robot_sandbox.webhook_url("removed-robot-key-0001"))
    [message] = enqueue(world, "alert:11")
    result = services.outbound_deliver_due()
    message.refresh_from_db()
    assert (result.failed, message.status, message.attempts) == (1, Status.FAILED, 1)
    note = Notification.objects.get(hospital=world.hospital)
    assert (note.audience_role, note.level) == ("admin", Notification.Level.ERROR)
    assert "93000" in note.message
    assert "removed-robot-key" not in note.message
    assert services.outbound_deliver_due(now=timezone.now() + dt.timedelta(hours=1)).claimed == 0


@pytest.mark.django_db
def test_network_errors_back_off_then_fail_after_the_last_attempt(world):
    make_route(world, "http://127.0.0.1:9/cgi-bin/webhook/send?key=nobody-listens")
    [message] = enqueue(world, "alert:12")
    now = timezone.now()
    delays = []
    for _attempt in range(services.MAX_ATTEMPTS):
        services.outbound_deliver_due(now=now)
        message.refresh_from_db()
        if message.status == Status.PENDING:
            delays.append((message.next_attempt_at - now).total_seconds())
            now = message.next_attempt_at
    assert delays == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0]
    assert (message.status, message.attempts, message.sent_at) == (Status.FAILED, 8, None)


@pytest.mark.django_db
def test_test_message_service_queues_and_delivers(world, robot_sandbox, django_capture_on_commit_callbacks):
    route = make_route(world, robot_sandbox.webhook_url(ROBOT_KEY))
    with django_capture_on_commit_callbacks(execute=True):
        message = services.notification_route_send_test(principal=world.principal("admin"), route=route)
    message.refresh_from_db()
    assert message.status == Status.SENT  # the immediate task backend ran the delivery after commit
    [recorded] = robot_sandbox.messages(ROBOT_KEY)
    assert recorded.content.startswith("### XinQiao test message\n> Sent at ")


@pytest.mark.django_db(transaction=True)
def test_the_database_worker_delivers_the_queued_message(world, robot_sandbox, settings):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    make_route(world, robot_sandbox.webhook_url(ROBOT_KEY))
    with transaction.atomic():
        enqueue(world, "alert:13")
        enqueue(world, "alert:13")  # the same alert again: nothing new, no second task
    assert list(DBTaskResult.objects.values_list("task_path", "status")) == [
        ("xinqiao.integrations.tasks.deliver_outbound", "READY")
    ]
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0", verbosity=0)
    assert list(DBTaskResult.objects.values_list("status", flat=True)) == ["SUCCESSFUL"]
    assert OutboundMessage.objects.get().status == Status.SENT
    assert len(robot_sandbox.messages(ROBOT_KEY)) == 1
