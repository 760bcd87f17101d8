"""Publishing over real HTTP against the WeChat OA sandbox, export packages, tracking links and alerts."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile

import httpx
import pytest

from xinqiao.channels import services
from xinqiao.channels.models import Notification, PlatformAccount, Publication, TrackingClick
from xinqiao.channels.platforms.wechat_oa.client import tls_context
from xinqiao.channels.tests.fixtures import fast_wechat, media_root, wechat_account  # noqa: F401
from xinqiao.content import services as content_services
from xinqiao.content.models import ContentItem
from xinqiao.content.tests.helpers import approve_through, make_item, png_bytes, principal_of, writer
from xinqiao.core.models import AuditEvent

pytestmark = pytest.mark.usefixtures("media_root", "fast_wechat")

Status = Publication.Status


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """POST and run what the request enqueued on commit (the tests' database transaction never commits)."""

    def send(url, data=None):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data or {})

    return send


def calls(sandbox, path: str) -> int:
    return sum(1 for entry in sandbox.requests() if entry["path"] == path)


@pytest.fixture
def setup(world, wechat_oa_sandbox):
    author = writer(world)
    wechat = wechat_account(world, wechat_oa_sandbox.base_url)
    weibo = PlatformAccount.objects.create(
        hospital=world.hospital, platform="weibo", name="一院微博", account_type="hospital_official"
    )
    cover = content_services.image_upload(principal=principal_of(author, world), data=png_bytes("cover"))
    item = make_item(world, author, cover_id=cover.pk, account_ids=[wechat.pk, weibo.pk])
    approve_through(world, item, until=ContentItem.State.APPROVED)
    return item, wechat, weibo


def test_publish_through_the_sandbox_and_by_hand(client, post, world, wechat_oa_sandbox, setup):
    item, wechat, weibo = setup
    client.force_login(world.users["brand"])
    response = post(f"/content/{item.pk}/publish/")
    assert response.status_code == 302
    online = Publication.objects.get(account=wechat)
    assert online.status == Status.PUBLISHED
    assert online.post_url.startswith(f"{wechat_oa_sandbox.base_url}/s/")
    assert (online.thumb_media_id[:14], online.draft_media_id[:6]) == ("MEDIA_ID_PERM_", "DRAFT_")
    assert online.publish_id != ""
    assert online.content_sha256 == item.current_revision.sha256
    assert [step["to"] for step in online.approval_chain] == [
        "draft", "department_review", "medical_review", "final_review", "approved",
    ]  # fmt: skip
    assert online.compliance_report["findings"] == []
    assert online.qr_scene == f"xq-{online.tracking_link.code}"
    assert online.qr_url.startswith(f"{wechat_oa_sandbox.base_url}/q/")
    assert wechat_oa_sandbox.state_counts() == {"media": 1, "images": 1, "drafts": 0, "publications": 1, "qrcodes": 1}
    item.refresh_from_db()
    assert item.state == ContentItem.State.APPROVED  # the Weibo post is still to be done by hand

    manual = Publication.objects.get(account=weibo)
    assert manual.status == Status.AWAITING_MANUAL
    package = client.get(f"/channels/publications/{manual.pk}/package.zip")
    assert package.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(package.content))
    assert sorted(archive.namelist()) == [
        "approval-chain.json", "compliance-report.json", "content.html", "content.txt",
        f"images/image-{item.cover_id}.png", "manifest.json",
    ]  # fmt: skip
    assert archive.read("content.txt").decode().startswith("高血压的日常管理\n\n高血压患者要规律监测血压")
    assert json.loads(archive.read("manifest.json"))["sha256"] == item.current_revision.sha256

    bad = client.post(f"/channels/publications/{manual.pk}/mark-published/", {"post_url": "javascript:alert(1)"})
    assert bad.status_code == 400
    manual.refresh_from_db()
    assert manual.status == Status.AWAITING_MANUAL
    done = client.post(
        f"/channels/publications/{manual.pk}/mark-published/", {"post_url": "https://weibo.com/1234/AbCd"}
    )
    assert done.status_code == 302
    item.refresh_from_db()
    assert item.state == ContentItem.State.PUBLISHED
    assert AuditEvent.objects.filter(action="content_publish").count() == 2

    # publishing again changes nothing on the platform
    services.publication_run(publication_id=online.pk)
    assert calls(wechat_oa_sandbox, "/cgi-bin/draft/add") == 1
    assert calls(wechat_oa_sandbox, "/cgi-bin/freepublish/submit") == 1


