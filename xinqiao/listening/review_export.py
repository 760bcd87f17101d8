"""The post-crisis review of a closed case as PDF (WeasyPrint, Noto CJK fonts) and Excel (openpyxl).

Both show the frozen ``case.review`` figures, the lessons, the timeline and the signed-off replies; the Excel file
adds the linked mentions with public handles only (no other personal data).
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.listening.models import CrisisCase, Platform, ReplyDraft, Sentiment
from xinqiao.listening.selectors import cases as selectors

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEETS = ("summary", "timeline", "figures", "hourly", "replies", "mentions")


def _context(case: CrisisCase) -> dict[str, Any]:
    review = case.review or {}
    return {
        "case": case,
        "review": review,
        "sla": selectors.case_sla(case),
        "events": selectors.case_timeline(case),
        "replies": [d for d in selectors.case_drafts(case) if d.status in (ReplyDraft.Status.PUBLISHED,
                                                                             ReplyDraft.Status.APPROVED)],
        "propagation": selectors.case_propagation(case, limit=50),
        "generated_at": timezone.localtime(),
    }  # fmt: skip


def review_pdf(case: CrisisCase) -> bytes:
    import weasyprint  # imported late: it loads Pango, which only the exports need

    html = render_to_string("listening/cases/review_pdf.html", _context(case))
    return weasyprint.HTML(string=html).write_pdf()


def _local(value: dt.datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def review_xlsx(case: CrisisCase) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    context = _context(case)
    review = context["review"]
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor="0B7285")
    wrap = Alignment(wrap_text=True, vertical="top")

    book = Workbook()

    def sheet(name: str, title: str, headers: list[str], rows: list[list[Any]], widths: list[int]):
        ws = book.create_sheet(name)
        ws.sheet_properties.tabColor = "0B7285"
        ws.append([title])
        ws["A1"].font = Font(bold=True, size=13)
        ws.append(headers)
        for column, _header in enumerate(headers, start=1):
            cell = ws.cell(row=2, column=column)
            cell.font = header_font
            cell.fill = header_fill
        for row in rows:
            ws.append(row)
        for column, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(column)].width = width
        for row in ws.iter_rows(min_row=3):
            for cell in row:
                cell.alignment = wrap
        ws.freeze_panes = "A3"
        return ws

    sla = context["sla"]
    summary_rows = [
        [_("Case"), case.title],
        [_("Hospital"), case.hospital.name],
        [_("Severity"), str(case.get_severity_display())],
        [_("Owner"), case.owner.get_full_name() or case.owner.get_username()],
        [_("Opened"), _local(case.opened_at)],
        [_("First response due"), _local(case.first_response_due_at)],
        [_("First response"), _local(case.first_responded_at)],
        [_("SLA"), sla.state],
        [_("Escalated"), _local(case.escalated_at)],
        [_("Closed"), _local(case.closed_at)],
        [_("Summary"), case.summary],
        [_("Lessons learned"), case.lessons],
        [_("Named entities"), "、".join(e["label"] for e in review.get("entities", []))],
        [_("Before window"), f"{_local(review.get('before', {}).get('start'))} – {_local(review.get('before', {}).get('end'))}"],
        [_("After window"), f"{_local(review.get('after', {}).get('start'))} – {_local(review.get('after', {}).get('end'))}"],
    ]  # fmt: skip
    book.remove(book.active)
    sheet("summary", _("Post-crisis review"), [_("Field"), _("Value")], summary_rows, [22, 90])
    sheet(
        "timeline", _("Timeline"), [_("Time"), _("Who"), _("Event"), _("Detail")],
        [[_local(e.created_at), (e.actor.get_username() if e.actor else _("system")), e.kind, e.text]
         for e in context["events"]],
        [18, 16, 18, 90],
    )  # fmt: skip
    figure_rows = []
    scope_labels = {"story": _("The story (linked clusters)"), "entities": _("Named departments and doctors")}
    window_labels = {"before": _("before"), "after": _("after")}
    for scope, figures in review.get("figures", {}).items():
        for window in ("before", "after"):
            row = figures[window]
            figure_rows.append(
                [scope_labels.get(scope, scope), window_labels[window], row["total"], row["per_hour"], row["negative"],
                 row["neutral"], row["positive"], row["negative_share"], row["reach"]]
            )  # fmt: skip
        change = figures["change"]
        figure_rows.append(
            [scope_labels.get(scope, scope), _("change"), None,
             change["per_hour_pct"], None, None, None, change["negative_share_points"], None]
        )  # fmt: skip
    figures_ws = sheet(
        "figures", _("Volume and sentiment before and after the first response"),
        [_("Scope"), _("Window"), _("Mentions"), _("Per hour"), _("Negative"), _("Neutral"), _("Positive"),
         _("Negative share %"), _("Reach")],
        figure_rows, [30, 10, 10, 10, 10, 10, 10, 16, 14],
    )  # fmt: skip
    for row in figures_ws.iter_rows(min_row=3, min_col=9, max_col=9):
        for cell in row:
            cell.number_format = "#,##0"
    sheet(
        "hourly", _("Story mentions per hour"), [_("Hour"), _("Mentions"), _("Negative")],
        [[row["hour"], row["total"], row["negative"]] for row in review.get("hourly", [])], [18, 10, 10],
    )  # fmt: skip
    sheet(
        "replies", _("Signed-off replies"),
        [_("Reply"), _("Status"), _("Author"), _("Signed off by"), _("Signed off at"), _("Published at"), _("Text")],
        [[d.pk, str(d.get_status_display()), d.author.get_username(),
          d.signed_off_by.get_username() if d.signed_off_by else "", _local(d.signed_off_at), _local(d.published_at),
          d.text] for d in context["replies"]],
        [8, 12, 14, 14, 18, 18, 80],
    )  # fmt: skip
    platforms = dict(Platform.choices)
    sentiments = dict(Sentiment.choices)
    sheet(
        "mentions", _("Linked mentions (public handles only)"),
        [_("Posted at"), _("Platform"), _("Account"), _("Followers"), _("Verified"), _("Likes"), _("Reposts"),
         _("Comments"), _("Reach"), _("Sentiment"), _("URL"), _("Text")],
        [[_local(m["posted_at"]), str(platforms.get(m["platform"], m["platform"])), m["author_handle"],
          m["author_followers"], _("yes") if m["is_verified_author"] else "", m["likes"], m["reposts"], m["comments"],
          m["reach_value"], str(sentiments.get(m["sentiment"], "")), m["url"], m["text"]]
         for m in selectors.review_mentions(case)],
        [18, 12, 20, 12, 8, 8, 8, 8, 12, 10, 40, 80],
    )  # fmt: skip
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
