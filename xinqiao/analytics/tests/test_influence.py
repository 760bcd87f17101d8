"""influence-index.md §9: every worked example, to the stated precision; plus the storing service."""

from __future__ import annotations

import datetime as dt

import pytest

from xinqiao.analytics import influence
from xinqiao.analytics.influence import WCI_VERSIONS, WciInputs, bci, wci, wci_dimensions
from xinqiao.analytics.models import ContentMetricDaily, InfluenceIndex, MetricSource
from xinqiao.channels.models import PlatformAccount

EXAMPLE_B = WciInputs(
    d=7, n=14, reads=170287, reads_headline=120000, reads_max=100001, zaikan=973, zaikan_headline=700,
    zaikan_max=400, likes=1400, likes_headline=1000, likes_max=600, shares=2600, shares_headline=1900,
    shares_max=1500,
)  # fmt: skip
EXAMPLE_C = WciInputs(
    d=7, n=3, reads=2400, reads_headline=2000, reads_max=1100, zaikan=30, zaikan_headline=25, zaikan_max=14,
    likes=45, likes_headline=38, likes_max=20, shares=60, shares_headline=50, shares_max=28,
)  # fmt: skip
EXAMPLE_D = WciInputs(
    d=30, n=13, reads=10400, reads_headline=8600, reads_max=1500, zaikan=130, zaikan_headline=105, zaikan_max=18,
    likes=195, likes_headline=160, likes_max=26, shares=260, shares_headline=215, shares_max=36,
)  # fmt: skip


def example_e(n: int) -> WciInputs:
    return WciInputs(
        d=7, n=n, reads=7000, reads_headline=5600, reads_max=1800, zaikan=70, zaikan_headline=56, zaikan_max=18,
        likes=105, likes_headline=84, likes_max=27, shares=140, shares_headline=112, shares_max=36,
    )  # fmt: skip


def dims(inputs: WciInputs, version: str) -> tuple[float, ...]:
    scores = wci_dimensions(inputs, WCI_VERSIONS[version])
    return tuple(scores[name] for name in ("overall", "article", "headline", "peak"))


def test_example_a_reproduces_the_published_value_with_one_decimal_averages():
    inputs = WciInputs(d=1, n=3, reads=29396, reads_headline=0, reads_max=22858, zaikan=72, zaikan_max=49)

    assert wci(inputs, "wci-11", round_averages=1) == pytest.approx(812.0233948, abs=1e-6)
    assert wci(inputs, "wci-11") == pytest.approx(812.0232, abs=1e-4)


@pytest.mark.parametrize(
    ("version", "expected"),
    [("wci-13", 901.40), ("wci-12", 886.71), ("wci-14.2-a", 1118.60), ("wci-14.2-b", 1054.30)],
)
def test_example_b(version, expected):
    assert wci(EXAMPLE_B, version) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("wci-13", (9.6701, 8.9771, 9.3233, 11.0301)),
        ("wci-14.2-a", (9.6919, 8.9989, 9.3447, 11.0545)),
        ("wci-14.2-b", (9.4101, 8.7171, 9.0683, 10.7699)),
    ],
)
def test_example_b_dimensions(version, expected):
    assert dims(EXAMPLE_B, version) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(("version", "expected"), [("wci-13", 341.83), ("wci-14.2-a", 406.77), ("wci-14.2-b", 378.42)])
def test_example_c(version, expected):
    assert wci(EXAMPLE_C, version) == pytest.approx(expected, abs=0.01)


def test_example_c_dimensions():
    assert dims(EXAMPLE_C, "wci-13") == pytest.approx((5.5313, 6.3752, 5.3502, 6.6957), abs=1e-4)
    assert dims(EXAMPLE_C, "wci-14.2-b") == pytest.approx((5.3486, 6.1920, 5.1684, 6.5121), abs=1e-4)


@pytest.mark.parametrize(("version", "expected"), [("wci-13", 345.74), ("wci-14.2-b", 383.26)])
def test_example_d_month(version, expected):
    assert wci(EXAMPLE_D, version) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(("n", "article", "expected"), [(7, 6.3480, 489.13), (21, 5.2548, 456.20)])
def test_example_e_posting_more_dilutes(n, article, expected):
    assert dims(example_e(n), "wci-14.2-b")[1] == pytest.approx(article, abs=1e-4)
    assert wci(example_e(n), "wci-14.2-b") == pytest.approx(expected, abs=0.01)


def test_example_f_bci_full_and_simplified():
    full = {"posts": 20, "original_posts": 12, "reposts": 150, "comments": 240, "original_reposts": 120,
            "original_comments": 200, "likes": 1800}  # fmt: skip

    assert bci(full, "bci-full") == pytest.approx(774.66, abs=0.01)
    assert bci({"posts": 20, "reposts": 150, "comments": 240, "likes": 1800}, "bci-simple") == pytest.approx(
        827.03, abs=0.01
    )


def test_example_g_near_dormant_and_inactive():
    one = WciInputs(d=7, n=1, reads=50, reads_headline=50, reads_max=50)

    assert dims(one, "wci-14.2-b")[:2] == pytest.approx((1.4680, 2.7523), abs=1e-4)
    assert wci(one, "wci-14.2-b") == pytest.approx(41.22, abs=0.01)
    assert wci(WciInputs(d=7, n=0, reads=0, reads_headline=0, reads_max=0), "wci-14.2-b") == 0.0
    assert bci({"posts": 0, "reposts": 5}, "bci-simple") == 0.0


