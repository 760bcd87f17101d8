"""The columnar CSV path (polars) reads exactly what the row path reads, or leaves the file to the row path."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xinqiao.analytics.importers import columnar, parse
from xinqiao.analytics.importers.headers import EXPORT_TYPES
from xinqiao.analytics.importers.parse import ContentColumns, parse_file
from xinqiao.analytics.samples import make_sample
from xinqiao.analytics.tests.imports_support import DOUYIN_HEADER, csv_bytes, douyin_lines

TODAY = dt.date(2025, 3, 8)
CONTENT_CODES = [t.code for t in EXPORT_TYPES if t.kind == "content"]


def snapshot(result: parse.ParseResult) -> dict[str, Any]:
    """Everything the parse found; the records in (day, content key) order, the columnar path's."""
    fields = {field.name: getattr(result, field.name) for field in dataclasses.fields(result)}
    fields["content"] = sorted(fields["content"], key=lambda record: (record.stat_date, record.content_key))
    fields["errors"] = [error.as_dict() for error in result.errors]
    return fields


def both_paths(data: bytes, *, platform: str = "douyin", filename: str = "works.csv", monkeypatch) -> tuple:
    """(result of the columnar path or None when it declined, result of the row path)."""
    taken: list[bool] = []
    original = columnar.read_columnar

    def spy(*args, **kwargs):
        taken.append(original(*args, **kwargs))
        return taken[-1]

    with monkeypatch.context() as patch:
        patch.setattr(parse, "read_columnar", spy)
        fast = parse_file(data, filename=filename, platform=platform, today=TODAY)
    with monkeypatch.context() as patch:
        patch.setattr(parse, "read_columnar", lambda *args, **kwargs: False)
        slow = parse_file(data, filename=filename, platform=platform, today=TODAY)
    return (fast if taken and taken[-1] else None), fast, slow


@pytest.mark.parametrize("code", CONTENT_CODES)
def test_every_platforms_sample_export_reads_the_same_on_both_paths(code, monkeypatch):
    sample = make_sample(code, fmt="csv", seed=11, rows=400)
    columnar_result, fast, slow = both_paths(sample.content, platform=sample.platform, monkeypatch=monkeypatch)
    assert snapshot(fast) == snapshot(slow)
    split = any(column.canonical in slow.export_type.split_by for column in slow.columns)
    assert (columnar_result is not None) == (not split)  # per-channel exports are grouped row by row
    assert slow.ok


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("code", [t.code for t in EXPORT_TYPES if t.kind == "content" and not t.split_by])
def test_iterating_the_columns_gives_the_records_indexing_does(code, fmt):
    """``ContentColumns.__iter__`` makes each column a list once; indexing builds one record at a time."""
    sample = make_sample(code, fmt=fmt, seed=5, rows=120)
    records = parse_file(sample.content, filename=sample.filename, platform=sample.platform, today=TODAY).content
    assert isinstance(records, parse.ContentColumns)
    assert list(records) == [records[position] for position in range(len(records))]
    assert any(record.extra for record in records)
    assert any(record.extra.get("unknown") for record in records)


def test_the_bench_sized_export_takes_the_columnar_path(monkeypatch):
    sample = make_sample("douyin.works", fmt="csv", seed=3, rows=20_000)
    columnar_result, fast, slow = both_paths(sample.content, monkeypatch=monkeypatch)
    assert columnar_result is not None
    assert len(columnar_result.content) == 20_000
    assert snapshot(fast) == snapshot(slow)


