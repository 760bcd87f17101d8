"""The PDF report: A4, CJK text that survives into the PDF, every section, the charts as embedded SVG."""

from __future__ import annotations

import base64
import datetime as dt
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from xinqiao.analytics.reports.data import report_data
from xinqiao.analytics.reports.pdf import report_charts, report_pdf
from xinqiao.analytics.reports.periods import parse_period
from xinqiao.analytics.tests.reports_support import build_mentions, build_metrics

pytestmark = pytest.mark.django_db
SVG = "{http://www.w3.org/2000/svg}"
GENERATED = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)


def _data(world, *, mentions: bool = False):
    build_metrics(world.hospital)
    if mentions:
        build_mentions(world.hospital)
    return report_data(hospital=world.hospital, period=parse_period("2026-10"), now=GENERATED)


def _text(pdf: bytes) -> str:
    tool = shutil.which("pdftotext")
    assert tool, "pdftotext (poppler-utils) is needed to read the PDF back"
    return subprocess.run([tool, "-layout", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()  # noqa: S603


def test_pdf_is_a4_with_cjk_text(world):
    with translation.override("en"):
        pdf = report_pdf(_data(world, mentions=True))

    assert pdf[:5] == b"%PDF-"
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()  # noqa: S607
    assert "595.276 x 841.89 pts (A4)" in info
    text = _text(pdf)
    for expected in ("测试第一人民医院", "Monthly report 2026-10", "儿童发烧怎么办", "收费争议", "Headline KPIs",
                     "5,800", "+314.3%", "Topic insights", "Recommended actions"):  # fmt: skip
        assert expected in text


def test_charts_are_embedded_as_svg(world):
    data = _data(world)

    charts = report_charts(data)

    assert sorted(charts) == ["platforms", "topics", "trend"]
    trend = ET.fromstring(charts["trend"].encode())  # noqa: S314 - our own chart output
    markers = {
        g.get("id"): len(list(g.iter(f"{SVG}use")))
        for g in trend.iter(f"{SVG}g")
        if g.get("id", "").startswith("series-")
    }
    assert markers == {"series-0": 31, "series-1": 31}  # 31 days × (views, interactions)
    assert charts["topics"].count('<g id="bar-') == 4
    html = render_to_string("analytics/reports/report_pdf.html", {"report": data, "charts": {
        name: "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode() for name, svg in charts.items()}})  # fmt: skip
    assert html.count('src="data:image/svg+xml;base64,') == 3


def test_empty_period_still_renders(world):
    data = report_data(hospital=world.hospital, period=parse_period("2026-W02"), now=GENERATED)

    assert report_charts(data) == {}
    with translation.override("en"):
        text = _text(report_pdf(data))
    assert "No content with figures in this period." in text
