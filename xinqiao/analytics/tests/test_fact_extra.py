"""A fact's ``extra`` (``StoredJSONField``): PostgreSQL's json rather than jsonb, read and written as before."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from xinqiao.analytics.models import ContentMetricDaily, MetricSource, StoredJSONField
from xinqiao.analytics.tests.imports_support import make_account

pytestmark = pytest.mark.django_db

EXTRA = {"完播率5s": 0.7731, "unknown": {"作品链接": "健康\t门诊"}, "flags": [True, None, 3], "quote": 'say "hi" \\ ok'}


def test_extra_is_stored_as_json_text_on_postgresql_and_reads_back_as_written(world):
    account = make_account(world)
    ContentMetricDaily.objects.create(
        hospital=world.hospital,
        account=account,
        platform=account.platform,
        content_key="k1",
        stat_date=dt.date(2026, 3, 1),
        source=MetricSource.IMPORT,
        extra=EXTRA,
    )
    fact = ContentMetricDaily.objects.get(content_key="k1")
    assert fact.extra == EXTRA
    assert ContentMetricDaily.objects.values_list("extra", flat=True).get() == EXTRA
    assert ContentMetricDaily.objects.values_list("extra__unknown", flat=True).get() == EXTRA["unknown"]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT data_type FROM information_schema.columns WHERE table_name = %s AND column_name = 'extra'",
                [ContentMetricDaily._meta.db_table],
            )
            assert cursor.fetchone() == ("json",)


def test_the_field_keeps_jsonb_nowhere_but_sqlite_keeps_its_check():
    field = ContentMetricDaily._meta.get_field("extra")
    assert isinstance(field, StoredJSONField)
    assert field.db_type(connection) == ("json" if connection.vendor == "postgresql" else "text")
    # psycopg gives PostgreSQL's json as Python values; SQLite gives text
    assert field.from_db_value({"a": 1}, None, connection) == {"a": 1}
    assert field.from_db_value('{"a": 1}', None, connection) == {"a": 1}
    assert field.from_db_value(None, None, connection) is None
