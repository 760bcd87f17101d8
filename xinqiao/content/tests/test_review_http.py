"""The review flow over HTTP: queue, inline findings, decisions, bad input."""

from __future__ import annotations

import re

import pytest

from xinqiao.content.models import Approval, ContentItem, Transition
from xinqiao.content.tests.helpers import WARN_BODY, make_item, principal_of, writer
from xinqiao.content.workflow import item_submit

State = ContentItem.State


@pytest.fixture
def submitted(world):
    author = writer(world)
    item = make_item(world, author, body=WARN_BODY, title="降压")
    item_submit(principal=principal_of(author, world), item=item)
    return item


def test_queue_counts_and_inline_findings(client, world, submitted):
    client.force_login(world.users["dept_reviewer"])
    queue = client.get("/content/queue/").content.decode()
    assert re.search(r'data-testid="count-department_review">1<', queue)
    assert "medical_review" not in queue
    detail = client.get(f"/content/{submitted.pk}/").content.decode()
    assert '<mark class="finding WARN" title="ABS-002: ' in detail
    assert 'data-rule="ABS-002">最有效</mark>' in detail
    assert 'data-testid="review-form"' in detail


def test_approve_with_warning_reason_over_http(client, world, submitted):
    client.force_login(world.users["dept_reviewer"])
    response = client.post(
        f"/content/{submitted.pk}/review/", {"step": "department", "decision": "approve", "comment": "ok"}
    )
    assert response.status_code == 400
    assert "Acknowledge the warnings (ABS-002) with a reason to approve." in response.content.decode()
    assert Approval.objects.count() == 0
    response = client.post(
        f"/content/{submitted.pk}/review/",
        {"step": "department", "decision": "approve", "comment": "ok", "warn_reason": "数据有出处"},
    )
    assert response.status_code == 302
    submitted.refresh_from_db()
    assert submitted.state == State.MEDICAL_REVIEW


def test_out_of_order_and_wrong_role_over_http(client, world, submitted):
    client.force_login(world.users["medical_affairs"])
    response = client.post(f"/content/{submitted.pk}/review/", {"step": "medical", "decision": "approve"})
    assert response.status_code == 400
    assert "This item is not waiting for" in response.content.decode()
    response = client.post(f"/content/{submitted.pk}/review/", {"step": "department", "decision": "approve"})
    assert response.status_code == 403
    client.force_login(world.users["leadership"])
    response = client.post(f"/content/{submitted.pk}/review/", {"step": "department", "decision": "approve"})
    assert response.status_code == 403
    client.force_login(world.users["outsider"])
    response = client.post(f"/content/{submitted.pk}/review/", {"step": "department", "decision": "approve"})
    assert response.status_code == 404
    submitted.refresh_from_db()
    assert submitted.state == State.DEPARTMENT_REVIEW
    assert Transition.objects.filter(item=submitted).count() == 2


def test_return_needs_comment_over_http(client, world, submitted):
    client.force_login(world.users["dept_reviewer"])
    response = client.post(f"/content/{submitted.pk}/review/", {"step": "department", "decision": "return"})
    assert response.status_code == 400
    assert "a comment is required" in response.content.decode()
    response = client.post(
        f"/content/{submitted.pk}/review/", {"step": "department", "decision": "return", "comment": "请删去最高级用语"}
    )
    assert response.status_code == 302
    submitted.refresh_from_db()
    assert submitted.state == State.RETURNED


def test_author_sees_no_review_form(client, world, submitted):
    client.force_login(submitted.author)
    body = client.get(f"/content/{submitted.pk}/").content.decode()
    assert 'data-testid="review-form"' not in body


def test_the_item_page_names_its_review_steps(client, world, submitted, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    client.force_login(world.users["dept_reviewer"])
    body = client.get(f"/content/{submitted.pk}/").content.decode()

    assert "科室初审 → 医务部复审 → 品牌部终审" in body
    assert "department → medical" not in body


def test_the_queue_gives_waiting_times_in_words(client, world, submitted, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    client.force_login(world.users["dept_reviewer"])
    queue = client.get("/content/queue/").content.decode()

    assert re.search(r"<td>\d+ 小时</td>", queue)


def test_the_evidence_record_names_states_and_actions_in_the_readers_language():
    from django.utils import translation

    from xinqiao.content.evidence import _labelled

    chain = [{"from": "final_review", "to": "approved", "action": "approved"}, {"from": "x", "to": "y", "action": "z"}]
    with translation.override("zh-hans"):
        labelled = _labelled(chain)

    assert (labelled[0]["from_label"], labelled[0]["to_label"], labelled[0]["action_label"]) == (
        "品牌部终审",
        "已通过",
        "通过",
    )
    assert (labelled[1]["from_label"], labelled[1]["action_label"]) == ("x", "z")  # unknown codes are kept
    assert labelled[0]["from"] == "final_review"  # the codes stay
