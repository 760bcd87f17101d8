"""Content library over HTTP: create/edit, images, sanitising, revisions, patient stories, ads, bad input."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from xinqiao.channels.models import PlatformAccount
from xinqiao.content import services
from xinqiao.content.models import ContentImage, ContentItem, Revision
from xinqiao.content.tests.helpers import CLEAN_BODY, gif_bytes, jpeg_bytes, make_item, png_bytes, webp_bytes, writer
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import Consent
from xinqiao.core.services import consent_record


@pytest.fixture
def brand_client(client, world):
    client.force_login(world.users["brand"])
    return client


@pytest.fixture
def weibo(world):
    return PlatformAccount.objects.create(
        hospital=world.hospital, platform="weibo", name="一院微博", account_type="hospital_official"
    )


def form_data(world, **overrides):
    data = {
        "title": "高血压的日常管理",
        "content_type": "article",
        "pillar": "science",
        "disease_topics": "高血压, 心血管",
        "department": world.departments["cardiology"].pk,
        "references": "《中国高血压防治指南（2024年修订版）》",
        "body_html": CLEAN_BODY,
    }
    data.update(overrides)
    return data


def counts():
    return (ContentItem.objects.count(), Revision.objects.count(), ContentImage.objects.count())


def test_create_with_cover_and_image(brand_client, world, weibo):
    response = brand_client.post(
        "/content/new/",
        {
            **form_data(world, accounts=[weibo.pk]),
            "cover": SimpleUploadedFile("cover.png", png_bytes(), content_type="image/png"),
            "image": SimpleUploadedFile("x.webp", webp_bytes(), content_type="image/webp"),
        },
    )
    assert response.status_code == 302
    item = ContentItem.objects.get()
    assert response["Location"] == f"/content/{item.pk}/"
    assert item.disease_topics == ["高血压", "心血管"]
    assert item.references == ["《中国高血压防治指南（2024年修订版）》"]
    assert list(item.target_accounts.all()) == [weibo]
    assert sorted(ContentImage.objects.filter(item=item).values_list("kind", flat=True)) == ["png", "webp"]
    assert item.cover.kind == "png"
    revision = item.current_revision
    assert (revision.number, revision.title, revision.author.username) == (1, "高血压的日常管理", "brand")
    assert len(revision.sha256) == 64
    assert revision.compliance_report["findings"] == []
    page = brand_client.get(f"/content/{item.pk}/")
    assert page.status_code == 200
    assert brand_client.get(f"/content/images/{item.cover_id}/").status_code == 200


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("evil.png", gif_bytes(), "Only JPEG, PNG and WebP images are accepted."),
        ("page.jpg", b"<html><script>alert(1)</script></html>", "Only JPEG, PNG and WebP images are accepted."),
    ],
)
def test_wrong_image_type_is_refused(brand_client, world, filename, data, message):
    before = counts()
    response = brand_client.post(
        "/content/new/", {**form_data(world), "cover": SimpleUploadedFile(filename, data, content_type="image/png")}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert counts() == before


def test_too_large_image_is_refused(brand_client, world, settings):
    settings.XINQIAO_CONTENT_IMAGE_MAX_BYTES = 100
    before = counts()
    response = brand_client.post(
        "/content/new/",
        {**form_data(world), "image": SimpleUploadedFile("a.png", png_bytes(), content_type="image/png")},
    )
    assert response.status_code == 400
    assert "The image is larger than 0 KB." in response.content.decode()
    assert counts() == before


def test_magic_bytes_decide_the_type(world):
    assert services.image_kind(png_bytes()) == "png"
    assert services.image_kind(jpeg_bytes()) == "jpeg"
    assert services.image_kind(webp_bytes()) == "webp"
    assert services.image_kind(gif_bytes()) is None


def test_script_tags_are_sanitised(brand_client, world):
    body = (
        '<p onclick="steal()">高血压<script>alert("x")</script><a href="javascript:alert(1)">链接</a></p>' + CLEAN_BODY
    )
    response = brand_client.post("/content/new/", form_data(world, body_html=body))
    assert response.status_code == 302
    item = ContentItem.objects.get()
    assert "<script" not in item.body_html
    assert "onclick" not in item.body_html
    assert "javascript:" not in item.body_html
    assert item.body_html.startswith('<p>高血压<a rel="noopener noreferrer">链接</a></p>')


def test_unknown_account_is_refused(brand_client, world):
    before = counts()
    response = brand_client.post("/content/new/", form_data(world, accounts=[987654]))
    assert response.status_code == 400
    assert counts() == before


def test_unknown_account_via_service(world):
    with pytest.raises(ApplicationError) as error:
        make_item(world, world.users["brand"], account_ids=[987654])
    assert error.value.code == "account"
    assert counts() == (0, 0, 0)


def test_other_hospitals_account_is_refused(world):
    foreign = PlatformAccount.objects.create(
        hospital=world.other_hospital, platform="weibo", name="二院微博", account_type="hospital_official"
    )
    with pytest.raises(ApplicationError):
        make_item(world, world.users["brand"], account_ids=[foreign.pk])


def test_every_save_is_a_revision_with_a_diff(brand_client, world):
    brand_client.post("/content/new/", form_data(world))
    item = ContentItem.objects.get()
    response = brand_client.post(
        f"/content/{item.pk}/edit/",
        form_data(world, title="高血压的家庭管理", body_html=CLEAN_BODY + "<p>每天早晚各测一次。</p>"),
    )
    assert response.status_code == 302
    assert list(item.revisions.values_list("number", "title")) == [(1, "高血压的日常管理"), (2, "高血压的家庭管理")]
    diff = brand_client.get(f"/content/{item.pk}/revisions/2/").content.decode()
    assert '<table class="diff"' in diff
    assert "每天早晚各测一次。" in diff
    assert 'class="diff_add"' in diff or 'class="diff_chg"' in diff


def grant_story_consent(world, patient, **kwargs):
    return consent_record(
        principal=world.principal("admin"), patient=patient, purpose="story_publication", action="grant",
        channel="paper", notice_version="v2", **kwargs,
    )  # fmt: skip


STORY_CHECKS = ["names", "faces", "identifiers", "dates_places", "documents"]


def test_patient_story_needs_valid_consent(brand_client, world):
    patient = world.patients[0]
    data = form_data(
        world, pillar="story", is_patient_story="on", story_patient=patient.pk, deidentification=STORY_CHECKS
    )
    before = counts()
    response = brand_client.post("/content/new/", data)
    assert response.status_code == 400
    assert "no valid consent to publish their story" in response.content.decode()
    assert counts() == before
    grant_story_consent(world, patient)
    assert brand_client.post("/content/new/", data).status_code == 302
    item = ContentItem.objects.get()
    assert item.story_consent.purpose == Consent.Purpose.STORY_PUBLICATION
    assert item.deidentification == sorted(STORY_CHECKS)


def test_withdrawn_or_expired_consent_does_not_count(brand_client, world):
    patient = world.patients[1]
    grant_story_consent(world, patient)
    consent_record(
        principal=world.principal("admin"), patient=patient, purpose="story_publication", action="withdraw",
        channel="phone", notice_version="v2",
    )  # fmt: skip
    data = form_data(
        world, pillar="story", is_patient_story="on", story_patient=patient.pk, deidentification=STORY_CHECKS
    )
    assert brand_client.post("/content/new/", data).status_code == 400
    with time_machine.travel(timezone.now() - dt.timedelta(days=30)):
        grant_story_consent(world, world.patients[2], valid_until=timezone.localdate() + dt.timedelta(days=7))
    data["story_patient"] = world.patients[2].pk
    assert brand_client.post("/content/new/", data).status_code == 400
    assert counts() == (0, 0, 0)


def test_patient_story_needs_the_checklist_and_a_visible_patient(brand_client, world):
    grant_story_consent(world, world.patients[0])
    data = form_data(world, pillar="story", is_patient_story="on", story_patient=world.patients[0].pk,
                     deidentification=["names"])  # fmt: skip
    response = brand_client.post("/content/new/", data)
    assert response.status_code == 400
    assert "Complete the de-identification checklist" in response.content.decode()
    data.update(deidentification=STORY_CHECKS, story_patient=world.other_patient.pk)
    response = brand_client.post("/content/new/", data)
    assert response.status_code == 400
    assert "No such patient." in response.content.decode()
    assert counts() == (0, 0, 0)


def test_ad_needs_a_valid_certificate(brand_client, world):
    data = form_data(world, content_type="ad_creative", is_ad="on")
    response = brand_client.post("/content/new/", data)
    assert response.status_code == 400
    assert "review certificate number and validity date" in response.content.decode()
    data.update(ad_certificate_number="（沪）医广【2025】第0412-001号", ad_certificate_valid_until="2020-01-01")
    response = brand_client.post("/content/new/", data)
    assert response.status_code == 400
    assert "no longer valid (valid until 2020-01-01)" in response.content.decode()
    assert counts() == (0, 0, 0)
    data["ad_certificate_valid_until"] = (timezone.localdate() + dt.timedelta(days=90)).isoformat()
    assert brand_client.post("/content/new/", data).status_code == 302
    item = ContentItem.objects.get()
    assert (item.is_ad, item.ad_certificate_number) == (True, "（沪）医广【2025】第0412-001号")


def test_department_reviewer_sees_only_own_department(client, world):
    author = writer(world)
    mine = make_item(world, author, department="cardiology")
    theirs = make_item(world, author, department="pediatrics", title="儿童发烧怎么办")
    client.force_login(world.users["dept_reviewer"])
    listing = client.get("/content/").content.decode()
    assert mine.title in listing
    assert theirs.title not in listing
    assert client.get(f"/content/{mine.pk}/").status_code == 200
    assert client.get(f"/content/{theirs.pk}/").status_code == 404


def test_outsider_gets_404_and_leadership_is_read_only(client, world):
    item = make_item(world, writer(world))
    client.force_login(world.users["outsider"])
    assert client.get(f"/content/{item.pk}/").status_code == 404
    assert client.post(f"/content/{item.pk}/submit/").status_code == 404
    client.force_login(world.users["leadership"])
    assert client.get(f"/content/{item.pk}/").status_code == 200
    assert client.post(f"/content/{item.pk}/edit/", form_data(world, title="改")).status_code == 403
    item.refresh_from_db()
    assert item.title == "高血压的日常管理"
