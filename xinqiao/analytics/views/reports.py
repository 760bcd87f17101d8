"""Report pages: generate a weekly or monthly report on demand, download stored reports, edit the schedules."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from xinqiao.analytics.models import Report, ReportSchedule
from xinqiao.analytics.reports.periods import last_closed_period, parse_period, period_for
from xinqiao.analytics.services import reports as services
from xinqiao.core.access import Action, Principal, parse_pk
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.views import _apply_error, member_required


class ReportForm(forms.Form):
    period_type = forms.ChoiceField(label=gettext_lazy("Report"), choices=Report.Period.choices)
    period = forms.CharField(
        label=gettext_lazy("Period"),
        max_length=10,
        help_text=gettext_lazy("A month like 2026-10 or an ISO week like 2026-W43."),
    )
    format = forms.ChoiceField(label=gettext_lazy("Format"), choices=Report.Format.choices)
    regenerate = forms.BooleanField(label=gettext_lazy("Build again"), required=False)

    def clean(self):
        data = super().clean()
        if "period" in data and "period_type" in data:
            try:
                period = parse_period(data["period"])
            except ApplicationError as error:
                self.add_error("period", error.message)
                return data
            if period.kind != data["period_type"]:
                self.add_error(
                    "period",
                    _("A monthly report needs a month like 2026-10; a weekly report an ISO week like 2026-W43."),
                )
            data["resolved"] = period
        return data


class ScheduleForm(forms.Form):
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False)
    formats = forms.MultipleChoiceField(
        label=gettext_lazy("Formats"), choices=Report.Format.choices, widget=forms.CheckboxSelectMultiple
    )
    routes = forms.MultipleChoiceField(
        label=gettext_lazy("Deliver to"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, route_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["routes"].choices = route_choices


def _hospital_wide(principal: Principal) -> None:
    """Reports cover the whole hospital: ``report.view`` is granted only to hospital-wide roles (no dept_reviewer)."""
    principal.require(Action.REPORT_VIEW)


@member_required
@require_http_methods(["GET", "POST"])
def report_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    _hospital_wide(principal)
    today = timezone.localdate()
    form = ReportForm(
        request.POST or None,
        initial={"period_type": Report.Period.MONTH, "period": last_closed_period("month", today).label},
    )
    built = None
    if request.method == "POST" and form.is_valid():
        period = form.cleaned_data["resolved"]
        try:
            built = services.report_build(
                hospital=principal.hospital,
                period=period.kind,
                period_start=period.start,
                fmt=form.cleaned_data["format"],
                principal=principal,
                regenerate=form.cleaned_data["regenerate"],
            )
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(
                request,
                _("The %(format)s report for %(period)s is ready.")
                % {"format": built.get_format_display(), "period": period.label},
            )
            return redirect(f"{request.path}?built={built.pk}")
    highlighted = request.GET.get("built", "")
    rows = [
        {"report": report, "label": period_for(report.period, report.period_start).label}
        for report in services.report_list(principal)
    ]
    return render(
        request,
        "analytics/reports/report_list.html",
        {
            "form": form,
            "rows": rows,
            "highlighted": highlighted,
            "can_manage": principal.allows(Action.ANALYTICS_MANAGE),
        },
        status=400 if form.errors else 200,
    )


@member_required
@require_GET
def report_download(request: HttpRequest, pk: int) -> FileResponse:
    principal = request.principal
    report = Report.objects.filter(pk=parse_pk(pk), hospital=principal.hospital).first()
    if report is None:
        raise Http404
    _hospital_wide(principal)
    try:
        handle = services.report_open(principal=principal, report=report, request=request)
    except ApplicationError as error:
        raise Http404(error.message) from error
    return FileResponse(
        handle,
        as_attachment=True,
        filename=services.report_filename(report, principal.hospital),
        content_type=services.CONTENT_TYPES[report.format],
    )


@member_required
@require_http_methods(["GET", "POST"])
def report_schedules(request: HttpRequest) -> HttpResponse:
    from xinqiao.integrations.models import NotificationRoute

    principal = request.principal
    principal.require(Action.ANALYTICS_MANAGE)
    routes = list(NotificationRoute.objects.filter(hospital=principal.hospital).order_by("name"))
    route_choices = [(str(route.pk), f"{route.name} · {route.get_kind_display()}") for route in routes]
    existing = {
        schedule.period: schedule
        for schedule in ReportSchedule.objects.filter(hospital=principal.hospital).prefetch_related("routes")
    }
    sections = []
    for period, label in Report.Period.choices:
        schedule = existing.get(period)
        initial = {
            "is_active": schedule.is_active if schedule else False,
            "formats": schedule.formats if schedule else [Report.Format.PDF],
            "routes": [str(route.pk) for route in schedule.routes.all()] if schedule else [],
        }
        data = request.POST if request.method == "POST" and request.POST.get("period") == period else None
        form = ScheduleForm(data, initial=initial, prefix=period, route_choices=route_choices)
        sections.append({"period": period, "label": label, "form": form, "schedule": schedule})
        if data is None or not form.is_valid():
            continue
        try:
            services.report_schedule_save(
                principal=principal,
                period=period,
                formats=form.cleaned_data["formats"],
                route_ids=[int(pk) for pk in form.cleaned_data["routes"]],
                is_active=form.cleaned_data["is_active"],
                request=request,
            )
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("Schedule saved."))
            return redirect("analytics:report_schedules")
    invalid = any(section["form"].errors for section in sections)
    return render(
        request,
        "analytics/reports/report_schedules.html",
        {"sections": sections, "has_routes": bool(routes)},
        status=400 if invalid else 200,
    )


urlpatterns = [
    path("reports/", report_list, name="report_list"),
    path("reports/<str:pk>/download/", report_download, name="report_download"),
    path("reports/schedules/", report_schedules, name="report_schedules"),
]
