"""period_summary over a small hand-computed data set (the data builder is shared by the other analytics tests).

The October 2026 data (all values by hand):
- content facts: impressions 1000 + 2000 + 500 = 3500, views 400 + 1000 + 200 = 1600, viewers 1250,
  interactions (20+5+10+5) + (50+10+30+10) + (10+0+5+5) = 160 → interaction rate 160 / 1600 = 0.1;
  completion (0.5·1000 + 0.8·200) / 1200 = 0.55; shares 45.
- followers on 10-31: 5300 (hospital account) + 800 (doctor-IP account) = 6100; net 200 + 100 + 50 = 350.
- clicks 5; consultations 3, of which 1 attributed; attributed visits 3 (revenue 30000 + 10000 + 20000 fen);
  new patients 1 → cost (31000 + 50000·15/30 = 56000) / 1 = 56000 fen; conversion 3 / 5 = 0.6.
September (31 days before): impressions 500, views 200, interactions 20, clicks 1, cost 25000, followers 5000.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from xinqiao.analytics.models import (
    AccountMetricDaily,
    Consultation,
    ContentMetricDaily,
    CostEntry,
    MetricSource,
    Touch,
)
from xinqiao.analytics.selectors import Filters
from xinqiao.analytics.selectors.period import period_summary
from xinqiao.analytics.services.rollup import content_rollup_refresh
from xinqiao.channels.models import PlatformAccount, Publication, TrackingClick, TrackingLink
from xinqiao.content.models import ContentItem, Revision
from xinqiao.core.models import Visit

TZ = dt.timezone(dt.timedelta(hours=8))
OCT = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))


def at(month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=TZ)


@dataclass
class DashboardData:
    accounts: dict[str, PlatformAccount]
    publications: dict[str, Publication]


def make_publication(world, account, *, title: str, department: str | None, topic: str, content_type: str):
    author = world.users["brand"]
    item = ContentItem.objects.create(
        hospital=world.hospital,
        title=title,
        content_type=content_type,
        pillar=ContentItem.Pillar.SCIENCE,
        disease_topics=[topic],
        department=world.departments[department] if department else None,
        state=ContentItem.State.PUBLISHED,
        author=author,
    )
    revision = Revision.objects.create(item=item, number=1, title=title, sha256="0" * 64, author=author)
    return Publication.objects.create(
        hospital=world.hospital,
        item=item,
        revision=revision,
        account=account,
        status=Publication.Status.PUBLISHED,
        published_at=at(10, 1, 9),
    )


def metric(world, account, publication, key, day, *, topic, fmt, department, completion=None, **counts):
    """One fact, and the account's rollup of that day recomputed (as every writer of facts does)."""
    fact = ContentMetricDaily.objects.create(
        hospital=world.hospital,
        account=account,
        publication=publication,
        platform=account.platform,
        content_key=key,
        title=f"post {key}",
        content_format=fmt,
        topic=topic,
        department_id_snapshot=world.departments[department].pk if department else None,
        published_at=at(day.month, day.day, 8),
        stat_date=day,
        completion_rate=completion,
        source=MetricSource.SEED,
        **counts,
    )
    content_rollup_refresh(account_id=account.pk, start=day, end=day)
    return fact


