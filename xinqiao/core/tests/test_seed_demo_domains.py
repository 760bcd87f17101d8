"""seed_demo without --core-only also seeds the domain demos (content, analytics, listening), idempotently, and
--reset clears all of it (rows of every app that point at the demo hospitals) before seeding again."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command

from xinqiao.analytics.models import ContentMetricDaily
from xinqiao.analytics.selectors.period import period_summary
from xinqiao.channels.models import PlatformAccount
from xinqiao.content.models import ContentItem
from xinqiao.listening.models import Alert, Mention

pytestmark = pytest.mark.slow

NOW = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)


def counts() -> tuple[int, int, int, int]:
    return (
        ContentItem.objects.filter(hospital__code="demo").count(),
        ContentMetricDaily.objects.filter(hospital__code="demo").count(),
        Mention.objects.filter(hospital__code="demo").count(),
        Alert.objects.filter(hospital__code="demo", kind="red_line").count(),
    )


@pytest.mark.django_db(transaction=True)
def test_seed_demo_runs_the_domain_demos_once_and_resets_them():
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", seed=5, patients=300, stdout=io.StringIO(), stderr=io.StringIO())
        first = counts()
        call_command("seed_demo", seed=5, patients=300, stdout=io.StringIO(), stderr=io.StringIO())
        second = counts()
        call_command("seed_demo", seed=5, patients=300, reset=True, stdout=io.StringIO(), stderr=io.StringIO())
    assert second == first
    assert counts() == first
    # content demo 30 items + 24 archive items of the analytics demo; a year of facts; 3,000 history mentions and
    # the 80-post crisis; its two red-line stories
    assert first == (54, 17359, 3080, 2)
    # the doctor with a personal account is a doctor IP, so the trust layer's doctor-IP followers KPI has a value
    personal = PlatformAccount.objects.get(hospital__code="demo", account_type="doctor_personal")
    assert personal.doctor.is_ip
    summary = period_summary(hospital=personal.hospital, start=dt.date(2026, 10, 21), end=dt.date(2026, 11, 19))
    assert summary["current"]["doctor_ip_followers"] > 0
