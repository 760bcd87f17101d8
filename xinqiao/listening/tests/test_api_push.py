"""POST /api/listening/mentions: API keys, scopes, validation with positions, atomicity, idempotent replays."""

from __future__ import annotations

import json

import pytest

from xinqiao.core.models import AuditEvent
from xinqiao.core.services import api_key_create
from xinqiao.listening.models import Mention, MentionBatch
from xinqiao.listening.services import ingest

URL = "/api/listening/mentions"


def items(count: int = 3, start: int = 1) -> list[dict]:
    return [
        {
            "platform": "weibo",
            "external_id": f"wb-{index}",
            "url": f"https://weibo.com/1/{index}",
            "author_handle": f"小猫{index}",
            "author_followers": 100 * index,
            "text": f"测试第一人民医院心内科第{index}条",
            "posted_at": "2026-03-01T10:00:00+08:00",
            "likes": index,
            "source_tool": "tool-x",
        }
        for index in range(start, start + count)
    ]


@pytest.fixture
def key(world) -> str:
    _key, plaintext = api_key_create(principal=world.principal("admin"), name="舆情系统", scopes=["mentions:write"])
    return plaintext


def push(client, body, key: str | None):
    headers = {"HTTP_X_API_KEY": key} if key else {}
    return client.post(URL, data=json.dumps(body), content_type="application/json", **headers)


def test_push_creates_mentions_and_a_batch(client, world, key):
    response = push(client, items(), key)
    assert response.status_code == 200, response.content
    body = response.json()
    batch = MentionBatch.objects.get()
    assert body == {"batch_id": batch.pk, "rows": 3, "created": 3, "duplicates": 0}
    assert (batch.source, batch.status, batch.api_key_prefix) == ("push", "committed", key.split("_")[1])
    mention = Mention.objects.get(external_id="wb-2")
    assert (mention.hospital_id, mention.author_followers, mention.likes) == (world.hospital.pk, 200, 2)
    assert mention.extra == {"source_tool": "tool-x"}
    assert AuditEvent.objects.filter(action=AuditEvent.Action.MENTION_IMPORT).count() == 1


def test_replayed_push_is_an_idempotent_no_op(client, world, key):
    push(client, items(), key)
    response = push(client, items(4), key)  # the same three plus one new
    assert response.status_code == 200
    assert {k: response.json()[k] for k in ("rows", "created", "duplicates")} == {
        "rows": 4,
        "created": 1,
        "duplicates": 3,
    }
    assert Mention.objects.count() == 4


def test_duplicates_inside_one_batch_count_once(client, world, key):
    response = push(client, items(2) + items(1), key)
    assert {k: response.json()[k] for k in ("rows", "created", "duplicates")} == {
        "rows": 3,
        "created": 2,
        "duplicates": 1,
    }


def test_without_key_401(client, world):
    response = push(client, items(), None)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert Mention.objects.count() == 0


def test_wrong_key_401(client, world):
    assert push(client, items(), "xq_deadbeef_notakey").status_code == 401


def test_key_without_scope_403(client, world):
    _key, plaintext = api_key_create(principal=world.principal("admin"), name="HIS", scopes=["patients:read"])
    response = push(client, items(), plaintext)
    assert response.status_code == 403
    assert Mention.objects.count() == 0
    assert MentionBatch.objects.count() == 0


def test_a_bad_item_rejects_the_batch_with_positions(client, world, key):
    body = items(4)
    body[1]["platform"] = "myspace"
    body[3]["posted_at"] = "not a time"
    body[3]["likes"] = -1
    response = push(client, body, key)
    assert response.status_code == 422
    payload = response.json()
    assert payload["code"] == "invalid_rows"
    assert payload["details"]["errors"] == [
        {"row": 2, "column": "platform", "message": "Unknown platform “myspace”."},
        {"row": 4, "column": "posted_at", "message": "Not a date and time (for example 2026-03-01 14:30)."},
        {"row": 4, "column": "likes", "message": "Not a whole number of at least 0."},
    ]
    assert Mention.objects.count() == 0  # nothing half-written
    assert MentionBatch.objects.get().status == "rejected"


def test_non_object_items_and_non_list_bodies(client, world, key):
    response = push(client, [items(1)[0], "hello"], key)
    assert response.status_code == 422
    assert response.json()["details"]["errors"] == [
        {"row": 2, "column": "", "message": "This item is not a JSON object."}
    ]
    assert push(client, {"platform": "weibo"}, key).status_code == 422
    assert Mention.objects.count() == 0


def test_oversized_batch_413(client, world, key, monkeypatch):
    monkeypatch.setattr(ingest, "MAX_PUSH_ROWS", 3)
    response = push(client, items(4), key)
    assert response.status_code == 413
    assert response.json()["code"] == "batch_too_large"
    assert Mention.objects.count() == 0


def test_empty_batch_400(client, world, key):
    response = push(client, [], key)
    assert (response.status_code, response.json()["code"]) == (400, "empty_batch")


def test_html_in_text_is_stored_verbatim_and_listed_as_json_text(client, world, key):
    body = items(1)
    body[0]["text"] = '<img src=x onerror="alert(1)">一院'
    push(client, body, key)
    assert Mention.objects.get().text == '<img src=x onerror="alert(1)">一院'


def test_keys_of_another_hospital_write_there(client, world):
    _key, plaintext = api_key_create(principal=world.principal("outsider"), name="B", scopes=["mentions:write"])
    push(client, items(1), plaintext)
    assert Mention.objects.get().hospital_id == world.other_hospital.pk


def test_list_mentions_needs_view(client, world, key):
    push(client, items(3), key)
    client.force_login(world.users["leadership"])
    response = client.get(URL, {"limit": 2})
    assert response.status_code == 200
    page = response.json()
    assert [item["external_id"] for item in page["items"]] == ["wb-3", "wb-2"]
    following = client.get(URL, {"limit": 2, "cursor": page["next_cursor"]}).json()
    assert ([item["external_id"] for item in following["items"]], following["next_cursor"]) == (["wb-1"], "")
    client.force_login(world.users["service"])
    assert client.get(URL).status_code == 403
