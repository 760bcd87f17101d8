"""Metric import pages: the list of imports, the upload form, the preview (with every row error) and the commit."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from xinqiao.analytics.importers.headers import EXPORT_TYPES, EXPORT_TYPES_BY_CODE, FIELD_KINDS
from xinqiao.analytics.importers.reading import MAX_FILE_BYTES
from xinqiao.analytics.importers.values import shanghai_today
from xinqiao.analytics.models import MetricImport
from xinqiao.analytics.samples import make_sample
from xinqiao.analytics.services import imports as services
from xinqiao.channels.models import PlatformAccount
from xinqiao.core.access import Action, parse_pk
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.views import _apply_error, member_required

BACKGROUND_STATUSES = (MetricImport.Status.ANALYSING, MetricImport.Status.QUEUED)
PLATFORM_CHOICES = [
    (value, label) for value, label in PlatformAccount.Platform.choices if value in services.IMPORT_PLATFORMS
]


class ImportUploadForm(forms.Form):
    platform = forms.ChoiceField(label=gettext_lazy("Platform"), choices=PLATFORM_CHOICES)
    account = forms.ModelChoiceField(label=gettext_lazy("Account"), queryset=PlatformAccount.objects.none())
    uploaded_file = forms.FileField(
        label=gettext_lazy("Export file (.xlsx, .xls or .csv)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.xls,.csv"}),
    )

    def __init__(self, *args, hospital, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = PlatformAccount.objects.filter(
            hospital=hospital, platform__in=services.IMPORT_PLATFORMS
        ).order_by("platform", "name")
        self.fields["account"].label_from_instance = lambda account: str(account)

    def clean_uploaded_file(self):
        uploaded = self.cleaned_data["uploaded_file"]
        if uploaded.size > MAX_FILE_BYTES:
            raise forms.ValidationError(_("The file is larger than 50 MB."))
        return uploaded


def _access_import(request: HttpRequest, pk: object, action: str) -> MetricImport:
    request.principal.require(action)
    metric_import = (
        MetricImport.objects.select_related("account", "created_by")
        .filter(hospital=request.principal.hospital, pk=parse_pk(pk))
        .first()
    )
    if metric_import is None:
        raise Http404
    return metric_import


@member_required
@require_GET
def import_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.ANALYTICS_VIEW)
    rows = list(MetricImport.objects.filter(hospital=principal.hospital).select_related("account", "created_by")[:200])
    for row in rows:
        row.export_type_label = services.export_type_label(row.export_type)
    return render(
        request,
        "analytics/imports/list.html",
        {"rows": rows, "can_manage": principal.allows(Action.ANALYTICS_MANAGE)},
    )


@member_required
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.ANALYTICS_MANAGE)
    form = ImportUploadForm(request.POST or None, request.FILES or None, hospital=principal.hospital)
    if request.method == "POST" and form.is_valid():
        try:
            metric_import = services.metric_import_preview(
                principal=principal,
                account=form.cleaned_data["account"],
                platform=form.cleaned_data["platform"],
                uploaded_file=form.cleaned_data["uploaded_file"],
            )
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            if metric_import.status == MetricImport.Status.ANALYSING:
                messages.info(
                    request,
                    _(
                        "The file is large: it is read in the background. This page shows the preview when it is "
                        "ready, and you will get a notice; you can leave it meanwhile."
                    ),
                )
            return redirect("analytics:import_detail", pk=metric_import.pk)
    supported = [
        {
            "code": export_type.code,
            "label": export_type.label,
            "confidence": export_type.confidence,
            "platform": export_type.platform,
        }
        for export_type in EXPORT_TYPES
    ]
    return render(
        request,
        "analytics/imports/upload.html",
        {"form": form, "supported": supported},
        status=400 if form.errors else 200,
    )


@member_required
@require_GET
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    metric_import = _access_import(request, pk, Action.ANALYTICS_VIEW)
    export_type = EXPORT_TYPES_BY_CODE.get(metric_import.export_type)
    columns = metric_import.details.get("columns", [])
    headers = [column["header"] for column in columns]
    for column in columns:
        column["kind"] = FIELD_KINDS.get(column["field"], "")
    previous = (
        MetricImport.objects.filter(
            hospital=metric_import.hospital,
            account=metric_import.account,
            file_sha256=metric_import.file_sha256,
            status=MetricImport.Status.COMMITTED,
        )
        .exclude(pk=metric_import.pk)
        .order_by("-committed_at")
        .first()
    )
    return render(
        request,
        "analytics/imports/detail.html",
        {
            "import": metric_import,
            "export_type": export_type,
            "columns": columns,
            "headers": headers,
            "preview_rows": [
                {"row": row["row"], "cells": [row["values"].get(header, "") for header in headers]}
                for row in metric_import.preview_rows
            ],
            "previous": previous,
            "more_errors": max(0, metric_import.errors_total - len(metric_import.errors)),
            "can_commit": (
                request.principal.allows(Action.ANALYTICS_MANAGE) and metric_import.status in services.COMMITTABLE
            ),
            "background_rows": settings.XINQIAO_IMPORT_BACKGROUND_ROWS,
            "can_cancel": (
                request.principal.allows(Action.ANALYTICS_MANAGE) and metric_import.status in BACKGROUND_STATUSES
            ),
        },
    )


@member_required
@require_GET
def import_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The import's status as JSON, polled by its page while the task worker reads or imports the file; once it is
    done the response carries ``HX-Refresh`` so htmx reloads the page with the result."""
    metric_import = _access_import(request, pk, Action.ANALYTICS_VIEW)
    response = JsonResponse({"status": metric_import.status, "status_label": metric_import.get_status_display()})
    if metric_import.status not in BACKGROUND_STATUSES:
        response["HX-Refresh"] = "true"
    response["Cache-Control"] = "no-store"
    return response


