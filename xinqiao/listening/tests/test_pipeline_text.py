"""Normalisation, entity matching (with aliases and positions) and crisis-topic matching: pure functions."""

from __future__ import annotations

import pytest

from xinqiao.listening.lexicon import default_topics
from xinqiao.listening.pipeline.entities import match_batch, matcher_for, name_table
from xinqiao.listening.pipeline.normalise import normalise_batch, normalise_text
from xinqiao.listening.pipeline.topics import lexicon_from
from xinqiao.listening.pipeline.topics import matcher_for as topic_matcher_for


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("醫院護士態度很差", "医院护士态度很差"),  # traditional → simplified
        ("ＡＢＣ１２３，ｘｙｚ！", "abc123,xyz!"),  # full width → half width, lower case
        ("看这里 https://weibo.com/123/AbC 太气人了", "看这里 太气人了"),  # URL out
        ("好医生👍❤️[赞]真棒", "好医生 真棒"),  # emoji and bracket emoticons out
        ("<script>alert(1)</script>护士&amp;医生", "alert(1) 护士&医生"),  # tags dropped, entities decoded
        ("  多个   空格\n换行\t制表 ", "多个 空格 换行 制表"),
        ("", ""),
    ],
)
def test_normalise_text(raw, expected):
    assert normalise_text(raw).text == expected


def test_normalise_keeps_urls_and_emoji_aside():
    result = normalise_text("差评😡 http://t.cn/AbCd 退费[怒]")
    assert result.text == "差评 退费"
    assert result.urls == ("http://t.cn/AbCd",)
    assert result.emoji == ("😡", "[怒]")


def test_batch_normalisation_equals_one_by_one():
    texts = ["醫院\n第二行", "ＡＢＣ", "", "🙂", "普通文本 www.example.com/x", "a\r\nb"]
    assert normalise_batch(texts) == [normalise_text(text) for text in texts]


NAMES = name_table(
    [
        ("测试第一人民医院", "hospital"),
        ("一院", "hospital"),
        ("市一院", "hospital"),
        ("心内科", "department:1"),
        ("一院心内", "department:1"),  # watched name: more specific than 一院
        ("儿科", "department:2"),
        ("王建国", "doctor:7"),
        ("王主任", "doctor:7"),  # alias
        ("王", "doctor:9"),  # a one-character name is ignored
    ]
)


def test_entity_matches_names_aliases_with_positions():
    text = normalise_text("在測試第一人民醫院心內科看病，王主任很好").text
    matches = matcher_for(NAMES).matches(text)
    assert [(m.key, m.start, m.end, m.name) for m in matches] == [
        ("hospital", 1, 9, "测试第一人民医院"),
        ("department:1", 9, 12, "心内科"),
        ("doctor:7", 15, 18, "王主任"),
    ]
    assert text[1:9] == "测试第一人民医院"


def test_longest_name_wins_where_names_overlap():
    matches = match_batch(["一院心内的号太难挂", "市一院儿科"], NAMES)
    assert [[(m.key, m.start, m.end) for m in found] for found in matches] == [
        [("department:1", 0, 4)],
        [("hospital", 0, 3), ("department:2", 3, 5)],
    ]


def test_no_entities_and_duplicate_names_keep_the_first_owner():
    table = name_table([("儿科", "department:2"), ("儿科", "department:5"), ("", "hospital")])
    assert table.names == (("儿科", "department:2"),)
    assert matcher_for(table).keys("隔壁医院眼科") == []


LEXICON = lexicon_from((t["code"], t["name"], t["weight"], t["keywords"]) for t in default_topics())


@pytest.mark.parametrize(
    ("text", "topics"),
    [
        ("已经打12345投诉了", ["complaint"]),
        ("拨打12320反映情况", ["complaint"]),
        ("手术失败，家属要讨个说法", ["malpractice", "medical-dispute"]),
        ("有医生收红包，还吃回扣", ["ethics"]),
        ("急诊发生暴力伤医事件", ["violence"]),
        ("天价账单，乱收费", ["billing"]),
        ("护士态度很差，爱答不理", ["attitude"]),
        ("挂不上号，号贩子倒是有号", ["waiting"]),
        ("病历泄露给了别人", ["privacy"]),
        ("网传医院被关停，不实信息", ["rumour"]),
        ("这批疫苗召回了", ["recall"]),
        ("醫療事故", ["malpractice"]),  # traditional text
        ("医生讲得很清楚，谢谢", []),
    ],
)
def test_crisis_topics(text, topics):
    assert topic_matcher_for(LEXICON).topics(normalise_text(text).text) == topics


def test_topic_weight_is_the_heaviest_hit():
    matcher = topic_matcher_for(LEXICON)
    assert matcher.weight(["attitude", "malpractice"]) == 3.0
    assert matcher.weight([]) == 0.0
    assert LEXICON.weight_of(["billing", "waiting"]) == 1.5


def test_lexicon_keywords_are_normalised_and_inactive_entries_need_keywords():
    lexicon = lexicon_from([("x", "X", 2, ["醫鬧", " ", "医闹"]), ("empty", "E", 1, [])])
    assert [(topic.code, topic.keywords) for topic in lexicon.topics] == [("x", ("医闹",))]
    assert topic_matcher_for(lexicon).topics("有人医闹") == ["x"]
