"""mentions_process: results persisted, clusters across batches, entity rows, growth, idempotency, alerts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from xinqiao.listening.lexicon import crisis_topics_install_defaults
from xinqiao.listening.models import Alert, LshBucket, Mention, MentionCluster, MentionEntity, RedLineRule, WatchedName
from xinqiao.listening.pipeline import dedup
from xinqiao.listening.services.ingest import mentions_ingest
from xinqiao.listening.services.processing import BUCKET_MEMBERS, mentions_process

STORY = "网传测试第一人民医院心内科手术失败致患者死亡，家属称医院存在医疗事故，王建国医生已被停职，家属拉横幅讨说法"
PRAISE = "今天带老人去一院儿科看病，医生特别耐心，讲得清清楚楚，真的很感谢，以后就认准这家了"
NOTICE = "测试第一人民医院发布春节期间门诊安排，急诊二十四小时服务，内分泌科正常开诊"
T0 = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)


def row(external_id: str, text: str, minutes: int = 0, platform: str = "weibo", **extra) -> dict:
    return {"platform": platform, "external_id": external_id, "text": text,
            "posted_at": T0 + dt.timedelta(minutes=minutes), **extra}  # fmt: skip


def ingest(world, rows: list[dict]):
    return mentions_ingest(
        hospital=world.hospital, source="push", rows=list(enumerate(rows, start=1)), principal=world.principal("brand"),
        process=False,
    )  # fmt: skip


@pytest.fixture
def topics(world):
    crisis_topics_install_defaults(world.hospital)


def test_results_are_persisted(world, topics):
    ingest(world, [row("a", STORY, author_followers=5000, likes=40), row("b", PRAISE, 5), row("c", NOTICE, 9)])
    stats = mentions_process(hospital_id=world.hospital.pk)
    assert (stats.mentions, stats.clusters_created, stats.chunks) == (3, 3, 1)
    story = Mention.objects.get(external_id="a")
    cardiology, doctor = world.departments["cardiology"], world.doctors[0]
    assert story.entities == sorted(["hospital", f"department:{cardiology.pk}", f"doctor:{doctor.pk}"])
    assert story.topics == ["malpractice", "medical-dispute", "rumour"]
    assert story.normalised_text.startswith("网传测试第一人民医院心内科")
    assert story.processed_at is not None
    assert story.p_negative + story.p_neutral + story.p_positive == pytest.approx(1.0)
    probabilities = {"negative": story.p_negative, "neutral": story.p_neutral, "positive": story.p_positive}
    assert story.sentiment == max(probabilities, key=probabilities.get)
    assert len(bytes(story.minhash)) == 4 * dedup.NUM_PERM
    praise = Mention.objects.get(external_id="b")
    assert praise.entities == sorted(
        ["hospital", f"department:{world.departments['pediatrics'].pk}"]
    )  # 一院 = short name
    assert praise.topics == []
    assert set(MentionEntity.objects.filter(mention=story).values_list("entity_key", flat=True)) == set(story.entities)
    assert MentionEntity.objects.count() == 3 + 2 + 2
    assert story.severity > praise.severity  # a malpractice story outranks praise


def test_reposts_cluster_across_two_batches(world, topics):
    ingest(world, [row("a", STORY), row("b", PRAISE, 1)])
    mentions_process(hospital_id=world.hospital.pk)
    story = Mention.objects.get(external_id="a")
    assert LshBucket.objects.count() == 2 * dedup.BANDS
    ingest(world, [row("c", "转发微博：" + STORY + "，太过分了", 30, platform="douyin"),
                   row("d", NOTICE, 31), row("e", "求真相//" + STORY, 40)])  # fmt: skip
    stats = mentions_process(hospital_id=world.hospital.pk)
    assert (stats.mentions, stats.clusters_created, stats.clusters_joined) == (3, 1, 1)
    cluster = MentionCluster.objects.get(pk=story.cluster_id)
    assert sorted(cluster.mentions.values_list("external_id", flat=True)) == ["a", "c", "e"]
    assert (cluster.size, cluster.representative_id) == (3, story.pk)
    assert cluster.first_seen_at == T0
    assert cluster.last_seen_at == T0 + dt.timedelta(minutes=40)
    assert cluster.topics == ["malpractice", "medical-dispute", "rumour"]
    assert MentionCluster.objects.count() == 3
    assert LshBucket.objects.filter(cluster=cluster).count() == 3 * dedup.BANDS


def test_a_repost_naming_its_parent_joins_it_across_batches(world, topics):
    ingest(world, [row("p", STORY)])
    mentions_process(hospital_id=world.hospital.pk)
    ingest(world, [row("r", "转发", 3, parent_external_id="p"), row("x", "转发", 4, platform="douyin",
                                                                    parent_external_id="p")])  # fmt: skip
    mentions_process(hospital_id=world.hospital.pk)
    parent = Mention.objects.get(external_id="p")
    assert Mention.objects.get(external_id="r").cluster_id == parent.cluster_id
    assert Mention.objects.get(external_id="x").cluster_id != parent.cluster_id  # other platform: not its parent


def test_cluster_aggregates_and_growth(world, topics):
    rows = [row("old", STORY, -90, likes=10)]
    rows += [row(f"new{i}", f"转发{i}：" + STORY, -50 + i * 10, likes=1, author_followers=100) for i in range(4)]
    ingest(world, rows)
    mentions_process(hospital_id=world.hospital.pk)
    cluster = MentionCluster.objects.get()
    # at the latest post (T0 - 20 min): 4 in the last hour (incl. -50 … -20 min), 1 in the hour before
    assert (cluster.size, cluster.total_reach, cluster.growth) == (5, 10 + 4 * 101, 3.0)
    assert cluster.negative_count == Mention.objects.filter(sentiment="negative").count()
    assert LshBucket.objects.count() == BUCKET_MEMBERS * dedup.BANDS
    assert Mention.objects.filter(severity=0).count() == 0


def test_processing_twice_changes_nothing(world, topics):
    ingest(world, [row("a", STORY), row("b", PRAISE, 1)])
    mentions_process(hospital_id=world.hospital.pk)
    before = list(Mention.objects.order_by("pk").values_list("pk", "cluster_id", "severity", "processed_at"))
    stats = mentions_process(hospital_id=world.hospital.pk)
    assert stats.mentions == 0
    assert list(Mention.objects.order_by("pk").values_list("pk", "cluster_id", "severity", "processed_at")) == before
    assert (MentionCluster.objects.count(), LshBucket.objects.count(), MentionEntity.objects.count()) == (2, 32, 5)


def test_reprocessing_keeps_clusters_and_picks_up_new_names(world, topics):
    ingest(world, [row("a", "人民路医院的号太难挂了，排队等了一上午，抢不到号"), row("b", STORY, 2)])
    mentions_process(hospital_id=world.hospital.pk)
    first = Mention.objects.get(external_id="a")
    assert first.entities == []
    WatchedName.objects.create(hospital=world.hospital, kind="hospital", alias="人民路医院")
    clusters = dict(Mention.objects.values_list("pk", "cluster_id"))
    stats = mentions_process(hospital_id=world.hospital.pk, reprocess=True, batch_size=1)
    assert (stats.mentions, stats.chunks, stats.clusters_created) == (2, 2, 0)
    first.refresh_from_db()
    assert (first.entities, first.topics) == (["hospital"], ["waiting"])
    assert dict(Mention.objects.values_list("pk", "cluster_id")) == clusters
    assert MentionEntity.objects.filter(mention=first).count() == 1
    assert LshBucket.objects.count() == 2 * dedup.BANDS


def test_other_hospitals_are_untouched(world, topics):
    ingest(world, [row("a", STORY)])
    mentions_process(hospital_id=world.other_hospital.pk)
    assert Mention.objects.get().processed_at is None


def test_ingest_queues_processing_and_alerts_follow(world, topics, django_capture_on_commit_callbacks):
    RedLineRule.objects.create(hospital=world.hospital, name="医疗事故", terms=["医疗事故"], near_kinds=["hospital"],
                               window_chars=40)  # fmt: skip
    now = timezone.now().replace(microsecond=0)
    with django_capture_on_commit_callbacks(execute=True):
        mentions_ingest(
            hospital=world.hospital, source="push", principal=world.principal("brand"),
            rows=[(1, {"platform": "weibo", "external_id": "live-1", "text": STORY, "posted_at": now})],
        )  # fmt: skip
    mention = Mention.objects.get()
    assert mention.processed_at is not None
    alert = Alert.objects.get(kind=Alert.Kind.RED_LINE)
    assert list(alert.mentions.values_list("pk", flat=True)) == [mention.pk]


def test_command_imports_a_file_and_processes(world, topics, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    path = tmp_path / "export.csv"
    path.write_text(f"平台,帖子ID,内容,发布时间\n微博,c1,{STORY},2026-03-01 10:00\n抖音,c2,{PRAISE},2026-03-01 11:00\n",
                    encoding="gbk")  # fmt: skip
    out = StringIO()
    call_command("listening_process", "--hospital", world.hospital.code, "--file", str(path), stdout=out)
    lines = out.getvalue().splitlines()
    batch = Mention.objects.get(external_id="c1").batch
    assert lines[0] == f"imported batch {batch.pk}: 2 rows, 2 new, 0 duplicates"
    assert lines[1].startswith(
        "processed 2 mentions in 1 chunks: 2 new clusters, 0 existing clusters joined, 0 merged; "
    )
    assert Mention.objects.filter(processed_at__isnull=True).count() == 0
    out = StringIO()
    call_command("listening_process", "--hospital", world.hospital.code, "--all", "--batch-size", "1", stdout=out)
    assert out.getvalue().startswith("processed 2 mentions in 2 chunks: 0 new clusters, ")


def test_command_reports_bad_rows(world, tmp_path):
    from django.core.management import CommandError, call_command

    path = tmp_path / "bad.csv"
    path.write_text("平台,帖子ID,内容,发布时间\n推特,x1,一院,2026-03-01 10:00\n", encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command("listening_process", "--hospital", world.hospital.code, "--file", str(path))
    assert str(error.value) == "1 rows are not valid; nothing was imported.\n  row 2 platform: Unknown platform “推特”."
    with pytest.raises(CommandError):
        call_command("listening_process", "--hospital", "no-such-hospital")
    assert Mention.objects.count() == 0


# Three parts of one story: A = X + Y and B = Y + Z share too little to be one cluster (Jaccard ≈ 0.4), while
# C = X + Y + Z is a near-duplicate of both (≈ 0.7): C shows A and B are one story.
PART_X = "网传市一院急诊科护士态度恶劣对患者家属大声呵斥视频已经在网上疯传"
PART_Y = "家属表示孩子高烧三天在候诊区等了四个小时无人理睬医院至今没有任何说法"
PART_Z = "院方回应称已成立调查组将对涉事人员严肃处理并向家属公开道歉请大家关注"


def test_a_mention_that_bridges_two_stored_clusters_merges_them(world, topics):
    from xinqiao.listening.models import CrisisCase

    ingest(world, [row("a", PART_X + PART_Y)])
    mentions_process(hospital_id=world.hospital.pk)
    ingest(world, [row("b", PART_Y + PART_Z, 10), row("b2", "转发：" + PART_Y + PART_Z, 12)])
    mentions_process(hospital_id=world.hospital.pk)
    first = Mention.objects.get(external_id="a").cluster
    second = Mention.objects.get(external_id="b").cluster
    assert first.pk < second.pk  # two clusters so far
    alert = Alert.objects.create(hospital=world.hospital, kind="burst", dedup_key="x", title="急诊投诉")
    alert.clusters.add(second)
    case = CrisisCase.objects.create(hospital=world.hospital, title="急诊投诉", owner=world.users["brand"])
    case.clusters.add(second)
    MentionCluster.objects.filter(pk=second.pk).update(topics=["service-attitude"])

    ingest(world, [row("c", PART_X + PART_Y + PART_Z, 20)])
    stats = mentions_process(hospital_id=world.hospital.pk)

    assert stats.clusters_merged == 1
    assert not MentionCluster.objects.filter(pk=second.pk).exists()
    survivor = MentionCluster.objects.get(pk=first.pk)
    assert sorted(survivor.mentions.values_list("external_id", flat=True)) == ["a", "b", "b2", "c"]
    assert survivor.size == 4
    assert survivor.last_seen_at == T0 + dt.timedelta(minutes=20)
    assert "service-attitude" in survivor.topics
    assert list(alert.clusters.values_list("pk", flat=True)) == [first.pk]
    assert list(case.clusters.values_list("pk", flat=True)) == [first.pk]
    assert not LshBucket.objects.filter(cluster_id=second.pk).exists()
    assert LshBucket.objects.filter(cluster=survivor).count() == 4 * dedup.BANDS

    ingest(world, [row("d", "转发：" + PART_Y + PART_Z, 30)])  # a later copy of B finds the merged cluster
    mentions_process(hospital_id=world.hospital.pk)
    assert Mention.objects.get(external_id="d").cluster_id == first.pk


def test_a_chunk_whose_cluster_was_merged_away_meanwhile_is_processed_again(world, topics, monkeypatch):
    from xinqiao.listening.services import processing

    ingest(world, [row("a", STORY)])
    mentions_process(hospital_id=world.hospital.pk)
    story_cluster = Mention.objects.get(external_id="a").cluster_id
    gone = MentionCluster.objects.create(hospital=world.hospital, first_seen_at=T0, last_seen_at=T0)
    gone_id = gone.pk
    gone.delete()  # what another worker's merge leaves behind: bucket rows read before it pointed here
    real = processing._known_buckets
    calls = []

    def stale_then_real(hospital_id, results):
        calls.append(1)
        known = real(hospital_id, results)
        if len(calls) == 1:
            return {key: [(gone_id, signature) for _cluster, signature in hits] for key, hits in known.items()}
        return known

    monkeypatch.setattr(processing, "_known_buckets", stale_then_real)
    ingest(world, [row("r", "转发微博：" + STORY, 5)])

    mentions_process(hospital_id=world.hospital.pk)

    assert len(calls) == 2
    assert Mention.objects.get(external_id="r").cluster_id == story_cluster