ROWS = [
    ["高血压的日常管理", "2025-03-02 09:30", "1.2万", "35.5%", "35秒", 800, 40, 30, 25, "https://v.douyin.com/a"],
    ["孩子发烧别慌", "2025-03-03 20:00", "9,876", "12.25%", "00:01:05", 120, "--", 8, 3, "https://v.douyin.com/b"],
]


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([*ROWS, ["合计", "", "2.2万", "", "", 920, 40, 38, 28, ""]], "a totals line"),
        ([ROWS[0], [], ROWS[1]], "a blank line"),
        ([ROWS[0], ["孩子发烧别慌", "2025-03-03 20:00", "9876", "0.1225", "65", 1, 2, 3, 4, "x"]], "mixed units"),
        ([ROWS[0], [*ROWS[1], "多出来的单元格"]], "a longer row"),
        ([ROWS[0], ["孩子发烧别慌", "2099-03-03 20:00", "9876", "1%", "65", 1, 2, 3, 4, "x"]], "a future date"),
        ([ROWS[0], ROWS[0]], "a duplicate row"),
        ([ROWS[0], ["", "2025-03-03 20:00", "9876", "1%", "65", 1, 2, 3, 4, "x"]], "an empty title"),
        ([ROWS[0], ["孩子发烧别慌", "2025-03-03 20:00", "很多", "1%", "65", 1, 2, 3, 4, "x"]], "a count that is text"),
        ([ROWS[0], ["\u3000合计\u3000", "", "2.2万", "", "", 920, 40, 38, 28, ""]], "a padded totals line"),
        # \x1c is whitespace to Python's str.strip, not to Rust's: the marker is found all the same
        ([ROWS[0], ["\x1c\x1c\x1c合计\x1c\x1c\x1c", "", "2", "", "", 9, 4, 3, 2, ""]], "a totals line in odd spaces"),
    ],
)
def test_a_file_the_row_path_must_judge_is_left_to_it(rows, reason, monkeypatch):
    columnar_result, fast, slow = both_paths(csv_bytes(douyin_lines(rows)), monkeypatch=monkeypatch)
    assert columnar_result is None, reason
    assert snapshot(fast) == snapshot(slow)


def test_a_title_over_200_characters_is_cut_alike_on_both_paths(monkeypatch):
    long_title = "高血压" * 70 + "（续）"  # 213 characters
    rows = [ROWS[0], [long_title, "2025-03-03 20:00", "9876", "1%", "65", 1, 2, 3, 4, "x"]]
    columnar_result, fast, slow = both_paths(csv_bytes(douyin_lines(rows)), monkeypatch=monkeypatch)
    assert columnar_result is not None
    assert snapshot(fast) == snapshot(slow)
    assert sorted(len(record.title) for record in fast.content) == [8, 200]
    assert long_title[:200] in {record.title for record in fast.content}


def test_a_field_longer_than_the_csv_modules_limit_is_refused_as_before(monkeypatch):
    rows = [ROWS[0], ["长" * 140_000, "2025-03-03 20:00", "9876", "1%", "65", 1, 2, 3, 4, "x"]]
    columnar_result, fast, slow = both_paths(csv_bytes(douyin_lines(rows)), monkeypatch=monkeypatch)
    assert columnar_result is None
    assert [error.message for error in fast.errors] == [error.message for error in slow.errors]
    assert "field larger than field limit" in fast.errors[0].message


def test_a_lone_carriage_return_leaves_the_file_to_the_row_path(monkeypatch):
    """The csv module ends a row at a bare \r; polars does not: such a file is read row by row."""
    text = csv_bytes(douyin_lines(ROWS), encoding="utf-8").decode("utf-8")
    for split in ("高血压\r", "https://v.douyin.com/a\r"):  # inside a title; at the end of a row (before \r\n)
        data = text.replace(split.rstrip("\r"), split, 1).encode("utf-8")
        columnar_result, fast, slow = both_paths(data, monkeypatch=monkeypatch)
        assert columnar_result is None, split
        assert snapshot(fast) == snapshot(slow)


def test_quoted_commas_quotes_and_line_breaks_in_titles_read_alike(monkeypatch):
    rows = [
        ['他说："别慌"，然后', "2025-03-02 09:30", "1.2万", "35.5%", "35秒", 800, 40, 30, 25, "a,b"],
        ["第一行\n第二行\r\n第三行", "2025-03-03 20:00", "9876", "12.25%", "65", 1, 2, 3, 4, ""],
        ["  前后有空格  ", "2025-03-04 20:00", " 12 ", "1%", "1分5秒", 1, 2, 3, 4, "\u3000"],
    ]
    columnar_result, fast, slow = both_paths(csv_bytes(douyin_lines(rows)), monkeypatch=monkeypatch)
    assert columnar_result is not None
    assert snapshot(fast) == snapshot(slow)
    assert [record.title for record in columnar_result.content] == [
        '他说："别慌"，然后',
        "第一行\n第二行\r\n第三行",
        "前后有空格",
    ]


