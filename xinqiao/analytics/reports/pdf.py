"""The report as an A4 PDF: WeasyPrint, Noto Sans CJK, charts drawn server-side as SVG."""

from __future__ import annotations

import base64

from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from xinqiao.analytics.reports import charts
from xinqiao.analytics.reports.data import ReportData


def _data_uri(svg: str) -> str:
    # Each chart stays its own document (an <img>), so matplotlib's element ids never collide between charts.
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def report_charts(data: ReportData) -> dict[str, str]:
    """The SVG charts of one report, by name (empty sections have no chart)."""
    result: dict[str, str] = {}
    totals = data.daily_totals
    if any(views or engagements for _day, views, engagements in totals):
        result["trend"] = charts.line_chart(
            [f"{day:%m-%d}" for day, _views, _engagements in totals],
            [
                (_("Views"), [views for _day, views, _engagements in totals]),
                (_("Interactions"), [engagements for _day, _views, engagements in totals]),
            ],
            title=_("Views and interactions per day"),
            secondary=True,
        )
    if data.platform_views:
        result["platforms"] = charts.bar_chart(
            [label for label, _views in data.platform_views],
            [views for _label, views in data.platform_views],
            title=_("Views by platform"),
            width=3.5,
        )
    if data.topics:
        result["topics"] = charts.bar_chart(
            [row.topic for row in data.topics],
            [row.views for row in data.topics],
            title=_("Views by topic"),
            width=3.5,
        )
    return result


def report_pdf(data: ReportData) -> bytes:
    import weasyprint  # imported late: it loads Pango, which only this export needs

    images = {name: _data_uri(svg) for name, svg in report_charts(data).items()}
    html = render_to_string("analytics/reports/report_pdf.html", {"report": data, "charts": images})
    return weasyprint.HTML(string=html).write_pdf()
