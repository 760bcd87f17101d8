"""Recommendations: the numbers in the text, and silence below the minimum samples."""

from __future__ import annotations

import pytest
from django.utils import translation

from xinqiao.analytics import recommendations as rec


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def cell(topic, rate, posts=12, views=5000, content_format="video"):
    return {
        "topic": topic,
        "content_format": content_format,
        "completion_rate": rate,
        "posts": posts,
        "completion_views": views,
    }


def test_topic_mix_names_best_and_worst_with_numbers():
    rows = [cell("儿童用药误区", 0.62, posts=14), cell("生长发育", 0.44, posts=11), cell("疫苗", 0.5)]

    result = rec.topic_mix(rows)

    assert [r.text for r in result] == [
        "Videos on 儿童用药误区 finish 1.4× more often than 生长发育 (62% vs 44%, n=14 and 11 posts): shift the mix."
    ]
    assert result[0].evidence["times"] == pytest.approx(1.41)


def test_topic_mix_needs_enough_posts_and_views():
    assert rec.topic_mix([cell("A", 0.9, posts=4), cell("B", 0.3)]) == []
    assert rec.topic_mix([cell("A", 0.9, views=999), cell("B", 0.3)]) == []
    assert rec.topic_mix([cell("A", 0.5), cell("B", 0.45)]) == []  # 1.11× is below the 1.2× threshold


def test_topic_mix_compares_within_one_format_only():
    rows = [cell("A", 0.9, content_format="video"), cell("B", 0.3, content_format="article")]

    assert rec.topic_mix(rows) == []


def hour(platform, at, posts, views):
    return {"platform": platform, "hour": at, "posts": posts, "views": views, "views_per_post": views / posts}


def test_posting_hours_against_platform_average():
    rows = [hour("douyin", 8, 5, 1000), hour("douyin", 12, 5, 1000), hour("douyin", 20, 10, 8000)]

    result = rec.posting_hours(rows)

    # average 10000 / 20 = 500 views per post; 20:00 gets 800 → 1.6×
    assert [r.text for r in result] == [
        "On Douyin, posts published at 20:00 get 1.6× the views per post of the platform average "
        "(800 vs 500, n=10 posts): schedule more there."
    ]


def test_posting_hours_need_three_hours_and_enough_posts():
    assert rec.posting_hours([hour("douyin", 8, 5, 100), hour("douyin", 20, 10, 8000)]) == []
    assert rec.posting_hours([hour("weibo", 8, 4, 100), hour("weibo", 9, 4, 100), hour("weibo", 20, 4, 9000)]) == []


def fmt(content_format, posts, views, interactions):
    return {
        "content_format": content_format,
        "posts": posts,
        "views": views,
        "interactions": interactions,
        "interaction_rate": interactions / views if views else None,
    }


def test_weak_formats():
    rows = [fmt("video", 10, 10000, 1000), fmt("article", 8, 10000, 200)]

    result = rec.weak_formats(rows)

    # overall 1200 / 20000 = 6.0 %; articles 2.0 % < 0.7 × 6.0 %
    assert [r.text for r in result] == [
        "Articles get 2.0% interaction against 6.0% overall (n=8 posts): rework the format or publish fewer of them."
    ]


def test_weak_formats_ignore_small_samples():
    assert rec.weak_formats([fmt("video", 10, 10000, 1000), fmt("article", 4, 10000, 200)]) == []
    assert rec.weak_formats([fmt("video", 10, 10000, 1000), fmt("article", 8, 900, 2)]) == []


def roi_row(label, cost, new_patients, visits, cac):
    return {
        "kind_label": "KOL partner",
        "label": label,
        "cost_fen": cost,
        "new_patients": new_patients,
        "visits": visits,
        "cac_fen": cac,
    }


def test_roi_outliers():
    rows = [
        roi_row("小林", 600_000, 2, 3, 300_000),
        roi_row("小王", 200_000, 4, 4, 50_000),
        roi_row("小赵", 150_000, 0, 0, None),
        roi_row("小钱", 50_000, 0, 0, None),  # below ¥1 000: no advice
    ]

    result = rec.roi_outliers(rows, overall_cac_fen=100_000)

    assert [r.kind for r in result] == ["roi_cac", "roi_no_patients"]
    assert result[0].text == (
        "KOL partner · 小林 costs ¥3000 per new patient, 3.0× the average of ¥1000 (n=2 new patients): "
        "renegotiate or move the budget."
    )
    assert result[1].text == (
        "KOL partner · 小赵 cost ¥1500 in this period and brought no attributed appointment or visit: "
        "check its tracking links and QR codes, or stop it."
    )


def test_recommend_combines_rules_and_is_empty_without_data():
    assert rec.recommend() == []
    combined = rec.recommend(topic_formats=[cell("A", 0.9), cell("B", 0.3)], formats=[fmt("video", 10, 10000, 1000)])
    assert [r.kind for r in combined] == ["topic_mix"]
