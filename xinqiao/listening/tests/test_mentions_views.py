"""Mention, cluster, import and lexicon pages: allowed and denied roles, escaping, the import flow over HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from xinqiao.listening.lexicon import crisis_topics_install_defaults
from xinqiao.listening.models import CrisisTopic, Mention, MentionBatch, MentionCluster, WatchedName
from xinqiao.listening.tests import permission_probes

VIEWERS = ["admin", "brand", "medical_affairs", "leadership"]
NON_VIEWERS = ["dept_reviewer", "service", "health_manager"]
MANAGERS = ["admin", "brand"]
XSS = '<script>alert("x")</script>一院'


@pytest.fixture
def mention(world) -> Mention:
    cluster = MentionCluster.objects.create(
        hospital=world.hospital, title=XSS, first_seen_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        last_seen_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC), size=1,
    )  # fmt: skip
    return Mention.objects.create(
        hospital=world.hospital, platform="weibo", external_id="wb-1", text=XSS, author_handle="小猫<b>",
        posted_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC), cluster=cluster, sentiment="negative", topics=["complaint"],
        entities=["hospital"],
    )  # fmt: skip


@pytest.mark.parametrize("role", VIEWERS)
def test_viewers_see_mentions_escaped(client, world, mention, role):
    client.force_login(world.users[role])
    for url in (
        "/listening/mentions/",
        f"/listening/mentions/{mention.pk}/",
        f"/listening/clusters/{mention.cluster_id}/",
    ):
        response = client.get(url)
        assert response.status_code == 200
        content = response.content.decode()
        assert "<script>alert" not in content
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;一院" in content
        assert "小猫<b>" not in content


@pytest.mark.parametrize("role", NON_VIEWERS)
def test_others_are_denied(client, world, mention, role):
    client.force_login(world.users[role])
    for url in ("/listening/mentions/", f"/listening/mentions/{mention.pk}/", f"/listening/clusters/{mention.cluster_id}/",
                "/listening/imports/", "/listening/topics/", "/listening/names/"):  # fmt: skip
        assert client.get(url).status_code == 403


def test_other_hospitals_mentions_are_404(client, world, mention):
    client.force_login(world.users["outsider"])
    assert client.get(f"/listening/mentions/{mention.pk}/").status_code == 404
    assert client.get(f"/listening/clusters/{mention.cluster_id}/").status_code == 404
    assert 'data-mention="' not in client.get("/listening/mentions/").content.decode()


def test_filters(client, world, mention):
    crisis_topics_install_defaults(world.hospital)
    Mention.objects.create(
        hospital=world.hospital, platform="douyin", external_id="dy-1", text="儿科很好",
        posted_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC), sentiment="positive",
    )  # fmt: skip
    client.force_login(world.users["brand"])

    def shown(**params):
        content = client.get("/listening/mentions/", params).content.decode()
        return sorted(int(part.split('"')[0]) for part in content.split('data-mention="')[1:])

    other = Mention.objects.get(external_id="dy-1").pk
    assert shown() == sorted([mention.pk, other])
    assert shown(platform="douyin") == [other]
    assert shown(sentiment="negative") == [mention.pk]
    assert shown(topic="complaint") == [mention.pk]
    assert shown(q="儿科") == [other]
    assert shown(date_from="2026-03-02") == [other]
    assert shown(cluster=mention.cluster_id) == [mention.pk]
    assert shown(topic="no-such-topic") == sorted([mention.pk, other])  # an unknown choice does not filter


@pytest.mark.parametrize("role", MANAGERS)
def test_managers_import_a_file_through_preview_and_commit(client, world, role):
    client.force_login(world.users[role])
    data = "平台,帖子ID,内容,发布时间\n微博,w1,一院心内科,2026-03-01 10:00\n抖音,d1,一院,2026-03-01 11:00\n".encode(
        "gbk"
    )
    response = client.post("/listening/imports/new/", {"file": SimpleUploadedFile("导出.csv", data)})
    assert response.status_code == 302
    batch = MentionBatch.objects.get()
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert 'data-testid="encoding">gb18030<' in page.content.decode()
    assert 'data-testid="no-row-errors"' in page.content.decode()
    form = {"action": "commit", "map_platform": "0", "map_external_id": "1", "map_text": "2", "map_posted_at": "3"}
    committed = client.post(f"/listening/imports/{batch.pk}/", form)
    assert committed.status_code == 302
    assert Mention.objects.count() == 2
    batch.refresh_from_db()
    assert (batch.status, batch.rows_created) == ("committed", 2)


def test_commit_with_a_bad_row_shows_errors_and_writes_nothing(client, world):
    client.force_login(world.users["brand"])
    data = "平台,帖子ID,内容,发布时间\n微博,w1,一院,2026-03-01 10:00\n推特,t1,一院,2026-03-01 11:00\n".encode()
    client.post("/listening/imports/new/", {"file": SimpleUploadedFile("x.csv", data)})
    batch = MentionBatch.objects.get()
    form = {"action": "commit", "map_platform": "0", "map_external_id": "1", "map_text": "2", "map_posted_at": "3"}
    response = client.post(f"/listening/imports/{batch.pk}/", form)
    assert response.status_code == 400
    content = response.content.decode()
    assert 'data-testid="commit-error"' in content
    assert "Unknown platform “推特”." in content
    assert Mention.objects.count() == 0


def test_upload_of_a_broken_file_is_refused(client, world):
    client.force_login(world.users["brand"])
    response = client.post("/listening/imports/new/", {"file": SimpleUploadedFile("x.xlsx", b"not a workbook")})
    assert response.status_code == 400
    assert "The Excel file cannot be opened" in response.content.decode()
    assert MentionBatch.objects.count() == 0


@pytest.mark.parametrize("role", ["medical_affairs", "leadership"])
def test_viewers_cannot_import_or_edit(client, world, role):
    client.force_login(world.users[role])
    before = permission_probes.snapshot()
    assert client.get("/listening/imports/new/").status_code == 403
    assert client.post("/listening/imports/new/", {"file": SimpleUploadedFile("x.csv", b"a,b\n")}).status_code == 403
    assert client.post("/listening/topics/defaults/").status_code == 403
    assert client.post("/listening/names/", {"alias": "市一院", "kind": "hospital"}).status_code == 403
    assert permission_probes.snapshot() == before


def test_topic_editor(client, world):
    client.force_login(world.users["brand"])
    assert client.post("/listening/topics/defaults/").status_code == 302
    assert CrisisTopic.objects.filter(hospital=world.hospital).count() == 14
    topic = CrisisTopic.objects.get(hospital=world.hospital, code="waiting")
    response = client.post(
        f"/listening/topics/{topic.pk}/", {"name": "挂号难", "keywords": "挂号难\n抢不到号，黄牛", "weight": "1.5"}
    )
    assert response.status_code == 302
    topic.refresh_from_db()
    assert (topic.keywords, topic.weight, topic.is_active) == (["挂号难", "抢不到号", "黄牛"], 1.5, False)
    created = client.post(
        "/listening/topics/new/", {"code": "parking", "name": "停车", "keywords": "停车难", "weight": "0.5",
                                   "is_active": "on"},
    )  # fmt: skip
    assert created.status_code == 302
    duplicate = client.post("/listening/topics/new/", {"code": "parking", "name": "x", "keywords": "y", "weight": "1"})
    assert duplicate.status_code == 400
    assert CrisisTopic.objects.filter(hospital=world.hospital).count() == 15
    client.force_login(world.users["outsider"])
    assert client.get(f"/listening/topics/{topic.pk}/").status_code == 404


def test_watched_names(client, world):
    client.force_login(world.users["admin"])
    cardiology = world.departments["cardiology"]
    response = client.post(
        "/listening/names/", {"alias": "一院心内", "kind": "department", "department": cardiology.pk}
    )
    assert response.status_code == 302
    watched = WatchedName.objects.get()
    assert (watched.alias, watched.department_id) == ("一院心内", cardiology.pk)
    assert client.post("/listening/names/", {"alias": "一院心内", "kind": "hospital"}).status_code == 400
    assert client.post("/listening/names/", {"alias": "某科", "kind": "department"}).status_code == 400
    assert WatchedName.objects.count() == 1
    client.force_login(world.users["outsider"])
    assert client.post(f"/listening/names/{watched.pk}/delete/").status_code == 404
    client.force_login(world.users["brand"])
    assert client.post(f"/listening/names/{watched.pk}/delete/").status_code == 302
    assert WatchedName.objects.count() == 0


def test_batch_list_shows_counts_and_errors(client, world):
    MentionBatch.objects.create(
        hospital=world.hospital, source="push", status="rejected", rows_total=4,
        errors=[{"row": 2, "column": "platform", "message": "Unknown platform “x”."}],
    )  # fmt: skip
    client.force_login(world.users["leadership"])
    content = client.get("/listening/imports/").content.decode()
    assert 'data-status="rejected"' in content
    assert "Unknown platform “x”." in content


def test_topics_are_shown_by_the_names_the_hospital_gave_them(client, world, mention):
    crisis_topics_install_defaults(world.hospital)
    name = CrisisTopic.objects.get(hospital=world.hospital, code="complaint").name
    mention.topics = ["complaint", "retired-code"]  # a code without a topic any more is shown as it is
    mention.save(update_fields=["topics"])
    mention.cluster.topics = ["complaint"]
    mention.cluster.save(update_fields=["topics"])
    client.force_login(world.users["brand"])

    for url in (
        "/listening/mentions/",
        f"/listening/mentions/{mention.pk}/",
        f"/listening/clusters/{mention.cluster_id}/",
    ):
        body = client.get(url).content.decode()
        assert name in body, url
        assert ">complaint" not in body, url
        assert "complaint," not in body, url
    assert f"{name}, retired-code" in client.get("/listening/mentions/").content.decode()
