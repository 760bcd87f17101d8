"""PostgreSQL's extended statistics on the fact table's grouping columns (migration analytics 0011)."""

from __future__ import annotations

import pytest
from django.db import connection


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's CREATE STATISTICS")
def test_the_fact_tables_grouping_columns_have_ndistinct_statistics():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.stxkind, array_agg(a.attname ORDER BY a.attname) FROM pg_statistic_ext s "
            "JOIN pg_attribute a ON a.attrelid = s.stxrelid AND a.attnum = ANY (s.stxkeys) "
            "WHERE s.stxname = 'content_metric_key_groups' AND s.stxrelid = 'analytics_contentmetricdaily'::regclass "
            "GROUP BY s.stxkind"
        )
        rows = cursor.fetchall()
    assert rows == [(["d"], ["account_id", "content_format", "content_key", "platform", "topic"])]
