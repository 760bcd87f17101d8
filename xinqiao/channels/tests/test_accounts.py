"""The account matrix over HTTP: create/edit, sealed secrets, bad input, dormant flags, scoping."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from xinqiao.channels.models import PlatformAccount
from xinqiao.core import vault


def account_form(world, **overrides):
    data = {
        "platform": "wechat_oa",
        "name": "一院公众号",
        "handle": "gh_0123456789ab",
        "account_type": "hospital_official",
        "positioning": "全院健康科普与就医服务",
        "verification": "verified",
        "filing_number": "沪ICP备00000000号",
        "credential_holder": "品牌部 张主管",
        "app_id": "wx0123456789abcdef",
        "app_secret": "s3cret-value-for-tests",
        "api_base_url": "http://127.0.0.1:9/",
        "target_posts_per_week": 5,
        "dormant_after_days": 14,
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_create_seals_the_secret_and_lists_the_account(client, world):
    client.force_login(world.users["brand"])
    response = client.post("/channels/accounts/new/", account_form(world))
    assert response.status_code == 302
    account = PlatformAccount.objects.get()
    assert account.app_secret_sealed.startswith("v1$")
    assert "s3cret-value-for-tests" not in account.app_secret_sealed
    assert vault.decrypt(account.app_secret_sealed, context=f"account.app_secret|h{world.hospital.pk}") == (
        "s3cret-value-for-tests"
    )
    assert account.connection == PlatformAccount.Connection.CONNECTED
    page = client.get("/channels/accounts/").content.decode()
    assert "一院公众号" in page
    assert "s3cret-value-for-tests" not in page
    edit = client.get(f"/channels/accounts/{account.pk}/").content.decode()
    assert "s3cret-value-for-tests" not in edit


def test_edit_keeps_the_secret_when_left_empty(client, world):
    client.force_login(world.users["brand"])
    client.post("/channels/accounts/new/", account_form(world))
    account = PlatformAccount.objects.get()
    sealed = account.app_secret_sealed
    response = client.post(
        f"/channels/accounts/{account.pk}/", account_form(world, app_secret="", positioning="新定位")
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.positioning, account.app_secret_sealed) == ("新定位", sealed)


def test_department_and_doctor_accounts(client, world):
    client.force_login(world.users["brand"])
    response = client.post(
        "/channels/accounts/new/",
        account_form(world, platform="douyin", name="心内科抖音", account_type="department", app_id="", app_secret="",
                     api_base_url="", department=world.departments["cardiology"].pk),
    )  # fmt: skip
    assert response.status_code == 302
    response = client.post(
        "/channels/accounts/new/",
        account_form(world, platform="xiaohongshu", name="王医生", account_type="doctor_personal", app_id="",
                     app_secret="", api_base_url="", doctor=world.doctors[0].pk),
    )  # fmt: skip
    assert response.status_code == 302
    rows = list(PlatformAccount.objects.order_by("pk").values_list("platform", "account_type", "connection"))
    assert rows == [("douyin", "department", "manual"), ("xiaohongshu", "doctor_personal", "manual")]


def test_bad_input_changes_nothing(client, world):
    client.force_login(world.users["brand"])
    cases = [
        (account_form(world, platform="myspace"), "platform", None),
        (account_form(world, account_type="department", department=""), "department",
         "A department account needs its owner department."),
        (account_form(world, account_type="doctor_personal"), "doctor", "A doctor's personal account needs the linked doctor."),
        (account_form(world, app_secret=""), "app_id", "Connecting a WeChat account needs both the AppID and the AppSecret."),
        (account_form(world, department=999999), "department", None),
    ]  # fmt: skip
    for data, field, message in cases:
        response = client.post("/channels/accounts/new/", data)
        assert response.status_code == 400, field
        errors = response.context["form"].errors
        assert list(errors) == [field]
        if message is not None:
            assert errors[field] == [message]
    assert PlatformAccount.objects.count() == 0


def test_duplicate_name_on_the_same_platform_is_refused(client, world):
    client.force_login(world.users["brand"])
    client.post("/channels/accounts/new/", account_form(world))
    response = client.post("/channels/accounts/new/", account_form(world))
    assert response.status_code == 400
    assert PlatformAccount.objects.count() == 1


def test_dormant_and_frequency(client, world):
    now = timezone.now()
    quiet = PlatformAccount.objects.create(
        hospital=world.hospital, platform="weibo", name="一院微博", account_type="hospital_official",
        dormant_after_days=30, last_published_at=now - dt.timedelta(days=31), created_at=now - dt.timedelta(days=400),
    )  # fmt: skip
    active = PlatformAccount.objects.create(
        hospital=world.hospital, platform="zhihu", name="一院知乎", account_type="hospital_official",
        dormant_after_days=30, last_published_at=now - dt.timedelta(days=2),
    )  # fmt: skip
    assert quiet.is_dormant(now) is True
    assert active.is_dormant(now) is False
    client.force_login(world.users["leadership"])
    page = client.get("/channels/accounts/").content.decode()
    assert page.count('data-testid="dormant"') == 1


def test_scoping(client, world):
    account = PlatformAccount.objects.create(
        hospital=world.hospital, platform="weibo", name="一院微博", account_type="hospital_official"
    )
    client.force_login(world.users["outsider"])
    assert client.get(f"/channels/accounts/{account.pk}/").status_code == 404
    client.force_login(world.users["leadership"])
    assert client.get(f"/channels/accounts/{account.pk}/").status_code == 200
    response = client.post(f"/channels/accounts/{account.pk}/", account_form(world, name="改名"))
    assert response.status_code == 403
    client.force_login(world.users["dept_reviewer"])
    assert client.get("/channels/accounts/").status_code == 403
    account.refresh_from_db()
    assert account.name == "一院微博"
