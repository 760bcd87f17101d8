from __future__ import annotations

import datetime as dt

import pytest

from xinqiao.analytics.importers.values import (
    SHANGHAI,
    ValueProblem,
    find_date_range,
    parse_count,
    parse_date,
    parse_datetime,
    parse_duration,
    parse_rate,
)


@pytest.fixture(autouse=True)
def english_ui(settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,234", 1234),
        ("1.2万", 12000),
        ("1.2w", 12000),
        ("3.5W", 35000),
        ("2亿", 200_000_000),
        ("10万+", 100_001),
        (" 42 ", 42),
        ("--", None),
        ("-", None),
        ("", None),
        ("暂无", None),
        (None, None),
        (17.0, 17),
        (5, 5),
        ("-12", -12),
        ("１２３", 123),  # full-width digits
    ],
)
def test_counts(raw, expected):
    assert parse_count(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("12.5%", "“12.5%” is a percentage, not a count (mixed units)."),
        ("abc", "“abc” is not a number."),
        (dt.date(2025, 3, 1), "“2025-03-01” is a date or time, not a number."),
    ],
)
def test_bad_counts(raw, message):
    with pytest.raises(ValueProblem) as problem:
        parse_count(raw)
    assert problem.value.message == message


@pytest.mark.parametrize(
    ("raw", "bare_is_percent", "expected"),
    [
        ("12.34%", False, 0.1234),
        ("0.5%", False, 0.005),
        ("100%", False, 1.0),
        (0.35, False, 0.35),
        ("0.35", False, 0.35),
        ("35", True, 0.35),
        (35.0, True, 0.35),
        ("--", False, None),
    ],
)
def test_rates(raw, bare_is_percent, expected):
    value = parse_rate(raw, bare_is_percent=bare_is_percent)
    assert value == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("raw", "bare_is_percent", "expected"),
    [
        ("79.49%", False, 0.7949),  # 79.49 / 100 == 0.7948999999999999
        ("16.09%", False, 0.1609),
        ("0.07%", False, 0.0007),
        (79.49, True, 0.7949),
        ("57.1", True, 0.571),
        ("１２.３４％", False, 0.1234),
    ],
)
def test_percentages_read_as_the_decimal_the_export_shows(raw, bare_is_percent, expected):
    # exactly the float nearest to the shown decimal, not one off from a division: what is stored and re-read
    assert parse_rate(raw, bare_is_percent=bare_is_percent) == expected
    assert repr(parse_rate(raw, bare_is_percent=bare_is_percent)) == repr(expected)


def test_the_fast_rate_reader_agrees_with_parse_rate():
    from xinqiao.analytics.importers.parse import _fast_rate

    read = _fast_rate(bare_is_percent=False)
    for text in (
        "79.49%",
        " 16.09 %",
        "0%",
        "-3%",
        "100%",
        "1_000%",
        "inf%",
        "1e3%",
        ".5%",
        "1,234.5%",
        "abc%",
        "12.5",
    ):
        try:
            expected = parse_rate(text)
        except ValueProblem:
            with pytest.raises(ValueProblem):
                read(text)
            continue
        assert read(text) == expected


def test_bad_rate():
    with pytest.raises(ValueProblem) as problem:
        parse_rate("高")
    assert problem.value.message == "“高” is not a percentage."


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("35s", 35.0),
        ("12.3s", 12.3),
        ("35秒", 35.0),
        ("00:00:35", 35.0),
        ("01:02:03", 3723.0),
        ("1:05", 65.0),
        ("1分5秒", 65.0),
        ("2分钟", 120.0),
        ("1小时2分3秒", 3723.0),
        ("42", 42.0),
        (dt.time(0, 1, 5), 65.0),
        (dt.timedelta(minutes=2, seconds=1), 121.0),
        ("--", None),
    ],
)
def test_durations(raw, expected):
    assert parse_duration(raw) == pytest.approx(expected) if expected is not None else parse_duration(raw) is None


def test_duration_in_minutes_header():
    assert parse_duration("1.5", unit_seconds=60.0) == 90.0


def test_bad_duration():
    with pytest.raises(ValueProblem) as problem:
        parse_duration("12%")
    assert problem.value.message == "“12%” is a percentage, not a duration (mixed units)."
    with pytest.raises(ValueProblem):
        parse_duration("很久")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-03-01", dt.date(2025, 3, 1)),
        ("2025/3/1", dt.date(2025, 3, 1)),
        ("20250301", dt.date(2025, 3, 1)),
        ("2025-03-01 23:59", dt.date(2025, 3, 1)),
        ("2025-03-01 23:59:30", dt.date(2025, 3, 1)),
        ("2025年3月1日", dt.date(2025, 3, 1)),
        (45717, dt.date(2025, 3, 1)),  # Excel serial
        (45717.75, dt.date(2025, 3, 1)),
        ("45717", dt.date(2025, 3, 1)),
        (dt.datetime(2025, 3, 1, 17, 0, tzinfo=dt.UTC), dt.date(2025, 3, 2)),  # 01:00 in Shanghai
        ("--", None),
    ],
)
def test_dates(raw, expected):
    assert parse_date(raw) == expected


def test_excel_serial_time_of_day_in_shanghai():
    assert parse_datetime(45717.75) == dt.datetime(2025, 3, 1, 18, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize("raw", ["2025-13-01", "yesterday", "12", "2025-02-30"])
def test_bad_dates(raw):
    with pytest.raises(ValueProblem):
        parse_date(raw)


def test_date_range_of_a_title_line():
    assert find_date_range("数据趋势 统计时间：2025-03-01 至 2025-03-07") == (dt.date(2025, 3, 1), dt.date(2025, 3, 7))
    assert find_date_range("2025/03/01~2025/03/31") == (dt.date(2025, 3, 1), dt.date(2025, 3, 31))
    assert find_date_range("作品列表") is None
