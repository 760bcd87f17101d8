"""Comment pulls of the recent articles of every connected WeChat official account (sandboxes over real HTTP):
the scheduled job, idempotency, the time window, one failing account among others, and the "Pull comments now"
button on the imports page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from xinqiao.channels import services as channel_services
from xinqiao.channels.models import Notification, PlatformAccount, Publication
from xinqiao.channels.platforms.wechat_oa.sandbox import WeChatOASandbox, article_comments
from xinqiao.channels.tests.conftest import WECHAT_APP_ID, WECHAT_APP_SECRET
from xinqiao.channels.tests.fixtures import fast_wechat, media_root, wechat_account  # noqa: F401
from xinqiao.content import services as content_services
from xinqiao.content.models import ContentItem
from xinqiao.content.tests.helpers import approve_through, make_item, png_bytes, principal_of, writer
from xinqiao.listening.models import Mention, MentionBatch
from xinqiao.listening.services.pulls import commenter_handle, wechat_comments_pull_recent
from xinqiao.listening.tasks import pull_recent_wechat_comments

pytestmark = pytest.mark.usefixtures("media_root", "fast_wechat", "english")

OTHER_APP_ID = "wx00000000000000ff"
OTHER_APP_SECRET = "other-app-secret-1a2b3c4d5e6f"
NO_PRIVILEGE = "The official account has no comment privilege; enable comments on the WeChat platform."


@pytest.fixture(scope="module")
def sandbox_servers():
    servers = [
        WeChatOASandbox(apps={WECHAT_APP_ID: WECHAT_APP_SECRET}, port=0, poll_interval=0.05).start(),
        WeChatOASandbox(apps={OTHER_APP_ID: OTHER_APP_SECRET}, port=0, poll_interval=0.05).start(),
    ]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def sandboxes(sandbox_servers):
    for server in sandbox_servers:
        server.reset()
    return sandbox_servers


@pytest.fixture
def english(settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def other_account(world, base_url: str) -> PlatformAccount:
    return channel_services.account_create(
        principal=world.principal("brand"),
        data=channel_services.AccountInput(
            platform="wechat_oa", name="心内科公众号", account_type="department", department_id=world.departments[
                "cardiology"].pk, app_id=OTHER_APP_ID, app_secret=OTHER_APP_SECRET, api_base_url=base_url,
        ),
    )  # fmt: skip


def publish(world, accounts: list[PlatformAccount], sandboxes, title: str = "高血压的日常管理") -> list[Publication]:
    """Publish one approved article to these accounts through their sandboxes, then let the comments arrive."""
    author = writer(world) if not hasattr(world, "_writer") else world._writer
    world._writer = author
    cover = content_services.image_upload(principal=principal_of(author, world), data=png_bytes(title))
    item = make_item(world, author, title=title, cover_id=cover.pk, account_ids=[a.pk for a in accounts])
    approve_through(world, item, until=ContentItem.State.APPROVED)
    publications = channel_services.publications_start(
        item=item, revision=item.current_revision, accounts=accounts, compliance_report={}, approval_chain=[],
        requested_by=None,
    )  # fmt: skip
    for publication in publications:
        channel_services.publication_run(publication_id=publication.pk)
        publication.refresh_from_db()
        assert (publication.status, publication.msg_data_id is not None) == (Publication.Status.PUBLISHED, True)
    for sandbox in sandboxes:
        sandbox.advance_clock(6 * 3600)  # comments arrive within about five hours of publishing
    return publications


def expected_comments(sandbox: WeChatOASandbox, app_id: str, msg_data_id: int) -> list[dict]:
    (record,) = [r for r in sandbox.published[app_id] if r.msg_data_id == msg_data_id]
    return article_comments(sandbox.config["seed"], app_id, record, now=sandbox.now())


def test_recent_pull_creates_mentions_once(world, sandboxes, django_capture_on_commit_callbacks):
    account = wechat_account(world, sandboxes[0].base_url)
    (publication,) = publish(world, [account], sandboxes)
    expected = expected_comments(sandboxes[0], WECHAT_APP_ID, publication.msg_data_id)
    with django_capture_on_commit_callbacks(execute=True):
        (batch,) = wechat_comments_pull_recent(hospital_id=world.hospital.pk)
    assert (batch.source, batch.status, batch.rows_total, batch.rows_created, batch.rows_duplicate) == (
        "pull", "committed", len(expected), len(expected), 0,
    )  # fmt: skip
    first = Mention.objects.get(external_id=f"{account.app_id}_{publication.msg_data_id}_0_1")
    assert (first.platform, first.url, first.text, first.batch_id) == (
        "wechat_oa", publication.post_url, expected[0]["content"], batch.pk,
    )  # fmt: skip
    assert first.author_handle == commenter_handle(expected[0].get("openid", ""))
    # the batch went through the pipeline on commit
    assert Mention.objects.filter(batch=batch, processed_at__isnull=False).count() == len(expected)

    assert pull_recent_wechat_comments.enqueue().return_value == 0
    again = MentionBatch.objects.filter(source="pull").exclude(pk=batch.pk).get()
    assert (again.rows_total, again.rows_created, again.rows_duplicate) == (len(expected), 0, len(expected))
    assert Mention.objects.count() == len(expected)


def test_publications_older_than_the_window_are_ignored(world, sandboxes):
    account = wechat_account(world, sandboxes[0].base_url)
    (old,) = publish(world, [account], sandboxes, title="春季流感预防")
    (recent,) = publish(world, [account], sandboxes, title="秋季养生")
    Publication.objects.filter(pk=old.pk).update(published_at=timezone.now() - dt.timedelta(days=8))
    recent_comments = expected_comments(sandboxes[0], WECHAT_APP_ID, recent.msg_data_id)
    old_comments = expected_comments(sandboxes[0], WECHAT_APP_ID, old.msg_data_id)

    (batch,) = wechat_comments_pull_recent(days=7)
    assert batch.rows_created == len(recent_comments)
    assert Mention.objects.filter(external_id__startswith=f"{old.msg_data_id}_").count() == 0
    (wider,) = wechat_comments_pull_recent(days=9)
    assert (wider.rows_created, wider.rows_duplicate) == (len(old_comments), len(recent_comments))
    # a publication without msg_data_id (published before it was stored) cannot be pulled and is skipped
    Publication.objects.update(msg_data_id=None)
    assert wechat_comments_pull_recent(days=9) == []
    assert MentionBatch.objects.count() == 2


def test_an_account_without_comment_privilege_does_not_stop_the_others(world, sandboxes):
    failing = other_account(world, sandboxes[1].base_url)  # created first, so pulled first
    working = wechat_account(world, sandboxes[0].base_url)
    sandboxes[1].configure(comment_privilege=False)
    # msg_data_id is numbered per official account: start the two sandboxes' numbering apart so that the two
    # articles do not share an external id prefix (see the report on cross-account collisions)
    publish(world, [failing], sandboxes, title="春季流感预防")
    publications = {p.account_id: p for p in publish(world, [failing, working], sandboxes)}
    assert publications[failing.pk].msg_data_id != publications[working.pk].msg_data_id
    expected = expected_comments(sandboxes[0], WECHAT_APP_ID, publications[working.pk].msg_data_id)

    (batch,) = wechat_comments_pull_recent(hospital_id=world.hospital.pk)
    assert batch.rows_created == len(expected)
    assert Mention.objects.filter(external_id__startswith=f"{publications[failing.pk].msg_data_id}_").count() == 0
    (notification,) = Notification.objects.filter(hospital=world.hospital, level="error")
    assert notification.message == f"Pulling comments from {failing} failed: {NO_PRIVILEGE}"
    assert notification.link == f"/channels/accounts/{failing.pk}/"
    failing.refresh_from_db()
    assert failing.connection == PlatformAccount.Connection.CONNECTED  # not a credentials problem
    # the next scheduled run does not pile up the same open notification
    wechat_comments_pull_recent(hospital_id=world.hospital.pk)
    assert Notification.objects.filter(hospital=world.hospital, level="error").count() == 1


def test_rejected_credentials_mark_the_account_for_reconnection(world, sandboxes):
    failing = other_account(world, sandboxes[1].base_url)
    working = wechat_account(world, sandboxes[0].base_url)
    publish(world, [failing, working], sandboxes)
    sandboxes[1].configure(apps={OTHER_APP_ID: "a-rotated-secret-0000000000"})
    from django.core.cache import cache

    cache.clear()  # the stored access token is gone: the old secret is tried again
    assert len(wechat_comments_pull_recent()) == 1
    failing.refresh_from_db()
    assert failing.connection == PlatformAccount.Connection.RECONNECT_NEEDED
    assert failing.last_error.startswith("The comments could not be pulled: ")
    # accounts waiting for reconnection are left out of later runs
    assert len(wechat_comments_pull_recent()) == 1
    assert Notification.objects.filter(hospital=world.hospital, level="error").count() == 1


def test_pull_comments_now_button(client, world, sandboxes):
    account = wechat_account(world, sandboxes[0].base_url)
    (publication,) = publish(world, [account], sandboxes)
    expected = expected_comments(sandboxes[0], WECHAT_APP_ID, publication.msg_data_id)

    client.force_login(world.users["medical_affairs"])
    assert client.post("/listening/imports/pull-comments/", {"account": account.pk}).status_code == 403
    assert 'data-testid="pull-comments-form"' not in client.get("/listening/imports/").content.decode()
    assert Mention.objects.count() == 0

    client.force_login(world.users["outsider"])
    assert client.post("/listening/imports/pull-comments/", {"account": account.pk}).status_code == 404

    client.force_login(world.users["brand"])
    page = client.get("/listening/imports/").content.decode()
    assert f'<option value="{account.pk}">一院公众号</option>' in page
    response = client.post("/listening/imports/pull-comments/", {"account": account.pk})
    batch = MentionBatch.objects.get(source="pull")
    assert response.status_code == 302
    assert response["Location"] == f"/listening/imports/{batch.pk}/"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Comments pulled: {len(expected)} new mentions, 0 already known."
    ]
    assert (batch.rows_created, batch.created_by_id) == (len(expected), world.users["brand"].pk)
    detail = client.get(response["Location"]).content.decode()
    assert f"{len(expected)} pulled: {len(expected)} new, 0 already known" in detail

    again = client.post("/listening/imports/pull-comments/", {"account": account.pk})
    assert [str(m) for m in get_messages(again.wsgi_request)] == [
        f"Comments pulled: 0 new mentions, {len(expected)} already known."
    ]
    assert Mention.objects.count() == len(expected)
    client.get("/listening/imports/")  # shows (and so consumes) the messages

    sandboxes[0].configure(comment_privilege=False)
    failed = client.post("/listening/imports/pull-comments/", {"account": account.pk})
    assert (failed.status_code, failed["Location"]) == (302, "/listening/imports/")
    assert [str(m) for m in get_messages(failed.wsgi_request)] == [NO_PRIVILEGE]
    assert MentionBatch.objects.filter(source="pull").count() == 2
