"""The case pages over HTTP: who sees what, the reply flow with inline findings, closing with lessons."""

from __future__ import annotations

import datetime as dt

import pytest

from xinqiao.listening.models import CaseEvent, CrisisCase, ReplyDraft
from xinqiao.listening.services import cases as services
from xinqiao.listening.tests.cases_helpers import BLOCK_REPLY, CLEAN_REPLY, make_alert, make_cluster, make_mention

T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def case(world):
    cluster = make_cluster(world.hospital, at=T0)
    make_mention(world.hospital, at=T0, cluster=cluster, handle="原帖作者", followers=5000)
    alert = make_alert(world.hospital, clusters=[cluster])
    return services.case_open_from_alert(principal=world.principal("brand"), alert=alert)


@pytest.mark.parametrize(
    ("persona", "status"),
    [("brand", 200), ("medical_affairs", 200), ("leadership", 200), ("admin", 200), ("service", 403),
     ("dept_reviewer", 403), ("outsider", 404)],
)  # fmt: skip
def test_who_sees_a_case(client, world, case, persona, status):
    client.force_login(world.users[persona])
    assert client.get(f"/listening/cases/{case.pk}/").status_code == status
    list_status = 403 if status == 403 else 200  # an outsider sees their own hospital's (empty) list
    assert client.get("/listening/cases/").status_code == list_status


def test_case_list_shows_only_this_hospitals_cases(client, world, case):
    client.force_login(world.users["outsider"])
    assert f'data-case="{case.pk}"' not in client.get("/listening/cases/").content.decode()
    client.force_login(world.users["leadership"])
    body = client.get("/listening/cases/").content.decode()
    assert body.count('<tr data-case="') == 1
    assert "/listening/cases/new/" not in body  # leadership reads only


def test_detail_shows_propagation_and_timeline(client, world, case):
    client.force_login(world.users["brand"])
    body = client.get(f"/listening/cases/{case.pk}/").content.decode()
    assert 'data-testid="first-poster"' in body
    assert "原帖作者" in body
    assert body.count('<tr data-kind="') == 1
    assert 'data-testid="reply-form"' in body


def test_reply_flow_over_http(client, world, case):
    client.force_login(world.users["brand"])
    response = client.post(f"/listening/cases/{case.pk}/replies/", {"text": BLOCK_REPLY})
    assert response.status_code == 302
    draft = ReplyDraft.objects.get()
    body = client.get(f"/listening/cases/{case.pk}/").content.decode()
    assert 'data-rule="CR-002">您上周在我院做的手术</mark>' in body
    response = client.post(f"/listening/replies/{draft.pk}/submit/")
    assert response.status_code == 400
    assert "CR-002" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == ReplyDraft.Status.DRAFT
    client.post(f"/listening/replies/{draft.pk}/update/", {"text": CLEAN_REPLY})
    assert client.post(f"/listening/replies/{draft.pk}/submit/").status_code == 302
    # brand cannot sign off
    assert client.post(f"/listening/replies/{draft.pk}/sign-off/").status_code == 403
    client.force_login(world.users["medical_affairs"])
    assert client.get("/listening/cases/").content.decode().count('data-testid="awaiting-sign-off"') == 1
    body = client.get(f"/listening/cases/{case.pk}/").content.decode()
    assert 'data-testid="sign-off-form"' in body
    assert client.post(f"/listening/replies/{draft.pk}/return/", {"comment": ""}).status_code == 400
    assert client.post(f"/listening/replies/{draft.pk}/sign-off/", {"comment": "同意"}).status_code == 302
    client.force_login(world.users["brand"])
    assert client.post(f"/listening/replies/{draft.pk}/published/").status_code == 302
    response = client.post(f"/listening/cases/{case.pk}/close/", {"lessons": ""})
    assert response.status_code == 400
    assert client.post(f"/listening/cases/{case.pk}/close/", {"lessons": "早发现早回应"}).status_code == 302
    case.refresh_from_db()
    assert case.status == CrisisCase.Status.CLOSED
    body = client.get(f"/listening/cases/{case.pk}/").content.decode()
    assert 'data-testid="review-figures"' in body
    assert 'data-testid="reply-form"' not in body
    assert list(CaseEvent.objects.filter(case=case).values_list("kind", flat=True)) == [
        "opened", "reply_drafted", "status", "reply_edited", "reply_submitted", "reply_signed_off",
        "reply_published", "status", "status", "closed",
    ]  # fmt: skip


def test_live_check_returns_findings_without_saving(client, world, case):
    client.force_login(world.users["brand"])
    response = client.post(f"/listening/cases/{case.pk}/replies/check/", {"text": BLOCK_REPLY})
    assert response.status_code == 200
    assert 'data-finding="CR-002" data-severity="BLOCK"' in response.content.decode()
    assert ReplyDraft.objects.count() == 0


def test_status_and_update_forms(client, world, case):
    client.force_login(world.users["brand"])
    assert client.post(f"/listening/cases/{case.pk}/status/", {"status": "responded"}).status_code == 400
    assert client.post(f"/listening/cases/{case.pk}/status/", {"status": "responding"}).status_code == 302
    response = client.post(
        f"/listening/cases/{case.pk}/update/", {"title": "新标题", "summary": "", "owner": "", "severity": "3"}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.status, case.title, case.severity) == ("responding", "新标题", 3)


def test_manual_case_form(client, world):
    client.force_login(world.users["brand"])
    assert client.post("/listening/cases/new/", {"title": "", "severity": "2"}).status_code == 400
    response = client.post("/listening/cases/new/", {"title": "电话投诉：儿科候诊", "severity": "2"})
    case = CrisisCase.objects.get()
    assert response["Location"] == f"/listening/cases/{case.pk}/"
    assert case.owner == world.users["brand"]


def test_review_download_waits_for_closing(client, world, case):
    client.force_login(world.users["brand"])
    response = client.get(f"/listening/cases/{case.pk}/review.pdf")
    assert response.status_code == 302
    assert response["Location"] == f"/listening/cases/{case.pk}/"