def build_dashboard_data(world) -> DashboardData:
    hospital = world.hospital
    departments = world.departments
    accounts = {
        "oa": PlatformAccount.objects.create(
            hospital=hospital, platform="wechat_oa", name="一院公众号", account_type="hospital_official"
        ),
        "douyin": PlatformAccount.objects.create(
            hospital=hospital,
            platform="douyin",
            name="心内科抖音",
            account_type="department",
            department=departments["cardiology"],
        ),
        "doctor": PlatformAccount.objects.create(
            hospital=hospital,
            platform="douyin",
            name="王建国医生",
            account_type="doctor_personal",
            department=departments["cardiology"],
            doctor=world.doctors[0],
        ),
    }
    p1 = make_publication(
        world, accounts["oa"], title="儿童用药", department="pediatrics", topic="儿童用药误区", content_type="article"
    )
    p2 = make_publication(
        world, accounts["douyin"], title="高血压", department="cardiology", topic="高血压", content_type="video_script"
    )
    d = dt.date
    metric(world, accounts["oa"], p1, "m1", d(2026, 10, 5), topic="儿童用药误区", fmt="article",
           department="pediatrics", impressions=1000, views=400, viewers=300, likes=20, comments=5, shares=10,
           favorites=5)  # fmt: skip
    metric(world, accounts["douyin"], p2, "v1", d(2026, 10, 6), topic="高血压", fmt="video", department="cardiology",
           completion=0.5, impressions=2000, views=1000, viewers=800, likes=50, comments=10, shares=30,
           favorites=10)  # fmt: skip
    metric(world, accounts["douyin"], p2, "v1", d(2026, 10, 7), topic="高血压", fmt="video", department="cardiology",
           completion=0.8, impressions=500, views=200, viewers=150, likes=10, comments=0, shares=5,
           favorites=5)  # fmt: skip
    metric(world, accounts["oa"], None, "m0", d(2026, 9, 10), topic="儿童用药误区", fmt="article",
           department="pediatrics", impressions=500, views=200, viewers=100, likes=10, comments=2, shares=4,
           favorites=4)  # fmt: skip
    metric(world, accounts["oa"], None, "m9", d(2026, 11, 1), topic="儿童用药误区", fmt="article",
           department="pediatrics", impressions=9999, views=9999, viewers=9999)  # fmt: skip
    for account, day, followers, net in [
        (accounts["oa"], d(2026, 9, 30), 5000, 0),
        (accounts["oa"], d(2026, 10, 15), 5200, 200),
        (accounts["oa"], d(2026, 10, 31), 5300, 100),
        (accounts["doctor"], d(2026, 10, 20), 800, 50),
    ]:
        AccountMetricDaily.objects.create(
            hospital=hospital,
            account=account,
            stat_date=day,
            followers=followers,
            net_followers=net,
            new_followers=max(net, 0),
            source=MetricSource.SEED,
        )
    links = {
        key: TrackingLink.objects.create(hospital=hospital, publication=pub, code=f"code{key}")
        for key, pub in (("p1", p1), ("p2", p2))
    }
    for link, when in [
        (links["p1"], at(10, 2)),
        (links["p1"], at(10, 3)),
        (links["p1"], at(10, 4)),
        (links["p2"], at(10, 8)),
        (links["p2"], at(10, 9)),
        (links["p2"], at(9, 15)),
    ]:
        TrackingClick.objects.create(link=link, clicked_at=when, agent_family="wechat")
    p0, p1_patient, p2_patient = world.patients
    for index, (patient, pub, when, kind) in enumerate(
        [
            (p0, p1, at(10, 2), Touch.Kind.LINK_CLICK),
            (p0, p2, at(10, 8), Touch.Kind.QR_SCAN),
            (p1_patient, p1, at(8, 20), Touch.Kind.LINK_CLICK),
            (p1_patient, p1, at(10, 4), Touch.Kind.LINK_CLICK),
        ]
    ):
        Touch.objects.create(
            hospital=hospital, patient=patient, publication=pub, kind=kind, occurred_at=when, source_ref=f"t{index}"
        )
    for index, (patient, when) in enumerate([(p0, at(10, 9, 9)), (p1_patient, at(10, 1, 8)), (p2_patient, at(10, 12))]):
        Consultation.objects.create(
            hospital=hospital, patient=patient, occurred_at=when, channel="wechat_oa", source_ref=f"c{index}"
        )
    for patient, kind, day, revenue, department in [
        (p0, Visit.Kind.VISIT, d(2026, 10, 10), 30000, "cardiology"),
        (p0, Visit.Kind.VISIT, d(2026, 10, 20), 10000, "cardiology"),
        (p1_patient, Visit.Kind.VISIT, d(2026, 3, 1), 7000, "pediatrics"),
        (p1_patient, Visit.Kind.APPOINTMENT, d(2026, 10, 3), 0, "pediatrics"),
        (p1_patient, Visit.Kind.VISIT, d(2026, 10, 5), 20000, "pediatrics"),
        (p2_patient, Visit.Kind.VISIT, d(2026, 10, 12), 5000, "endocrinology"),
    ]:
        Visit.objects.create(
            hospital=hospital,
            patient=patient,
            department=departments[department],
            kind=kind,
            occurred_on=day,
            channel="wechat_oa",
            revenue_fen=revenue,
        )
    CostEntry.objects.create(
        hospital=hospital,
        kind=CostEntry.Kind.CHANNEL,
        platform="douyin",
        account=accounts["douyin"],
        amount_fen=31000,
        date_from=d(2026, 10, 1),
        date_to=d(2026, 10, 31),
    )
    kol = CostEntry.objects.create(
        hospital=hospital,
        kind=CostEntry.Kind.KOL,
        partner="育儿博主小林",
        amount_fen=50000,
        date_from=d(2026, 9, 16),
        date_to=d(2026, 10, 15),
    )
    kol.publications.set([p1])
    return DashboardData(accounts=accounts, publications={"p1": p1, "p2": p2})


@pytest.fixture
def dashboard_data(world) -> DashboardData:
    return build_dashboard_data(world)


