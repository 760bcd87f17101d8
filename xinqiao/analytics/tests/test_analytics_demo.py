"""The analytics demo: a year of deterministic, realistic facts; a second run changes nothing."""

from __future__ import annotations

import datetime as dt
import io
import random
import statistics
from collections import defaultdict

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db.models import Sum

from xinqiao.analytics.demo import DEMO_MARK, demo_analytics_counts, seed_analytics_demo
from xinqiao.analytics.models import (
    AccountMetricDaily,
    Consultation,
    ContentMetricDaily,
    ContentMetricRollup,
    CostEntry,
    Touch,
)
from xinqiao.analytics.services.rollup import content_rollup_differences
from xinqiao.analytics.tests.reports_support import SHANGHAI
from xinqiao.channels.models import Publication
from xinqiao.content.demo import seed_content_demo
from xinqiao.core.models import Patient, Visit

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 11, 24)
EXPECTED = {
    "content_metrics": 17651,
    "content_keys": 1022,
    "account_metrics": 3650,  # 10 accounts × 365 days
    "touches": 18,
    "consultations": 13,
    "tracking_clicks": 50,
    "cost_entries": 117,
}


@pytest.fixture
def demo_world(world):
    """The test hospital with the content demo and a year of visits of its three patients through social media."""
    with time_machine.travel(dt.datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI), tick=False):
        seed_content_demo(world.hospital, rng=random.Random(20261123))
        rng = random.Random(5)
        channels = ["douyin", "xiaohongshu", "weibo", "wechat_channels", "bilibili", "zhihu"]
        Visit.objects.bulk_create(
            [
                Visit(hospital=world.hospital, patient=patient, department=world.departments["cardiology"],
                      kind=Visit.Kind.VISIT, occurred_on=TODAY - dt.timedelta(days=rng.randint(20, 360)),
                      channel=rng.choice(channels), revenue_fen=30000)
                for patient in world.patients for _n in range(15)
            ]
        )  # fmt: skip
        yield world


def _seed(world):
    with time_machine.travel(dt.datetime(2026, 11, 24, 9, 30, tzinfo=SHANGHAI), tick=False):
        return seed_analytics_demo(world.hospital, seed=2026, today=TODAY)


def test_a_year_of_facts_with_exact_counts(demo_world):
    patients_before = Patient.objects.count()

    result = _seed(demo_world)

    assert result == {"created": True, "counts": EXPECTED}
    days = ContentMetricDaily.objects.filter(hospital=demo_world.hospital).values_list("stat_date", flat=True)
    assert (min(days), max(days)) == (dt.date(2025, 11, 24), dt.date(2026, 11, 23))  # 365 days up to yesterday
    assert AccountMetricDaily.objects.filter(hospital=demo_world.hospital).values("stat_date").distinct().count() == 365
    assert Patient.objects.count() == patients_before  # no new personal data
    touched = set(Touch.objects.values_list("patient_id", flat=True))
    assert touched <= {p.pk for p in demo_world.patients}
    assert Consultation.objects.filter(source_ref__startswith=DEMO_MARK).count() == EXPECTED["consultations"]
    assert CostEntry.objects.filter(kind="kol").count() == 4
    # the dashboards' daily sums came with the facts
    assert ContentMetricRollup.objects.filter(hospital=demo_world.hospital).aggregate(rows=Sum("fact_rows")) == {
        "rows": EXPECTED["content_metrics"]
    }
    assert content_rollup_differences(hospital=demo_world.hospital) == (0, [])


def test_second_run_changes_nothing(demo_world):
    _seed(demo_world)
    views = ContentMetricDaily.objects.aggregate(total=Sum("views"))["total"]

    again = _seed(demo_world)

    assert again == {"created": False, "counts": EXPECTED}
    assert ContentMetricDaily.objects.aggregate(total=Sum("views"))["total"] == views
    assert demo_analytics_counts(demo_world.hospital) == EXPECTED


def test_the_data_is_deterministic_and_has_something_to_say(demo_world):
    _seed(demo_world)
    rows = ContentMetricDaily.objects.filter(hospital=demo_world.hospital)

    assert rows.aggregate(total=Sum("views"))["total"] == 7696298
    # seasonality: flu is read in winter, sun protection in summer
    flu = dict(rows.filter(topic="流感").values_list("stat_date__month").annotate(v=Sum("views")).order_by())
    sun = dict(rows.filter(topic="防晒护肤").values_list("stat_date__month").annotate(v=Sum("views")).order_by())
    assert flu[1] > 3 * flu.get(7, 1)
    assert sun[7] > 3 * sun.get(1, 1)
    # a few viral items tower over the median piece
    per_piece = list(rows.values("account_id", "content_key").annotate(v=Sum("views")).values_list("v", flat=True))
    median = statistics.median(per_piece)
    assert sum(1 for v in per_piece if v > 15 * median) == 11
    # weekday effect: WeChat articles are read less at weekends
    by_weekday = defaultdict(list)
    for day, views in rows.filter(platform="wechat_oa").values_list("stat_date").annotate(v=Sum("views")):
        by_weekday[day.weekday() >= 5].append(views)
    assert statistics.mean(by_weekday[True]) < statistics.mean(by_weekday[False])
    # videos carry completion rates, articles reads; archive publications are backdated into the year
    assert not rows.filter(content_format="video", completion_rate__isnull=True).exists()
    assert not rows.filter(platform="weibo", completion_rate__isnull=False).exists()
    archive = Publication.objects.filter(post_url__contains="/archive-")
    assert archive.count() == 72  # 24 items × 3 accounts
    assert min(archive.values_list("published_at", flat=True)).date() == dt.date(2025, 12, 1)


def test_command_needs_the_hospital_and_its_accounts(world, settings):
    settings.LANGUAGE_CODE = "en"
    with pytest.raises(CommandError) as no_accounts:
        call_command("seed_analytics_demo", "--hospital", world.hospital.code)
    with pytest.raises(CommandError) as no_hospital:
        call_command("seed_analytics_demo", "--hospital", "nope")

    assert str(no_accounts.value) == "The hospital has no accounts yet: run seed_content_demo first."
    assert str(no_hospital.value) == "No hospital with code nope: run seed_demo first."
    assert ContentMetricDaily.objects.count() == 0


def test_command_reports_what_it_did(demo_world, settings):
    settings.LANGUAGE_CODE = "en"
    out = io.StringIO()
    with time_machine.travel(dt.datetime(2026, 11, 24, 9, 30, tzinfo=SHANGHAI), tick=False):
        call_command("seed_analytics_demo", "--hospital", demo_world.hospital.code, stdout=out)
        call_command("seed_analytics_demo", "--hospital", demo_world.hospital.code, stdout=out)

    first, second = out.getvalue().splitlines()
    assert first.startswith("Analytics demo created in ")
    assert first.endswith(": content_metrics 17651, content_keys 1022, account_metrics 3650, touches 18, "
                          "consultations 13, tracking_clicks 50, cost_entries 117.")  # fmt: skip
    assert second.startswith("Analytics demo already present; nothing changed (content_metrics 17651,")
