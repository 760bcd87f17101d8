from __future__ import annotations

import time_machine
from django.test import override_settings
from django.utils import timezone

from xinqiao.core.models import AuditEvent, Membership


def test_login_success_is_audited(client, world, password):
    response = client.post("/login/", {"username": "brand", "password": password})
    assert response.status_code == 302
    assert response["Location"] == "/"
    event = AuditEvent.objects.get(action="login")
    assert (event.actor_label, event.hospital_id) == ("brand", world.hospital.pk)


def test_failed_login_shows_error_and_is_audited(client, world):
    response = client.post("/login/", {"username": "brand", "password": "wrong-password"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert AuditEvent.objects.filter(action="login_failed", actor_label="brand", result="denied").count() == 1
    assert "_auth_user_id" not in client.session


@override_settings(XINQIAO_LOGIN_MAX_FAILURES=3, XINQIAO_LOGIN_LOCKOUT_SECONDS=900)
def test_lockout_after_repeated_failures(client, world, password):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _ in range(3):
            client.post("/login/", {"username": "service", "password": "nope-nope-nope"})
        assert AuditEvent.objects.filter(action="lockout", actor_label="service").count() == 1
        # Even the right password is refused while locked.
        response = client.post("/login/", {"username": "service", "password": password})
        assert response.status_code == 200
        assert response.context["locked_message"]
        assert "_auth_user_id" not in client.session
        clock.shift(901)
        response = client.post("/login/", {"username": "service", "password": password})
        assert response.status_code == 302


def test_login_redirect_rejects_outside_targets(client, world, password):
    response = client.post("/login/?next=https://evil.example/x", {"username": "brand", "password": password})
    assert response["Location"] == "/"


def test_role_change_requires_password_reconfirmation(client, world, password):
    client.force_login(world.users["admin"])
    url = f"/members/{world.users['brand'].pk}/"
    response = client.post(url, {"roles": ["brand", "leadership"]}, HTTP_REFERER=f"http://testserver{url}")
    assert response.status_code == 302
    assert response["Location"].startswith("/sudo/?next=")
    assert sorted(Membership.objects.filter(user=world.users["brand"]).values_list("role", flat=True)) == ["brand"]
    wrong = client.post(f"/sudo/?next={url}", {"password": "not-my-password"})
    assert wrong.status_code == 200
    assert client.post(f"/sudo/?next={url}", {"password": password})["Location"] == url
    assert client.post(url, {"roles": ["brand", "leadership"]}).status_code == 302
    roles = sorted(Membership.objects.filter(user=world.users["brand"]).values_list("role", flat=True))
    assert roles == ["brand", "leadership"]
    event = AuditEvent.objects.get(action="role_change")
    assert event.detail["before"] == ["brand"]
    assert event.detail["after"] == ["brand", "leadership"]


def test_unknown_role_is_rejected_and_changes_nothing(client, world, password):
    client.force_login(world.users["admin"])
    client.post("/sudo/", {"password": password})
    url = f"/members/{world.users['brand'].pk}/"
    response = client.post(url, {"roles": ["brand", "superuser"]})
    assert response.status_code == 400
    assert "superuser" in response.content.decode()
    assert list(Membership.objects.filter(user=world.users["brand"]).values_list("role", flat=True)) == ["brand"]
    assert not AuditEvent.objects.filter(action="role_change").exists()


def test_last_admin_cannot_drop_admin_role(client, world, password):
    client.force_login(world.users["admin"])
    client.post("/sudo/", {"password": password})
    response = client.post(f"/members/{world.users['admin'].pk}/", {"roles": ["brand"]})
    assert response.status_code == 400
    assert Membership.objects.filter(user=world.users["admin"], role="admin").exists()


def test_reviewer_needs_a_department(client, world, password):
    client.force_login(world.users["admin"])
    client.post("/sudo/", {"password": password})
    response = client.post(f"/members/{world.users['brand'].pk}/", {"roles": ["dept_reviewer"]})
    assert response.status_code == 400
    assert list(Membership.objects.filter(user=world.users["brand"]).values_list("role", flat=True)) == ["brand"]


def test_admin_adds_a_member(client, world, password):
    client.force_login(world.users["admin"])
    client.post("/sudo/", {"password": password})
    response = client.post(
        "/members/new/",
        {
            "username": "reviewer_peds",
            "full_name": "周敏",
            "password": "a-long-enough-pass",
            "roles": ["dept_reviewer"],
            "departments": [world.departments["pediatrics"].pk],
        },
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user__username="reviewer_peds")
    assert membership.role == "dept_reviewer"
    assert [d.code for d in membership.departments.all()] == ["pediatrics"]


def test_switching_hospital_only_to_own_memberships(client, world):
    client.force_login(world.users["admin"])
    assert client.post("/hospital/switch/", {"hospital": world.other_hospital.pk}).status_code == 404
    Membership.objects.create(user=world.users["admin"], hospital=world.other_hospital, role="leadership")
    assert client.post("/hospital/switch/", {"hospital": world.other_hospital.pk}).status_code == 302
    assert client.get("/patients/").status_code == 403  # leadership in hospital B


def test_ui_is_chinese_by_default_whatever_the_browser_sends(client, world):
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert page["Content-Language"] == "zh-hans"
    assert '<html lang="zh-hans">' in page.content.decode()


def test_english_is_selectable(client, world):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    assert response.status_code == 302
    page = client.get("/login/")
    assert page["Content-Language"] == "en"
    assert '<html lang="en">' in page.content.decode()
