"""The robot client against the sandbox over real HTTP on 127.0.0.1 (platforms/notifications.md §1)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from xinqiao.channels.platforms.base import InvalidRequestError, ProviderError
from xinqiao.integrations.tests.conftest import ROBOT_KEY
from xinqiao.integrations.wecom_robot.client import WeComRobotClient, key_hint, split_utf8


def test_split_utf8_prefers_line_boundaries_and_counts_bytes():
    # 10 lines of 100 Chinese characters + newline = 301 bytes each
    line = "告" * 100
    text = "\n".join([line] * 10)
    parts = split_utf8(text, 2048)
    assert len(parts) == 2
    assert parts[0] == "\n".join([line] * 6)  # 6 × 301 = 1806 ≤ 2048, 7 × 301 = 2107 > 2048
    assert parts[1] == "\n".join([line] * 4)
    assert "".join(p + "\n" for p in parts).rstrip("\n") == text


def test_split_utf8_cuts_an_overlong_line_at_a_character_boundary():
    text = "医" * 1000  # 3000 bytes on one line
    parts = split_utf8(text, 2048)
    assert [len(p) for p in parts] == [682, 318]  # 682 × 3 = 2046 ≤ 2048 < 2049
    assert "".join(parts) == text
    assert split_utf8("", 2048) == []
    assert split_utf8("short", 2048) == ["short"]


def test_markdown_and_text_are_recorded(robot_sandbox):
    with WeComRobotClient(robot_sandbox.webhook_url(ROBOT_KEY)) as client:
        result = client.send("### 告警\n> 负面提及 12 条", msgtype="markdown")
        text_result = client.send_text("红线告警 #5", mentioned_list=["@all"])
    assert (result.parts, text_result.parts) == (1, 1)
    recorded = robot_sandbox.messages(ROBOT_KEY)
    assert [(m.msgtype, m.content, m.mentioned_list) for m in recorded] == [
        ("markdown", "### 告警\n> 负面提及 12 条", ()),
        ("text", "红线告警 #5", ("@all",)),
    ]


def test_long_markdown_is_split_into_posts_within_4096_bytes(robot_sandbox):
    body = "\n".join(f"- 第{i:03d}条 " + "舆" * 200 for i in range(30))  # 30 lines of ~614 bytes
    with WeComRobotClient(robot_sandbox.webhook_url(ROBOT_KEY)) as client:
        result = client.send(body)
    recorded = robot_sandbox.messages(ROBOT_KEY)
    assert result.parts == len(recorded) == 5  # 6 lines (≈ 3690 bytes) per post
    assert all(len(m.content.encode()) <= 4096 for m in recorded)
    assert "\n".join(m.content for m in recorded) == body


def test_the_21st_message_in_a_minute_gets_45009_and_passes_after_the_window(robot_sandbox):
    with WeComRobotClient(robot_sandbox.webhook_url(ROBOT_KEY)) as client:
        for index in range(20):
            client.send(f"message {index}")
        with pytest.raises(ProviderError) as caught:
            client.send("message 20")
        assert (caught.value.code, caught.value.permanent, caught.value.retry_after) == (45009, False, 61.0)
        robot_sandbox.advance_clock(60.5)
        client.send("message 20")
    assert len(robot_sandbox.messages(ROBOT_KEY)) == 21
    assert [r["errcode"] for r in robot_sandbox.rejections()] == [45009]


def test_unknown_key_is_permanent_93000_and_the_key_is_not_in_the_error(robot_sandbox, caplog):
    url = robot_sandbox.webhook_url("not-a-robot-key-secret")
    caplog.set_level(logging.DEBUG)
    with WeComRobotClient(url) as client, pytest.raises(ProviderError) as caught:
        client.send("hello")
    assert (caught.value.code, caught.value.permanent) == (93000, True)
    assert "not-a-robot-key-secret" not in str(caught.value)
    assert "not-a-robot-key-secret" not in caplog.text
    assert "key=***" in caplog.text  # httpx's request log line, masked
    assert key_hint(url) == "…cret"
    assert robot_sandbox.messages() == []


def test_sandbox_enforces_byte_limits_and_content_rules(robot_sandbox):
    url = robot_sandbox.webhook_url(ROBOT_KEY)
    too_long = {"msgtype": "text", "text": {"content": "字" * 683}}  # 2049 bytes
    exactly = {"msgtype": "text", "text": {"content": "字" * 682 + "ab"}}  # 2048 bytes
    empty = {"msgtype": "markdown", "markdown": {"content": "  "}}
    bad_type = {"msgtype": "image", "image": {"base64": "x"}}
    answers = [httpx.post(url, json=p).json()["errcode"] for p in (too_long, exactly, empty, bad_type)]
    assert answers == [40058, 0, 44004, 40008]
    listed = httpx.get(f"{robot_sandbox.base_url}/__sandbox__/messages", params={"key": ROBOT_KEY}).json()
    assert [m["content"] for m in listed["messages"]] == ["字" * 682 + "ab"]


def test_client_error_mapping_and_refusals(robot_sandbox):
    with pytest.raises(InvalidRequestError):
        WeComRobotClient("https://qyapi.weixin.qq.com/cgi-bin/webhook/send")
    with WeComRobotClient(robot_sandbox.webhook_url(ROBOT_KEY)) as client:
        with pytest.raises(InvalidRequestError):
            client.send("\n\n")
        assert repr(client) == "WeComRobotClient(key='…5aaa')"
    # nothing listens on port 9 of the loopback: a retryable network error
    unreachable = WeComRobotClient("http://127.0.0.1:9/cgi-bin/webhook/send?key=abc", http_timeout=1.0)
    with unreachable, pytest.raises(ProviderError) as caught:
        unreachable.send("hello")
    assert (caught.value.code, caught.value.permanent) == ("network", False)


def test_control_api_reset_and_keys(robot_sandbox):
    base = robot_sandbox.base_url
    assert httpx.post(f"{base}/__sandbox__/keys", json={"add": ["new-key-1234"]}).json() == {"ok": True}
    with WeComRobotClient(robot_sandbox.webhook_url("new-key-1234")) as client:
        client.send("hi")
    assert json.loads(httpx.get(f"{base}/__sandbox__/messages").text)["messages"][0]["key"] == "new-key-1234"
    httpx.post(f"{base}/__sandbox__/reset", json={})
    assert robot_sandbox.messages() == []