def test_utf8_gbk_and_tab_separated_files_read_alike(monkeypatch):
    for data in (
        csv_bytes(douyin_lines(ROWS), encoding="utf-8"),
        csv_bytes(douyin_lines(ROWS), encoding="gbk"),
        "\n".join("\t".join(map(str, row)) for row in douyin_lines(ROWS)).encode("utf-8"),
    ):
        columnar_result, fast, slow = both_paths(data, monkeypatch=monkeypatch)
        assert columnar_result is not None
        assert snapshot(fast) == snapshot(slow)


CELL = st.one_of(
    st.sampled_from(["", " ", "--", "-", "N/A", "null", "合计", " total ", "\u3000", "\x1c", "\xa0"]),
    st.integers(min_value=-5, max_value=10**6).map(str),
    st.sampled_from(
        ["1.2万", "3亿", "12,345", "10万+", "1.5k", "007", "+12", "９８", "1e3", "12.0", "99999999999999999999"]
    ),
    st.sampled_from(["35.5%", "12%", "0.35", "45", "1分5秒", "00:01:05", "35秒", "1:05", "12.5"]),
    st.sampled_from(["2025-03-02 09:30", "2025/3/2 9:30", "20250302", "2025年3月2日", "45718.5", "2099-01-01"]),
    st.text(alphabet=st.sampled_from(list("ab 血压\",\n\r\t'\\")), max_size=6),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.lists(
        st.lists(CELL, min_size=len(DOUYIN_HEADER) - 1, max_size=len(DOUYIN_HEADER) + 1), min_size=1, max_size=6
    ),
    titles=st.lists(st.text(alphabet=st.sampled_from(list("孩子发烧 \"',\n合计")), min_size=1, max_size=5), min_size=6),
)
def test_generated_files_read_the_same_on_both_paths(body, titles, monkeypatch):
    rows = [[titles[position], *row[1:]] for position, row in enumerate(body)]
    columnar_result, fast, slow = both_paths(csv_bytes(douyin_lines(rows)), monkeypatch=monkeypatch)
    assert snapshot(fast) == snapshot(slow)


PADDING = st.sampled_from(["", " ", "\u3000", "\xa0", "\x1c", "\t"])
VALID_BY_COLUMN = [
    st.text(alphabet=st.sampled_from(list("孩子发烧血压 \"',\n\r")), min_size=1, max_size=8),
    st.sampled_from(["2025-03-02 09:30", "2025/3/2 9:30", "20250302", "2025年3月2日", "2025-03-02"]),
    st.sampled_from(["1.2万", "3.5w", "12,345", "10万+", "1.5k", "007", "９８", "--", "", "0"])
    | st.integers(min_value=0, max_value=10**9).map(str),
    st.sampled_from(["35.5%", "12%", "0%", "--", "100%"]),
    st.sampled_from(["1分5秒", "00:01:05", "35秒", "1:05", "12.5", "35s", "--"]),
    st.integers(min_value=-3, max_value=10**6).map(str) | st.sampled_from(["1.2万", "--", " 12 ", "+7"]),
    st.integers(min_value=0, max_value=500).map(str),
    st.integers(min_value=0, max_value=500).map(str),
    st.integers(min_value=0, max_value=500).map(str),
    st.text(alphabet=st.sampled_from(list("ab:/.- \u3000")), max_size=8),
]
VALID_ROW = st.tuples(*[st.tuples(PADDING, cell, PADDING).map("".join) for cell in VALID_BY_COLUMN]).map(list)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(VALID_ROW, min_size=1, max_size=8))
def test_generated_readable_files_read_the_same_on_both_paths(rows, monkeypatch):
    columnar_result, fast, slow = both_paths(csv_bytes(douyin_lines(rows)), monkeypatch=monkeypatch)
    assert snapshot(fast) == snapshot(slow)


def test_the_readable_generator_exercises_the_columnar_path(monkeypatch):
    """The generated files above do reach the columnar path, not only the row path."""
    import random

    generator = random.Random(5)
    accepted = 0
    for _attempt in range(30):
        rows = [_row(generator, index) for index in range(5)]
        columnar_result, fast, slow = both_paths(csv_bytes(douyin_lines(rows)), monkeypatch=monkeypatch)
        assert snapshot(fast) == snapshot(slow)
        accepted += columnar_result is not None
    assert accepted >= 10