def test_weight_sets_sum_to_one():
    for weights in WCI_VERSIONS.values():
        assert sum(weights.dimensions.values()) == pytest.approx(1.0)
        assert sum(weights.metrics.values()) == pytest.approx(1.0)


def test_headline_is_first_article_of_each_push():
    at = dt.datetime(2026, 10, 5, 20, 0, tzinfo=dt.UTC)
    articles = [
        influence.Article(key="2247_2", published_at=at),
        influence.Article(key="2247_1", published_at=at),
        influence.Article(key="zz", published_at=at + dt.timedelta(days=1), position=1),
        influence.Article(key="aa", published_at=at + dt.timedelta(days=1), position=2),
    ]

    assert influence.headline_keys(articles) == {"2247_1", "zz"}


def test_weekly_window_freezes_the_following_friday():
    window = influence.window_for("week", dt.date(2026, 10, 5))  # Monday

    assert (window.start, window.end, window.d) == (dt.date(2026, 10, 5), dt.date(2026, 10, 11), 7)
    assert window.snapshot_at.isoformat() == "2026-10-16T00:00:00+08:00"
    month = influence.window_for("month", dt.date(2026, 2, 14))
    assert (month.start, month.end, month.d) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28), 30)


def _row(world, account, key, published_at, day, **values):
    ContentMetricDaily.objects.create(
        hospital=world.hospital, account=account, platform=account.platform, content_key=key,
        published_at=published_at, stat_date=day, source=MetricSource.SEED, **values,
    )  # fmt: skip


def test_compute_stores_ranks_and_flags_capped_articles(world):
    tz = dt.timezone(dt.timedelta(hours=8))
    big = PlatformAccount.objects.create(
        hospital=world.hospital, platform="wechat_oa", name="一院", account_type="hospital_official"
    )
    small = PlatformAccount.objects.create(
        hospital=world.hospital, platform="wechat_oa", name="一院儿科", account_type="department",
        department=world.departments["pediatrics"],
    )  # fmt: skip
    PlatformAccount.objects.create(
        hospital=world.hospital, platform="wechat_oa", name="沉睡号", account_type="hospital_official"
    )
    push = dt.datetime(2026, 10, 6, 20, 0, tzinfo=tz)
    _row(world, big, "100_1", push, dt.date(2026, 10, 6), views=60000, likes=300, extra={"zaikan": 200})
    _row(world, big, "100_1", push, dt.date(2026, 10, 7), views=50000, extra={"reads_display": "10万+"})
    _row(world, big, "100_2", push, dt.date(2026, 10, 6), views=1000, likes=10, extra={"zaikan": 5})
    _row(world, big, "100_2", push, dt.date(2026, 10, 20), views=999999)  # after the Friday freeze
    _row(world, small, "200_1", push, dt.date(2026, 10, 6), views=50)

    influence.influence_compute(hospital=world.hospital, window="week", window_start=dt.date(2026, 10, 5))

    rows = {
        (row.account.name, row.version): row
        for row in InfluenceIndex.objects.filter(hospital=world.hospital).select_related("account")
    }
    assert sorted(rows) == sorted(
        (name, version) for name in ("一院", "一院儿科", "沉睡号") for version in ("wci-13", "wci-14.2-a")
    )
    big_row = rows[("一院", "wci-14.2-a")]
    assert big_row.inputs["n"] == 2
    assert big_row.inputs["reads"] == 101001.0  # 100001 (10万+) + 1000
    assert big_row.inputs["reads_headline"] == 100001.0
    assert big_row.inputs["zaikan"] == 205.0
    assert big_row.capped_articles == 1
    assert (big_row.days, big_row.window_end) == (7, dt.date(2026, 10, 11))
    expected = wci(
        WciInputs(d=7, n=2, reads=101001, reads_headline=100001, reads_max=100001, zaikan=205, zaikan_headline=200,
                  zaikan_max=200, likes=310, likes_headline=300, likes_max=300, nt=1),
        "wci-14.2-a",
    )  # fmt: skip
    assert big_row.value == pytest.approx(expected)
    assert [big_row.rank, rows[("一院儿科", "wci-14.2-a")].rank, rows[("沉睡号", "wci-14.2-a")].rank] == [1, 2, None]
    assert rows[("沉睡号", "wci-13")].is_inactive is True
    assert rows[("沉睡号", "wci-13")].value == 0.0

    influence.influence_compute(hospital=world.hospital, window="week", window_start=dt.date(2026, 10, 5))

    assert InfluenceIndex.objects.filter(hospital=world.hospital).count() == 6


def test_weibo_accounts_get_bci(world):
    tz = dt.timezone(dt.timedelta(hours=8))
    weibo = PlatformAccount.objects.create(
        hospital=world.hospital, platform="weibo", name="一院微博", account_type="hospital_official"
    )
    for index in range(2):
        _row(world, weibo, f"w{index}", dt.datetime(2026, 10, 6, 9, index, tzinfo=tz), dt.date(2026, 10, 6),
             shares=10, comments=20, likes=100)  # fmt: skip

    influence.influence_compute(hospital=world.hospital, window="week", window_start=dt.date(2026, 10, 5))

    row = InfluenceIndex.objects.get(account=weibo)
    assert row.version == "bci-simple"
    assert row.value == pytest.approx(bci({"posts": 2, "reposts": 20, "comments": 40, "likes": 200}, "bci-simple"))
    assert row.rank == 1
