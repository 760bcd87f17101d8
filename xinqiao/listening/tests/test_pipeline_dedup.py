"""MinHash signatures, in-batch clustering and attaching to stored clusters (pure functions)."""

from __future__ import annotations

import numpy as np
from datasketch import MinHash

from xinqiao.listening.pipeline import dedup
from xinqiao.listening.pipeline.normalise import normalise_text

STORY = "网传某医院儿科手术失败致患者死亡，家属称医院存在医疗事故，医生已被停职，家属在医院门口拉横幅讨说法"
OTHER = "今天带老人去医院心内科看病，医生特别耐心，讲得清清楚楚，真的很感谢，以后就认准这家了"
THIRD = "医院发布春节期间门诊安排，急诊二十四小时服务，各科室正常开诊，请市民错峰就医"


def texts(*raw: str) -> list[str]:
    return [normalise_text(text).text for text in raw]


def test_signatures_are_datasketch_minhashes():
    cleaned = [dedup.clean(text) for text in texts(STORY, OTHER, "短文本", "两字", "", "一")]
    matrix = dedup.signatures(cleaned)
    for row, text in enumerate(cleaned):
        if not text:
            assert (matrix[row] == 0xFFFFFFFF).all()  # an empty set: datasketch's initial values
            continue
        reference = MinHash(num_perm=dedup.NUM_PERM, seed=dedup.SEED, scheme=dedup.SCHEME, hashfunc=int)
        reference.update_batch([int(value) for value in dedup.shingle_hashes(text)])
        assert np.array_equal(matrix[row], reference.hashvalues)


def test_signature_round_trips_through_bytes():
    matrix = dedup.signatures([dedup.clean(STORY)])
    data = dedup.to_bytes(matrix[0])
    assert len(data) == 4 * dedup.NUM_PERM
    assert np.array_equal(dedup.from_bytes(data), matrix[0])


def test_reposts_and_copy_paste_cluster_and_different_stories_do_not():
    batch = texts(
        STORY,
        "转发微博：" + STORY + "，太过分了",
        OTHER,
        "扩散//@小猫123：" + STORY.replace("停职", "停") + "😡😡",
        THIRD,
        "網傳某醫院兒科手術失敗致患者死亡，家屬稱醫院存在醫療事故，醫生已被停職，家屬在醫院門口拉橫幅討說法",
        "谢谢医生",  # too short to cluster
        "谢谢医生",
    )
    items = dedup.cluster_batch(batch)
    assert [item.local_cluster for item in items] == [0, 0, 2, 0, 4, 0, 6, 7]
    assert (items[6].signature, items[6].band_keys) == (None, ())
    assert [len(item.band_keys) for item in items[:6]] == [dedup.BANDS] * 6


def test_parent_id_joins_the_parent_cluster_whatever_the_wording():
    items = dedup.cluster_batch(
        texts(STORY, "转发", OTHER),
        platforms=["weibo", "weibo", "weibo"],
        external_ids=["a", "b", "c"],
        parent_external_ids=["", "a", ""],
    )
    assert [item.local_cluster for item in items] == [0, 0, 2]


def test_parent_on_another_platform_does_not_join():
    items = dedup.cluster_batch(
        texts(STORY, "转发"), platforms=["weibo", "douyin"], external_ids=["a", "b"], parent_external_ids=["", "a"]
    )
    assert [item.local_cluster for item in items] == [0, 1]


def test_clusters_span_batches_through_stored_buckets():
    first = dedup.cluster_batch(texts(STORY, OTHER))
    # what LshBucket rows hold after the first batch: band key -> (cluster id, signature)
    known: dict[int, list[tuple[int, bytes]]] = {}
    for cluster_id, item in zip([101, 102], first, strict=True):
        for key in item.band_keys:
            known.setdefault(key, []).append((cluster_id, item.signature))
    second = dedup.cluster_batch(texts(THIRD, "求真相：" + STORY + "，坐等官方回应", OTHER + "！！"))
    assert dedup.attach_to_known(second, known) == {1: 101, 2: 102}
    assert dedup.attach_to_known(second, {}) == {}


def test_band_candidates_are_verified_on_the_signature():
    item = dedup.cluster_batch(texts(STORY))[0]
    unrelated = dedup.cluster_batch(texts(THIRD))[0]
    # a forged bucket hit under the story's band key, holding an unrelated signature, is rejected
    known = {item.band_keys[0]: [(55, unrelated.signature)]}
    assert dedup.attach_to_known([item], known) == {}


def test_similarity_estimates_jaccard():
    left, right = dedup.signatures([dedup.clean(STORY), dedup.clean(STORY)])
    assert dedup.similarity(left, right) == 1.0
    other = dedup.signatures([dedup.clean(THIRD)])[0]
    assert dedup.similarity(left, other) < dedup.JACCARD_THRESHOLD


def test_a_local_cluster_verified_in_several_stored_clusters_merges_them_into_the_oldest():
    story, other = dedup.cluster_batch(texts(STORY, OTHER))
    # two stored clusters hold the story (split before a bridge was seen), a third holds it and the other text
    known = {
        story.band_keys[0]: [(102, story.signature)],
        story.band_keys[1]: [(101, story.signature)],
        story.band_keys[2]: [(103, story.signature)],
        other.band_keys[0]: [(103, other.signature), (104, other.signature)],
    }
    batch = dedup.cluster_batch(texts(STORY, OTHER))

    attached, merges = dedup.attach_and_merge(batch, known)

    assert merges == {102: 101, 103: 101, 104: 101}  # the other text chains 104 to 103, already merged into 101
    assert attached == {0: 101, 1: 101}
    assert dedup.attach_and_merge(batch, {}) == ({}, {})
    single = {story.band_keys[0]: [(102, story.signature)]}
    assert dedup.attach_and_merge(batch[:1], single) == ({0: 102}, {})
