"""Comment pulls from a connected WeChat official account (sandbox over real HTTP): mentions, idempotency."""

from __future__ import annotations

import io

import pytest
import segno

from xinqiao.channels.platforms.base import InMemoryTokenStore
from xinqiao.channels.platforms.wechat_oa.client import DraftArticle, WeChatOAClient
from xinqiao.channels.platforms.wechat_oa.sandbox import WeChatOASandbox, article_comments
from xinqiao.channels.tests.conftest import WECHAT_APP_ID, WECHAT_APP_SECRET
from xinqiao.channels.tests.fixtures import wechat_account
from xinqiao.core.exceptions import ApplicationError
from xinqiao.listening.models import Mention, MentionBatch
from xinqiao.listening.services.pulls import commenter_handle, wechat_comments_pull
from xinqiao.listening.tasks import pull_wechat_comments


@pytest.fixture(scope="module")
def sandbox_server():
    server = WeChatOASandbox(apps={WECHAT_APP_ID: WECHAT_APP_SECRET}, port=0, poll_interval=0.05).start()
    yield server
    server.stop()


@pytest.fixture
def wechat_oa_sandbox(sandbox_server, settings):
    from django.core.cache import cache

    settings.XINQIAO_WECHAT_OA_POLL_SECONDS = 0.01
    settings.XINQIAO_WECHAT_OA_BUSY_BACKOFF = 0.0
    cache.clear()  # tokens live in the cache; the sandbox forgets them between tests
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture
def wechat_client(wechat_oa_sandbox):
    client = WeChatOAClient(app_id=WECHAT_APP_ID, app_secret=WECHAT_APP_SECRET, base_url=wechat_oa_sandbox.base_url,
                            token_store=InMemoryTokenStore(), sleep=wechat_oa_sandbox.advance_clock,
                            clock=wechat_oa_sandbox.now)  # fmt: skip
    yield client
    client.close()


@pytest.fixture
def png_bytes() -> bytes:
    buffer = io.BytesIO()
    segno.make("xinqiao-pull").save(buffer, kind="png", scale=2)
    return buffer.getvalue()


def publish(sandbox, client, png_bytes) -> int:
    cover = client.upload_image(content=png_bytes, filename="c.png", content_type="image/png")
    draft = client.add_draft(
        articles=[DraftArticle(title="门诊安排", content="<p>x</p>", thumb_media_id=cover.media_id)]
    )
    submission = client.submit_publish(draft_media_id=draft)
    assert client.wait_for_publish(publish_id=submission.publish_id).is_success
    sandbox.advance_clock(6 * 3600)  # comments arrive within about five hours of publishing
    return submission.msg_data_id


def test_pull_creates_mentions_once(world, wechat_oa_sandbox, wechat_client, png_bytes):
    msg_data_id = publish(wechat_oa_sandbox, wechat_client, png_bytes)
    account = wechat_account(world, wechat_oa_sandbox.base_url)
    record = wechat_oa_sandbox.published[wechat_client.app_id][0]
    expected = article_comments(wechat_oa_sandbox.config["seed"], wechat_client.app_id, record,
                                now=wechat_oa_sandbox.now())  # fmt: skip
    batch = wechat_comments_pull(account_id=account.pk, articles=[(msg_data_id, 0)])
    assert (batch.source, batch.rows_created, batch.rows_duplicate) == ("pull", len(expected), 0)
    first = Mention.objects.get(external_id=f"{wechat_client.app_id}_{msg_data_id}_0_1")
    assert (first.platform, first.text, first.hospital_id) == ("wechat_oa", expected[0]["content"], world.hospital.pk)
    assert first.author_handle == commenter_handle(expected[0].get("openid", ""))
    assert not Mention.objects.filter(author_handle__startswith="o").exists()  # openids are never stored
    again = pull_wechat_comments.enqueue(account_id=account.pk, articles=[[msg_data_id, 0]]).return_value
    assert again == 0
    assert Mention.objects.count() == len(expected)
    assert MentionBatch.objects.filter(source="pull").count() == 2


def test_pull_without_privilege_is_a_clear_error(world, wechat_oa_sandbox, wechat_client, png_bytes):
    msg_data_id = publish(wechat_oa_sandbox, wechat_client, png_bytes)
    account = wechat_account(world, wechat_oa_sandbox.base_url)
    wechat_oa_sandbox.configure(comment_privilege=False)
    with pytest.raises(ApplicationError) as error:
        wechat_comments_pull(account_id=account.pk, articles=[(msg_data_id, 0)])
    assert error.value.code == "no_comment_privilege"
    assert Mention.objects.count() == 0


def test_handles_are_digests():
    assert commenter_handle("") == ""
    assert commenter_handle("oAbC123") == "wx:" + __import__("hashlib").sha256(b"oAbC123").hexdigest()[:10]
