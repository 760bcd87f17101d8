"""Scheduled delivery: a period is delivered once, when it has closed in Asia/Shanghai, to e-mail and robots."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from xinqiao.analytics.models import Report, ReportSchedule
from xinqiao.analytics.report_tasks import deliver_due_reports
from xinqiao.analytics.services.reports import report_schedule_save, reports_deliver_due
from xinqiao.analytics.tests.reports_support import SHANGHAI, build_metrics
from xinqiao.integrations.models import NotificationRoute, OutboundMessage
from xinqiao.integrations.services import RouteInput, notification_route_create
from xinqiao.integrations.wecom_robot.sandbox import WeComRobotSandbox

pytestmark = pytest.mark.django_db
ROBOT_KEY = "5b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def setup(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LANGUAGE_CODE = "en"
    settings.XINQIAO_PUBLIC_URL = "https://xinqiao.example.cn"


@pytest.fixture
def robot_sandbox():
    """The 企业微信 robot sandbox on 127.0.0.1 (real HTTP)."""
    sandbox = WeComRobotSandbox(keys=[ROBOT_KEY], port=0).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def routes(world, robot_sandbox):
    email = NotificationRoute.objects.create(
        hospital=world.hospital, name="院办邮箱", kind="email", emails=["office@example.com"], purposes=["reports"]
    )
    robot = notification_route_create(
        principal=world.principal("admin"),
        data=RouteInput(name="品牌部群", kind="wecom_robot", webhook_url=robot_sandbox.webhook_url(ROBOT_KEY),
                        purposes=["reports"]),
    )  # fmt: skip
    return email, robot


def _schedule(world, routes, period: str, at: dt.datetime, formats=("pdf", "xlsx")) -> ReportSchedule:
    with time_machine.travel(at, tick=False):
        return report_schedule_save(
            principal=world.principal("brand"), period=period, formats=list(formats), route_ids=[r.pk for r in routes]
        )


def test_monthly_report_goes_out_on_the_first_in_shanghai_once(world, routes):
    build_metrics(world.hospital)
    schedule = _schedule(world, routes, "month", local(2026, 10, 15, 12, 0))
    assert schedule.last_period_start == dt.date(2026, 9, 1)  # September closed before the schedule existed

    with time_machine.travel(local(2026, 10, 31, 23, 59), tick=False):
        before = reports_deliver_due()
    # 2026-11-01 00:00 in Shanghai is still 31 October in UTC
    with time_machine.travel(local(2026, 11, 1, 0, 0), tick=False):
        assert timezone.now().date() == dt.date(2026, 10, 31)
        first = reports_deliver_due()
        second = reports_deliver_due()

    assert (before.delivered, before.skipped) == ([], [schedule.pk])
    assert (first.delivered, second.delivered, second.skipped) == ([schedule.pk], [], [schedule.pk])
    messages = list(OutboundMessage.objects.order_by("route__kind"))
    assert [(m.route.kind, m.dedup_key, m.purpose) for m in messages] == [
        ("email", f"report:{schedule.pk}:2026-10-01", "reports"),
        ("wecom_robot", f"report:{schedule.pk}:2026-10-01", "reports"),
    ]
    reports = {r.format: r for r in Report.objects.filter(period="month", period_start=dt.date(2026, 10, 1))}
    assert sorted(reports) == ["pdf", "xlsx"]
    assert messages[0].attachments == [reports["pdf"].stored_path, reports["xlsx"].stored_path]
    assert messages[0].subject == "一院 Monthly report 2026-10"
    body = messages[1].body_markdown
    assert f"https://xinqiao.example.cn/analytics/reports/{reports['pdf'].pk}/download/" in body
    assert "xinqiao-report-test-first-2026-10.xlsx" in body
    schedule.refresh_from_db()
    assert (schedule.last_period_start, schedule.last_delivered_at) == (
        dt.date(2026, 10, 1), local(2026, 11, 1, 0, 0),
    )  # fmt: skip


def test_the_outbox_key_also_prevents_a_second_message(world, routes):
    schedule = _schedule(world, routes, "month", local(2026, 10, 15, 12, 0))
    with time_machine.travel(local(2026, 11, 1, 8, 0), tick=False):
        reports_deliver_due()
        # as if the job had crashed after enqueueing, before recording the period
        ReportSchedule.objects.filter(pk=schedule.pk).update(last_period_start=None)
        again = reports_deliver_due()

    assert again.delivered == [schedule.pk]
    assert OutboundMessage.objects.count() == 2
    assert Report.objects.count() == 2


def test_weekly_report_goes_out_on_the_monday_after_the_week(world, routes):
    schedule = _schedule(world, routes[:1], "week", local(2026, 10, 21, 9, 0), formats=("xlsx",))

    with time_machine.travel(local(2026, 10, 25, 23, 59), tick=False):
        sunday = reports_deliver_due()
    with time_machine.travel(local(2026, 10, 26, 0, 1), tick=False):
        monday = reports_deliver_due()
    with time_machine.travel(local(2026, 11, 2, 7, 0), tick=False):
        next_monday = reports_deliver_due()

    assert (sunday.delivered, monday.delivered, next_monday.delivered) == ([], [schedule.pk], [schedule.pk])
    assert list(OutboundMessage.objects.order_by("pk").values_list("dedup_key", "subject")) == [
        (f"report:{schedule.pk}:2026-10-19", "一院 Weekly report 2026-W43"),
        (f"report:{schedule.pk}:2026-10-26", "一院 Weekly report 2026-W44"),
    ]
    assert list(Report.objects.order_by("period_start").values_list("period", "period_start", "format")) == [
        ("week", dt.date(2026, 10, 19), "xlsx"),
        ("week", dt.date(2026, 10, 26), "xlsx"),
    ]


def test_inactive_schedules_and_inactive_routes(world, routes):
    email, robot = routes
    monthly = _schedule(world, routes, "month", local(2026, 10, 15, 12, 0))
    ReportSchedule.objects.filter(pk=monthly.pk).update(is_active=False)
    weekly = _schedule(world, routes, "week", local(2026, 10, 21, 9, 0))
    NotificationRoute.objects.filter(pk=robot.pk).update(is_active=False)

    with time_machine.travel(local(2026, 11, 2, 7, 0), tick=False):
        result = reports_deliver_due()

    assert result.delivered == [weekly.pk]
    assert list(OutboundMessage.objects.values_list("route_id", flat=True)) == [email.pk]


def test_delivery_mails_the_files_and_posts_the_links(world, routes, robot_sandbox, django_capture_on_commit_callbacks):
    build_metrics(world.hospital)
    _schedule(world, routes, "month", local(2026, 10, 15, 12, 0))

    with (
        time_machine.travel(local(2026, 11, 1, 6, 0), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = deliver_due_reports.enqueue()

    assert result.return_value["delivered"] == [ReportSchedule.objects.get().pk]
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["office@example.com"]
    assert [(name, mimetype) for name, _content, mimetype in sent.attachments] == [
        ("xinqiao-report-test-first-2026-10.pdf", "application/pdf"),
        ("xinqiao-report-test-first-2026-10.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ]
    assert sent.attachments[0][1][:5] == b"%PDF-"
    posted = robot_sandbox.messages(ROBOT_KEY)
    assert [m.msgtype for m in posted] == ["markdown"]
    assert "/analytics/reports/" in posted[0].content
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {"sent"}
