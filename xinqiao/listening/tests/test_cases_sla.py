"""The 24-hour first-response SLA: countdown, a warning 4 hours before, one escalation to leadership when overdue."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from xinqiao.channels.models import Notification
from xinqiao.core.models import AuditEvent
from xinqiao.integrations.models import NotificationRoute, OutboundMessage
from xinqiao.listening.case_tasks import escalate_overdue_cases
from xinqiao.listening.models import CaseEvent, CrisisCase
from xinqiao.listening.selectors.cases import case_sla
from xinqiao.listening.services import cases as services
from xinqiao.listening.tests.cases_helpers import CLEAN_REPLY

T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


@pytest.fixture
def route(world):
    return NotificationRoute.objects.create(
        hospital=world.hospital, name="危机群", kind=NotificationRoute.Kind.WECOM_ROBOT, purposes=["cases"],
        min_severity=90,
    )  # fmt: skip


@pytest.fixture
def case(world):
    with time_machine.travel(T0, tick=False):
        return services.case_open(principal=world.principal("brand"), title="心内科医患纠纷")


def at(hours: float, minutes: int = 0, seconds: int = 0) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)


@pytest.mark.parametrize(
    ("moment", "state", "remaining", "label"),
    [
        (at(0), "running", 86400, "24:00"),
        (at(19, 59, 59), "running", 14401, "4:00"),
        (at(20), "warning", 14400, "4:00"),
        (at(23, 59), "warning", 60, "0:01"),
        (at(24), "warning", 0, "0:00"),
        (at(24, 0, 1), "overdue", -1, "-0:00"),
        (at(26, 30), "overdue", -9000, "-2:30"),
    ],
)
def test_countdown(case, moment, state, remaining, label):
    sla = case_sla(case, now=moment)
    assert (sla.state, sla.remaining_seconds, sla.remaining_label) == (state, remaining, label)


def test_met_late_and_closed(case):
    case.first_responded_at = at(3)
    assert (case_sla(case, now=at(30)).state, case_sla(case, now=at(30)).remaining_seconds) == ("met", 75600)
    case.first_responded_at = at(25)
    assert case_sla(case, now=at(30)).state == "late"
    case.first_responded_at = None
    case.status = CrisisCase.Status.CLOSED
    assert case_sla(case, now=at(30)).state == "closed"


def test_warning_then_one_escalation(world, case, route):
    with time_machine.travel(at(19), tick=False):
        assert escalate_overdue_cases.call() == {"warned": 0, "escalated": 0}
    with time_machine.travel(at(20, 30), tick=False):
        assert escalate_overdue_cases.call() == {"warned": 1, "escalated": 0}
        assert escalate_overdue_cases.call() == {"warned": 0, "escalated": 0}
    warning = OutboundMessage.objects.get(dedup_key=f"case:{case.pk}:sla-warning")
    assert (warning.purpose, warning.route) == ("cases", route)
    assert warning.subject == f"Crisis case #{case.pk}: first response due soon"
    assert warning.body_markdown == (
        f"### First response due soon\n> Crisis case #{case.pk}\n- Severity: Medium\n- Status: Monitoring\n"
        f"- Owner: brand\n- First response due: 2026-11-21 10:00\n[Open in XinQiao](/listening/cases/{case.pk}/)"
    )
    assert "心内科" not in warning.body_markdown + warning.subject  # typed titles stay out of robot groups
    assert Notification.objects.filter(audience_role="brand", level="warning").count() == 1
    assert CaseEvent.objects.get(case=case, kind="sla_warning").text == "First response due in 3 h 30 min."

    with time_machine.travel(at(24, 1), tick=False):
        assert services.cases_escalate_overdue() == {"warned": 0, "escalated": 1}
        assert services.cases_escalate_overdue() == {"warned": 0, "escalated": 0}
    case.refresh_from_db()
    assert case.escalated_at == at(24, 1)
    leadership = Notification.objects.get(audience_role="leadership")
    assert leadership.level == "error"
    assert leadership.link == f"/listening/cases/{case.pk}/"
    assert "心内科医患纠纷" in leadership.message
    escalation = OutboundMessage.objects.get(dedup_key=f"case:{case.pk}:escalated")
    assert escalation.purpose == "cases"
    assert OutboundMessage.objects.count() == 2
    assert list(CaseEvent.objects.filter(case=case).values_list("kind", flat=True)) == [
        "opened", "sla_warning", "escalated",
    ]  # fmt: skip
    details = AuditEvent.objects.filter(action=AuditEvent.Action.CASE_CHANGE, object_id=str(case.pk))
    assert sorted(e.detail["change"] for e in details) == ["escalated", "opened", "sla_warning"]


def test_overdue_when_the_warning_window_was_missed_escalates_without_a_warning(case, route):
    assert services.cases_escalate_overdue(now=at(30)) == {"warned": 0, "escalated": 1}
    assert list(CaseEvent.objects.filter(case=case).values_list("kind", flat=True)) == ["opened", "escalated"]


def test_a_response_stops_the_clock(world, case, route):
    brand = world.principal("brand")
    draft = services.reply_draft_create(principal=brand, case=case, text=CLEAN_REPLY)
    services.reply_submit(principal=brand, draft=draft)
    services.reply_sign_off(principal=world.principal("medical_affairs"), draft=draft)
    services.reply_mark_published(principal=brand, draft=draft, now=at(6))
    assert services.cases_escalate_overdue(now=at(21)) == {"warned": 0, "escalated": 0}
    assert services.cases_escalate_overdue(now=at(30)) == {"warned": 0, "escalated": 0}
    case.refresh_from_db()
    assert case.escalated_at is None
    assert OutboundMessage.objects.count() == 0


def test_closed_cases_are_not_escalated(world, case, route):
    services.case_close(principal=world.principal("brand"), case=case, lessons="误报", now=at(1))
    assert services.cases_escalate_overdue(now=at(30)) == {"warned": 0, "escalated": 0}
    assert Notification.objects.filter(audience_role="leadership").count() == 0


def test_case_page_shows_the_server_computed_countdown(client, world, case):
    client.force_login(world.users["leadership"])
    with time_machine.travel(at(21, 15), tick=False):
        body = client.get(f"/listening/cases/{case.pk}/").content.decode()
    assert 'data-testid="sla-countdown" data-remaining="9900"' in body
    assert 'data-sla="warning"' in body
    with time_machine.travel(at(25), tick=False):
        body = client.get(f"/listening/cases/{case.pk}/").content.decode()
    assert 'data-testid="sla-countdown" data-remaining="-3600"' in body
    assert 'data-sla="overdue"' in body


@pytest.fixture(autouse=True)
def english(settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
