"""Burst, increase and digest alerts over stored mentions (hour-of-week baseline from history)."""

from __future__ import annotations

import datetime as dt
import math

import pytest
import time_machine

from xinqiao.channels.models import Notification
from xinqiao.listening.alert_tasks import sweep_alerts
from xinqiao.listening.models import Alert, Sentiment, WatchedName
from xinqiao.listening.services import alerts
from xinqiao.listening.tests.alert_support import processed_mention

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2025, 3, 5, 2, 40, tzinfo=dt.UTC)  # Wednesday 10:40 in Shanghai
WINDOW = dt.datetime(2025, 3, 5, 2, 0, tzinfo=dt.UTC)


def poisson_tail(x: int, lam: float) -> float:
    return 1 - sum(math.exp(-lam) * lam**k / math.factorial(k) for k in range(x))


@pytest.fixture
def history(world):
    """One negative mention of cardiology in this hour of the week in each of the last 8 weeks (λ = 1)."""
    cardiology = f"department:{world.departments['cardiology'].pk}"
    for week in range(1, 9):
        processed_mention(world, "一院心内科排队太久", posted_at=WINDOW - dt.timedelta(weeks=week, minutes=-10),
                          entities=["hospital", cardiology])  # fmt: skip
    # quiet neighbours: other hours and positive mentions do not count
    processed_mention(world, "一院心内科很好", posted_at=WINDOW - dt.timedelta(weeks=1, minutes=-20),
                      sentiment=Sentiment.POSITIVE, entities=["hospital", cardiology])  # fmt: skip
    processed_mention(world, "一院心内科排队", posted_at=WINDOW - dt.timedelta(weeks=1, hours=2),
                      entities=["hospital", cardiology])  # fmt: skip
    return cardiology


def test_burst_fires_per_hospital_and_per_entity_once(world, history):
    cardiology = history
    with time_machine.travel(NOW, tick=False):
        first = [processed_mention(world, f"一院心内科又出事了{i}", posted_at=WINDOW + dt.timedelta(minutes=i),
                                   entities=["hospital", cardiology]) for i in range(4)]  # fmt: skip
        assert alerts.alerts_after_processing(hospital_id=world.hospital.pk, mention_ids=[m.pk for m in first]) == []
        more = [processed_mention(world, f"一院心内科又出事了{i}", posted_at=WINDOW + dt.timedelta(minutes=i),
                                  entities=["hospital", cardiology]) for i in range(4, 7)]  # fmt: skip
        fired = alerts.alerts_after_processing(hospital_id=world.hospital.pk, mention_ids=[m.pk for m in more])
        again = alerts.alerts_after_processing(hospital_id=world.hospital.pk, mention_ids=[m.pk for m in more])
    assert again == []
    by_scope = {alert.entity_key: alert for alert in fired}
    assert sorted(by_scope) == ["", cardiology]
    hospital_wide = by_scope[""]
    # 7 negatives now; history 1,1,…,1 (8 weeks; the 09:00 and positive mentions are other windows/sentiments)
    assert (hospital_wide.observed, hospital_wide.expected) == (7.0, 1.0)
    assert hospital_wide.statistic == pytest.approx(poisson_tail(7, 1.0), rel=1e-9)
    assert hospital_wide.statistic == pytest.approx(8.3241e-5, rel=1e-4)
    assert hospital_wide.dedup_key == "burst:all:2025-03-05T02:00:00+00:00"
    assert (hospital_wide.window_start, hospital_wide.window_end) == (WINDOW, WINDOW + dt.timedelta(hours=1))
    assert hospital_wide.severity == pytest.approx(-20 * math.log10(poisson_tail(7, 1.0)))
    assert hospital_wide.mentions.count() == 7
    assert by_scope[cardiology].dedup_key == f"burst:{cardiology}:2025-03-05T02:00:00+00:00"
    assert Notification.objects.filter(hospital=world.hospital, level="warning").count() == 2
    # the sweep after the hour closes finds the same window already alerted
    with time_machine.travel(NOW + dt.timedelta(minutes=30), tick=False):
        assert alerts.alerts_sweep()["burst"] == 0
    assert Alert.objects.filter(kind=Alert.Kind.BURST).count() == 2


