from __future__ import annotations

import datetime as dt

import pytest

from xinqiao.analytics.importers.parse import parse_file
from xinqiao.analytics.tests.imports_support import DOUYIN_HEADER, csv_bytes, douyin_lines, xlsx_bytes

TODAY = dt.date(2025, 3, 10)


@pytest.fixture(autouse=True)
def english_ui(settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def errors(result):
    return [(error.row, error.column, error.message) for error in result.errors]


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [("gbk", "gb18030"), ("utf-8-sig", "utf-8-sig"), ("utf-8", "utf-8"), ("gb18030", "gb18030")],
)
def test_csv_encodings_and_shifted_header(encoding, detected):
    result = parse_file(csv_bytes(douyin_lines(), encoding), filename="works.csv", platform="douyin", today=TODAY)
    assert errors(result) == []
    assert result.encoding == detected
    assert result.export_type.code == "douyin.works"
    assert result.header_row == 3
    assert result.snapshot_date == dt.date(2025, 3, 7)
    first, second = sorted(result.content, key=lambda record: record.rows)  # a clean CSV: (day, key) order
    assert first.title == "高血压的日常管理"
    assert first.stat_date == dt.date(2025, 3, 7)
    assert first.published_at == dt.datetime(2025, 3, 2, 1, 30, tzinfo=dt.UTC)
    assert first.metrics == {
        "views": 12000,
        "completion_rate": pytest.approx(0.355),
        "avg_watch_seconds": 35.0,
        "likes": 800,
        "comments": 40,
        "shares": 30,
        "favorites": 25,
    }
    assert first.extra == {"unknown": {"作品链接": "https://v.douyin.com/a"}}
    assert first.rows == [4]
    assert second.metrics["views"] == 9876
    assert second.metrics["comments"] == 0  # "--"
    assert second.metrics["avg_watch_seconds"] == 65.0
    assert result.unknown_columns == ["作品链接"]


def test_xlsx_with_excel_serial_dates_and_numbers():
    lines = [
        ["时间", "新关注人数", "取消关注人数", "净增关注人数", "累积关注人数"],
        [45717, 30, 5, 25, "1.2万"],
        [dt.date(2025, 3, 2), 12, 14, -2, 11998],
    ]
    result = parse_file(xlsx_bytes(lines), filename="growth.xlsx", platform="wechat_oa", today=TODAY)
    assert errors(result) == []
    assert result.export_type.code == "wechat_oa.user_growth"
    assert [(r.stat_date, r.metrics) for r in result.account] == [
        (dt.date(2025, 3, 1), {"new_followers": 30, "lost_followers": 5, "net_followers": 25, "followers": 12000}),
        (dt.date(2025, 3, 2), {"new_followers": 12, "lost_followers": 14, "net_followers": -2, "followers": 11998}),
    ]


def test_bad_values_are_reported_with_row_and_column():
    lines = douyin_lines(
        [
            ["a", "2025-03-02 09:30", "很多", "35%", "35秒", 1, 1, 1, 1, ""],
            ["b", "2025-03-02 09:30", "100", "35%", "好久", 1, 1, 1, 1, ""],
        ]
    )
    result = parse_file(csv_bytes(lines), filename="works.csv", platform="douyin", today=TODAY)
    assert errors(result) == [
        (4, "播放量", "“很多” is not a number."),
        (5, "平均播放时长", "“好久” is not a duration."),
    ]
    assert result.content == []
    assert not result.ok


def test_mixed_units_in_a_rate_column():
    lines = douyin_lines(
        [
            ["a", "2025-03-02 09:30", "100", "35%", "35秒", 1, 1, 1, 1, ""],
            ["b", "2025-03-02 10:30", "100", "0.4", "35秒", 1, 1, 1, 1, ""],
            ["c", "2025-03-02 11:30", "100", "12.5%", "35秒", 1, 1, 1, 1, ""],
        ]
    )
    result = parse_file(csv_bytes(lines), filename="works.csv", platform="douyin", today=TODAY)
    assert errors(result) == [
        (5, "完播率", "Mixed units: most values of this column are written with a percent sign, this one is not."),
    ]


def test_a_percentage_in_a_count_column_is_mixed_units():
    lines = douyin_lines([["a", "2025-03-02 09:30", "100", "35%", "35秒", "12%", 1, 1, 1, ""]])
    result = parse_file(csv_bytes(lines), filename="works.csv", platform="douyin", today=TODAY)
    assert errors(result) == [(4, "点赞量", "“12%” is a percentage, not a count (mixed units).")]


def test_bare_rates_above_one_are_percentage_points():
    lines = douyin_lines(
        [
            ["a", "2025-03-02 09:30", "100", "35.5", "35秒", 1, 1, 1, 1, ""],
            ["b", "2025-03-02 10:30", "100", "0.5", "35秒", 1, 1, 1, 1, ""],
        ]
    )
    result = parse_file(csv_bytes(lines), filename="works.csv", platform="douyin", today=TODAY)
    assert [record.metrics["completion_rate"] for record in result.content] == [
        pytest.approx(0.355),
        pytest.approx(0.005),
    ]


def test_duplicate_rows():
    row = ["高血压的日常管理", "2025-03-02 09:30", "100", "35%", "35秒", 1, 1, 1, 1, ""]
    lines = douyin_lines([row, ["其他", "2025-03-02 09:30", "5", "1%", "3秒", 1, 1, 1, 1, ""], row])
    result = parse_file(csv_bytes(lines), filename="works.csv", platform="douyin", today=TODAY)
    assert errors(result) == [
        (6, "作品名称、发布时间", "Duplicate row: the same 作品名称、发布时间 as row 4."),
    ]


