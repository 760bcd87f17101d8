"""The WeChat OA sandbox over raw HTTP: the contract of platforms/wechat-oa.md, as a client would see it."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from xinqiao.channels.platforms.wechat_oa.client import tls_context
from xinqiao.channels.platforms.wechat_oa.sandbox import (
    DEMO_APP_ID,
    DEMO_APP_SECRET,
    DatacubeHistory,
    WeChatOASandbox,
    apportion,
)

from .conftest import WECHAT_APP_ID, WECHAT_APP_SECRET

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def http(wechat_oa_sandbox):
    with httpx.Client(base_url=wechat_oa_sandbox.base_url, timeout=5.0, verify=tls_context()) as client:
        yield client


def stable_token(http, **overrides):
    body = {"grant_type": "client_credential", "appid": WECHAT_APP_ID, "secret": WECHAT_APP_SECRET, **overrides}
    return http.post("/cgi-bin/stable_token", json=body).json()


@pytest.fixture
def token(http):
    return stable_token(http)["access_token"]


def post_json(http, path, token, body):
    return http.post(path, params={"access_token": token}, json=body).json()


def upload(http, token, data, filename, content_type, *, kind="image", path="/cgi-bin/material/add_material"):
    params = {"access_token": token} if path.endswith("uploadimg") else {"access_token": token, "type": kind}
    return http.post(path, params=params, files={"media": (filename, data, content_type)}).json()


# -- conventions ------------------------------------------------------------------------------------------------


def test_binds_to_loopback_only(wechat_oa_sandbox):
    assert wechat_oa_sandbox._server.server_address[0] == "127.0.0.1"
    assert wechat_oa_sandbox.base_url == f"http://127.0.0.1:{wechat_oa_sandbox.port}"


@pytest.mark.parametrize("path", ["/cgi-bin/stable_token", "/cgi-bin/draft/add", "/datacube/getusersummary"])
def test_empty_body_is_44002(http, token, path):
    response = http.post(path, params={"access_token": token}, content=b"")

    assert response.status_code == 200
    assert response.json() == {"errcode": 44002, "errmsg": "empty post data"}


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe"])
@pytest.mark.parametrize("path", ["/cgi-bin/stable_token", "/cgi-bin/draft/add", "/cgi-bin/qrcode/create"])
def test_invalid_json_is_47001(http, token, path, body):
    response = http.post(path, params={"access_token": token}, content=body)

    assert response.status_code == 200
    assert response.json() == {"errcode": 47001, "errmsg": "data format error"}


def test_wrong_method_is_43002(http, token):
    assert http.get("/cgi-bin/draft/add", params={"access_token": token}).json()["errcode"] == 43002
    assert http.post("/cgi-bin/draft/count", params={"access_token": token}).json()["errcode"] == 43001


def test_unknown_path_is_404(http):
    assert http.get("/cgi-bin/nothing").status_code == 404


# -- tokens -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "errcode"),
    [
        ({"grant_type": "password"}, 40002),
        ({"appid": ""}, 41002),
        ({"secret": ""}, 41004),
        ({"appid": "wx_other"}, 40013),
        ({"secret": "wrong"}, 40125),
        ({"force_refresh": "yes"}, 47001),
    ],
)
def test_stable_token_validates_its_body(http, wechat_oa_sandbox, overrides, errcode):
    assert stable_token(http, **overrides)["errcode"] == errcode
    assert wechat_oa_sandbox.tokens == {}


def test_stable_token_is_stable_then_rotates_before_expiry(http, wechat_oa_sandbox):
    first = stable_token(http)
    wechat_oa_sandbox.advance_clock(1000)
    second = stable_token(http)
    wechat_oa_sandbox.advance_clock(7200 - 1000 - 299)
    third = stable_token(http)

    assert first["expires_in"] == 7200
    assert second["access_token"] == first["access_token"]
    assert second["expires_in"] == 6199  # 6200 s minus the few ms between the two calls, truncated
    assert third["access_token"] != first["access_token"]
    assert third["expires_in"] == 7200
    # The rotated-out token keeps working until its own expiry.
    assert post_json(http, "/cgi-bin/draft/batchget", first["access_token"], {"offset": 0, "count": 1})["item"] == []


def test_force_refresh_invalidates_the_previous_token_and_is_limited(http, wechat_oa_sandbox):
    first = stable_token(http)["access_token"]
    forced = stable_token(http, force_refresh=True)
    too_soon = stable_token(http, force_refresh=True)
    wechat_oa_sandbox.configure(force_refresh_daily=1)
    wechat_oa_sandbox.advance_clock(31)
    over_quota = stable_token(http, force_refresh=True)

    assert forced["access_token"] != first
    assert http.get("/cgi-bin/draft/count", params={"access_token": first}).json()["errcode"] == 40001
    assert http.get("/cgi-bin/draft/count", params={"access_token": forced["access_token"]}).json() == {
        "total_count": 0
    }
    assert too_soon["errcode"] == 45011
    assert over_quota["errcode"] == 45009


def test_classic_and_stable_tokens_are_isolated(http, wechat_oa_sandbox):
    stable = stable_token(http)["access_token"]
    query = {"grant_type": "client_credential", "appid": WECHAT_APP_ID, "secret": WECHAT_APP_SECRET}
    classic_one = http.get("/cgi-bin/token", params=query).json()
    classic_two = http.get("/cgi-bin/token", params=query).json()
    wrong = http.get("/cgi-bin/token", params={**query, "secret": "nope"}).json()

    assert classic_one["expires_in"] == 7200
    assert classic_two["access_token"] != classic_one["access_token"]
    assert wrong["errcode"] == 40001

    def count(token):
        return http.get("/cgi-bin/draft/count", params={"access_token": token}).json()

    assert count(stable) == {"total_count": 0}  # new classic tokens leave the stable one alone
    assert count(classic_one["access_token"]) == {"total_count": 0}  # superseded, within the 5-minute overlap
    wechat_oa_sandbox.advance_clock(301)
    assert count(classic_one["access_token"])["errcode"] == 42001
    assert count(classic_two["access_token"]) == {"total_count": 0}
    assert count(stable) == {"total_count": 0}


def test_token_checks_on_api_calls(http, token, wechat_oa_sandbox):
    def count(params):
        return http.get("/cgi-bin/draft/count", params=params).json()

    assert count({}) == {"errcode": 41001, "errmsg": "access_token missing"}
    assert count({"access_token": "made-up"}) == {"errcode": 40014, "errmsg": "invalid access_token"}
    wechat_oa_sandbox.advance_clock(7200)
    assert count({"access_token": token}) == {"errcode": 42001, "errmsg": "access_token expired"}


def test_short_token_ttl(http, wechat_oa_sandbox):
    wechat_oa_sandbox.configure(token_ttl=5)
    token = stable_token(http)
    wechat_oa_sandbox.advance_clock(5)

    assert token["expires_in"] == 5
    assert http.get("/cgi-bin/draft/count", params={"access_token": token["access_token"]}).json()["errcode"] == 42001


# -- media ------------------------------------------------------------------------------------------------------


def test_image_material_is_stored_and_served(http, token, png_bytes, wechat_oa_sandbox):
    answer = upload(http, token, png_bytes, "cover.png", "image/png")

    assert answer["media_id"].startswith("MEDIA_ID_PERM_")
    assert answer["url"].startswith(f"{wechat_oa_sandbox.base_url}/mmbiz_png/")
    assert answer["url"].endswith("/0?wx_fmt=png")
    served = http.get(answer["url"])
    assert served.content == png_bytes
    assert wechat_oa_sandbox.media[answer["media_id"]]["type"] == "image"


def test_thumb_material_has_no_url(http, token):
    answer = upload(http, token, b"\xff\xd8\xff\xe0" + b"\0" * 100, "thumb.jpg", "image/jpeg", kind="thumb")

    assert set(answer) == {"media_id"}


@pytest.mark.parametrize(
    ("kind", "data", "filename", "errcode"),
    [
        ("picture", b"\x89PNG\r\n\x1a\n", "a.png", 40004),
        ("image", b"plain text", "a.png", 40005),
        ("image", b"\x89PNG\r\n\x1a\n" + b"\0" * 10, "a.jpg", 40005),
        ("thumb", b"\x89PNG\r\n\x1a\n", "a.png", 40005),
        ("thumb", b"\xff\xd8\xff\xe0" + b"\0" * (64 * 1024), "big.jpg", 40009),
        ("voice", b"ID3", "a.ogg", 40005),
    ],
)
def test_material_checks(http, token, wechat_oa_sandbox, kind, data, filename, errcode):
    assert upload(http, token, data, filename, "application/octet-stream", kind=kind)["errcode"] == errcode
    assert wechat_oa_sandbox.media == {}


def test_material_needs_the_media_part(http, token):
    response = http.post(
        "/cgi-bin/material/add_material",
        params={"access_token": token, "type": "image"},
        files={"file": ("a.png", b"\x89PNG\r\n\x1a\n", "image/png")},
    )

    assert response.json() == {"errcode": 41005, "errmsg": "media data missing"}


def test_uploadimg_accepts_png_and_jpeg_only(http, token, png_bytes, wechat_oa_sandbox):
    path = "/cgi-bin/media/uploadimg"
    ok = upload(http, token, png_bytes, "body.png", "image/png", path=path)
    gif = upload(http, token, b"GIF89a" + b"\0" * 10, "a.gif", "image/gif", path=path)
    big = upload(http, token, b"\xff\xd8\xff" + b"\0" * (1024 * 1024), "big.jpg", "image/jpeg", path=path)

    assert set(ok) == {"url"}
    assert http.get(ok["url"]).content == png_bytes
    assert gif["errcode"] == 40005
    assert big["errcode"] == 40009
    assert wechat_oa_sandbox.state_counts()["images"] == 1


# -- drafts -----------------------------------------------------------------------------------------------------


@pytest.fixture
def cover(http, token, png_bytes):
    return upload(http, token, png_bytes, "cover.png", "image/png")["media_id"]


def article(cover, **fields):
    return {"title": "春季过敏高发", "content": "<p>正文</p>", "thumb_media_id": cover, **fields}


@pytest.mark.parametrize(
    ("fields", "errcode"),
    [
        ({"title": None}, 47001),
        ({"content": ""}, 47001),
        ({"title": "标" * 33}, 45003),
        ({"author": "作" * 17}, 45110),
        ({"content": "字" * 20_000}, 45002),
        ({"thumb_media_id": "MEDIA_ID_unknown"}, 40007),
        ({"article_type": "video"}, 47001),
        ({"need_open_comment": 2}, 47001),
        ({"article_type": "newspic"}, 47001),
        ({"article_type": "newspic", "image_info": {"image_list": [{"image_media_id": "nope"}]}}, 40007),
    ],
)
def test_draft_add_validates_articles(http, token, cover, wechat_oa_sandbox, fields, errcode):
    body = {"articles": [{key: value for key, value in article(cover, **fields).items() if value is not None}]}

    assert post_json(http, "/cgi-bin/draft/add", token, body)["errcode"] == errcode
    assert wechat_oa_sandbox.drafts == {}


@pytest.mark.parametrize("body", [{}, {"articles": []}, {"articles": "x"}, {"articles": [{}] * 9}])
def test_draft_add_needs_one_to_eight_articles(http, token, body):
    assert post_json(http, "/cgi-bin/draft/add", token, body)["errcode"] == 47001


def test_draft_add_accepts_a_picture_article(http, token, cover):
    body = {
        "articles": [
            {**article(""), "article_type": "newspic", "image_info": {"image_list": [{"image_media_id": cover}]}}
        ]
    }

    media_id = post_json(http, "/cgi-bin/draft/add", token, body)["media_id"]

    [stored] = post_json(http, "/cgi-bin/draft/get", token, {"media_id": media_id})["news_item"]
    assert stored["article_type"] == "newspic"
    assert stored["image_info"] == {"image_list": [{"image_media_id": cover}]}


def test_unicode_escapes_in_a_draft_are_kept_literally(http, token, cover):
    body = json.dumps({"articles": [article(cover, title="春季")]}, ensure_ascii=True).encode()
    long_body = json.dumps({"articles": [article(cover, title="春季过敏高发，呼吸科专家教你科学应对")]}).encode()

    media_id = http.post("/cgi-bin/draft/add", params={"access_token": token}, content=body).json()["media_id"]
    too_long = http.post("/cgi-bin/draft/add", params={"access_token": token}, content=long_body).json()

    [stored] = post_json(http, "/cgi-bin/draft/get", token, {"media_id": media_id})["news_item"]
    assert stored["title"] == "\\u6625\\u5b63"
    assert too_long == {"errcode": 45003, "errmsg": "title size out of limit"}  # 17 characters become 102


def test_draft_content_loses_scripts_and_outside_images(http, token, cover, png_bytes):
    hosted = upload(http, token, png_bytes, "body.png", "image/png", path="/cgi-bin/media/uploadimg")["url"]
    content = f'<p>a</p><script>alert(1)</script><img src="https://example.com/x.png"><img src="{hosted}"/>'

    media_id = post_json(http, "/cgi-bin/draft/add", token, {"articles": [article(cover, content=content)]})["media_id"]

    [stored] = post_json(http, "/cgi-bin/draft/get", token, {"media_id": media_id})["news_item"]
    assert stored["content"] == f'<p>a</p><img src="{hosted}"/>'
    assert stored["digest"] == "a"


def test_draft_lifecycle(http, token, cover):
    first = post_json(http, "/cgi-bin/draft/add", token, {"articles": [article(cover, title="一")]})["media_id"]
    second = post_json(http, "/cgi-bin/draft/add", token, {"articles": [article(cover, title="二")]})["media_id"]

    updated = post_json(
        http, "/cgi-bin/draft/update", token, {"media_id": first, "index": 0, "articles": article(cover, title="一改")}
    )
    bad_index = post_json(
        http, "/cgi-bin/draft/update", token, {"media_id": first, "index": 1, "articles": article(cover)}
    )
    listing = post_json(http, "/cgi-bin/draft/batchget", token, {"offset": 0, "count": 20, "no_content": 0})
    bad_count = post_json(http, "/cgi-bin/draft/batchget", token, {"offset": 0, "count": 21})
    deleted = post_json(http, "/cgi-bin/draft/delete", token, {"media_id": second})
    deleted_again = post_json(http, "/cgi-bin/draft/delete", token, {"media_id": second})

    assert updated == {"errcode": 0, "errmsg": "ok"}
    assert bad_index["errcode"] == 47001
    assert listing["total_count"] == 2
    assert listing["item_count"] == 2
    assert sorted(item["content"]["news_item"][0]["title"] for item in listing["item"]) == ["一改", "二"]
    assert bad_count["errcode"] == 47001
    assert deleted == {"errcode": 0, "errmsg": "ok"}
    assert deleted_again["errcode"] == 40007
    assert http.get("/cgi-bin/draft/count", params={"access_token": token}).json() == {"total_count": 1}


# -- publishing -------------------------------------------------------------------------------------------------


def test_publish_state_machine(http, token, cover, wechat_oa_sandbox):
    wechat_oa_sandbox.configure(publish_polls=2)
    media_id = post_json(http, "/cgi-bin/draft/add", token, {"articles": [article(cover), article(cover, title="二")]})[
        "media_id"
    ]

    submitted = post_json(http, "/cgi-bin/freepublish/submit", token, {"media_id": media_id})
    polls = [
        post_json(http, "/cgi-bin/freepublish/get", token, {"publish_id": submitted["publish_id"]}) for _ in range(4)
    ]

    assert submitted["errcode"] == 0
    assert submitted["errmsg"] == "ok"
    assert submitted["msg_data_id"] == int(submitted["publish_id"]) - 1
    assert [poll["publish_status"] for poll in polls] == [1, 1, 0, 0]
    assert polls[0] == {"publish_id": submitted["publish_id"], "publish_status": 1, "fail_idx": []}
    done = polls[2]
    assert done["article_detail"]["count"] == 2
    assert [item["idx"] for item in done["article_detail"]["item"]] == [1, 2]
    assert polls[3] == done
    titles = [http.get(item["article_url"]).text for item in done["article_detail"]["item"]]
    assert "<h1>春季过敏高发</h1>" in titles[0]
    assert "<h1>二</h1>" in titles[1]
    assert post_json(http, "/cgi-bin/draft/get", token, {"media_id": media_id})["errcode"] == 40007


def test_scripted_failure_keeps_the_draft(http, token, cover, wechat_oa_sandbox):
    wechat_oa_sandbox.configure(publish_polls=0, publish_outcomes=[{"status": 4}])
    media_id = post_json(http, "/cgi-bin/draft/add", token, {"articles": [article(cover)]})["media_id"]
    publish_id = post_json(http, "/cgi-bin/freepublish/submit", token, {"media_id": media_id})["publish_id"]

    answer = post_json(http, "/cgi-bin/freepublish/get", token, {"publish_id": publish_id})

    assert answer == {"publish_id": publish_id, "publish_status": 4, "fail_idx": [1]}
    assert (
        post_json(http, "/cgi-bin/draft/get", token, {"media_id": media_id})["news_item"][0]["title"] == "春季过敏高发"
    )
    # Fixed and resubmitted, the next submission uses the default outcome: success.
    again = post_json(http, "/cgi-bin/freepublish/submit", token, {"media_id": media_id})["publish_id"]
    assert post_json(http, "/cgi-bin/freepublish/get", token, {"publish_id": again})["publish_status"] == 0


def test_publish_get_validation(http, token):
    assert post_json(http, "/cgi-bin/freepublish/get", token, {})["errcode"] == 47001
    assert post_json(http, "/cgi-bin/freepublish/get", token, {"publish_id": "1"})["errcode"] == 53502
    assert post_json(http, "/cgi-bin/freepublish/submit", token, {})["errcode"] == 47001


def test_publish_delete_one_article_then_the_rest(http, token, cover, wechat_oa_sandbox):
    wechat_oa_sandbox.configure(publish_polls=0)
    media_id = post_json(http, "/cgi-bin/draft/add", token, {"articles": [article(cover), article(cover, title="二")]})[
        "media_id"
    ]
    publish_id = post_json(http, "/cgi-bin/freepublish/submit", token, {"media_id": media_id})["publish_id"]
    done = post_json(http, "/cgi-bin/freepublish/get", token, {"publish_id": publish_id})
    article_id = done["article_id"]
    first_url, second_url = (item["article_url"] for item in done["article_detail"]["item"])

    deleted = post_json(http, "/cgi-bin/freepublish/delete", token, {"article_id": article_id, "index": 1})
    after_one = post_json(http, "/cgi-bin/freepublish/get", token, {"publish_id": publish_id})

    assert deleted == {"errcode": 0, "errmsg": "ok"}
    assert http.get(first_url).status_code == 404
    assert http.get(second_url).status_code == 200
    assert after_one["publish_status"] == 0
    assert [item["idx"] for item in after_one["article_detail"]["item"]] == [2]
    assert (
        post_json(http, "/cgi-bin/freepublish/delete", token, {"article_id": article_id, "index": 1})["errcode"]
        == 53600
    )  # that article is gone already

    assert post_json(http, "/cgi-bin/freepublish/delete", token, {"article_id": article_id})["errcode"] == 0
    gone = post_json(http, "/cgi-bin/freepublish/get", token, {"publish_id": publish_id})
    assert gone == {"publish_id": publish_id, "publish_status": 5, "fail_idx": [], "article_id": article_id}
    assert http.get(second_url).status_code == 404
    assert post_json(http, "/cgi-bin/freepublish/delete", token, {"article_id": article_id})["errcode"] == 53600


def test_publish_delete_validation(http, token, cover, wechat_oa_sandbox):
    wechat_oa_sandbox.configure(publish_polls=0)
    media_id = post_json(http, "/cgi-bin/draft/add", token, {"articles": [article(cover)]})["media_id"]
    publish_id = post_json(http, "/cgi-bin/freepublish/submit", token, {"media_id": media_id})["publish_id"]
    article_id = post_json(http, "/cgi-bin/freepublish/get", token, {"publish_id": publish_id})["article_id"]

    assert post_json(http, "/cgi-bin/freepublish/delete", token, {})["errcode"] == 47001
    assert (
        post_json(http, "/cgi-bin/freepublish/delete", token, {"article_id": article_id, "index": -1})["errcode"]
        == 47001
    )
    assert (
        post_json(http, "/cgi-bin/freepublish/delete", token, {"article_id": article_id, "index": True})["errcode"]
        == 47001
    )
    assert (
        post_json(http, "/cgi-bin/freepublish/delete", token, {"article_id": article_id, "index": 2})["errcode"]
        == 53600
    )  # the message has one article
    assert (
        post_json(http, "/cgi-bin/freepublish/delete", token, {"article_id": "ARTICLE_ID_nosuch"})["errcode"] == 53600
    )
    assert post_json(http, "/cgi-bin/freepublish/get", token, {"publish_id": publish_id})["publish_status"] == 0


# -- datacube ---------------------------------------------------------------------------------------------------


def beijing_today(sandbox):
    return sandbox.beijing_now().date()


def datacube(http, token, endpoint, begin, end):
    return post_json(http, f"/datacube/{endpoint}", token, {"begin_date": str(begin), "end_date": str(end)})


@pytest.mark.parametrize(
    ("endpoint", "max_days"),
    [
        ("getusersummary", 7),
        ("getusercumulate", 7),
        ("getarticlesummary", 1),
        ("getarticletotal", 1),
        ("getuserread", 3),
        ("getuserreadhour", 1),
        ("getusershare", 7),
        ("getusersharehour", 1),
    ],
)
def test_datacube_span_limits(http, token, wechat_oa_sandbox, endpoint, max_days):
    end = beijing_today(wechat_oa_sandbox) - dt.timedelta(days=2)

    at_limit = datacube(http, token, endpoint, end - dt.timedelta(days=max_days - 1), end)
    over_limit = datacube(http, token, endpoint, end - dt.timedelta(days=max_days), end)

    assert "list" in at_limit
    assert over_limit == {"errcode": 61501, "errmsg": "date range error"}


def test_datacube_date_rules(http, token, wechat_oa_sandbox):
    today = beijing_today(wechat_oa_sandbox)

    assert datacube(http, token, "getusersummary", today, today)["errcode"] == 61501
    assert datacube(http, token, "getusersummary", "2014-11-30", "2014-12-01")["errcode"] == 61501
    assert datacube(http, token, "getusersummary", "2025-03-05", "2025-03-01")["errcode"] == 61501
    assert datacube(http, token, "getusersummary", "2025/03/01", "2025-03-01")["errcode"] == 61500
    assert datacube(http, token, "getusersummary", "2025-02-30", "2025-03-01")["errcode"] == 61500
    assert post_json(http, "/datacube/getusersummary", token, {"begin_date": "2025-03-01"})["errcode"] == 47001


def test_yesterday_is_available_from_eight_in_the_morning(http, wechat_oa_sandbox):
    now = wechat_oa_sandbox.beijing_now()
    seven = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(7, 0), tzinfo=now.tzinfo)
    wechat_oa_sandbox.advance_clock((seven - now).total_seconds())
    token = stable_token(http)["access_token"]
    yesterday = seven.date() - dt.timedelta(days=1)

    early = datacube(http, token, "getusercumulate", yesterday, yesterday)
    wechat_oa_sandbox.advance_clock(3600)
    ready = datacube(http, token, "getusercumulate", yesterday, yesterday)

    assert early["errcode"] == 61501
    assert [row["ref_date"] for row in ready["list"]] == [yesterday.isoformat()]


def test_datacube_history_is_deterministic_per_seed(http, token, wechat_oa_sandbox):
    day = beijing_today(wechat_oa_sandbox) - dt.timedelta(days=3)

    first = datacube(http, token, "getuserread", day, day)
    second = datacube(http, token, "getuserread", day, day)
    wechat_oa_sandbox.configure(seed=7)
    reseeded = datacube(http, token, "getuserread", day, day)

    assert first == second
    assert first != reseeded
    assert reseeded["list"] == DatacubeHistory(seed=7, appid=WECHAT_APP_ID).user_read(day)


def test_datacube_history_fixed_values():
    history = DatacubeHistory(seed=20250301, appid="wx0123456789abcdef")
    day = dt.date(2025, 3, 1)

    assert history.user_cumulate(day) == [{"ref_date": "2025-03-01", "user_source": 0, "cumulate_user": 164_785}]
    assert history.user_summary(day)[0] == {
        "ref_date": "2025-03-01",
        "user_source": 0,
        "new_user": 0,
        "cancel_user": 24,
    }
    assert history.cumulate(day) - history.cumulate(day - dt.timedelta(days=1)) == sum(
        row["new_user"] - row["cancel_user"] for row in history.user_summary(day)
    )


def test_datacube_row_shapes(http, token, wechat_oa_sandbox):
    day = beijing_today(wechat_oa_sandbox) - dt.timedelta(days=2)

    read = datacube(http, token, "getuserread", day, day)["list"]
    hourly = datacube(http, token, "getuserreadhour", day, day)["list"]
    share = datacube(http, token, "getusershare", day, day)["list"]
    share_hourly = datacube(http, token, "getusersharehour", day, day)["list"]
    summary = datacube(http, token, "getarticlesummary", day, day)["list"]

    assert "ori_page_read_user" in read[0]
    assert "ori_page_read_user" not in read[1]  # per-source rows omit the 'all'-only counters
    assert [row["ref_hour"] for row in hourly] == [hour * 100 for hour in range(24)]
    assert sum(row["int_page_read_user"] for row in hourly) == read[0]["int_page_read_user"]
    assert [row["share_scene"] for row in share] == [1, 2, 255]
    assert sum(row["share_count"] for row in share) == read[0]["share_count"]
    assert sum(row["share_count"] for row in share_hourly) == read[0]["share_count"]
    for row in summary:
        engagement = (
            row["int_page_read_user"]
            + row["ori_page_read_user"]
            + row["share_user"]
            + row["share_count"]
            + row["add_to_fav_count"]
        )
        assert engagement >= 3
        assert row["msgid"].split("_")[1] in {"1", "2", "3"}


def test_apportion_keeps_the_total():
    assert apportion(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}
    assert apportion(0, {"a": 5, "b": 1}) == {"a": 0, "b": 0}
    assert sum(apportion(997, {hour: weight for hour, weight in enumerate(range(1, 25))}).values()) == 997


# -- QR codes ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"action_name": "QR_FOREVER", "action_info": {"scene": {"scene_str": "a"}}}, 40052),
        ({"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": ""}}}, 40053),
        ({"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "x" * 65}}}, 40053),
        (
            {"action_name": "QR_STR_SCENE", "expire_seconds": 2_592_001, "action_info": {"scene": {"scene_str": "a"}}},
            40053,
        ),
        ({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100_001}}}, 40053),
        ({"action_name": "QR_SCENE", "action_info": {}}, 40053),
    ],
)
def test_qrcode_validation(http, token, wechat_oa_sandbox, body, errcode):
    assert post_json(http, "/cgi-bin/qrcode/create", token, body)["errcode"] == errcode
    assert wechat_oa_sandbox.qrcodes == {}


def test_qrcode_defaults_and_kinds(http, token, wechat_oa_sandbox):
    temporary = post_json(
        http, "/cgi-bin/qrcode/create", token, {"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 7}}}
    )
    permanent = post_json(
        http,
        "/cgi-bin/qrcode/create",
        token,
        {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "desk"}}},
    )

    assert temporary["expire_seconds"] == 60
    assert set(permanent) == {"ticket", "url"}
    assert wechat_oa_sandbox.qrcodes[temporary["ticket"]]["scene"] == 7
    assert wechat_oa_sandbox.qrcodes[permanent["ticket"]]["scene"] == "desk"


# -- control API ------------------------------------------------------------------------------------------------


def test_control_api_over_http(http, wechat_oa_sandbox):
    configured = http.post(
        "/__sandbox__/config",
        json={"faults": [{"path": "/cgi-bin/stable_token", "errcode": -1}], "publish_polls": 3},
    )
    busy = stable_token(http)
    ok = stable_token(http)
    before = wechat_oa_sandbox.now()
    clock = http.post("/__sandbox__/clock", json={"advance": 3600}).json()
    log = http.get("/__sandbox__/requests").json()["requests"]
    state = http.get("/__sandbox__/state").json()
    revoked = http.post("/__sandbox__/revoke_tokens", json={"appid": WECHAT_APP_ID}).json()
    rejected = http.post("/__sandbox__/config", json={"no_such_setting": 1})
    bad_fault = http.post("/__sandbox__/config", json={"faults": [{"path": "/x"}]})
    bad_clock = http.post("/__sandbox__/clock", json={"advance": -5})
    config = http.get("/__sandbox__/config").json()
    reset = http.post("/__sandbox__/reset")

    assert configured.status_code == 200
    assert configured.json()["publish_polls"] == 3
    assert configured.json()["apps"] == [WECHAT_APP_ID]
    assert WECHAT_APP_SECRET not in configured.text
    assert busy == {"errcode": -1, "errmsg": "system error"}
    assert "access_token" in ok
    assert clock["now"] - before == pytest.approx(3600, abs=5)
    assert [(entry["path"], entry["errcode"]) for entry in log] == [
        ("/cgi-bin/stable_token", -1),
        ("/cgi-bin/stable_token", 0),
    ]
    assert state == {"media": 0, "images": 0, "drafts": 0, "publications": 0, "qrcodes": 0}
    assert revoked == {"revoked": 1}
    assert rejected.status_code == 400
    assert rejected.json() == {"error": "unknown settings: no_such_setting"}
    assert bad_fault.status_code == 400
    assert bad_clock.status_code == 400
    assert config["faults"] == []
    assert config["publish_polls"] == 3
    assert reset.json() == {"ok": True}
    assert wechat_oa_sandbox.requests() == []
    assert wechat_oa_sandbox.config["publish_polls"] == 1


def test_standalone_sandbox_with_demo_app():
    sandbox = WeChatOASandbox(poll_interval=0.05).start()
    try:
        answer = httpx.post(
            f"{sandbox.base_url}/cgi-bin/stable_token",
            json={"grant_type": "client_credential", "appid": DEMO_APP_ID, "secret": DEMO_APP_SECRET},
            verify=tls_context(),
        ).json()
    finally:
        sandbox.stop()

    assert answer["expires_in"] == 7200


def test_run_sandboxes_command_serves_until_interrupted():
    env = {**os.environ, "XINQIAO_ENV": "test", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_sandboxes", "--wechat-oa-port", "0", "--wechat-oa-token-ttl", "600"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stdout.readline()
        hint = process.stdout.readline()
        base_url = re.search(r"http://127\.0\.0\.1:\d+", banner).group(0)
        answer = httpx.post(
            f"{base_url}/cgi-bin/stable_token",
            json={"grant_type": "client_credential", "appid": DEMO_APP_ID, "secret": DEMO_APP_SECRET},
            timeout=5.0,
            verify=tls_context(),
        ).json()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert answer["expires_in"] == 600
    assert process.returncode == 0, err
    assert hint.strip() != ""
    assert len(out.splitlines()) == 1  # the "stopped" line, printed after the interrupt