def _row(generator, index: int) -> list[str]:
    pad = generator.choice(["", " ", "\u3000"])
    return [
        f"{pad}标题{index}{generator.choice(['', ',', '"引号"'])}",
        generator.choice(["2025-03-02 09:30", "2025/3/2 9:30", "20250302"]),
        generator.choice(["1.2万", "12,345", "10万+", str(generator.randrange(10**6))]),
        generator.choice(["35.5%", "12%", "--"]),
        generator.choice(["1分5秒", "00:01:05", "35秒"]),
        str(generator.randrange(1000)),
        generator.choice(["--", str(generator.randrange(1000))]),
        str(generator.randrange(1000)),
        f"{pad}{generator.randrange(1000)}{pad}",
        generator.choice(["", "https://v.douyin.com/x", "\u3000"]),
    ]


def test_the_columnar_records_come_in_day_and_key_order_with_their_row_numbers(monkeypatch):
    sample = make_sample("douyin.works", fmt="csv", seed=21, rows=300)
    columnar_result, _fast, slow = both_paths(sample.content, monkeypatch=monkeypatch)
    records = columnar_result.content
    assert isinstance(records, ContentColumns)
    assert records.content_keys == sorted(records.content_keys)  # a snapshot export: one day

    assert sorted(records.numbers) == list(range(slow.header_row + 1, slow.header_row + 301))
    by_row = {record.rows[0]: record for record in slow.content}
    assert all(by_row[record.rows[0]] == record for record in records)
    assert [preview["row"] for preview in columnar_result.preview_rows] == list(range(4, 24))  # the file's order

    # an export with a day column: three days of the same two works, the latest day first
    header = ["统计日期", *DOUYIN_HEADER]
    rows = [[f"2025-03-0{day}", *row] for day in (7, 6, 5) for row in ROWS]
    columnar_daily, fast, slow = both_paths(csv_bytes([header, *rows]), monkeypatch=monkeypatch)
    pairs = list(zip(columnar_daily.content.stat_dates, columnar_daily.content.content_keys, strict=True))
    assert len(set(columnar_daily.content.stat_dates)) == 3
    assert pairs == sorted(pairs)
    assert snapshot(fast) == snapshot(slow)


def test_the_first_rows_of_a_csv_are_read_once_and_match_the_whole_read():
    from xinqiao.analytics.importers.reading import read_table

    data = csv_bytes(douyin_lines(ROWS * 60), encoding="utf-8")
    table = read_table(data, "works.csv")
    first = table.head(50)
    assert table.head(10) == first[:10]
    assert table.head(500) == table.rows[:500]
    assert len(table.head(500)) == len(table.rows) == 3 + 120


def test_a_lazy_column_reads_as_the_list_it_stands_for():
    import polars as pl

    from xinqiao.analytics.importers.columnar import LazyColumn

    cells = pl.Series(["3万", None, "7", "3万", "0"])
    mapping = {"3万": 30_000, None: None, "7": 7, "0": 0}
    expected = [30_000, None, 7, 30_000, 0]
    for make in (lambda: LazyColumn(cells, mapping), lambda: LazyColumn(pl.Series(expected, dtype=pl.Int64))):
        column = make()
        assert len(column) == 5
        assert column[1:4] == expected[1:4]  # made from the slice of cells
        assert column[4:99] == [0]
        assert column[3:1] == []
        assert column[::2] == expected[::2]  # any other access makes (and keeps) the whole list
        assert column[-1] == 0
        assert list(column) == expected
        assert make().or_zero()[0:5] == [30_000, 0, 7, 30_000, 0]
        assert make().mapped(lambda value: -1 if value is None else value * 2)[0:5] == [60_000, -1, 14, 60_000, 0]