def test_retry_after_a_failure_never_adds_a_second_draft(client, post, world, wechat_oa_sandbox, setup):
    item, wechat, _weibo = setup
    wechat_oa_sandbox.configure(faults=[{"path": "/cgi-bin/freepublish/submit", "errcode": 53503, "count": 1}])
    client.force_login(world.users["brand"])
    post(f"/content/{item.pk}/publish/")
    publication = Publication.objects.get(account=wechat)
    assert publication.status == Status.FAILED
    assert publication.draft_media_id.startswith("DRAFT_")
    assert publication.publish_id == ""
    assert Notification.objects.filter(hospital=world.hospital, audience_role="brand").count() == 1
    wechat.refresh_from_db()
    assert wechat.connection == PlatformAccount.Connection.CONNECTED  # a content error, not a connection error
    response = post(f"/channels/publications/{publication.pk}/retry/")
    assert response.status_code == 302
    publication.refresh_from_db()
    assert (publication.status, publication.attempts) == (Status.PUBLISHED, 2)
    assert calls(wechat_oa_sandbox, "/cgi-bin/draft/add") == 1
    assert calls(wechat_oa_sandbox, "/cgi-bin/material/add_material") == 1
    assert calls(wechat_oa_sandbox, "/cgi-bin/freepublish/submit") == 2


def test_wrong_secret_marks_the_account_for_reconnection(client, post, world, wechat_oa_sandbox, setup):
    item, wechat, _weibo = setup
    PlatformAccount.objects.filter(pk=wechat.pk).update(
        app_secret_sealed=services.vault.encrypt("wrong-secret", context=wechat.secret_context())
    )
    client.force_login(world.users["brand"])
    post(f"/content/{item.pk}/publish/")
    wechat.refresh_from_db()
    assert wechat.connection == PlatformAccount.Connection.RECONNECT_NEEDED
    assert wechat.last_error != ""
    assert Publication.objects.get(account=wechat).status == Status.FAILED
    alert = Notification.objects.get(hospital=world.hospital)
    assert (alert.level, alert.audience_role, alert.link) == ("error", "brand", f"/channels/accounts/{wechat.pk}/")
    event = AuditEvent.objects.get(action="channel_failure")
    assert event.detail["connection"] is True
    assert "wrong-secret" not in json.dumps(event.detail)
    page = client.get("/channels/accounts/").content.decode()
    assert 'data-testid="reconnect"' in page
    assert calls(wechat_oa_sandbox, "/cgi-bin/draft/add") == 0


def test_unreachable_platform_marks_the_account_for_reconnection(client, post, world, wechat_oa_sandbox, setup):
    item, wechat, _weibo = setup
    PlatformAccount.objects.filter(pk=wechat.pk).update(api_base_url="http://127.0.0.1:9")
    client.force_login(world.users["brand"])
    post(f"/content/{item.pk}/publish/")
    wechat.refresh_from_db()
    assert wechat.connection == PlatformAccount.Connection.RECONNECT_NEEDED
    assert Notification.objects.filter(level="error").count() == 1


