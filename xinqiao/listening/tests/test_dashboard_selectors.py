"""Dashboard figures on hand-made data: series, top negative clusters, breakdowns and every filter."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from xinqiao.listening.models import Alert, CrisisTopic
from xinqiao.listening.selectors.dashboard import DashboardFilters, dashboard, mention_scope
from xinqiao.listening.services import cases as services
from xinqiao.listening.tests.cases_helpers import make_alert, make_cluster, make_mention

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
DAY1 = dt.date(2026, 11, 18)


def local(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 11, 17 + day, hour, 0, tzinfo=SHANGHAI)


@pytest.fixture
def data(world):
    hospital = world.hospital
    cardiology = f"department:{world.departments['cardiology'].pk}"
    doctor = f"doctor:{world.doctors[0].pk}"
    CrisisTopic.objects.create(hospital=hospital, code="dispute", name="医患纠纷", keywords=["纠纷"])
    CrisisTopic.objects.create(hospital=hospital, code="fees", name="收费争议", keywords=["收费"])
    CrisisTopic.objects.create(hospital=hospital, code="waiting", name="排队等候", keywords=["排队"])
    crisis = make_cluster(hospital, title="心内科医患纠纷", at=local(3, 9), severity=90)
    crisis.topics = ["dispute", "unknown-code"]
    crisis.save(update_fields=["topics"])
    fees = make_cluster(hospital, title="收费太贵", at=local(1, 9), severity=40)
    # day 1: praise and one fee complaint
    make_mention(hospital, at=local(1, 9), sentiment="positive", platform="wechat_oa", entities=("hospital",))
    make_mention(hospital, at=local(1, 10), cluster=fees, topics=("fees",), entities=("hospital",), followers=50)
    # day 2: neutral, and a fee complaint again; 23:30 local is still day 2
    make_mention(hospital, at=local(2, 8), sentiment="neutral", platform="douyin", entities=(cardiology,))
    make_mention(hospital, at=local(2, 23) + dt.timedelta(minutes=30), cluster=fees, topics=("fees",), followers=50)
    # day 3: the crisis (three negative reposts) naming the department and the doctor
    for hour, followers in ((9, 5000), (10, 300), (11, 20)):
        make_mention(hospital, at=local(3, hour), cluster=crisis, topics=("dispute",),
                     entities=(cardiology, doctor), followers=followers)  # fmt: skip
    # outside the range and another hospital
    make_mention(hospital, at=local(0, 23), sentiment="negative", cluster=fees)
    make_mention(world.other_hospital, at=local(2, 9), sentiment="negative", entities=("hospital",))
    return {"crisis": crisis, "fees": fees, "cardiology": cardiology, "doctor": doctor}


def filters(**extra) -> DashboardFilters:
    return DashboardFilters(start=DAY1, end=DAY1 + dt.timedelta(days=3), **extra)


def test_daily_series_and_totals(world, data):
    board = dashboard(world.hospital.pk, filters())
    assert [(r["label"], r["negative"], r["neutral"], r["positive"], r["total"]) for r in board.series] == [
        ("2026-11-18", 1, 0, 1, 2),
        ("2026-11-19", 1, 1, 0, 2),
        ("2026-11-20", 3, 0, 0, 3),
        ("2026-11-21", 0, 0, 0, 0),
    ]
    assert board.series[0]["negative_share"] == 50.0
    assert (board.totals["total"], board.totals["negative"], board.totals["negative_share"]) == (7, 5, 71.4)
    assert board.totals["reach"] == 100 + 50 + 100 + 50 + 5000 + 300 + 20


def test_top_negative_clusters(world, data):
    board = dashboard(world.hospital.pk, filters())
    assert [(r["cluster"].title, r["negative"], r["reach"]) for r in board.top_clusters] == [
        ("心内科医患纠纷", 3, 5320),
        ("收费太贵", 2, 100),
    ]
    assert board.top_clusters[0]["topic_names"] == ["医患纠纷", "unknown-code"]


def test_topic_entity_and_platform_breakdowns(world, data):
    board = dashboard(world.hospital.pk, filters())
    assert [(t["code"], t["total"], t["negative"]) for t in board.topics] == [("dispute", 3, 3), ("fees", 2, 2)]
    assert [(e["label"], e["total"], e["negative"]) for e in board.entities] == [
        ("心内科", 4, 3), ("王建国", 3, 3), ("The hospital", 2, 1),
    ]  # fmt: skip
    assert [(p["platform"], p["total"], p["negative"]) for p in board.platforms] == [
        ("weibo", 5, 5), ("douyin", 1, 0), ("wechat_oa", 1, 0),
    ]  # fmt: skip
    assert board.chart["topics"] == {"names": ["医患纠纷", "收费争议"], "total": [3, 2], "negative": [3, 2]}


@pytest.mark.parametrize(
    ("extra", "expected_total"),
    [({"platform": "douyin"}, 1), ({"topic": "fees"}, 2), ({"topic": "waiting"}, 0), ({"entity_key": "hospital"}, 2)],
)
def test_filters(world, data, extra, expected_total):
    assert mention_scope(world.hospital.pk, filters(**extra)).count() == expected_total


def test_entity_filter_by_doctor(world, data):
    board = dashboard(world.hospital.pk, filters(entity_key=data["doctor"]))
    assert board.totals["total"] == 3
    assert [r["cluster"].title for r in board.top_clusters] == ["心内科医患纠纷"]


def test_hourly_series_for_short_ranges(world, data):
    board = dashboard(world.hospital.pk, DashboardFilters(start=dt.date(2026, 11, 20), end=dt.date(2026, 11, 20)))
    assert len(board.series) == 24
    assert [(r["label"], r["negative"]) for r in board.series if r["total"]] == [
        ("11-20 09:00", 1), ("11-20 10:00", 1), ("11-20 11:00", 1),
    ]  # fmt: skip


def test_open_alerts_and_cases(world, data):
    first = make_alert(world.hospital, clusters=[data["crisis"]], severity=90)
    make_alert(world.hospital, clusters=[data["fees"]], title="收费投诉增多", severity=50)
    dismissed = make_alert(world.hospital, title="已忽略", severity=99)
    Alert.objects.filter(pk=dismissed.pk).update(status=Alert.Status.DISMISSED)
    services.case_open_from_alert(principal=world.principal("brand"), alert=first)
    board = dashboard(world.hospital.pk, filters())
    assert [a.title for a in board.alerts] == ["收费投诉增多"]
    assert [c.title for c in board.cases] == ["红线：心内科医患纠纷"]


def test_query_count_does_not_grow_with_rows(world, data):
    with CaptureQueriesContext(connection) as small:
        dashboard(world.hospital.pk, filters())
    for index in range(20):
        cluster = make_cluster(world.hospital, title=f"故事{index}", at=local(2, 9))
        make_mention(world.hospital, at=local(2, 9), cluster=cluster, entities=(data["cardiology"],))
    with CaptureQueriesContext(connection) as large:
        dashboard(world.hospital.pk, filters())
    assert len(large.captured_queries) == len(small.captured_queries)


@pytest.fixture(autouse=True)
def english(settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def test_a_year_long_range_has_one_bucket_per_day(world, data):
    board = dashboard(world.hospital.pk, DashboardFilters(start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31)))
    assert len(board.series) == 365
    by_label = {row["label"]: row["total"] for row in board.series if row["total"]}
    assert by_label == {"2026-11-17": 1, "2026-11-18": 2, "2026-11-19": 2, "2026-11-20": 3}


def test_entity_breakdown_follows_the_platform_filter(world, data):
    board = dashboard(world.hospital.pk, filters(platform="douyin"))
    assert [(e["label"], e["total"], e["negative"]) for e in board.entities] == [("心内科", 1, 0)]