def test_a_columns_numbers_come_as_a_polars_column_without_making_its_python_values():
    import polars as pl

    cells = pl.Series(["1.2万", "--", "800", None])
    column = columnar.LazyColumn(cells, {"1.2万": 12_000, "--": None, "800": 800, None: 0})

    assert column.series().to_list() == [12_000, None, 800, 0] == column[0:4]
    assert column._values is None  # the writer still makes its slices lazily
    rates = columnar.LazyColumn(pl.Series(["50%", "--"]), {"50%": 0.5, "--": None})
    assert rates.series().dtype == pl.Float64
    with pytest.raises(TypeError):
        columnar.LazyColumn(pl.Series(["a", "b"])).series()  # text cells are no numbers
    with pytest.raises(TypeError):
        columnar.LazyColumn(pl.Series(["x"]), {"x": "视频"}).series()


def test_only_empty_cells_take_the_empty_cells_value():
    """A cell that reads as None (``--``) stays None where the empty cell reads as something else, in the numbers
    and in the ``extra`` JSON fragments alike (as the per-row path reads them)."""
    import polars as pl

    column = columnar.LazyColumn(pl.Series(["5", "--", None]), {"5": 5, "--": None, None: 0.5})

    assert column.series().to_list() == [5.0, None, 0.5] == column[0:3]
    assert column.json_fragments('"n": ', str, 0, 3).to_list() == ['"n": 5', None, '"n": 0.5']


def test_a_lazy_columns_copy_text_is_its_values_copy_text():
    """The bulk writer's COPY text from a parsed column (its distinct values formatted once, put in place by
    polars) is the text its Python values give: counts, rates, text needing COPY's escapes, None and the empty
    cell's value, sliced chunk by chunk."""
    import polars as pl

    from xinqiao.core import bulk

    columns = [
        columnar.LazyColumn(pl.Series(["3万", None, "7", "--", "3万"]), {"3万": 30_000, None: 0, "7": 7, "--": None}),
        columnar.LazyColumn(
            pl.Series(["16.09%", "1e-07", None, "50%", "16.09%"]),
            {"16.09%": 0.1609, "1e-07": 1e-09, None: None, "50%": 0.5},
        ),
        columnar.LazyColumn(
            pl.Series(["a\tb", "back\\slash", "视频", None, "line\nbreak"]),
            {"a\tb": "a\tb", "back\\slash": "back\\slash", "视频": "视频", None: None, "line\nbreak": "line\nbreak"},
        ),
        columnar.LazyColumn(pl.Series([12, None, -3, 4, 5], dtype=pl.Int64)),
    ]
    as_lists = [column.values() for column in columnar_copies(columns)]
    for start, stop in [(0, 5), (0, 2), (2, 5), (4, 5)]:
        assert bulk._copy_chunk(columns, start, stop) == bulk._copy_chunk(as_lists, start, stop)
    assert bulk._copy_chunk(columns, 0, 2) == "30000\t0.1609\ta\\tb\t12\n0\t1e-9\tback\\\\slash\t\\N\n"
    assert all(column._values is None for column in columns)  # the writer never made the Python values


def columnar_copies(columns: list[columnar.LazyColumn]) -> list[columnar.LazyColumn]:
    return [columnar.LazyColumn(column.cells, column.mapping) for column in columns]


_STAMPS = st.one_of(
    st.none(),
    st.datetimes(
        min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.sampled_from([None, dt.UTC])
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(st.text(max_size=90), st.text(max_size=30), _STAMPS), min_size=1, max_size=30),
    with_ids=st.booleans(),
    platform=st.sampled_from(["douyin", "weibo", "wechat_oa"]),
)
def test_the_hashed_content_keys_are_the_row_paths(rows, with_ids, platform):
    columns: dict[str, list[Any]] = {
        "title": [title for _id, title, _stamp in rows],
        "publish_time": [stamp for _id, _title, stamp in rows],
    }
    if with_ids:
        columns["content_id"] = [content_id for content_id, _title, _stamp in rows]

    hashed = columnar.content_keys_hashed(platform, len(rows), columns)

    assert hashed == parse._content_keys(platform, len(rows), columns)


def test_titles_that_are_not_text_are_keyed_as_the_row_path_keys_them():
    columns: dict[str, list[Any]] = {"title": ["甲", None, 3], "publish_time": [None, None, None]}
    assert columnar.content_keys_hashed("douyin", 3, columns) == parse._content_keys("douyin", 3, columns)
    assert columnar.content_keys_hashed("douyin", 2, {}) == parse._content_keys("douyin", 2, {})