def test_tracking_link_logs_clicks_without_personal_data(client, post, world, setup):
    item, _wechat, weibo = setup
    client.force_login(world.users["brand"])
    post(f"/content/{item.pk}/publish/")
    manual = Publication.objects.get(account=weibo)
    code = manual.tracking_link.code
    client.logout()
    assert client.get(f"/t/{code}").status_code == 404  # not live yet
    client.force_login(world.users["brand"])
    client.post(f"/channels/publications/{manual.pk}/mark-published/", {"post_url": "https://weibo.com/1234/AbCd"})
    client.logout()
    response = client.get(
        f"/t/{code}",
        HTTP_REFERER="https://m.weibo.cn/status/123?uid=42",
        HTTP_USER_AGENT="Mozilla/5.0 (iPhone) AppleWebKit Mobile MicroMessenger/8.0.50",
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 302
    assert response["Location"] == "https://weibo.com/1234/AbCd"
    click = TrackingClick.objects.get()
    assert (click.referrer_host, click.agent_family) == ("m.weibo.cn", "wechat")
    assert {f.name for f in TrackingClick._meta.get_fields()} == {
        "id",
        "link",
        "clicked_at",
        "referrer_host",
        "agent_family",
    }
    assert client.get("/t/nosuchcode").status_code == 404
    client.force_login(world.users["leadership"])
    qr = client.get(f"/channels/publications/{manual.pk}/qr.png")
    assert qr.status_code == 200
    assert qr.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_takedown_is_audited(client, post, world, setup):
    item, _wechat, weibo = setup
    client.force_login(world.users["brand"])
    post(f"/content/{item.pk}/publish/")
    manual = Publication.objects.get(account=weibo)
    client.post(f"/channels/publications/{manual.pk}/mark-published/", {"post_url": "https://weibo.com/1/x"})
    assert client.post(f"/channels/publications/{manual.pk}/take-down/", {"reason": ""}).status_code == 400
    assert client.post(f"/channels/publications/{manual.pk}/take-down/", {"reason": "患者要求删除"}).status_code == 302
    manual.refresh_from_db()
    assert (manual.status, manual.takedown_reason) == (Status.TAKEN_DOWN, "患者要求删除")
    assert AuditEvent.objects.get(action="content_takedown").detail["reason"] == "患者要求删除"


def page_status(url: str) -> int:
    return httpx.get(url, verify=tls_context()).status_code


@pytest.fixture
def live_wechat(client, post, world, setup):
    """The item published: its WeChat article is live on the sandbox; the user is logged in as brand."""
    item, wechat, _weibo = setup
    client.force_login(world.users["brand"])
    post(f"/content/{item.pk}/publish/")
    online = Publication.objects.get(account=wechat)
    assert online.status == Status.PUBLISHED
    assert online.deletable_on_platform
    assert page_status(online.post_url) == 200
    return item, online


def test_takedown_deletes_the_wechat_article_then_records_it(client, world, wechat_oa_sandbox, live_wechat):
    item, online = live_wechat
    page = client.get(f"/content/{item.pk}/").content.decode()
    assert 'name="removed_on_platform"' in page  # the WeChat article offers the API takedown

    response = client.post(f"/channels/publications/{online.pk}/take-down/", {"reason": "舆情：患者要求删除"})

    assert response.status_code == 302
    online.refresh_from_db()
    assert (online.status, online.takedown_reason) == (Status.TAKEN_DOWN, "舆情：患者要求删除")
    assert calls(wechat_oa_sandbox, "/cgi-bin/freepublish/delete") == 1
    assert page_status(online.post_url) == 404
    assert AuditEvent.objects.get(action="content_takedown").detail["deleted_on_platform"] is True
    assert online.tracking_link.target_url == ""


def test_takedown_records_nothing_when_wechat_refuses(client, world, wechat_oa_sandbox, live_wechat):
    _item, online = live_wechat
    wechat_oa_sandbox.configure(faults=[{"path": "/cgi-bin/freepublish/delete", "errcode": 45009, "count": 1}])

    refused = client.post(f"/channels/publications/{online.pk}/take-down/", {"reason": "患者要求删除"})

    assert refused.status_code == 400
    assert "mp.weixin.qq.com" in refused.content.decode()
    online.refresh_from_db()
    assert online.status == Status.PUBLISHED
    assert not AuditEvent.objects.filter(action="content_takedown").exists()
    assert page_status(online.post_url) == 200

    again = client.post(f"/channels/publications/{online.pk}/take-down/", {"reason": "患者要求删除"})

    assert again.status_code == 302
    online.refresh_from_db()
    assert online.status == Status.TAKEN_DOWN
    assert page_status(online.post_url) == 404


def test_takedown_of_an_article_already_deleted_on_wechat(client, world, wechat_oa_sandbox, live_wechat):
    _item, online = live_wechat
    with services.wechat_client(online.account) as wechat:
        wechat.delete_published(article_id=online.article_id)  # by hand on mp.weixin.qq.com, or a lost answer

    response = client.post(f"/channels/publications/{online.pk}/take-down/", {"reason": "已在后台删除"})

    assert response.status_code == 302
    online.refresh_from_db()
    assert online.status == Status.TAKEN_DOWN
    assert calls(wechat_oa_sandbox, "/cgi-bin/freepublish/delete") == 2  # refused (53600), so the status was read
    assert calls(wechat_oa_sandbox, "/cgi-bin/freepublish/get") >= 2


def test_takedown_already_removed_on_the_platform_only_records(client, world, wechat_oa_sandbox, live_wechat):
    _item, online = live_wechat

    response = client.post(
        f"/channels/publications/{online.pk}/take-down/", {"reason": "已在后台删除", "removed_on_platform": "on"}
    )

    assert response.status_code == 302
    online.refresh_from_db()
    assert online.status == Status.TAKEN_DOWN
    assert calls(wechat_oa_sandbox, "/cgi-bin/freepublish/delete") == 0
    assert AuditEvent.objects.get(action="content_takedown").detail["deleted_on_platform"] is False
    assert client.post(f"/channels/publications/{online.pk}/take-down/", {"reason": "again"}).status_code == 400


def test_only_approved_items_publish(client, post, world, setup):
    _item, wechat, _weibo = setup
    draft = make_item(world, writer_user(world), account_ids=[wechat.pk], title="草稿")
    client.force_login(world.users["brand"])
    response = post(f"/content/{draft.pk}/publish/")
    assert response.status_code == 400
    assert Publication.objects.filter(item=draft).count() == 0
    client.force_login(world.users["leadership"])
    assert post(f"/content/{_item.pk}/publish/").status_code == 403
    assert Publication.objects.count() == 0


def writer_user(world):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="writer")


