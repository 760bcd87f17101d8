"""The column-wise first import writes exactly the rows the row-by-row upsert writes."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest
from django.core.serializers.json import DjangoJSONEncoder

from xinqiao.analytics.importers.headers import EXPORT_TYPES
from xinqiao.analytics.importers.parse import ContentColumns, parse_file
from xinqiao.analytics.models import ContentMetricDaily
from xinqiao.analytics.samples import make_sample
from xinqiao.analytics.services.imports import CONTENT_VALUE_FIELDS, upsert_content
from xinqiao.analytics.tests.imports_support import csv_bytes, douyin_lines, make_account, publish

CONTENT_CODES = [t.code for t in EXPORT_TYPES if t.kind == "content" and not t.split_by]
TODAY = dt.date(2025, 3, 8)


def stored(account) -> list[tuple]:
    rows = ContentMetricDaily.objects.filter(account=account).order_by("content_key", "stat_date")
    return list(rows.values_list("content_key", "stat_date", "source", *CONTENT_VALUE_FIELDS))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("code", CONTENT_CODES)
def test_column_wise_insert_equals_the_row_by_row_upsert(world, code, fmt, monkeypatch):
    from xinqiao.analytics.services import imports

    monkeypatch.setattr(imports, "EXTRA_FIRST_ROWS", 3)  # most rows' extra JSON made in the prefetch thread
    sample = make_sample(code, fmt=fmt, seed=5)
    platform = sample.platform
    result = parse_file(sample.content, filename=sample.filename, platform=platform, today=TODAY)
    assert result.errors == []
    assert isinstance(result.content, ContentColumns)
    department = world.departments["cardiology"]
    columns_account = make_account(world, platform=platform, name="列式", department=department)
    rows_account = make_account(world, platform=platform, name="逐行", department=department)
    first = result.content[0]
    if first.published_at is not None:  # one row of each file is linked to a publication of its account
        from xinqiao.content.tests.helpers import writer

        author = writer(world)
        for account in (columns_account, rows_account):
            publish(world, author, account, first.title, first.published_at)

    assert upsert_content(account=columns_account, records=result.content, source="import") == (
        len(result.content),
        0,
        0,
    )
    assert upsert_content(account=rows_account, records=list(result.content), source="import") == (
        len(result.content), 0, 0
    )  # fmt: skip

    by_columns, by_rows = stored(columns_account), stored(rows_account)
    publication_at = CONTENT_VALUE_FIELDS.index("publication_id") + 3
    assert [row[:publication_at] + row[publication_at + 1 :] for row in by_columns] == [
        row[:publication_at] + row[publication_at + 1 :] for row in by_rows
    ]
    linked = [row for row in by_columns if row[publication_at] is not None]
    assert len(linked) == (1 if first.published_at is not None else 0)
    assert len(by_columns) == len(sample.expected)


def test_extra_json_is_the_json_of_each_records_extra():
    sample = make_sample("douyin.works", fmt="csv", seed=9, rows=300)
    result = parse_file(sample.content, filename=sample.filename, platform="douyin", today=TODAY)
    columns = result.content
    texts = columns.extra_json(DjangoJSONEncoder().encode).values()
    assert len(texts) == 300
    for position, text in enumerate(texts):
        assert json.loads(text) == columns[position].extra
    assert {"unknown", "content_type"} <= set(json.loads(texts[0]))


def four_rows(*, extra_columns: dict, unknown_columns: list) -> ContentColumns:
    """Four records with nothing but the given ``extra`` and unknown columns (and content types, one of them empty)."""
    return ContentColumns(
        numbers=[2, 3, 4, 5],
        content_keys=["a", "b", "c", "d"],
        stat_dates=[TODAY] * 4,
        titles=[""] * 4,
        published_at=[None] * 4,
        formats=[""] * 4,
        metrics={},
        extra_columns=extra_columns,
        unknown_columns=unknown_columns,
        content_types=["video", "", None, "note"],
    )


def test_extra_json_writes_every_kind_of_value_for_any_slice():
    """Integers beyond 64 bits, booleans, floats, text needing escapes, rows with nothing in ``extra``."""
    columns = four_rows(
        extra_columns={
            "huge": [2**70, None, 1, -3],
            "count": [1, None, 3, 2**63 - 1],
            "rate": [0.5, None, 1e-7, 3.0],
            "ratio": [0.1 + 0.2, None, float("inf"), -0.0],  # not finite: written by Python
            "flag": [True, None, False, True],
            "text": ['a"b\\c', None, "中文\n", ""],
        },
        unknown_columns=[("未知列", ["x", None, None, "y"]), ("另一列", [None, None, None, "z"])],
    )
    encode = DjangoJSONEncoder(ensure_ascii=False).encode
    for start, stop in [(0, 4), (1, 3), (3, 4), (2, 2)]:
        texts = columns.extra_json(encode, start, stop).values()
        assert [json.loads(text) for text in texts] == [columns.extra_of(i) for i in range(start, stop)]
    assert columns.extra_json(encode, 1, 2).values() == ["{}"]
    assert all(type(json.loads(text)["rate"]) is float for text in columns.extra_json(encode, 2, 4))


def test_extra_json_of_lazy_columns_puts_each_distinct_values_json_in_place():
    """Columns kept as cells plus what each distinct cell reads as (``LazyColumn``) are encoded per distinct value
    by the same encoder (the same text ``encode(extra)`` gives), including a missing cell that reads as a value,
    and a column whose list is made already."""
    import polars as pl

    from xinqiao.analytics.importers.columnar import LazyColumn

    def columns() -> ContentColumns:  # afresh for each slice: reading a record makes a lazy column's whole list
        made = LazyColumn(pl.Series(["x", "y", "x", None]), {"x": 1, "y": 2.5, None: None})
        made.values()
        return four_rows(
            extra_columns={
                "rate": LazyColumn(
                    pl.Series(["50%", None, "--", "1e-5%"]), {"50%": 0.5, None: None, "--": None, "1e-5%": 1e-7}
                ),
                "count": LazyColumn(pl.Series([1, None, 3, 2**62], dtype=pl.Int64)),
                "text": LazyColumn(
                    pl.Series([" a ", "b", None, '中"文']), {" a ": "a", "b": "b", None: "空", '中"文': '中"文'}
                ),
                "made": made,
            },
            unknown_columns=[("未知列", LazyColumn(pl.Series([None, "u", None, "v"]), {None: None, "u": "U", "v": 2}))],
        )

    encode = DjangoJSONEncoder(ensure_ascii=False).encode
    for start, stop in [(0, 4), (1, 3), (3, 4), (2, 2)]:
        fresh = columns()
        texts = fresh.extra_json(encode, start, stop).values()
        assert texts == [encode(fresh.extra_of(i)) for i in range(start, stop)]
    assert json.loads(columns().extra_json(encode, 2, 3).values()[0]) == {"count": 3, "text": "空", "made": 1}
    assert '"rate": 1e-07' in columns().extra_json(encode, 3, 4).values()[0]  # the encoder's text, not polars'


def test_an_overlapping_period_is_merged_row_by_row(world):
    account = make_account(world)
    first = parse_file(csv_bytes(douyin_lines()), filename="works.csv", platform="douyin", today=TODAY)
    assert upsert_content(account=account, records=first.content, source="import") == (2, 0, 0)
    ContentMetricDaily.objects.filter(account=account).update(extra={"kept": 1})
    again = parse_file(csv_bytes(douyin_lines()), filename="works.csv", platform="douyin", today=TODAY)
    assert isinstance(again.content, ContentColumns)
    # the stored rows are found, compared and merged: ``extra`` keeps the stored key next to the file's columns
    assert upsert_content(account=account, records=again.content, source="import") == (0, 2, 0)
    extras = list(ContentMetricDaily.objects.filter(account=account).values_list("extra", flat=True))
    assert all(extra["kept"] == 1 and "unknown" in extra for extra in extras)


def test_a_row_stored_after_the_check_sends_the_import_to_the_merge(world, monkeypatch):
    """Another process may store rows of the period between the check and the insert: the insert's savepoint is
    rolled back and the rows are merged instead (nothing is lost, nothing doubled)."""
    from django.db.models.query import QuerySet

    account = make_account(world)
    first = parse_file(csv_bytes(douyin_lines()), filename="works.csv", platform="douyin", today=TODAY)
    assert upsert_content(account=account, records=list(first.content), source="import") == (2, 0, 0)
    ContentMetricDaily.objects.filter(account=account).update(views=1)
    monkeypatch.setattr(QuerySet, "exists", lambda self: False)  # the check saw an empty period
    again = parse_file(csv_bytes(douyin_lines()), filename="works.csv", platform="douyin", today=TODAY)
    assert upsert_content(account=account, records=again.content, source="import") == (0, 2, 0)
    assert sorted(ContentMetricDaily.objects.filter(account=account).values_list("views", flat=True)) == [
        9876,
        12000,
    ]


def test_text_with_tabs_newlines_and_backslashes_is_stored_as_written(world):
    """COPY's text format escapes these (PostgreSQL); SQLite binds them."""
    title = "第一行\\n字面反斜杠\t制表符\n第二行"
    lines = douyin_lines([[title, "2025-03-02 09:30", "1.2万", "35.5%", "35秒", 800, 40, 30, 25, "a\\b\tc"]])
    result = parse_file(csv_bytes(lines), filename="works.csv", platform="douyin", today=TODAY)
    assert isinstance(result.content, ContentColumns)
    account = make_account(world)
    assert upsert_content(account=account, records=result.content, source="import") == (1, 0, 0)
    stored_title, extra = ContentMetricDaily.objects.filter(account=account).values_list("title", "extra").get()
    assert stored_title == title
    assert extra["unknown"] == {"作品链接": "a\\b\tc"}


