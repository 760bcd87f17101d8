"""The daily planner-statistics job (``core.tasks.refresh_planner_statistics``)."""

from __future__ import annotations

import datetime as dt

from django.db import connection

from xinqiao.analytics.models import ContentMetricDaily, MetricSource
from xinqiao.analytics.tests.imports_support import make_account
from xinqiao.core.tasks import refresh_planner_statistics


def _statistics_of(table: str) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if cursor.fetchone() is None:
            return []
        cursor.execute("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = %s ORDER BY idx", [table])
        return cursor.fetchall()


def test_sqlite_gets_statistics_for_every_index_and_postgresql_is_left_to_autovacuum(world):
    account = make_account(world)
    ContentMetricDaily.objects.bulk_create(
        ContentMetricDaily(
            hospital=world.hospital, account=account, platform="douyin", content_key=f"k{number}",
            stat_date=dt.date(2026, 10, 1) + dt.timedelta(days=number % 30), topic="高血压" if number % 3 else "",
            source=MetricSource.IMPORT,
        )
        for number in range(300)
    )  # fmt: skip
    table = ContentMetricDaily._meta.db_table
    if connection.vendor != "sqlite":
        assert refresh_planner_statistics.call() == {"analyzed": "no (PostgreSQL's autovacuum keeps the statistics)"}
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if cursor.fetchone() is not None:
            cursor.execute("DELETE FROM sqlite_stat1")
    assert _statistics_of(table) == []

    assert refresh_planner_statistics.call() == {"analyzed": "yes"}
    statistics = dict(_statistics_of(table))
    assert {"content_metric_hospital_day", "content_metric_topic_day"} <= set(statistics)
    assert statistics["content_metric_hospital_day"].split()[0] == "300"  # rows the index holds
    assert statistics["content_metric_topic_day"].split()[0] == "200"  # only rows with a topic (a partial index)
    assert refresh_planner_statistics.call() == {"analyzed": "yes"}  # again: the same statistics
    assert dict(_statistics_of(table)) == statistics