def test_evidence_record_pdf(client, post, world, setup, tmp_path):
    item, _wechat, weibo = setup
    client.force_login(world.users["brand"])
    post(f"/content/{item.pk}/publish/")
    manual = Publication.objects.get(account=weibo)
    client.post(f"/channels/publications/{manual.pk}/mark-published/", {"post_url": "https://weibo.com/1/x"})
    client.force_login(world.users["leadership"])
    response = client.get(f"/content/{item.pk}/evidence.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    pdf = tmp_path / "evidence.pdf"
    pdf.write_bytes(response.content)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    assert "高血压的日常管理" in text
    assert item.current_revision.sha256 in text.replace(" ", "").replace("\n", "")
    assert "https://weibo.com/1/x" in text
    squashed = "".join(text.split())  # (pdftotext wraps the table's cells)
    assert "Brandfinalreview→Approved" in squashed  # states and actions by name, not code
    assert "（approved）" in squashed
    assert "final_review" not in text
    client.force_login(world.users["outsider"])
    assert client.get(f"/content/{item.pk}/evidence.pdf").status_code == 404


def test_a_leased_publication_is_left_to_the_worker_holding_it(world, wechat_oa_sandbox, setup):
    """Two db_workers picking up the same publication: the second one does nothing while the lease runs."""
    import datetime as dt

    from django.utils import timezone

    item, wechat, _weibo = setup
    (publication,) = services.publications_start(
        item=item,
        revision=item.current_revision,
        accounts=[wechat],
        compliance_report={},
        approval_chain=[],
        requested_by=None,
    )
    Publication.objects.filter(pk=publication.pk).update(
        status=Status.PUBLISHING, attempts=1, lease_until=timezone.now() + dt.timedelta(minutes=10)
    )
    services.publication_run(publication_id=publication.pk)
    publication.refresh_from_db()
    assert (publication.status, publication.attempts) == (Status.PUBLISHING, 1)
    assert calls(wechat_oa_sandbox, "/cgi-bin/draft/add") == 0
    # An expired lease (the worker died) is taken over and the publication completes.
    Publication.objects.filter(pk=publication.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    services.publication_run(publication_id=publication.pk)
    publication.refresh_from_db()
    assert (publication.status, publication.attempts, publication.lease_until) == (Status.PUBLISHED, 2, None)
    assert calls(wechat_oa_sandbox, "/cgi-bin/draft/add") == 1
