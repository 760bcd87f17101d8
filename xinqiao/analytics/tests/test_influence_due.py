"""The periodic influence job: last complete week and month for every hospital with WeChat or Weibo accounts."""

from __future__ import annotations

import datetime as dt

from xinqiao.analytics.influence import influence_compute_due, last_complete_window
from xinqiao.analytics.models import InfluenceIndex
from xinqiao.channels.models import PlatformAccount


def test_last_complete_window():
    wednesday = dt.date(2026, 11, 25)
    assert last_complete_window("week", wednesday) == dt.date(2026, 11, 16)
    assert last_complete_window("month", wednesday) == dt.date(2026, 10, 1)
    assert last_complete_window("week", dt.date(2026, 11, 23)) == dt.date(2026, 11, 16)  # a Monday
    assert last_complete_window("month", dt.date(2026, 1, 1)) == dt.date(2025, 12, 1)


def test_due_job_stores_each_window_once(world):
    # given one WeChat and one Weibo account without posts, and a dormant (inactive) account that is skipped
    for platform, name in [("wechat_oa", "一院公众号"), ("weibo", "一院微博")]:
        PlatformAccount.objects.create(hospital=world.hospital, platform=platform, name=name,
                                       account_type="hospital_official")  # fmt: skip
    PlatformAccount.objects.create(hospital=world.hospital, platform="wechat_oa", name="停用号",
                                   account_type="hospital_official", is_active=False)  # fmt: skip
    # when the job runs twice on the same day
    first = influence_compute_due(today=dt.date(2026, 11, 25))
    second = influence_compute_due(today=dt.date(2026, 11, 25))
    # then WCI 13 and 14.2-A (no share data, so no 14.2-B) and one BCI, for the week and the month, stored once
    assert (first, second) == (6, 6)
    rows = InfluenceIndex.objects.filter(hospital=world.hospital)
    assert sorted(rows.values_list("window", "window_start", "version")) == sorted(
        (window, start, version)
        for window, start in [("week", dt.date(2026, 11, 16)), ("month", dt.date(2026, 10, 1))]
        for version in ("wci-13", "wci-14.2-a", rows.filter(account__platform="weibo").first().version)
    )
    assert set(rows.values_list("is_inactive", "value", "rank")) == {(True, 0.0, None)}