def test_the_columns_read_as_a_sequence_of_records():
    sample = make_sample("douyin.works", fmt="csv", seed=9, rows=5)
    columns = parse_file(sample.content, filename=sample.filename, platform="douyin", today=TODAY).content
    records = list(columns)
    assert sorted(record.title for record in records) == sorted(expected["title"] for expected in sample.expected)
    assert columns[-1] == records[-1]
    assert columns[1:3] == records[1:3]
    assert columns[::-2] == records[::-2]
    with pytest.raises(IndexError):
        columns[5]


def test_several_thousand_rows_are_written_in_batches_by_both_paths(world):
    """Over three statements' worth of rows: SQLite executes them in its writer thread."""
    sample = make_sample("douyin.works", fmt="csv", seed=13, rows=3_500)
    result = parse_file(sample.content, filename=sample.filename, platform="douyin", today=TODAY)
    columns_account = make_account(world, name="列式")
    rows_account = make_account(world, name="逐行")
    assert upsert_content(account=columns_account, records=result.content, source="import") == (3_500, 0, 0)
    assert upsert_content(account=rows_account, records=list(result.content), source="import") == (3_500, 0, 0)
    assert stored(columns_account) == stored(rows_account)
    assert len(stored(columns_account)) == 3_500


def test_a_value_refused_in_the_last_batch_leaves_nothing_written(world):
    from django.db import DataError, transaction

    from xinqiao.analytics.importers.parse import ContentRecord

    account = make_account(world)
    day = dt.date(2025, 3, 7)
    records = [ContentRecord(f"k{i}", day, f"t{i}", None, "video", {"views": i}, {}, [i]) for i in range(3_500)]
    records.append(ContentRecord("bad", day, "bad", None, "video", {"views": 2**70}, {}, [0]))
    with pytest.raises((OverflowError, DataError, psycopg.DataError)), transaction.atomic():
        upsert_content(account=account, records=records, source="import")
    assert ContentMetricDaily.objects.filter(account=account).count() == 0


def test_row_numbers_and_skipped_lines_whether_or_not_the_file_has_blank_or_totals_rows():
    lines = douyin_lines()  # title line, blank line, header (row 3), data rows 4 and 5

    def read(rows):
        return parse_file(csv_bytes(rows), filename="works.csv", platform="douyin", today=TODAY)

    clean = read(lines)
    assert sorted(record.rows for record in clean.content) == [[4], [5]]
    assert clean.skipped_rows == []
    with_totals = read([*lines, ["合计", "", "2.2万", "", "", 920, 40, 38, 28, ""]])
    assert with_totals.skipped_rows == [6]
    assert sorted(record.rows for record in with_totals.content) == [[4], [5]]
    with_blank = read([*lines[:4], [], *lines[4:]])
    assert sorted(record.rows for record in with_blank.content) == [[4], [6]]
    assert with_blank.data_rows == 2
