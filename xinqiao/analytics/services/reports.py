"""Build, store, download and deliver weekly and monthly reports.

A report file is built once per (hospital, period, period start, format) and kept in default storage under a
random, non-guessable directory; asking again returns the stored file unless it is regenerated. A period that
has not ended yet (in Asia/Shanghai) is rebuilt on every request, because its figures still change.

Scheduled delivery (``reports_deliver_due``, run by the periodic job ``xinqiao.analytics.report_tasks``): when a
period has closed — weekly reports on the Monday after the ISO week, monthly ones on the 1st of the next month,
both in Asia/Shanghai — the schedule's formats are built and one outbox message per route is enqueued under the
key ``report:<schedule>:<period start>``. ``ReportSchedule.last_period_start`` records the delivered period, and
the outbox refuses a second message with the same key, so running the job again never sends twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from xinqiao.analytics.models import Report, ReportSchedule
from xinqiao.analytics.reports.data import report_data
from xinqiao.analytics.reports.periods import ReportPeriod, last_closed_period, period_for
from xinqiao.core.access import Action, Principal
from xinqiao.core.audit import audit_record
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent, Hospital

logger = logging.getLogger(__name__)

CONTENT_TYPES = {
    Report.Format.PDF: "application/pdf",
    Report.Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
STORAGE_PREFIX = "reports"


def report_period(period: str, period_start: dt.date) -> ReportPeriod:
    """The period of that type starting on ``period_start``; any other day is an error."""
    if period not in Report.Period.values:
        raise ApplicationError(_("Choose a weekly or monthly report."), code="report_period", field="period")
    resolved = period_for(period, period_start)
    if resolved.start != period_start:
        raise ApplicationError(
            _("A weekly report starts on a Monday and a monthly report on the 1st."),
            code="report_period",
            field="period",
        )
    return resolved


def report_filename(report: Report, hospital: Hospital | None = None) -> str:
    hospital = hospital or report.hospital
    period = period_for(report.period, report.period_start)
    return f"xinqiao-report-{hospital.code}-{period.label}.{report.format}"


def _render(hospital: Hospital, period: ReportPeriod, fmt: str, now: dt.datetime) -> bytes:
    data = report_data(hospital=hospital, period=period, now=now)
    if fmt == Report.Format.PDF:
        from xinqiao.analytics.reports.pdf import report_pdf

        return report_pdf(data)
    from xinqiao.analytics.reports.excel import report_xlsx

    return report_xlsx(data)


def report_build(
    *,
    hospital: Hospital,
    period: str,
    period_start: dt.date,
    fmt: str,
    principal: Principal | None = None,
    regenerate: bool = False,
    now: dt.datetime | None = None,
) -> Report:
    """The stored report file of this hospital, period and format, built now if needed.

    The rendering runs outside any transaction (it takes seconds and only reads); the row is written in a short
    atomic block. A concurrent build of the same report loses the unique constraint race and returns the winner.
    """
    if principal is not None:
        if principal.hospital.pk != hospital.pk:
            raise ApplicationError(_("This report belongs to another hospital."), code="report_hospital")
        principal.require(Action.ANALYTICS_VIEW)
    if fmt not in Report.Format.values:
        raise ApplicationError(_("Choose PDF or Excel."), code="report_format", field="format")
    resolved = report_period(period, period_start)
    now = now or timezone.now()
    today = timezone.localdate(now)
    if resolved.start > today:
        raise ApplicationError(
            _("The period %(label)s has not started yet.") % {"label": resolved.label},
            code="report_future",
            field="period",
        )
    is_open = resolved.end >= today
    existing = Report.objects.filter(hospital=hospital, period=period, period_start=resolved.start, format=fmt).first()
    if existing is not None and not (regenerate or is_open) and default_storage.exists(existing.stored_path):
        return existing
    content = _render(hospital, resolved, fmt, now)
    name = f"xinqiao-report-{hospital.code}-{resolved.label}.{fmt}"
    path = default_storage.save(
        f"{STORAGE_PREFIX}/{hospital.pk}/{secrets.token_urlsafe(24)}/{name}", ContentFile(content)
    )
    fields = {
        "period_end": resolved.end,
        "stored_path": path,
        "sha256": hashlib.sha256(content).hexdigest(),
        "size_bytes": len(content),
        "created_by": principal.user if principal is not None else None,
        "created_at": now,
    }
    old_path = existing.stored_path if existing is not None else ""
    try:
        with transaction.atomic():
            report, _created = Report.objects.update_or_create(
                hospital=hospital, period=period, period_start=resolved.start, format=fmt, defaults=fields
            )
    except IntegrityError:
        default_storage.delete(path)
        return Report.objects.get(hospital=hospital, period=period, period_start=resolved.start, format=fmt)
    except Exception:
        default_storage.delete(path)
        raise
    if old_path and old_path != path:
        transaction.on_commit(lambda: default_storage.delete(old_path))
    return report


def report_list(principal: Principal, *, limit: int = 50) -> list[Report]:
    principal.require(Action.ANALYTICS_VIEW)
    return list(
        Report.objects.filter(hospital=principal.hospital)
        .select_related("created_by")
        .order_by("-created_at", "-pk")[:limit]
    )


def report_open(*, principal: Principal, report: Report, request: HttpRequest | None = None):
    """The stored file of a report for download, audited as a report export."""
    principal.require(Action.ANALYTICS_VIEW)
    if report.hospital_id != principal.hospital.pk:
        raise ApplicationError(_("This report belongs to another hospital."), code="report_hospital")
    if not default_storage.exists(report.stored_path):
        raise ApplicationError(_("The report file is missing: generate the report again."), code="report_missing")
    audit_record(
        action=AuditEvent.Action.REPORT_EXPORT,
        principal=principal,
        request=request,
        object_type="analytics.report",
        object_id=report.pk,
        detail={"period": report.period, "period_start": report.period_start.isoformat(), "format": report.format},
    )
    return default_storage.open(report.stored_path, "rb")


# --- schedules ---------------------------------------------------------------------------------------------


@transaction.atomic
def report_schedule_save(
    *,
    principal: Principal,
    period: str,
    formats: Sequence[str],
    route_ids: Iterable[int],
    is_active: bool = True,
    request: HttpRequest | None = None,
) -> ReportSchedule:
    """Create or change the hospital's weekly or monthly delivery."""
    from xinqiao.integrations.models import NotificationRoute

    principal.require(Action.ANALYTICS_MANAGE)
    if period not in Report.Period.values:
        raise ApplicationError(_("Choose a weekly or monthly report."), code="report_period", field="period")
    chosen_formats = [value for value in Report.Format.values if value in set(formats)]
    if not chosen_formats or len(set(formats)) != len(chosen_formats):
        raise ApplicationError(_("Choose PDF, Excel or both."), code="report_format", field="formats")
    wanted = {int(pk) for pk in route_ids}
    routes = list(NotificationRoute.objects.filter(hospital=principal.hospital, pk__in=wanted))
    if len(routes) != len(wanted):
        raise ApplicationError(
            _("One of the chosen destinations does not exist in this hospital."), code="report_route", field="routes"
        )
    if is_active and not routes:
        raise ApplicationError(
            _("Choose at least one destination for an active schedule."), code="report_route", field="routes"
        )
    # A new schedule starts with the next period that closes, not with one that ended before it existed.
    already_closed = last_closed_period(period, timezone.localdate()).start
    schedule, _created = ReportSchedule.objects.update_or_create(
        hospital=principal.hospital,
        period=period,
        defaults={"formats": chosen_formats, "is_active": is_active},
        create_defaults={"formats": chosen_formats, "is_active": is_active, "last_period_start": already_closed},
    )
    schedule.routes.set(routes)
    audit_record(
        action=AuditEvent.Action.INTEGRATION_CHANGE,
        principal=principal,
        request=request,
        object_type="analytics.report_schedule",
        object_id=schedule.pk,
        detail={
            "period": period,
            "formats": chosen_formats,
            "routes": sorted(route.pk for route in routes),
            "active": is_active,
        },
    )
    return schedule