def test_dates_in_the_future():
    lines = [
        ["时间", "新关注人数", "取消关注人数", "净增关注人数", "累积关注人数"],
        ["2025-03-09", 1, 0, 1, 100],
        ["2025-03-11", 1, 0, 1, 101],
    ]
    result = parse_file(csv_bytes(lines), filename="growth.csv", platform="wechat_oa", today=TODAY)
    assert errors(result) == [(3, "时间", "2025-03-11 is in the future.")]
    future_publish = douyin_lines([["a", "2025-04-01 09:30", "100", "35%", "35秒", 1, 1, 1, 1, ""]])
    result = parse_file(csv_bytes(future_publish), filename="works.csv", platform="douyin", today=TODAY)
    assert errors(result) == [(4, "发布时间", "2025-04-01 09:30 is in the future.")]
    future_range = douyin_lines(title_line="统计时间：2025-03-01 至 2025-03-31")
    result = parse_file(csv_bytes(future_range), filename="works.csv", platform="douyin", today=TODAY)
    assert errors(result)[0] == (1, "", "The export's date range ends in the future (2025-03-31).")


def test_wrong_platform_names_the_platform_the_file_is_from():
    result = parse_file(csv_bytes(douyin_lines()), filename="works.csv", platform="bilibili", today=TODAY)
    assert errors(result) == [
        (
            3,
            "",
            "This file looks like a Douyin export (Douyin: works list (作品列表)), not a Bilibili export. "
            "Choose Douyin as the platform or upload the Bilibili file.",
        )
    ]
    assert result.content == []


def test_header_row_below_the_search_window():
    lines = [["说明"]] * 10 + [DOUYIN_HEADER, ["a", "2025-03-02 09:30", "100", "35%", "35秒", 1, 1, 1, 1, ""]]
    result = parse_file(csv_bytes(lines), filename="works.csv", platform="douyin", today=TODAY)
    assert errors(result) == [
        (
            0,
            "",
            "No header row found in the first 10 rows (a header row names at least 3 known columns). "
            "Headers found: 说明.",
        )
    ]


def test_missing_required_column_lists_the_headers_found():
    lines = [["文章标题", "渠道", "阅读次数", "阅读次数占比"], ["a", "全部", 1, "100%"]]
    result = parse_file(csv_bytes(lines), filename="source.csv", platform="wechat_oa", today=TODAY)
    assert errors(result) == [
        (1, "", "The required column “日期 / 时间” is missing. Headers found: 文章标题、渠道、阅读次数、阅读次数占比.")
    ]


def test_totals_line_is_skipped_and_channels_are_combined():
    lines = [
        ["公众号 数据趋势 2025-03-01 至 2025-03-02"],
        ["日期", "渠道", "阅读次数", "阅读人数", "分享次数", "备注"],
        ["2025-03-01", "全部", "1.5万", 9000, 300, "x"],
        ["2025-03-01", "聊天会话", 10000, 6000, 200, ""],
        ["2025-03-01", "推荐", 5000, 3000, 100, ""],
        ["2025-03-02", "聊天会话", 700, 600, 20, ""],
        ["2025-03-02", "推荐", 300, 200, 10, ""],
        ["合计", "", "1.6万", 9800, 330, ""],
    ]
    result = parse_file(csv_bytes(lines), filename="traffic.csv", platform="wechat_oa", today=TODAY)
    assert errors(result) == []
    assert result.skipped_rows == [8]
    first, second = result.account
    assert first.metrics == {}
    assert first.extra["traffic"] == {
        "views": 15000,
        "viewers": 9000,
        "shares": 300,
        "by_channel": {
            "聊天会话": {"views": 10000, "viewers": 6000, "shares": 200},
            "推荐": {"views": 5000, "viewers": 3000, "shares": 100},
        },
    }
    assert first.extra["unknown"] == {"全部": {"备注": "x"}}
    assert {k: second.extra["traffic"][k] for k in ("views", "viewers", "shares")} == {
        "views": 1000,
        "viewers": 800,
        "shares": 30,
    }


def test_an_excel_file_that_is_not_one():
    result = parse_file(b"not a workbook", filename="works.xlsx", platform="douyin", today=TODAY)
    assert errors(result) == [(0, "", "The file is named like an Excel workbook but is not one: export it again.")]


def test_the_fallback_workbook_reader_reads_the_same_cells():
    from xinqiao.analytics.importers.reading import _calamine_rows, _openpyxl_rows, read_table

    content = xlsx_bytes(douyin_lines())
    table = read_table(content, "works.xlsx")
    assert (table.file_kind, table.reader) == ("xlsx", "calamine")
    calamine = [[cell for cell in row if cell not in ("", None)] for row in _calamine_rows(content)]
    openpyxl = [[cell for cell in row if cell not in ("", None)] for row in _openpyxl_rows(content)]
    assert calamine == openpyxl
    assert calamine[3][:3] == ["高血压的日常管理", "2025-03-02 09:30", "1.2万"]


def test_tab_separated_utf16_text_is_read():
    text = "\r\n".join("\t".join(str(cell) for cell in line) for line in douyin_lines()[2:]) + "\r\n"
    result = parse_file(text.encode("utf-16"), filename="works.csv", platform="douyin", today=TODAY)
    assert errors(result) == []
    assert (result.encoding, result.header_row, len(result.content)) == ("utf-16", 1, 2)


def test_the_garbage_collector_runs_again_after_a_parse():
    import gc

    parse_file(csv_bytes(douyin_lines()), filename="works.csv", platform="douyin", today=TODAY)
    assert gc.isenabled()
    gc.disable()
    try:
        parse_file(csv_bytes(douyin_lines()), filename="works.csv", platform="douyin", today=TODAY)
        assert not gc.isenabled()  # a caller's choice is left as it was
    finally:
        gc.enable()
