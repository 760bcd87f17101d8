"""Route pages: admin only, the key never shown, test message, deactivate, recent messages."""

from __future__ import annotations

import pytest

from xinqiao.integrations import services
from xinqiao.integrations.models import NotificationRoute, OutboundMessage
from xinqiao.integrations.tests.conftest import ROBOT_KEY


@pytest.fixture
def admin_client(client, world):
    client.force_login(world.users["admin"])
    return client


@pytest.mark.django_db
def test_admin_creates_a_robot_route_and_the_key_is_never_shown(admin_client, robot_sandbox):
    url = robot_sandbox.webhook_url(ROBOT_KEY)
    response = admin_client.post("/integrations/routes/new/", {"name": "舆情群", "kind": "wecom_robot",
                                 "webhook_url": url, "purposes": ["alerts", "cases"], "min_severity": 30,
                                 "is_active": "on"})  # fmt: skip
    assert response.status_code == 302
    route = NotificationRoute.objects.get()
    assert (route.purposes, route.min_severity, route.webhook_hint) == (["alerts", "cases"], 30, "…5aaa")
    for page in ("/integrations/routes/", f"/integrations/routes/{route.pk}/"):
        html = admin_client.get(page).content.decode()
        assert ROBOT_KEY not in html
        assert "…5aaa" in html


@pytest.mark.django_db
def test_bad_webhook_is_a_form_error_and_nothing_is_saved(admin_client):
    response = admin_client.post("/integrations/routes/new/", {"name": "群", "kind": "wecom_robot",
                                 "webhook_url": "https://evil.example/cgi-bin/webhook/send?key=1",
                                 "purposes": ["alerts"], "min_severity": 0})  # fmt: skip
    assert response.status_code == 400
    assert "Paste the robot&#x27;s webhook address" in response.content.decode()
    assert NotificationRoute.objects.count() == 0


@pytest.mark.django_db
def test_edit_keeps_the_key_when_left_empty_then_test_and_deactivate(admin_client, world, robot_sandbox,
                                                                    django_capture_on_commit_callbacks):  # fmt: skip
    url = robot_sandbox.webhook_url(ROBOT_KEY)
    route = services.notification_route_create(
        principal=world.principal("admin"),
        data=services.RouteInput(name="舆情群", kind="wecom_robot", webhook_url=url, purposes=["alerts"]),
    )
    response = admin_client.post(f"/integrations/routes/{route.pk}/", {"name": "舆情值班群", "purposes": ["alerts"],
                                 "min_severity": 60, "is_active": "on"})  # fmt: skip
    assert response.status_code == 302
    route.refresh_from_db()
    assert (route.name, route.min_severity, services.notification_route_webhook_url(route)) == ("舆情值班群", 60, url)
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(f"/integrations/routes/{route.pk}/test/").status_code == 302
    assert len(robot_sandbox.messages(ROBOT_KEY)) == 1
    page = admin_client.get(f"/integrations/routes/{route.pk}/").content.decode()
    assert 'data-status="sent"' in page
    assert admin_client.post(f"/integrations/routes/{route.pk}/deactivate/").status_code == 302
    route.refresh_from_db()
    assert route.is_active is False
    assert OutboundMessage.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["brand", "leadership", "medical_affairs"])
def test_members_without_integration_manage_get_403(client, world, persona):
    client.force_login(world.users[persona])
    assert client.get("/integrations/routes/").status_code == 403
    response = client.post("/integrations/routes/new/", {"name": "x", "kind": "email", "emails": "a@example.com",
                                                          "purposes": ["alerts"], "min_severity": 0})  # fmt: skip
    assert response.status_code == 403
    assert NotificationRoute.objects.count() == 0


@pytest.mark.django_db
def test_other_hospitals_route_is_404(client, world):
    route = services.notification_route_create(
        principal=world.principal("admin"),
        data=services.RouteInput(name="邮箱", kind="email", emails=["a@example.com"], purposes=["alerts"]),
    )
    client.force_login(world.users["outsider"])
    assert client.get(f"/integrations/routes/{route.pk}/").status_code == 404
    assert client.post(f"/integrations/routes/{route.pk}/deactivate/").status_code == 404
    route.refresh_from_db()
    assert route.is_active is True
