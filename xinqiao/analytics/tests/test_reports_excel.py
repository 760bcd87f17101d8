"""The Excel report: sheets in order (translated), formatted headers, number formats, widths, frozen panes."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.utils import translation
from openpyxl import load_workbook

from xinqiao.analytics.reports.data import report_data
from xinqiao.analytics.reports.excel import report_xlsx, sheet_titles
from xinqiao.analytics.reports.periods import parse_period
from xinqiao.analytics.tests.reports_support import build_mentions, build_metrics

pytestmark = pytest.mark.django_db
GENERATED = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)


def _workbook(world, *, mentions: bool = False, language: str = "en"):
    build_metrics(world.hospital)
    if mentions:
        build_mentions(world.hospital)
    with translation.override(language):
        data = report_data(hospital=world.hospital, period=parse_period("2026-10"), now=GENERATED)
        return load_workbook(io.BytesIO(report_xlsx(data)))


def test_sheets_without_listening_data(world):
    workbook = _workbook(world)

    assert workbook.sheetnames == [
        "Headline KPIs", "Top and bottom content", "Topics", "Recommendations", "Raw daily",
    ]  # fmt: skip


def test_sentiment_sheet_when_mentions_exist(world):
    workbook = _workbook(world, mentions=True)

    assert workbook.sheetnames == sheet_titles(with_sentiment=True)
    sheet = workbook["Sentiment"]
    values = {sheet.cell(row=row, column=1).value: sheet.cell(row=row, column=2).value for row in range(5, 12)}
    assert values == {
        "Mentions": 4, "Positive": 1, "Neutral": 1, "Negative": 2, "Negative share": 0.5,
        "Mentions, previous period": 2, "Negative share, previous period": 0.5,
    }  # fmt: skip
    assert sheet["B9"].number_format == "0.0%"
    assert (sheet["A13"].value, sheet["A14"].value, sheet["B14"].value) == (
        "Topics of negative mentions",
        "收费争议",
        2,
    )


def test_sheet_names_follow_the_language(world):
    with translation.override("zh-hans"):
        expected = sheet_titles(with_sentiment=False)

    workbook = _workbook(world, language="zh-hans")

    assert workbook.sheetnames == expected
    assert all(len(name) <= 31 for name in expected)


def test_headline_sheet(world):
    sheet = _workbook(world)["Headline KPIs"]

    assert sheet["A1"].value == "测试第一人民医院 · Headline KPIs"
    assert sheet["A2"].value == "Period 2026-10 (2026-10-01 to 2026-10-31) · generated 2026-11-24 10:00"
    assert [cell.value for cell in sheet[4]] == ["Layer", "KPI", "This period", "Previous period", "Change"]
    assert sheet["A4"].font.bold is True
    assert sheet["A4"].fill.fgColor.rgb == "000B7285"
    assert sheet.freeze_panes == "A5"
    assert sheet.column_dimensions["B"].width == 30
    rows = {row[1].value: row for row in sheet.iter_rows(min_row=5)}
    views = rows["Views"]
    assert (views[2].value, views[3].value, views[2].number_format) == (5800, 1400, "#,##0")
    assert views[4].value == pytest.approx(4400 / 1400)
    assert views[4].number_format == "+0.0%;-0.0%;0.0%"
    rate = rows["Interaction rate"]
    assert (rate[2].value, rate[2].number_format) == (pytest.approx(369 / 5800), "0.0%")


def test_content_sheet_lists_top_then_bottom(world):
    sheet = _workbook(world)["Top and bottom content"]

    assert sheet.freeze_panes == "A5"
    assert sheet["A5"].value == "Top content"
    assert [(sheet.cell(row=r, column=1).value, sheet.cell(row=r, column=2).value, sheet.cell(row=r, column=9).value)
            for r in (6, 7, 8)] == [(1, "儿童发烧怎么办", 4000), (2, "流感季如何防护", 1500), (3, "高血压的日常管理", 200)]  # fmt: skip
    assert sheet["H6"].value == dt.datetime(2026, 10, 20)
    assert sheet["H6"].number_format == "yyyy-mm-dd"
    assert sheet["K6"].number_format == "0.0%"
    assert sheet["A10"].value == "Bottom content"


def test_topics_and_raw_daily(world):
    workbook = _workbook(world)

    topics = workbook["Topics"]
    assert [topics.cell(row=r, column=1).value for r in range(5, 9)] == ["儿童发热", "流感", "高血压", "糖尿病"]
    assert (topics["H6"].value, topics["H8"].value) == (1.5, -0.875)
    daily = workbook["Raw daily"]
    assert daily.freeze_panes == "A2"
    assert daily.max_row == 9  # header + 8 rows
    assert (daily["A2"].value, daily["D2"].value, daily["J2"].value) == (dt.datetime(2026, 10, 1), 100, 10)