def _public_url(path: str) -> str:
    base = (getattr(settings, "XINQIAO_PUBLIC_URL", "") or "").rstrip("/")
    return f"{base}{path}"


def _message(hospital: Hospital, period: ReportPeriod, reports: list[Report]) -> tuple[str, str]:
    kind = _("Monthly report") if period.kind == Report.Period.MONTH else _("Weekly report")
    subject = f"{hospital.short_name or hospital.name} {kind} {period.label}"
    lines = [
        f"### {subject}",
        _("> Period: %(start)s to %(end)s") % {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "",
    ]
    for report in reports:
        url = _public_url(reverse("analytics:report_download", args=[report.pk]))
        label = Report.Format(report.format).label
        lines.append(f"- [{label} · {report_filename(report, hospital)}]({url})")
    lines += ["", _("The files are attached to the e-mail; the links need a XinQiao sign-in.")]
    return subject, "\n".join(lines)


@dataclass
class DeliveryResult:
    delivered: list[int] = field(default_factory=list)  # schedule pks enqueued in this run
    skipped: list[int] = field(default_factory=list)  # already delivered for the last closed period
    failed: list[int] = field(default_factory=list)


def report_schedule_deliver(*, schedule: ReportSchedule, period: ReportPeriod, now: dt.datetime) -> int:
    """Build the schedule's formats for a closed period and enqueue one message per route; returns messages."""
    from xinqiao.integrations.services import outbound_enqueue

    hospital = schedule.hospital
    reports = [
        report_build(hospital=hospital, period=schedule.period, period_start=period.start, fmt=fmt, now=now)
        for fmt in schedule.formats
    ]
    with translation.override(settings.LANGUAGE_CODE):
        subject, body = _message(hospital, period, reports)
    routes = list(schedule.routes.filter(is_active=True))
    with transaction.atomic():
        locked = ReportSchedule.objects.select_for_update().get(pk=schedule.pk)
        if locked.last_period_start is not None and locked.last_period_start >= period.start:
            return 0
        messages = outbound_enqueue(
            hospital_id=hospital.pk,
            purpose="reports",
            dedup_key=f"report:{schedule.pk}:{period.start.isoformat()}",
            subject=subject,
            body_markdown=body,
            attachments=[report.stored_path for report in reports],
            routes=routes,
        )
        locked.last_period_start = period.start
        locked.last_delivered_at = now
        locked.save(update_fields=["last_period_start", "last_delivered_at"])
    return len(messages)


def reports_deliver_due(*, now: dt.datetime | None = None) -> DeliveryResult:
    """Deliver every active schedule whose last closed period has not been delivered yet (idempotent)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    result = DeliveryResult()
    schedules = ReportSchedule.objects.filter(is_active=True, hospital__is_active=True).select_related("hospital")
    for schedule in schedules.order_by("pk"):
        period = last_closed_period(schedule.period, today)
        if schedule.last_period_start is not None and schedule.last_period_start >= period.start:
            result.skipped.append(schedule.pk)
            continue
        try:
            report_schedule_deliver(schedule=schedule, period=period, now=now)
        except ApplicationError as error:
            # One hospital's problem (e.g. a destination removed meanwhile) must not stop the others.
            logger.warning("report schedule %s failed: %s", schedule.pk, error.code)
            result.failed.append(schedule.pk)
        else:
            result.delivered.append(schedule.pk)
    return result
