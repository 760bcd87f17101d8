"""Content, topic, account, ranking, funnel and ROI selectors over the hand-built October data."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from xinqiao.analytics import influence
from xinqiao.analytics.models import ContentMetricDaily, MetricSource
from xinqiao.analytics.selectors import Filters
from xinqiao.analytics.selectors import accounts as account_selectors
from xinqiao.analytics.selectors import content as content_selectors
from xinqiao.analytics.selectors import funnel as funnel_selectors
from xinqiao.analytics.selectors import rankings as ranking_selectors
from xinqiao.analytics.selectors import roi as roi_selectors
from xinqiao.analytics.selectors import topics as topic_selectors
from xinqiao.analytics.selectors.overview import overview
from xinqiao.analytics.services.rollup import content_rollup_rebuild, content_rollup_refresh
from xinqiao.analytics.tests.test_selectors_period import OCT, at, build_dashboard_data
from xinqiao.channels.models import PlatformAccount


@pytest.fixture
def data(world):
    return build_dashboard_data(world)


def window(world, **extra):
    return {"hospital": world.hospital, "start": OCT[0], "end": OCT[1], **extra}


def test_post_table(world, data):
    rows = content_selectors.post_table(world.hospital, *OCT)

    assert [(r["content_key"], r["views"], r["impressions"], r["interactions"]) for r in rows] == [
        ("v1", 1200, 2500, 120),
        ("m1", 400, 1000, 40),
    ]
    assert rows[0]["completion_rate"] == pytest.approx(0.55)
    assert rows[1]["completion_rate"] is None
    assert rows[0]["publication_id"] == data.publications["p2"].pk


def test_best_hours(world, data):
    rows = content_selectors.best_hours(world.hospital, *OCT)

    assert [(r["platform"], r["hour"], r["posts"], r["views"]) for r in rows] == [
        ("douyin", 8, 1, 1200),
        ("wechat_oa", 8, 1, 400),
    ]


def test_post_detail_and_department_scope(world, data):
    douyin = data.accounts["douyin"].pk

    post = content_selectors.post_detail(world.hospital, douyin, "v1")
    hidden = content_selectors.post_detail(world.hospital, douyin, "v1", [world.departments["pediatrics"].pk])
    elsewhere = content_selectors.post_detail(world.other_hospital, douyin, "v1")

    assert [r["date"] for r in post["series"]] == ["2026-10-06", "2026-10-07"]
    assert (post["totals"]["views"], post["totals"]["interactions"]) == (1200, 120)
    assert post["totals"]["completion_rate"] == pytest.approx(0.55)
    assert hidden is None
    assert elsewhere is None


def test_topic_cells_with_conversions(world, data):
    rows = topic_selectors.topic_cells(**window(world))

    assert [
        (r["topic"], r["content_format"], r["platform"], r["posts"], r["views"], r["conversions"], r["consultations"])
        for r in rows
    ] == [("高血压", "video", "douyin", 1, 1200, 2, 1), ("儿童用药误区", "article", "wechat_oa", 1, 400, 1, 0)]
    assert rows[0]["completion_rate"] == pytest.approx(0.55)


def test_topic_overview_by_topic(world, data):
    result = topic_selectors.topic_overview(**window(world, filters=Filters(platform="wechat_oa")))

    assert [(r["topic"], r["views"], r["interaction_rate"]) for r in result["topics"]] == [("儿童用药误区", 400, 0.1)]
    assert topic_selectors.topic_choices(world.hospital) == ["儿童用药误区", "高血压"]


def test_account_table(world, data):
    rows = account_selectors.account_table(**window(world))

    assert [(r["account"], r["followers"], r["net_followers"], r["posts"], r["views"]) for r in rows] == [
        ("一院公众号", 5300, 300, 1, 400),
        ("王建国医生", 800, 50, 0, 0),
        ("心内科抖音", None, 0, 1, 1200),
    ]


def test_account_table_department_scope(world, data):
    rows = account_selectors.account_table(**window(world, department_ids=[world.departments["cardiology"].pk]))

    assert [r["account"] for r in rows] == ["王建国医生", "心内科抖音"]


def test_influence_ranking_with_departments(world, data):
    oa = data.accounts["oa"]
    pediatrics_oa = PlatformAccount.objects.create(
        hospital=world.hospital,
        platform="wechat_oa",
        name="儿科公众号",
        account_type="department",
        department=world.departments["pediatrics"],
    )
    for account, views in ((oa, 5000), (pediatrics_oa, 300)):
        ContentMetricDaily.objects.create(
            hospital=world.hospital, account=account, platform="wechat_oa", content_key=f"{account.pk}_1",
            published_at=at(10, 6, 20), stat_date=dt.date(2026, 10, 6), views=views, source=MetricSource.SEED,
        )  # fmt: skip
    influence.influence_compute(hospital=world.hospital, window="week", window_start=dt.date(2026, 10, 5))

    ranking = account_selectors.influence_ranking(hospital=world.hospital, window="week")

    assert ranking["window_start"] == dt.date(2026, 10, 5)
    assert sorted(ranking["versions"]) == ["wci-13", "wci-14.2-a", "wci-14.2-b"]
    assert [r["account"] for r in ranking["versions"]["wci-14.2-b"]] == ["一院公众号"]  # the only one with shares
    assert [(r["rank"], r["account"]) for r in ranking["versions"]["wci-13"]] == [(1, "一院公众号"), (2, "儿科公众号")]
    assert [d["department"] for d in ranking["departments"]["wci-13"]] == ["儿科"]
    scoped = account_selectors.influence_ranking(
        hospital=world.hospital, window="week", department_ids=[world.departments["cardiology"].pk]
    )
    assert scoped["versions"] == {}


def test_doctor_and_department_rankings(world, data):
    ContentMetricDaily.objects.filter(content_key="v1").update(doctor_id_snapshot=world.doctors[0].pk)
    content_rollup_rebuild(hospitals=[world.hospital])  # (as every writer of facts keeps the rollups)

    doctors = ranking_selectors.doctor_ip_ranking(**window(world))
    departments = ranking_selectors.department_ranking(**window(world))

    assert [(r["rank"], r["name"], r["posts"], r["views"]) for r in doctors] == [(1, "王建国", 1, 1200)]
    assert [(r["rank"], r["name"], r["views"]) for r in departments] == [(1, "心内科", 1200), (2, "儿科", 400)]


def test_funnel_stages(world, data):
    result = funnel_selectors.funnel(**window(world))

    assert [(s["key"], s["value"]) for s in result["stages"]] == [
        ("exposure", 3500),
        ("clicks", 5),
        ("consultations", 1),
        ("visits", 3),
        ("revisits", 1),
    ]
    assert result["stages"][0]["step_rate"] is None
    assert result["stages"][1]["step_rate"] == pytest.approx(5 / 3500)
    assert result["stages"][3]["step_rate"] == pytest.approx(3.0)
    by_title = {r["title"]: r for r in result["publications"]}
    assert (by_title["儿童用药"]["first_visits"], by_title["儿童用药"]["last_visits"]) == (3, 1)
    assert (by_title["高血压"]["first_visits"], by_title["高血压"]["last_visits"]) == (0, 2)


def test_roi_per_channel_and_kol(world, data):
    result = roi_selectors.roi(**window(world))

    rows = {(r["kind"], r["label"]): r for r in result["rows"]}
    channel = rows[("channel", str(PlatformAccount.Platform.DOUYIN.label))]
    kol = rows[("kol", "育儿博主小林")]
    assert (channel["cost_fen"], channel["visits"], channel["new_patients"], channel["revenue_fen"]) == (
        31000,
        2,
        1,
        40000,
    )
    assert channel["cac_fen"] == pytest.approx(31000)
    assert channel["patient_value_fen"] == pytest.approx(40000)
    assert channel["roi"] == pytest.approx(9000 / 31000)
    assert (kol["cost_fen"], kol["visits"], kol["new_patients"], kol["revenue_fen"]) == (25000, 1, 0, 20000)
    assert kol["cac_fen"] is None
    assert kol["roi"] == pytest.approx(-0.2)
    assert (result["total_cost_fen"], result["attributed_revenue_fen"], result["new_patients"]) == (56000, 60000, 1)
    assert result["cac_fen"] == pytest.approx(56000)
    assert result["patient_value_fen"] == pytest.approx(30000)


def test_overview_query_count_does_not_grow_with_rows(world, data):
    with CaptureQueriesContext(connection) as before:
        overview(**window(world))
    for day in range(1, 20):
        ContentMetricDaily.objects.create(
            hospital=world.hospital, account=data.accounts["douyin"], platform="douyin", content_key=f"extra{day}",
            topic="高血压", stat_date=dt.date(2026, 10, day), views=10, source=MetricSource.SEED,
        )  # fmt: skip
    content_rollup_refresh(account_id=data.accounts["douyin"].pk, start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 19))

    with CaptureQueriesContext(connection) as after:
        result = overview(**window(world))

    assert len(after.captured_queries) == len(before.captured_queries)
    assert result["summary"]["current"]["views"] == 1600 + 190
    assert len(result["trend"]) == 31
    assert result["trend"][5] == {"date": "2026-10-06", "impressions": 2000, "views": 1010, "interactions": 100}


def test_topic_overview_rolls_up_to_the_same_rows_as_direct_grouping(world, data):
    # the overview groups once at the finest grain and rolls up in Python; grouping directly must agree
    overview = topic_selectors.topic_overview(**window(world))

    assert overview["topics"] == topic_selectors.topic_cells(**window(world), keys=("topic",))
    assert overview["topic_formats"] == topic_selectors.topic_cells(**window(world), keys=("topic", "content_format"))
    assert overview["cells"] == topic_selectors.topic_cells(**window(world))
    assert [(r["topic"], r["posts"], r["views"], r["conversions"]) for r in overview["topics"]] == [
        ("高血压", 1, 1200, 2),
        ("儿童用药误区", 1, 400, 1),
    ]


@pytest.mark.parametrize(
    "group_by", [("platform",), ("account_id",), ("department_id_snapshot",), ("platform", "content_format")]
)
def test_totals_with_posts_equal_a_distinct_count_per_group(world, data, group_by):
    from django.db.models import Count

    from xinqiao.analytics.selectors import content_rows
    from xinqiao.analytics.selectors.period import content_aggregate_expressions, totals_with_posts

    rows = content_rows(world.hospital, OCT[0], OCT[1], Filters(), None)
    expected = list(
        rows.values(*group_by)
        .annotate(posts=Count("content_key", distinct=True), **content_aggregate_expressions())
        .order_by(*group_by)
    )
    ours = totals_with_posts(rows, *group_by)
    assert len(ours) > 1
    assert [(row["posts"], row["total_views"]) for row in ours] == [
        (row["posts"], row["total_views"]) for row in expected
    ]
    for mine, theirs in zip(ours, expected, strict=True):
        assert mine.keys() == theirs.keys()
        for key, value in theirs.items():
            assert mine[key] == (pytest.approx(value) if isinstance(value, float) else value), key


def test_publication_first_days_are_found_through_the_partial_publication_index(world, data):
    """``content_metric_pub_day`` holds only linked rows; the first day of a publication must still be able to be
    found in it (one seek per publication)."""
    from xinqiao.analytics.selectors import publication_first_days

    linked = set(ContentMetricDaily.objects.exclude(publication=None).values_list("publication_id", flat=True))
    assert linked
    days = publication_first_days(world.hospital, sorted(linked))
    expected = {
        publication_id: min(
            ContentMetricDaily.objects.filter(publication_id=publication_id).values_list("stat_date", flat=True)
        )
        for publication_id in linked
    }
    assert dict(days) == expected
    if connection.vendor == "postgresql":
        # A handful of rows: with sequential scans off the planner shows whether the lookup can use the partial
        # index (on tables this small it might otherwise prefer any index the hospital range fits).
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
    assert "content_metric_pub_day" in days.explain()


def test_topic_filter_reads_the_partial_topic_index(world, data):
    """``content_metric_topic_day`` holds only rows with a topic; the topic filter must still be able to use it, and
    rows without a topic stay in every unfiltered total."""
    from xinqiao.analytics.selectors import content_rows

    untopical = ContentMetricDaily.objects.filter(hospital=world.hospital, stat_date__range=OCT).first()
    ContentMetricDaily.objects.filter(pk=untopical.pk).update(topic="")
    everything = content_rows(world.hospital, *OCT)
    assert everything.filter(pk=untopical.pk).exists()
    topical = content_rows(world.hospital, *OCT, Filters(topic="高血压"))
    assert set(topical.values_list("pk", flat=True)) == set(
        ContentMetricDaily.objects.filter(hospital=world.hospital, stat_date__range=OCT, topic="高血压").values_list(
            "pk", flat=True
        )
    )
    if connection.vendor == "postgresql":
        # On a handful of rows every index costs the planner the same and it may take any of them: give the period
        # the bulk of untopical rows an import brings, and statistics, so that the partial index is the cheap one.
        douyin = data.accounts["douyin"]
        ContentMetricDaily.objects.bulk_create(
            ContentMetricDaily(
                hospital=world.hospital, account=douyin, platform="douyin", content_key=f"bulk{number}",
                stat_date=OCT[0] + dt.timedelta(days=number % 31), source=MetricSource.IMPORT,
            )
            for number in range(3_000)
        )  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {ContentMetricDaily._meta.db_table}")
            cursor.execute("SET LOCAL enable_seqscan = off")
    assert "content_metric_topic_day" in topical.explain()


def test_topic_choices_read_topic_by_topic_give_what_one_distinct_query_gives(world, data):
    """The filter's topics come from a walk over the topic index (next topic, then a row in the period?): the same
    list as ``SELECT DISTINCT topic`` over the period, for any period and department scope."""
    from xinqiao.analytics.selectors import content_rows
    from xinqiao.analytics.tests.test_selectors_period import metric

    douyin = data.accounts["douyin"]
    for number, (topic, day, department) in enumerate(
        [
            ("骨科康复", dt.date(2026, 10, 20), "pediatrics"),
            ("Ａ型流感", dt.date(2026, 9, 1), None),
            ("a 型流感", dt.date(2026, 11, 2), "cardiology"),
            ("高血压", dt.date(2026, 12, 31), "pediatrics"),
            ("", dt.date(2026, 10, 10), "cardiology"),
        ]
    ):
        metric(world, douyin, None, f"t{number}", day, topic=topic, fmt="video", department=department, views=1)
    elsewhere = PlatformAccount.objects.create(  # another hospital's topic is never offered
        hospital=world.other_hospital, platform="douyin", name="别院抖音", account_type="hospital_official"
    )
    metric(world, elsewhere, None, "x", dt.date(2026, 10, 1), topic="别院专题", fmt="video", department=None)
    ContentMetricDaily.objects.filter(account=elsewhere).update(hospital=world.other_hospital)
    pediatrics, cardiology = world.departments["pediatrics"].pk, world.departments["cardiology"].pk
    for start, end in [(None, None), OCT, (dt.date(2026, 9, 1), dt.date(2026, 9, 1)), (dt.date(2027, 1, 1), None)]:
        for scope in (None, [pediatrics], [cardiology], [pediatrics, cardiology], []):
            expected = list(
                content_rows(world.hospital, start, end, None, scope)
                .exclude(topic="")
                .values_list("topic", flat=True)
                .distinct()
                .order_by("topic")
            )
            assert topic_selectors.topic_choices(world.hospital, scope, start, end) == expected, (start, end, scope)
    assert "骨科康复" in topic_selectors.topic_choices(world.hospital, None, *OCT)
    assert topic_selectors.topic_choices(world.hospital, None, dt.date(2027, 1, 1), None) == []


@pytest.mark.parametrize("per_query", [None, 1])
def test_a_credited_publication_counts_under_the_cell_of_its_first_day(world, data, per_query, monkeypatch):
    """``publication_first_cells``: the cell of the first day with facts (after the filters); of several cells that
    day, the least as text; a publication without a matching fact is left out."""
    from xinqiao.analytics import selectors
    from xinqiao.analytics.selectors import publication_first_cells
    from xinqiao.analytics.tests.test_selectors_period import make_publication, metric

    if per_query:  # one publication, one first day per statement
        monkeypatch.setattr(selectors, "PUBLICATIONS_PER_QUERY", per_query)
        monkeypatch.setattr(selectors, "DAYS_PER_QUERY", per_query)

    douyin = data.accounts["douyin"]
    retagged = make_publication(
        world, douyin, title="复查", department="cardiology", topic="冠心病", content_type="video_script"
    )
    d = dt.date
    # re-tagged on the 9th, and a second content key of the same publication on its first day in another format
    metric(world, douyin, retagged, "r1", d(2026, 10, 8), topic="冠心病", fmt="video", department="cardiology", views=5)
    metric(world, douyin, retagged, "r2", d(2026, 10, 8), topic="冠心病", fmt="article", department="cardiology")
    metric(world, douyin, retagged, "r1", d(2026, 10, 9), topic="高血压", fmt="video", department="cardiology")
    silent = make_publication(world, douyin, title="无数据", department=None, topic="x", content_type="article")
    p2 = data.publications["p2"]
    ids = [retagged.pk, p2.pk, silent.pk]

    assert publication_first_cells(world.hospital, ids, topic_selectors.GRAIN) == {
        retagged.pk: ("冠心病", "article", "douyin"),  # "article" < "video" on the first day
        p2.pk: ("高血压", "video", "douyin"),
    }
    assert publication_first_cells(world.hospital, ids, ("topic",), Filters(topic="高血压")) == {
        retagged.pk: ("高血压",),  # its first day among the filtered facts is the 9th
        p2.pk: ("高血压",),
    }
    assert publication_first_cells(world.hospital, ids, ("topic",), Filters(platform="wechat_oa")) == {}
    assert publication_first_cells(world.hospital, [], ("topic",)) == {}