def test_sweep_fires_a_burst_the_pipeline_did_not_see(world, history):
    with time_machine.travel(NOW, tick=False):
        for i in range(8):  # imported without running alerts_after_processing (e.g. a file import)
            processed_mention(world, f"一院投诉{i}", posted_at=WINDOW + dt.timedelta(minutes=i))
        counts = alerts.alerts_sweep()
    assert counts["burst"] == 1
    alert = Alert.objects.get(kind=Alert.Kind.BURST)
    assert (alert.entity_key, alert.observed) == ("", 8.0)


def test_increase_and_digest(world):
    previous_day = dt.datetime(2025, 3, 3, 3, 0, tzinfo=dt.UTC)
    current_day = dt.datetime(2025, 3, 4, 10, 0, tzinfo=dt.UTC)
    for i in range(10):
        processed_mention(world, f"一院差评{i}", posted_at=previous_day + dt.timedelta(minutes=i))
    for i in range(16):
        processed_mention(world, f"一院差评{i}", posted_at=current_day + dt.timedelta(minutes=i))
    with time_machine.travel(NOW, tick=False):
        counts = sweep_alerts.call()  # the periodic task (a thin wrapper)
        assert alerts.alerts_sweep() == {"burst": 0, "increase": 0, "digest": 0}
    assert counts == {"burst": 0, "increase": 1, "digest": 1}
    increase = Alert.objects.get(kind=Alert.Kind.INCREASE)
    assert (increase.observed, increase.expected, increase.statistic) == (16.0, 10.0, 1.6)
    assert increase.dedup_key == "increase:all:2025-03-05"
    assert increase.title == (
        "Negative mentions of the hospital (all negative mentions) up: 16 in 24 h vs 10 the day before"
    )
    digest = Alert.objects.get(kind=Alert.Kind.DIGEST)
    assert digest.dedup_key == "digest:2025-03-05"
    assert digest.title == "Daily digest 2025-03-05: 1 open alerts, 16 negative mentions"
    assert digest.detail == "Increase: 1"
    # the digest is a summary: no in-app notification of its own (the increase has one)
    assert Notification.objects.filter(hospital=world.hospital).count() == 1
    # before 08:00 local the next day's digest is not due
    with time_machine.travel(dt.datetime(2025, 3, 5, 23, 0, tzinfo=dt.UTC), tick=False):
        assert alerts.alerts_sweep()["digest"] == 0
    assert Alert.objects.filter(kind=Alert.Kind.DIGEST).count() == 1


def test_acknowledge_and_dismiss(world):
    alert = Alert.objects.create(hospital=world.hospital, kind=Alert.Kind.BURST, dedup_key="k", title="t")
    alerts.alert_acknowledge(principal=world.principal("brand"), alert=alert, now=NOW)
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by, alert.acknowledged_at) == ("acknowledged", world.users["brand"], NOW)
    alerts.alert_dismiss(principal=world.principal("admin"), alert=alert)
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by) == ("dismissed", world.users["brand"])
    from xinqiao.core.exceptions import ApplicationError

    with pytest.raises(ApplicationError):
        alerts.alert_acknowledge(principal=world.principal("brand"), alert=alert)


def test_watched_names_count_for_red_lines(world):
    WatchedName.objects.create(hospital=world.hospital, kind=WatchedName.Kind.DOCTOR, doctor=world.doctors[0],
                               alias="王主任")  # fmt: skip
    alerts.red_line_defaults_install(world.hospital)
    mention = processed_mention(world, "听说王主任手术台上出了医疗事故", posted_at=NOW, sentiment=Sentiment.NEUTRAL)
    [alert] = alerts.alerts_after_processing(hospital_id=world.hospital.pk, mention_ids=[mention.pk])
    assert alert.entity_key == f"doctor:{world.doctors[0].pk}"
