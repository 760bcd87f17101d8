"""comment/list (§7) over real HTTP: the client's list_comments/iter_comments against the sandbox."""

from __future__ import annotations

import pytest

from xinqiao.channels.platforms.base import InvalidRequestError, ProviderError
from xinqiao.channels.platforms.wechat_oa.client import DraftArticle
from xinqiao.channels.platforms.wechat_oa.sandbox import article_comments


def published(sandbox, client, png_bytes) -> int:
    cover = client.upload_image(content=png_bytes, filename="cover.png", content_type="image/png")
    draft = client.add_draft(
        articles=[DraftArticle(title="门诊安排", content="<p>周一至周五</p>", thumb_media_id=cover.media_id,
                               need_open_comment=True)]
    )  # fmt: skip
    submission = client.submit_publish(draft_media_id=draft)
    assert client.wait_for_publish(publish_id=submission.publish_id).is_success
    sandbox.advance_clock(6 * 3600)  # comments arrive within about five hours of publishing
    return submission.msg_data_id


def test_pages_of_comments_are_deterministic(wechat_oa_sandbox, wechat_client, png_bytes):
    msg_data_id = published(wechat_oa_sandbox, wechat_client, png_bytes)
    record = wechat_oa_sandbox.published[wechat_client.app_id][0]
    expected = article_comments(wechat_oa_sandbox.config["seed"], wechat_client.app_id, record,
                                now=wechat_oa_sandbox.now())  # fmt: skip
    first = wechat_client.list_comments(msg_data_id=msg_data_id, count=2)
    assert first.total == len(expected)
    assert [c.user_comment_id for c in first.comments] == [1, 2]
    assert [c.content for c in first.comments] == [expected[0]["content"], expected[1]["content"]]
    assert first.comments[0].create_time.timestamp() == expected[0]["create_time"]
    everything = list(wechat_client.iter_comments(msg_data_id=msg_data_id))
    assert [c.user_comment_id for c in everything] == list(range(1, len(expected) + 1))
    assert [c.is_featured for c in everything] == [e["comment_type"] == 1 for e in expected]
    assert [c.reply for c in everything] == [e.get("reply", {}).get("content", "") for e in expected]
    assert [c.openid for c in everything] == [e.get("openid", "") for e in expected]
    featured = list(wechat_client.iter_comments(msg_data_id=msg_data_id, type=2))
    assert [c.user_comment_id for c in featured] == [e["user_comment_id"] for e in expected if e["comment_type"] == 1]


def test_count_of_50_is_refused_before_sending(wechat_oa_sandbox, wechat_client):
    with pytest.raises(InvalidRequestError):
        wechat_client.list_comments(msg_data_id=1, count=50)
    assert wechat_oa_sandbox.requests() == []


def test_unknown_article_and_missing_privilege(wechat_oa_sandbox, wechat_client, png_bytes):
    msg_data_id = published(wechat_oa_sandbox, wechat_client, png_bytes)
    with pytest.raises(ProviderError) as error:
        wechat_client.list_comments(msg_data_id=msg_data_id + 1000)
    assert error.value.code == 47001
    wechat_oa_sandbox.configure(comment_privilege=False)
    with pytest.raises(ProviderError) as error:
        wechat_client.list_comments(msg_data_id=msg_data_id)
    assert (error.value.code, error.value.permanent) == (88000, True)


def test_comments_arrive_after_publishing(wechat_oa_sandbox, wechat_client, png_bytes):
    cover = wechat_client.upload_image(content=png_bytes, filename="c.png", content_type="image/png")
    draft = wechat_client.add_draft(
        articles=[DraftArticle(title="t", content="<p>x</p>", thumb_media_id=cover.media_id)]
    )
    submission = wechat_client.submit_publish(draft_media_id=draft)
    wechat_client.wait_for_publish(publish_id=submission.publish_id)
    wechat_oa_sandbox.advance_clock(0)
    record = wechat_oa_sandbox.published[wechat_client.app_id][0]
    seed = wechat_oa_sandbox.config["seed"]
    assert article_comments(seed, wechat_client.app_id, record, now=record.published_at) == []
    everything = article_comments(seed, wechat_client.app_id, record, now=record.published_at + 86400)
    assert 3 <= len(everything) <= 60
    halfway = everything[len(everything) // 2]["create_time"]
    assert len(article_comments(seed, wechat_client.app_id, record, now=halfway)) == len(everything) // 2 + 1
