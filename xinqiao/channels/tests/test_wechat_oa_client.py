"""WeChatOAClient over real HTTP against the WeChat OA sandbox on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import logging
import math
import socket
import time
import uuid

import httpx
import pytest
from django.utils import translation

from xinqiao.channels.platforms.base import DjangoCacheTokenStore, InvalidRequestError, ProviderError
from xinqiao.channels.platforms.wechat_oa.client import (
    BEIJING,
    DATACUBE_MAX_DAYS,
    DraftArticle,
    PublishState,
    QRCodeTicket,
    tls_context,
)
from xinqiao.channels.platforms.wechat_oa.sandbox import DatacubeHistory

from .conftest import WECHAT_APP_ID, WECHAT_APP_SECRET

TITLE = "春季过敏高发，呼吸科专家教你科学应对"


def paths(sandbox):
    return [entry["path"] for entry in sandbox.requests()]


def errcodes(sandbox):
    return [entry["errcode"] for entry in sandbox.requests()]


def serials(sandbox):
    return [entry["token_serial"] for entry in sandbox.requests()]


def publish_one(client, png_bytes, *, title=TITLE):
    cover = client.upload_image(content=png_bytes, filename="cover.png", content_type="image/png")
    draft_id = client.add_draft(
        articles=[DraftArticle(title=title, content="<p>门诊时间：周一至周五</p>", thumb_media_id=cover.media_id)]
    )
    return draft_id, client.submit_publish(draft_media_id=draft_id)


def days_ago(sandbox, days):
    return sandbox.beijing_now().date() - dt.timedelta(days=days)


# -- publishing -------------------------------------------------------------------------------------------------


def test_publish_happy_path(wechat_oa_sandbox, make_wechat_client, sandbox_sleep, png_bytes):
    wechat_oa_sandbox.configure(publish_polls=2)
    client = make_wechat_client()

    cover = client.upload_image(content=png_bytes, filename="cover.png", content_type="image/png")
    body_image_url = client.upload_article_image(content=png_bytes, filename="body.png", content_type="image/png")
    draft_id = client.add_draft(
        articles=[
            DraftArticle(
                title=TITLE,
                author="呼吸与危重症医学科",
                digest="过敏性鼻炎与哮喘的区别、就诊时机与日常防护。",
                content=f'<p>门诊时间：周一至周五 8:00-17:00</p><img src="{body_image_url}"/>',
                content_source_url="https://hospital.example.cn/appointment?src=wx_oa",
                thumb_media_id=cover.media_id,
                need_open_comment=True,
            )
        ]
    )
    submission = client.submit_publish(draft_media_id=draft_id)
    status = client.wait_for_publish(publish_id=submission.publish_id)

    assert status.state is PublishState.SUCCESS
    assert status.is_success is True
    assert status.publish_id == submission.publish_id
    assert status.fail_idx == ()
    assert len(status.article_urls) == 1
    assert status.article_urls[0].startswith(f"{wechat_oa_sandbox.base_url}/s/")
    assert status.article_id.startswith("ARTICLE_ID_")
    assert submission.msg_data_id == int(submission.publish_id) - 1
    assert sandbox_sleep.calls == [5.0, 10.0]
    assert paths(wechat_oa_sandbox) == [
        "/cgi-bin/stable_token",
        "/cgi-bin/material/add_material",
        "/cgi-bin/media/uploadimg",
        "/cgi-bin/draft/add",
        "/cgi-bin/freepublish/submit",
        "/cgi-bin/freepublish/get",
        "/cgi-bin/freepublish/get",
        "/cgi-bin/freepublish/get",
    ]
    assert set(errcodes(wechat_oa_sandbox)) == {0}
    assert wechat_oa_sandbox.state_counts()["drafts"] == 0  # a published draft leaves the draft box
    page = httpx.get(status.article_urls[0], verify=tls_context())
    assert page.status_code == 200
    assert f"<h1>{TITLE}</h1>" in page.text
    assert f'<img src="{body_image_url}"/>' in page.text
    cover_image = httpx.get(cover.url, verify=tls_context())
    assert cover_image.content == png_bytes
    assert cover_image.headers["content-type"] == "image/png"


def test_draft_keeps_chinese_text_exactly(wechat_client, png_bytes):
    cover = wechat_client.upload_image(content=png_bytes, filename="cover.png", content_type="image/png")
    draft_id = wechat_client.add_draft(
        articles=[
            DraftArticle(title=TITLE, author="呼吸科", content="<p>讲得很清楚</p>", thumb_media_id=cover.media_id)
        ]
    )

    [article] = wechat_client.get_draft(media_id=draft_id)

    assert article["title"] == TITLE
    assert article["author"] == "呼吸科"
    assert article["content"] == "<p>讲得很清楚</p>"
    assert article["digest"] == "讲得很清楚"
    assert article["thumb_media_id"] == cover.media_id
    assert wechat_client.count_drafts() == 1
    page = wechat_client.list_drafts(no_content=True)
    assert page.total_count == 1
    assert [item["media_id"] for item in page.items] == [draft_id]
    assert "content" not in page.items[0]["content"]["news_item"][0]


def test_draft_with_unknown_cover_is_rejected_permanently(wechat_client, wechat_oa_sandbox):
    with pytest.raises(ProviderError) as excinfo:
        wechat_client.add_draft(
            articles=[DraftArticle(title="标题", content="<p>x</p>", thumb_media_id="MEDIA_ID_nope")]
        )

    assert excinfo.value.code == 40007
    assert excinfo.value.permanent is True
    assert excinfo.value.platform_message == "invalid media_id"
    assert wechat_oa_sandbox.state_counts()["drafts"] == 0


def test_invalid_draft_is_refused_before_any_request(wechat_client, wechat_oa_sandbox):
    too_long = "标" * 33

    with pytest.raises(InvalidRequestError) as excinfo:
        wechat_client.add_draft(articles=[DraftArticle(title=too_long, content="<p>x</p>", thumb_media_id="M")])

    assert excinfo.value.code == "article"
    assert excinfo.value.permanent is True
    with translation.override("en"), pytest.raises(InvalidRequestError) as excinfo:
        wechat_client.add_draft(articles=[DraftArticle(title="标题", content="<p>x</p>")])
    assert excinfo.value.message == "Article 1: a cover image (permanent media ID) is required."
    assert wechat_oa_sandbox.requests() == []


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        ({"status": 2, "fail_idx": [1]}, PublishState.ORIGINALITY_CHECK_FAILED),
        ({"status": 3, "fail_idx": [1]}, PublishState.FAILED),
        ({"status": 4, "fail_idx": [1]}, PublishState.REJECTED),
    ],
)
def test_publish_failure_is_reported(wechat_oa_sandbox, wechat_client, sandbox_sleep, png_bytes, outcome, state):
    wechat_oa_sandbox.configure(publish_outcomes=[outcome], publish_polls=1)
    draft_id, submission = publish_one(wechat_client, png_bytes)

    status = wechat_client.wait_for_publish(publish_id=submission.publish_id)

    assert status.state is state
    assert status.is_terminal is True
    assert status.is_success is False
    assert status.fail_idx == (1,)
    assert status.article_urls == ()
    assert status.article_id == ""
    assert sandbox_sleep.calls == [5.0]
    # A failed draft stays in the draft box to be fixed.
    assert wechat_client.get_draft(media_id=draft_id)[0]["title"] == TITLE


def test_publish_still_running_after_timeout_is_returned_as_publishing(
    wechat_oa_sandbox, wechat_client, sandbox_sleep, png_bytes
):
    wechat_oa_sandbox.configure(publish_polls=1000)
    _draft_id, submission = publish_one(wechat_client, png_bytes)

    status = wechat_client.wait_for_publish(publish_id=submission.publish_id, timeout=100.0)

    assert status.state is PublishState.PUBLISHING
    assert status.is_terminal is False
    assert sandbox_sleep.calls == [5.0, 10.0, 20.0, 40.0, 25.0]
    assert paths(wechat_oa_sandbox).count("/cgi-bin/freepublish/get") == 6


def test_published_draft_cannot_be_submitted_twice(wechat_oa_sandbox, wechat_client, png_bytes):
    draft_id, submission = publish_one(wechat_client, png_bytes)
    assert wechat_client.wait_for_publish(publish_id=submission.publish_id).is_success is True

    with pytest.raises(ProviderError) as excinfo:
        wechat_client.submit_publish(draft_media_id=draft_id)

    assert excinfo.value.code == 40007
    assert excinfo.value.permanent is True
    assert wechat_oa_sandbox.state_counts()["publications"] == 1


def test_draft_being_published_cannot_be_submitted_again(wechat_oa_sandbox, wechat_client, png_bytes):
    wechat_oa_sandbox.configure(publish_polls=5)
    draft_id, _submission = publish_one(wechat_client, png_bytes)

    with pytest.raises(ProviderError) as excinfo:
        wechat_client.submit_publish(draft_media_id=draft_id)

    assert excinfo.value.code == 53503
    assert excinfo.value.permanent is True
    assert wechat_oa_sandbox.state_counts()["publications"] == 1


def test_publish_restriction_is_permanent(wechat_oa_sandbox, wechat_client, png_bytes, sandbox_sleep):
    wechat_oa_sandbox.configure(faults=[{"path": "/cgi-bin/freepublish/submit", "errcode": 53500}])

    with pytest.raises(ProviderError) as excinfo:
        publish_one(wechat_client, png_bytes)

    assert excinfo.value.code == 53500
    assert excinfo.value.permanent is True
    assert excinfo.value.platform_message == "publish restricted"
    assert sandbox_sleep.calls == []
    assert wechat_oa_sandbox.state_counts()["publications"] == 0


def test_delete_published_article(wechat_oa_sandbox, wechat_client, png_bytes, sandbox_sleep):
    _draft_id, submission = publish_one(wechat_client, png_bytes)
    status = wechat_client.wait_for_publish(publish_id=submission.publish_id)

    wechat_client.delete_published(article_id=status.article_id)

    assert wechat_client.get_publish_status(publish_id=submission.publish_id).state is PublishState.DELETED_BY_USER
    with pytest.raises(ProviderError) as excinfo:
        wechat_client.delete_published(article_id=status.article_id)
    assert excinfo.value.code == 53600
    assert excinfo.value.permanent is True
    before = len(paths(wechat_oa_sandbox))
    with pytest.raises(InvalidRequestError):
        wechat_client.delete_published(article_id="")
    with pytest.raises(InvalidRequestError):
        wechat_client.delete_published(article_id=status.article_id, index=-1)
    assert len(paths(wechat_oa_sandbox)) == before  # refused before any request


def test_unknown_publish_id(wechat_client):
    with pytest.raises(ProviderError) as excinfo:
        wechat_client.get_publish_status(publish_id="999")

    assert excinfo.value.code == 53502
    assert excinfo.value.permanent is True


# -- access token -----------------------------------------------------------------------------------------------


def test_one_token_call_serves_many_requests(wechat_oa_sandbox, wechat_client):
    counts = [wechat_client.count_drafts() for _ in range(5)]

    assert counts == [0, 0, 0, 0, 0]
    assert paths(wechat_oa_sandbox) == ["/cgi-bin/stable_token"] + ["/cgi-bin/draft/count"] * 5
    assert serials(wechat_oa_sandbox) == [1, 1, 1, 1, 1, 1]


def test_django_cache_store_shares_the_token_between_clients(wechat_oa_sandbox, make_wechat_client):
    prefix = f"test:{uuid.uuid4().hex}:"
    first = make_wechat_client(token_store=DjangoCacheTokenStore(prefix=prefix))
    second = make_wechat_client(token_store=DjangoCacheTokenStore(prefix=prefix))

    first.count_drafts()
    second.count_drafts()
    second.count_drafts()

    assert paths(wechat_oa_sandbox) == ["/cgi-bin/stable_token"] + ["/cgi-bin/draft/count"] * 3
    assert serials(wechat_oa_sandbox) == [1, 1, 1, 1]


def test_token_is_refreshed_before_it_expires(wechat_oa_sandbox, wechat_client):
    wechat_client.count_drafts()
    wechat_oa_sandbox.advance_clock(7200 - 299)  # inside the 300 s refresh margin

    wechat_client.count_drafts()
    wechat_client.count_drafts()

    assert paths(wechat_oa_sandbox) == [
        "/cgi-bin/stable_token",
        "/cgi-bin/draft/count",
        "/cgi-bin/stable_token",
        "/cgi-bin/draft/count",
        "/cgi-bin/draft/count",
    ]
    assert serials(wechat_oa_sandbox) == [1, 1, 2, 2, 2]
    assert set(errcodes(wechat_oa_sandbox)) == {0}


def test_short_token_ttl_is_refreshed_at_half_life(wechat_oa_sandbox, wechat_client):
    wechat_oa_sandbox.configure(token_ttl=120, rotate_window=60)
    wechat_client.count_drafts()
    wechat_oa_sandbox.advance_clock(59)
    wechat_client.count_drafts()
    wechat_oa_sandbox.advance_clock(2)

    wechat_client.count_drafts()

    assert serials(wechat_oa_sandbox) == [1, 1, 1, 2, 2]


def test_expired_token_is_refreshed_and_the_call_replayed(wechat_oa_sandbox, make_wechat_client):
    client = make_wechat_client(clock=time.time)  # the client does not know the platform's clock moved
    client.count_drafts()
    wechat_oa_sandbox.advance_clock(7201)

    assert client.count_drafts() == 0

    assert paths(wechat_oa_sandbox) == [
        "/cgi-bin/stable_token",
        "/cgi-bin/draft/count",
        "/cgi-bin/draft/count",
        "/cgi-bin/stable_token",
        "/cgi-bin/draft/count",
    ]
    assert errcodes(wechat_oa_sandbox) == [0, 0, 42001, 0, 0]
    assert serials(wechat_oa_sandbox) == [1, 1, 1, 2, 2]


def test_revoked_token_is_refreshed_and_the_call_replayed(wechat_oa_sandbox, wechat_client):
    wechat_client.count_drafts()
    wechat_oa_sandbox.revoke_tokens(WECHAT_APP_ID)

    assert wechat_client.count_drafts() == 0

    assert errcodes(wechat_oa_sandbox) == [0, 0, 40001, 0, 0]
    assert serials(wechat_oa_sandbox) == [1, 1, 1, 2, 2]


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_token_error_twice_is_surfaced_after_one_replay(wechat_oa_sandbox, wechat_client, sandbox_sleep, errcode):
    wechat_oa_sandbox.configure(faults=[{"path": "/cgi-bin/draft/count", "errcode": errcode, "count": 2}])

    with pytest.raises(ProviderError) as excinfo:
        wechat_client.count_drafts()

    assert excinfo.value.code == errcode
    assert excinfo.value.permanent is False
    assert paths(wechat_oa_sandbox) == [
        "/cgi-bin/stable_token",
        "/cgi-bin/draft/count",
        "/cgi-bin/stable_token",
        "/cgi-bin/draft/count",
    ]
    assert errcodes(wechat_oa_sandbox) == [0, errcode, 0, errcode]
    assert sandbox_sleep.calls == []


def test_wrong_secret_is_a_permanent_error(wechat_oa_sandbox, make_wechat_client, sandbox_sleep):
    client = make_wechat_client(app_secret="not-the-secret")

    with pytest.raises(ProviderError) as excinfo:
        client.count_drafts()

    assert excinfo.value.code == 40125
    assert excinfo.value.permanent is True
    assert excinfo.value.platform_message == "invalid appsecret"
    assert paths(wechat_oa_sandbox) == ["/cgi-bin/stable_token"]
    assert sandbox_sleep.calls == []
    assert "not-the-secret" not in str(excinfo.value)


def test_unknown_app_id_is_a_permanent_error(wechat_oa_sandbox, make_wechat_client):
    client = make_wechat_client(app_id="wx_unknown_app")

    with pytest.raises(ProviderError) as excinfo:
        client.count_drafts()

    assert excinfo.value.code == 40013
    assert excinfo.value.permanent is True
    assert paths(wechat_oa_sandbox) == ["/cgi-bin/stable_token"]


def test_ip_outside_whitelist_is_a_permanent_error(wechat_oa_sandbox, wechat_client):
    wechat_oa_sandbox.configure(ip_whitelist=["10.0.0.8"])

    with pytest.raises(ProviderError) as excinfo:
        wechat_client.count_drafts()

    assert excinfo.value.code == 40164
    assert excinfo.value.permanent is True
    assert errcodes(wechat_oa_sandbox) == [0, 40164]


def test_secret_and_tokens_never_reach_the_logs(wechat_oa_sandbox, wechat_client, caplog, png_bytes):
    caplog.set_level(logging.DEBUG)
    wechat_oa_sandbox.configure(faults=[{"path": "/cgi-bin/draft/count", "errcode": 42001}])

    wechat_client.count_drafts()
    publish_one(wechat_client, png_bytes)
    token = wechat_client.access_token()

    assert "/cgi-bin/draft/count?access_token=***" in caplog.text
    assert token not in caplog.text
    assert WECHAT_APP_SECRET not in caplog.text
    assert WECHAT_APP_SECRET not in repr(wechat_client)


# -- retries ----------------------------------------------------------------------------------------------------


def test_busy_is_retried_with_backoff_then_succeeds(wechat_oa_sandbox, wechat_client, sandbox_sleep):
    wechat_oa_sandbox.configure(faults=[{"path": "/cgi-bin/draft/count", "errcode": -1, "count": 2}])

    assert wechat_client.count_drafts() == 0

    assert sandbox_sleep.calls == [1.0, 2.0]
    assert errcodes(wechat_oa_sandbox) == [0, -1, -1, 0]


def test_busy_forever_gives_up_with_a_retryable_error(wechat_oa_sandbox, wechat_client, sandbox_sleep):
    wechat_oa_sandbox.configure(faults=[{"path": "/cgi-bin/draft/count", "errcode": -1, "count": 10}])

    with pytest.raises(ProviderError) as excinfo:
        wechat_client.count_drafts()

    assert excinfo.value.code == -1
    assert excinfo.value.permanent is False
    assert excinfo.value.retry_after == 8.0
    assert excinfo.value.platform_message == "system error"
    assert sandbox_sleep.calls == [1.0, 2.0, 4.0]
    assert errcodes(wechat_oa_sandbox) == [0, -1, -1, -1, -1]


def test_busy_while_fetching_the_token_is_retried(wechat_oa_sandbox, wechat_client, sandbox_sleep):
    wechat_oa_sandbox.configure(faults=[{"path": "/cgi-bin/stable_token", "errcode": -1}])

    assert wechat_client.count_drafts() == 0

    assert sandbox_sleep.calls == [1.0]
    assert paths(wechat_oa_sandbox) == ["/cgi-bin/stable_token", "/cgi-bin/stable_token", "/cgi-bin/draft/count"]


def test_daily_quota_is_not_retried(wechat_oa_sandbox, wechat_client, sandbox_sleep):
    wechat_oa_sandbox.configure(daily_quotas={"/cgi-bin/draft/count": 1})
    wechat_client.count_drafts()

    with pytest.raises(ProviderError) as excinfo:
        wechat_client.count_drafts()

    now = wechat_oa_sandbox.beijing_now()
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(0, 0), tzinfo=BEIJING)
    assert excinfo.value.code == 45009
    assert excinfo.value.permanent is False
    assert excinfo.value.platform_message == "reach max api daily quota limit"
    assert excinfo.value.retry_after in {math.ceil((midnight - now).total_seconds()) + delta for delta in (0, 1)}
    assert sandbox_sleep.calls == []
    assert errcodes(wechat_oa_sandbox) == [0, 0, 45009]


def test_minute_limit_waits_a_minute_then_succeeds(wechat_oa_sandbox, wechat_client, sandbox_sleep):
    wechat_oa_sandbox.configure(minute_limits={"/cgi-bin/draft/count": 1})
    wechat_client.count_drafts()

    assert wechat_client.count_drafts() == 0

    assert sandbox_sleep.calls == [60.0]
    assert errcodes(wechat_oa_sandbox) == [0, 0, 45011, 0]


def test_minute_limit_that_persists_gives_up(wechat_oa_sandbox, wechat_client, sandbox_sleep):
    wechat_oa_sandbox.configure(faults=[{"path": "/cgi-bin/draft/count", "errcode": 45011, "count": 9}])

    with pytest.raises(ProviderError) as excinfo:
        wechat_client.count_drafts()

    assert excinfo.value.code == 45011
    assert excinfo.value.permanent is False
    assert excinfo.value.retry_after == 60.0
    assert sandbox_sleep.calls == [60.0, 60.0, 60.0]


def test_unlisted_errcode_is_permanent(wechat_oa_sandbox, wechat_client, sandbox_sleep):
    wechat_oa_sandbox.configure(faults=[{"path": "/cgi-bin/draft/count", "errcode": 48001}])

    with pytest.raises(ProviderError) as excinfo:
        wechat_client.count_drafts()

    assert excinfo.value.code == 48001
    assert excinfo.value.permanent is True
    with translation.override("en"):
        assert str(excinfo.value) == "[wechat_oa 48001] This API is not authorised for the account. (api unauthorized)"
    assert sandbox_sleep.calls == []


def test_unreachable_platform_is_retried_then_reported(make_wechat_client, sandbox_sleep):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = make_wechat_client(base_url=f"http://127.0.0.1:{closed_port}")

    with pytest.raises(ProviderError) as excinfo:
        client.count_drafts()

    assert excinfo.value.code == "network"
    assert excinfo.value.permanent is False
    assert excinfo.value.outcome_unknown is False
    assert sandbox_sleep.calls == [1.0, 2.0, 4.0]


# -- datacube ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("endpoint", "max_days"), sorted(DATACUBE_MAX_DAYS.items()))
def test_datacube_span_over_the_limit_is_refused_without_a_request(
    wechat_oa_sandbox, wechat_client, endpoint, max_days
):
    end = days_ago(wechat_oa_sandbox, 2)
    begin = end - dt.timedelta(days=max_days)  # max_days + 1 calendar days

    with pytest.raises(InvalidRequestError) as excinfo:
        wechat_client.get_datacube(endpoint=endpoint, begin=begin, end=end)

    assert excinfo.value.code == "date_span"
    assert excinfo.value.permanent is True
    with translation.override("en"):
        assert excinfo.value.message == (
            f"{endpoint} covers at most {max_days} day(s) per request; {max_days + 1} days were asked for."
        )
    assert wechat_oa_sandbox.requests() == []


@pytest.mark.parametrize(
    ("begin_offset", "end_offset"),
    [(0, 0), (3, 4)],  # today (not yet available); end before begin
)
def test_datacube_bad_dates_are_refused_without_a_request(wechat_oa_sandbox, wechat_client, begin_offset, end_offset):
    with pytest.raises(InvalidRequestError) as excinfo:
        wechat_client.get_user_summary(
            begin=days_ago(wechat_oa_sandbox, begin_offset), end=days_ago(wechat_oa_sandbox, end_offset)
        )

    assert excinfo.value.code == "date_range"
    assert wechat_oa_sandbox.requests() == []


def test_datacube_before_first_day_is_refused(wechat_oa_sandbox, wechat_client):
    with pytest.raises(InvalidRequestError):
        wechat_client.get_user_cumulate(begin=dt.date(2014, 11, 30), end=dt.date(2014, 12, 1))

    assert wechat_oa_sandbox.requests() == []


def test_datacube_user_reports_match_the_sandbox_history(wechat_oa_sandbox, wechat_client):
    end = days_ago(wechat_oa_sandbox, 2)
    begin = end - dt.timedelta(days=6)
    history = DatacubeHistory(seed=wechat_oa_sandbox.config["seed"], appid=WECHAT_APP_ID)

    summary = wechat_client.get_user_summary(begin=begin, end=end)
    cumulate = wechat_client.get_user_cumulate(begin=begin, end=end)

    expected_summary = []
    for offset in range(7):
        expected_summary += history.user_summary(begin + dt.timedelta(days=offset))
    assert summary == expected_summary
    assert [row["ref_date"] for row in cumulate] == [(begin + dt.timedelta(days=n)).isoformat() for n in range(7)]
    # Followers add up: each day's cumulative count moves by that day's new minus cancelled followers.
    for previous, current in zip(cumulate, cumulate[1:], strict=False):
        day_rows = [row for row in summary if row["ref_date"] == current["ref_date"]]
        net = sum(row["new_user"] - row["cancel_user"] for row in day_rows)
        assert current["cumulate_user"] - previous["cumulate_user"] == net


def test_datacube_read_rows_default_missing_counters_to_zero(wechat_oa_sandbox, wechat_client):
    day = days_ago(wechat_oa_sandbox, 2)

    rows = wechat_client.get_user_read(begin=day, end=day)

    history = DatacubeHistory(seed=wechat_oa_sandbox.config["seed"], appid=WECHAT_APP_ID)
    expected = history.user_read(day)
    assert [row["user_source"] for row in rows] == [99999999, 0, 1, 2, 4, 5, 6, 7]
    assert rows[0] == expected[0]
    session = rows[1]
    assert session["int_page_read_user"] == expected[1]["int_page_read_user"]
    assert session["ori_page_read_user"] == 0
    assert session["add_to_fav_count"] == 0
    assert sum(row["int_page_read_user"] for row in rows[1:]) == rows[0]["int_page_read_user"]


def test_published_article_shows_up_in_article_statistics(wechat_oa_sandbox, wechat_client, png_bytes):
    _draft_id, submission = publish_one(wechat_client, png_bytes)
    assert wechat_client.wait_for_publish(publish_id=submission.publish_id).is_success is True
    send_day = wechat_oa_sandbox.beijing_now().date()
    wechat_oa_sandbox.advance_clock(2 * 86400)

    summary = wechat_client.get_article_summary(day=send_day)
    total = wechat_client.get_article_total(day=send_day)

    msgid = f"{submission.msg_data_id}_1"
    [ours] = [row for row in summary if row["msgid"] == msgid]
    assert ours["title"] == TITLE
    assert ours["ref_date"] == send_day.isoformat()
    [ours_total] = [row for row in total if row["msgid"] == msgid]
    assert [detail["stat_date"] for detail in ours_total["details"]] == [
        send_day.isoformat(),
        (send_day + dt.timedelta(days=1)).isoformat(),
    ]
    assert ours_total["details"][0]["int_page_read_user"] == ours["int_page_read_user"]


# -- parametric QR codes ----------------------------------------------------------------------------------------


def test_temporary_parametric_qr_code(wechat_oa_sandbox, wechat_client):
    ticket = wechat_client.create_qrcode(scene_str="dept_resp|ch_poster|cmp_2503", expire_seconds=2_592_000)

    assert isinstance(ticket, QRCodeTicket)
    assert ticket.expire_seconds == 2_592_000
    assert ticket.url.startswith(f"{wechat_oa_sandbox.base_url}/q/")
    stored = wechat_oa_sandbox.qrcodes[ticket.ticket]
    assert stored["action"] == "QR_STR_SCENE"
    assert stored["scene"] == "dept_resp|ch_poster|cmp_2503"


def test_permanent_parametric_qr_code(wechat_oa_sandbox, wechat_client):
    ticket = wechat_client.create_qrcode(scene_str="desk_respiratory", permanent=True)

    assert ticket.expire_seconds is None
    assert wechat_oa_sandbox.qrcodes[ticket.ticket]["action"] == "QR_LIMIT_STR_SCENE"


def test_permanent_qr_cap_is_a_permanent_error(wechat_oa_sandbox, wechat_client):
    wechat_oa_sandbox.configure(permanent_qr_cap=1)
    wechat_client.create_qrcode(scene_str="desk_a", permanent=True)

    with pytest.raises(ProviderError) as excinfo:
        wechat_client.create_qrcode(scene_str="desk_b", permanent=True)

    assert excinfo.value.code == 40053
    assert excinfo.value.permanent is True
    assert wechat_oa_sandbox.state_counts()["qrcodes"] == 1


@pytest.mark.parametrize(("scene_str", "expire_seconds"), [("", 60), ("x" * 65, 60), ("ok", 2_592_001), ("ok", 0)])
def test_invalid_qr_request_is_refused_without_a_request(wechat_oa_sandbox, wechat_client, scene_str, expire_seconds):
    with pytest.raises(InvalidRequestError):
        wechat_client.create_qrcode(scene_str=scene_str, expire_seconds=expire_seconds)

    assert wechat_oa_sandbox.requests() == []
