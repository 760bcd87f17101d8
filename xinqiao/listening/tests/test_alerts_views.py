"""Alert pages and the red-line rule editor."""

from __future__ import annotations

import pytest
from django.utils import timezone

from xinqiao.integrations.models import NotificationRoute, OutboundMessage
from xinqiao.listening.models import Alert, RedLineRule
from xinqiao.listening.tests.alert_support import processed_mention

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_ui(settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def burst_alert(world):
    alert = Alert.objects.create(
        hospital=world.hospital, kind=Alert.Kind.BURST, dedup_key="burst:all:x", title="Negative burst: 9 mentions",
        observed=9, expected=1.25, statistic=2.5e-6, severity=72,
    )  # fmt: skip
    alert.mentions.add(processed_mention(world, "一院心内科排队三小时", posted_at=timezone.now()))
    route = NotificationRoute.objects.create(hospital=world.hospital, name="舆情群", kind="wecom_robot",
                                             purposes=["alerts"], webhook_hint="…5aaa")  # fmt: skip
    OutboundMessage.objects.create(hospital=world.hospital, route=route, dedup_key=f"alert:{alert.pk}",
                                   purpose="alerts", subject="s", body_markdown="b", status="failed",
                                   attempts=1, last_error="[wecom_robot 93000] invalid key")  # fmt: skip
    return alert


def test_list_filters_by_kind_and_status(client, world, burst_alert):
    Alert.objects.create(hospital=world.hospital, kind=Alert.Kind.RED_LINE, dedup_key="r", title="Red line 1",
                         status=Alert.Status.DISMISSED)  # fmt: skip
    Alert.objects.create(hospital=world.other_hospital, kind=Alert.Kind.BURST, dedup_key="o", title="Other hospital")
    client.force_login(world.users["leadership"])
    page = client.get("/listening/alerts/").content.decode()
    assert page.count('data-alert="') == 2
    assert "Other hospital" not in page
    assert client.get("/listening/alerts/?kind=red_line").content.decode().count('data-alert="') == 1
    only_open = client.get("/listening/alerts/?status=open").content.decode()
    assert 'data-kind="burst"' in only_open
    assert 'data-kind="red_line"' not in only_open


def test_detail_shows_statistic_mentions_and_delivery(client, world, burst_alert):
    client.force_login(world.users["brand"])
    page = client.get(f"/listening/alerts/{burst_alert.pk}/").content.decode()
    assert '<dd data-testid="alert-statistic">2.5e-06</dd>' in page
    assert "一院心内科排队三小时" in page
    assert 'data-status="failed"' in page
    assert "invalid key" in page
    assert f'action="/listening/cases/from-alert/{burst_alert.pk}/"' in page  # brand may open a case
    client.force_login(world.users["admin"])
    admin_page = client.get(f"/listening/alerts/{burst_alert.pk}/").content.decode()
    assert "from-alert" not in admin_page
    assert 'data-testid="acknowledge"' in admin_page


def test_acknowledge_dismiss_need_listening_manage(client, world, burst_alert):
    client.force_login(world.users["leadership"])
    assert client.post(f"/listening/alerts/{burst_alert.pk}/acknowledge/").status_code == 403
    burst_alert.refresh_from_db()
    assert burst_alert.status == "open"
    client.force_login(world.users["brand"])
    assert client.post(f"/listening/alerts/{burst_alert.pk}/acknowledge/").status_code == 302
    assert client.post(f"/listening/alerts/{burst_alert.pk}/dismiss/").status_code == 302
    burst_alert.refresh_from_db()
    assert (burst_alert.status, burst_alert.acknowledged_by) == ("dismissed", world.users["brand"])


def test_other_hospital_gets_404_and_members_without_view_403(client, world, burst_alert):
    client.force_login(world.users["outsider"])
    assert client.get(f"/listening/alerts/{burst_alert.pk}/").status_code == 404
    assert client.post(f"/listening/alerts/{burst_alert.pk}/dismiss/").status_code == 404
    client.force_login(world.users["service"])
    assert client.get("/listening/alerts/").status_code == 403


def test_red_line_editor(client, world):
    client.force_login(world.users["brand"])
    assert client.post("/listening/red-lines/defaults/").status_code == 302
    assert RedLineRule.objects.filter(hospital=world.hospital).count() == 6
    response = client.post("/listening/red-lines/new/", {"name": "欠费停药", "terms": "停药，断药\n欠费停药",
                           "near_kinds": ["hospital", "department"], "window_chars": 25, "is_active": "on"})  # fmt: skip
    assert response.status_code == 302
    rule = RedLineRule.objects.get(name="欠费停药")
    assert (rule.terms, rule.near_kinds, rule.window_chars) == (
        ["停药", "断药", "欠费停药"],
        ["department", "hospital"],
        25,
    )
    bad = client.post(f"/listening/red-lines/{rule.pk}/", {"name": "欠费停药", "terms": "药", "near_kinds": ["hospital"],
                      "window_chars": 25})  # fmt: skip
    assert bad.status_code == 400
    assert "Each term needs at least two characters." in bad.content.decode()
    rule.refresh_from_db()
    assert rule.terms == ["停药", "断药", "欠费停药"]
    page = client.get("/listening/red-lines/").content.decode()
    assert page.count('data-rule="') == 7
    client.force_login(world.users["medical_affairs"])
    assert client.get("/listening/red-lines/").status_code == 200
    assert client.post("/listening/red-lines/new/", {"name": "x", "terms": "跳楼", "near_kinds": ["hospital"],
                                                     "window_chars": 5}).status_code == 403  # fmt: skip
    assert RedLineRule.objects.filter(hospital=world.hospital).count() == 7