@member_required
@require_POST
def import_commit(request: HttpRequest, pk: int) -> HttpResponse:
    metric_import = _access_import(request, pk, Action.ANALYTICS_MANAGE)
    try:
        committed = services.metric_import_commit(
            principal=request.principal, metric_import=metric_import, request=request
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("analytics:import_detail", pk=metric_import.pk)
    if committed.status == MetricImport.Status.QUEUED:
        messages.info(
            request,
            _(
                "%(rows)d rows are being imported in the background. This page updates when the import is done, "
                "and you will get a notice; you can leave it meanwhile."
            )
            % {"rows": committed.rows_total},
        )
        return redirect("analytics:import_detail", pk=metric_import.pk)
    messages.success(
        request,
        _("Imported: %(created)d created, %(updated)d updated, %(unchanged)d unchanged.")
        % {
            "created": committed.rows_created,
            "updated": committed.rows_updated,
            "unchanged": committed.rows_unchanged,
        },
    )
    return redirect("analytics:import_detail", pk=metric_import.pk)


@member_required
@require_POST
def import_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    metric_import = _access_import(request, pk, Action.ANALYTICS_MANAGE)
    try:
        services.metric_import_cancel(principal=request.principal, metric_import=metric_import)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.info(request, _("Cancelled: the background worker will leave this import alone."))
    return redirect("analytics:import_detail", pk=metric_import.pk)


SAMPLE_DAYS = 7
SAMPLE_CONTENT_TYPES = {
    "csv": "text/csv; charset=gb18030",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@member_required
@require_GET
def import_sample(request: HttpRequest, code: str, fmt: str) -> HttpResponse:
    """A synthetic export of one type, in the documented layout (title line, headers, 万, %, durations), covering
    the last seven days: something to try the import with. No patient or real account data is in it."""
    principal = request.principal
    principal.require(Action.ANALYTICS_MANAGE)
    export_type = EXPORT_TYPES_BY_CODE.get(code)
    if export_type is None or fmt not in SAMPLE_CONTENT_TYPES:
        raise Http404
    accounts = PlatformAccount.objects.filter(hospital=principal.hospital, platform=export_type.platform).order_by("pk")
    official = PlatformAccount.AccountType.HOSPITAL_OFFICIAL
    account = accounts.filter(account_type=official).first() or accounts.first()  # named on the title line
    end = shanghai_today() - dt.timedelta(days=1)
    sample = make_sample(
        code,
        fmt=fmt,
        account_name=account.name if account else (principal.hospital.short_name or principal.hospital.name),
        start=end - dt.timedelta(days=SAMPLE_DAYS - 1),
        end=end,
    )
    response = HttpResponse(sample.content, content_type=SAMPLE_CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{sample.filename}"'
    return response


urlpatterns = [
    path("imports/samples/<str:code>/<str:fmt>/", import_sample, name="import_sample"),
    path("imports/", import_list, name="import_list"),
    path("imports/new/", import_upload, name="import_upload"),
    path("imports/<int:pk>/", import_detail, name="import_detail"),
    path("imports/<int:pk>/commit/", import_commit, name="import_commit"),
    path("imports/<int:pk>/status/", import_status, name="import_status"),
    path("imports/<int:pk>/cancel/", import_cancel, name="import_cancel"),
]
