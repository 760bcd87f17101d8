"""The figures of one report: headline KPIs vs the previous calendar period, top and bottom content, topics,
sentiment (only with listening data), per-day raw rows."""

from __future__ import annotations

import datetime as dt

import pytest

from xinqiao.analytics.reports import data as report_data_module
from xinqiao.analytics.reports.data import report_data
from xinqiao.analytics.reports.periods import parse_period
from xinqiao.analytics.tests.reports_support import OCTOBER_VIEWS, SEPTEMBER_VIEWS, build_mentions, build_metrics
from xinqiao.channels.models import PlatformAccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def october(world):
    build_metrics(world.hospital)
    return parse_period("2026-10")


def test_headline_kpis_compare_with_the_previous_calendar_month(world, october):
    report = report_data(hospital=world.hospital, period=october)

    kpis = {kpi.key: kpi for kpi in report.kpis}
    assert (kpis["views"].value, kpis["views"].previous) == (OCTOBER_VIEWS, SEPTEMBER_VIEWS)
    assert kpis["views"].change == pytest.approx((5800 - 1400) / 1400)
    assert kpis["views"].display == "5,800"
    assert kpis["views"].change_display == "+314.3%"
    assert (kpis["exposure"].value, kpis["exposure"].previous) == (44550, 2700)
    assert kpis["interaction_rate"].value == pytest.approx(369 / 5800)
    assert kpis["interaction_rate"].previous == pytest.approx(44 / 1400)
    assert kpis["completion_rate"].value == pytest.approx(1800 / 5500)
    assert (kpis["followers"].value, kpis["followers"].previous) == (1550, 990)
    assert (kpis["net_follower_growth"].value, kpis["net_follower_growth"].previous) == (35, 10)
    assert (kpis["shares"].value, kpis["shares"].previous) == (55, 11)
    # no listening data and no survey: those KPIs are left out rather than shown as zero
    assert "positive_sentiment_share" not in kpis
    assert "nps" not in kpis
    assert report.sentiment is None


def test_top_content_is_what_was_published_in_the_period(world, october):
    report = report_data(hospital=world.hospital, period=october)

    assert [(row.rank, row.title, row.views, row.engagements) for row in report.top_content] == [
        (1, "儿童发烧怎么办", 4000, 270),
        (2, "流感季如何防护", 1500, 92),
        (3, "高血压的日常管理", 200, 6),
    ]
    first = report.top_content[0]
    assert (first.platform, first.account, first.topic, first.content_format) == (
        "douyin",
        "一院抖音",
        "儿童发热",
        "video",
    )
    assert first.published_on == dt.date(2026, 10, 20)
    assert first.engagement_rate == pytest.approx(270 / 4000)
    assert first.completion_rate == pytest.approx(1100 / 4000)
    assert report.top_content[2].completion_rate is None
    assert report.bottom_content == []


def test_bottom_content_never_repeats_the_top(world, october, monkeypatch):
    monkeypatch.setattr(report_data_module, "TOP_N", 2)

    report = report_data(hospital=world.hospital, period=october)

    assert [row.title for row in report.top_content] == ["儿童发烧怎么办", "流感季如何防护"]
    assert [(row.rank, row.title) for row in report.bottom_content] == [(3, "高血压的日常管理")]


def test_topics_with_change_in_views(world, october):
    report = report_data(hospital=world.hospital, period=october)

    assert [(t.topic, t.items, t.views, t.previous_views) for t in report.topics] == [
        ("儿童发热", 1, 4000, 0),
        ("流感", 1, 1500, 600),
        ("高血压", 1, 200, 0),
        ("糖尿病", 1, 100, 800),
    ]
    assert [t.change for t in report.topics] == [None, pytest.approx(1.5), None, pytest.approx(-0.875)]
    assert report.topics[1].change_display == "+150.0%"


def test_sentiment_summary_when_mentions_exist(world, october):
    build_mentions(world.hospital)

    report = report_data(hospital=world.hospital, period=october)

    sentiment = report.sentiment
    assert (sentiment.total, sentiment.positive, sentiment.neutral, sentiment.negative) == (4, 1, 1, 2)
    assert (sentiment.negative_share, sentiment.previous_total, sentiment.previous_negative_share) == (0.5, 2, 0.5)
    assert sentiment.negative_topics == [("收费争议", 2)]
    kpis = {kpi.key: kpi for kpi in report.kpis}
    assert (kpis["positive_sentiment_share"].value, kpis["positive_sentiment_share"].previous) == (0.25, 0.5)


def test_daily_rows_per_day_and_platform(world, october):
    report = report_data(hospital=world.hospital, period=october)

    assert [(row.day.day, row.platform, row.views, row.net_followers) for row in report.daily] == [
        (1, "wechat_oa", 100, 10),
        (10, "wechat_oa", 1000, 0),
        (11, "wechat_oa", 500, 0),
        (20, "douyin", 3000, 0),
        (21, "douyin", 1000, 0),
        (25, "douyin", 200, 0),
        (31, "douyin", 0, 20),
        (31, "wechat_oa", 0, 5),
    ]
    totals = report.daily_totals
    assert len(totals) == 31
    assert totals[19] == (dt.date(2026, 10, 20), 3000, 200)
    assert sum(views for _day, views, _engagements in totals) == OCTOBER_VIEWS
    labels = PlatformAccount.Platform
    assert report.platform_views == [(str(labels.DOUYIN.label), 4200), (str(labels.WECHAT_OA.label), 1600)]


def test_a_week_report_reads_only_its_days(world):
    build_metrics(world.hospital)

    report = report_data(hospital=world.hospital, period=parse_period("2026-W43"))  # 10-19 … 10-25

    assert [row.title for row in report.top_content] == ["儿童发烧怎么办", "高血压的日常管理"]
    assert {kpi.key: kpi.value for kpi in report.kpis}["views"] == 4200


def test_other_hospitals_are_not_counted(world, october):
    report = report_data(hospital=world.other_hospital, period=october)

    assert report.top_content == []
    assert report.topics == []
    assert {kpi.key: kpi.value for kpi in report.kpis}["views"] == 0
