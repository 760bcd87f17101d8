"""The public-opinion dashboard: volume and sentiment over time, top negative clusters, topic and entity breakdowns,
open alerts and cases, filtered by date range, platform, entity and topic."""

from __future__ import annotations

import datetime as dt
import json

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from xinqiao.core.access import Action
from xinqiao.core.views import member_required
from xinqiao.core.widgets import DatePicker
from xinqiao.listening.models import Platform
from xinqiao.listening.selectors import cases as case_selectors
from xinqiao.listening.selectors import dashboard as selectors


class DashboardFilterForm(forms.Form):
    start = forms.DateField(label=gettext_lazy("From"), required=False, widget=DatePicker())
    end = forms.DateField(label=gettext_lazy("To"), required=False, widget=DatePicker())
    platform = forms.ChoiceField(label=gettext_lazy("Platform"), required=False)
    entity = forms.ChoiceField(label=gettext_lazy("Hospital, department or doctor"), required=False)
    topic = forms.ChoiceField(label=gettext_lazy("Topic"), required=False)

    def __init__(self, *args, hospital_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        everything = ("", _("All"))
        self.fields["platform"].choices = [everything, *Platform.choices]
        self.fields["entity"].choices = [everything, *selectors.entity_choices(hospital_id)]
        self.fields["topic"].choices = [everything, *selectors.topic_choices(hospital_id)]

    def clean(self):
        data = super().clean()
        today = timezone.localdate()
        end = data.get("end") or today
        start = data.get("start") or end - dt.timedelta(days=selectors.DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError(_("The start date is after the end date."))
        if (end - start).days + 1 > selectors.MAX_DAYS:
            raise forms.ValidationError(_("Choose at most %(days)d days.") % {"days": selectors.MAX_DAYS})
        data["start"], data["end"] = start, end
        return data

    def filters(self) -> selectors.DashboardFilters:
        if not self.is_bound or not self.is_valid():
            return selectors.DashboardFilters.last_days()
        data = self.cleaned_data
        return selectors.DashboardFilters(
            start=data["start"], end=data["end"], platform=data.get("platform") or "",
            entity_key=data.get("entity") or "", topic=data.get("topic") or "",
        )  # fmt: skip


@member_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.LISTENING_VIEW)
    query = request.GET.copy()
    form = DashboardFilterForm(query or None, hospital_id=principal.hospital.pk)
    filters = form.filters()
    # The date inputs show the period the page covers, also when it is the default or half of it was given.
    if not form.is_bound:
        form.initial = {"start": filters.start, "end": filters.end}
    elif form.is_valid():
        for key in ("start", "end"):
            if not query.get(key):
                query[key] = getattr(filters, key).isoformat()
    board = selectors.dashboard(principal.hospital.pk, filters)
    now = timezone.now()
    return render(
        request,
        "listening/dashboard/index.html",
        {
            "form": form,
            "board": board,
            "filters": filters,
            "chart_json": json.dumps(board.chart, ensure_ascii=False),
            "alerts": board.alerts,
            "cases": [(case, case_selectors.case_sla(case, now=now)) for case in board.cases],
            "can_manage_cases": principal.allows(Action.CASE_MANAGE),
        },
        status=400 if form.is_bound and form.errors else 200,
    )


urlpatterns = [path("", dashboard, name="dashboard")]
