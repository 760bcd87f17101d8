"""The report as an Excel workbook (openpyxl): one sheet per section, formatted for reading and re-use.

Sheets: headline KPIs, top and bottom content, topics, sentiment (only when listening data exists for the
period), recommendations and the raw per-day, per-platform figures. Headers are styled, numbers carry number
formats (thousands, percentages, yuan), columns have widths and the header rows are frozen.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from xinqiao.analytics import kpis
from xinqiao.analytics.reports.data import ContentRow, ReportData

ACCENT = "0B7285"
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor=ACCENT)
TITLE_FONT = Font(bold=True, size=14, color="1F2933")
MUTED_FONT = Font(color="616E7C")
COUNT = "#,##0"
PERCENT = "0.0%"
CHANGE = "+0.0%;-0.0%;0.0%"
YUAN = "¥#,##0.00"
DECIMAL = "#,##0.0"
DATE = "yyyy-mm-dd"
_INVALID_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def sheet_titles(*, with_sentiment: bool) -> list[str]:
    """The sheet names in order, in the active language (tests and the browser suite check them)."""
    names = [_("Headline KPIs"), _("Top and bottom content"), _("Topics")]
    if with_sentiment:
        names.append(_("Sentiment"))
    names += [_("Recommendations"), _("Raw daily")]
    return [_INVALID_SHEET_CHARS.sub(" ", str(name))[:31] for name in names]


def _header(sheet: Worksheet, row: int, labels: Sequence[str], widths: Sequence[int]) -> None:
    for column, (label, width) in enumerate(zip(labels, widths, strict=True), start=1):
        cell = sheet.cell(row=row, column=column, value=str(label))
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(vertical="center", wrap_text=True)
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.freeze_panes = sheet.cell(row=row + 1, column=1)
    sheet.auto_filter.ref = f"A{row}:{get_column_letter(len(labels))}{row}"


def _title(sheet: Worksheet, data: ReportData, heading: str) -> int:
    sheet["A1"] = f"{data.hospital_name} · {heading}"
    sheet["A1"].font = TITLE_FONT
    sheet["A2"] = _("Period %(label)s (%(start)s to %(end)s) · generated %(generated)s") % {
        "label": data.period.label,
        "start": data.period.start.isoformat(),
        "end": data.period.end.isoformat(),
        "generated": timezone.localtime(data.generated_at).strftime("%Y-%m-%d %H:%M"),
    }
    sheet["A2"].font = MUTED_FONT
    return 4  # the header row


def _put(sheet: Worksheet, row: int, values: Sequence[tuple[Any, str | None]]) -> None:
    for column, (value, number_format) in enumerate(values, start=1):
        cell = sheet.cell(row=row, column=column, value=value)
        if number_format:
            cell.number_format = number_format


def _kpi_value(value: float | None, unit: str) -> tuple[Any, str | None]:
    if value is None:
        return None, None
    if unit == kpis.Unit.RATIO:
        return value, PERCENT
    if unit == kpis.Unit.FEN:
        return round(value / 100, 2), YUAN
    if unit == kpis.Unit.SCORE:
        return value, DECIMAL
    return int(value), COUNT


def _kpi_sheet(sheet: Worksheet, data: ReportData) -> None:
    row = _title(sheet, data, _("Headline KPIs"))
    _header(
        sheet,
        row,
        [_("Layer"), _("KPI"), _("This period"), _("Previous period"), pgettext("period", "Change")],
        [16, 30, 16, 16, 12],
    )
    for kpi in data.kpis:
        row += 1
        _put(
            sheet,
            row,
            [
                (str(kpis.LAYER_LABELS.get(kpi.layer, kpi.layer)), None),
                (kpi.label, None),
                _kpi_value(kpi.value, kpi.unit),
                _kpi_value(kpi.previous, kpi.unit),
                (kpi.change, CHANGE if kpi.change is not None else None),
            ],
        )


def _content_block(sheet: Worksheet, row: int, heading: str, rows: list[ContentRow]) -> int:
    sheet.cell(row=row, column=1, value=heading).font = Font(bold=True, color=ACCENT)
    row += 1
    for item in rows:
        _put(
            sheet,
            row,
            [
                (item.rank, None),
                (item.title, None),
                (item.platform_label, None),
                (item.account, None),
                (item.topic, None),
                (item.content_format, None),
                (item.department, None),
                (item.published_on, DATE if item.published_on else None),
                (item.views, COUNT),
                (item.engagements, COUNT),
                (item.engagement_rate, PERCENT if item.engagement_rate is not None else None),
                (item.completion_rate, PERCENT if item.completion_rate is not None else None),
                (item.follows_gained, COUNT),
            ],
        )
        row += 1
    return row + 1


def _content_sheet(sheet: Worksheet, data: ReportData) -> None:
    row = _title(sheet, data, _("Top and bottom content"))
    labels = [
        _("Rank"), _("Title"), _("Platform"), _("Account"), _("Topic"), _("Format"), _("Department"),
        _("Published"), _("Views"), _("Interactions"), _("Interaction rate"), _("Completion rate"),
        _("Follows gained"),
    ]  # fmt: skip
    _header(sheet, row, labels, [6, 42, 14, 20, 14, 10, 12, 12, 12, 12, 12, 12, 12])
    row = _content_block(sheet, row + 1, _("Top content"), data.top_content)
    _content_block(sheet, row, _("Bottom content"), data.bottom_content)


def _topic_sheet(sheet: Worksheet, data: ReportData) -> None:
    row = _title(sheet, data, _("Topics"))
    labels = [
        _("Topic"), _("Pieces"), _("Views"), _("Views per piece"), _("Interactions"), _("Interaction rate"),
        _("Views, previous period"), pgettext("period", "Change"),
    ]  # fmt: skip
    _header(sheet, row, labels, [18, 10, 14, 14, 14, 14, 18, 12])
    for topic in data.topics:
        row += 1
        _put(
            sheet,
            row,
            [
                (topic.topic, None),
                (topic.items, COUNT),
                (topic.views, COUNT),
                (topic.views_per_item, DECIMAL),
                (topic.engagements, COUNT),
                (topic.engagement_rate, PERCENT if topic.engagement_rate is not None else None),
                (topic.previous_views, COUNT),
                (topic.change, CHANGE if topic.change is not None else None),
            ],
        )


def _sentiment_sheet(sheet: Worksheet, data: ReportData) -> None:
    sentiment = data.sentiment
    assert sentiment is not None  # noqa: S101 - only called when the section exists
    row = _title(sheet, data, _("Sentiment"))
    _header(sheet, row, [_("Measure"), _("Value")], [32, 16])
    lines = [
        (_("Mentions"), sentiment.total, COUNT),
        (_("Positive"), sentiment.positive, COUNT),
        (_("Neutral"), sentiment.neutral, COUNT),
        (_("Negative"), sentiment.negative, COUNT),
        (_("Negative share"), sentiment.negative_share, PERCENT),
        (_("Mentions, previous period"), sentiment.previous_total, COUNT),
        (_("Negative share, previous period"), sentiment.previous_negative_share, PERCENT),
    ]
    for label, value, number_format in lines:
        row += 1
        _put(sheet, row, [(label, None), (value, number_format if value is not None else None)])
    if sentiment.negative_topics:
        row += 2
        sheet.cell(row=row, column=1, value=_("Topics of negative mentions")).font = Font(bold=True, color=ACCENT)
        for name, count in sentiment.negative_topics:
            row += 1
            _put(sheet, row, [(name, None), (count, COUNT)])


def _recommendation_sheet(sheet: Worksheet, data: ReportData) -> None:
    row = _title(sheet, data, _("Recommendations"))
    _header(sheet, row, ["#", _("Recommended action"), _("Why"), _("Evidence")], [5, 40, 70, 40])
    for index, item in enumerate(data.recommendations, start=1):
        row += 1
        _put(sheet, row, [(index, None), (item.title, None), (item.detail, None), (item.evidence, None)])
        for column in (2, 3, 4):
            sheet.cell(row=row, column=column).alignment = Alignment(wrap_text=True, vertical="top")


def _daily_sheet(sheet: Worksheet, data: ReportData) -> None:
    labels = [
        _("Date"), _("Platform"), _("Impressions"), _("Views"), _("Likes"), _("Comments"), _("Shares"),
        _("Favourites"), _("Follows gained"), _("Net new followers"),
    ]  # fmt: skip
    _header(sheet, 1, labels, [12, 16, 14, 14, 12, 12, 12, 12, 14, 16])
    for row, item in enumerate(data.daily, start=2):
        _put(
            sheet,
            row,
            [
                (item.day, DATE),
                (item.platform_label, None),
                (item.impressions, COUNT),
                (item.views, COUNT),
                (item.likes, COUNT),
                (item.comments, COUNT),
                (item.shares, COUNT),
                (item.favorites, COUNT),
                (item.follows_gained, COUNT),
                (item.net_followers, COUNT),
            ],
        )


def report_xlsx(data: ReportData) -> bytes:
    """The workbook's bytes."""
    titles = iter(sheet_titles(with_sentiment=data.sentiment is not None))
    workbook = Workbook()
    writers = [_kpi_sheet, _content_sheet, _topic_sheet]
    if data.sentiment is not None:
        writers.append(_sentiment_sheet)
    writers += [_recommendation_sheet, _daily_sheet]
    for index, writer in enumerate(writers):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        sheet.title = next(titles)
        writer(sheet, data)
    workbook.properties.creator = "XinQiao"
    workbook.properties.title = f"{data.hospital_name} {data.period.label}"
    workbook.properties.created = data.generated_at.replace(tzinfo=None)
    workbook.properties.modified = data.generated_at.replace(tzinfo=None)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