def test_current_values_match_hand_computation(world, dashboard_data):
    summary = period_summary(hospital=world.hospital, start=OCT[0], end=OCT[1])

    current = summary["current"]
    assert current["exposure"] == 3500
    assert current["reach"] == 1250
    assert current["views"] == 1600
    assert current["followers"] == 6100
    assert current["net_follower_growth"] == 350
    assert current["interaction_rate"] == pytest.approx(0.1)
    assert current["completion_rate"] == pytest.approx(0.55)
    assert current["doctor_ip_followers"] == 800
    assert current["positive_sentiment_share"] is None
    assert current["tracking_clicks"] == 5
    assert current["consultations"] == 3
    assert current["attributed_visits"] == 3
    # touched: p0 (10-02, 10-08) and p1 (10-04; its 08-20 touch is outside the 30-day lookback); both converted:
    # p0's visits of 10-10 and 10-20, p1's visit of 10-05 (its 10-03 appointment precedes its only touch)
    assert current["conversion_rate"] == pytest.approx(1.0)
    assert current["cost_per_acquired_patient"] == pytest.approx(56000)
    assert current["shares"] == 45
    assert (current["ugc_count"], current["referrals"], current["nps"]) == (None, None, None)
    assert summary["aggregates"]["attributed_revenue_fen"] == 60000
    assert summary["aggregates"]["revisits"] == 1


def test_previous_period_and_change(world, dashboard_data):
    summary = period_summary(hospital=world.hospital, start=OCT[0], end=OCT[1])

    assert (summary["previous_start"], summary["previous_end"]) == (dt.date(2026, 8, 31), dt.date(2026, 9, 30))
    previous = summary["previous"]
    assert previous["exposure"] == 500
    assert previous["followers"] == 5000
    assert previous["doctor_ip_followers"] is None
    assert previous["tracking_clicks"] == 1
    assert summary["previous_aggregates"]["cost_fen"] == 25000
    assert previous["cost_per_acquired_patient"] is None
    assert summary["change"]["exposure"] == pytest.approx(6.0)
    assert summary["change"]["tracking_clicks"] == pytest.approx(4.0)
    assert summary["change"]["interaction_rate"] == pytest.approx(0.0)
    assert summary["change"]["doctor_ip_followers"] is None


def test_department_scope_keeps_only_its_rows(world, dashboard_data):
    cardiology = world.departments["cardiology"].pk

    summary = period_summary(hospital=world.hospital, start=OCT[0], end=OCT[1], department_ids=[cardiology])

    current = summary["current"]
    assert current["exposure"] == 2500
    assert current["followers"] == 800  # only the doctor account of cardiology has follower counts
    assert current["tracking_clicks"] == 2
    assert current["consultations"] == 1  # the cardiology patient's consultation
    assert current["attributed_visits"] == 2  # the two visits whose last eligible touch is p2 (cardiology)
    assert summary["aggregates"]["cost_fen"] == 31000  # the KOL entry has no account, so no department


def test_filters_platform_and_topic(world, dashboard_data):
    douyin = period_summary(hospital=world.hospital, start=OCT[0], end=OCT[1], filters={"platform": "douyin"})
    topic = period_summary(hospital=world.hospital, start=OCT[0], end=OCT[1], filters=Filters(topic="儿童用药误区"))

    assert douyin["current"]["exposure"] == 2500
    assert douyin["current"]["tracking_clicks"] == 2
    assert topic["current"]["exposure"] == 1000
    assert topic["current"]["tracking_clicks"] == 3
    assert topic["current"]["consultations"] == 1  # attributed to p1 (the only publication of this topic)
    assert topic["aggregates"]["cost_fen"] is None
    assert topic["current"]["cost_per_acquired_patient"] is None


def test_positive_sentiment_share_when_listening_has_mentions(world, dashboard_data):
    from xinqiao.listening.models import Mention

    for index, sentiment in enumerate(["positive", "positive", "positive", "negative", "neutral", ""]):
        Mention.objects.create(
            hospital=world.hospital,
            platform="weibo",
            external_id=f"m{index}",
            text="一院的医生很好",
            posted_at=at(10, 10),
            sentiment=sentiment,
        )

    summary = period_summary(hospital=world.hospital, start=OCT[0], end=OCT[1])

    assert summary["current"]["positive_sentiment_share"] == pytest.approx(0.6)
    assert summary["previous"]["positive_sentiment_share"] is None


def test_other_hospital_sees_nothing(world, dashboard_data):
    summary = period_summary(hospital=world.other_hospital, start=OCT[0], end=OCT[1])

    assert summary["current"]["exposure"] == 0
    assert summary["current"]["followers"] is None
    assert summary["current"]["tracking_clicks"] == 0
    assert summary["current"]["consultations"] == 0
