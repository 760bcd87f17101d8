"""The site's URLs plus the benchmark's baseline view: the patient list paginated with OFFSET + COUNT(*).

The baseline mirrors ``xinqiao.core.views.patient_list`` (same form, selector, template and page size)
but pages the way ``django.core.paginator.Paginator`` does, so the two differ only in pagination.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from config.urls import urlpatterns as site_urlpatterns
from xinqiao.core import selectors
from xinqiao.core.access import Action
from xinqiao.core.forms import PatientFilterForm
from xinqiao.core.views import member_required


@member_required
def patient_list_offset(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.PATIENT_VIEW)
    form = PatientFilterForm(request.GET, hospital=principal.hospital)
    if not form.is_valid():
        return HttpResponse(status=400)
    data = form.cleaned_data
    filters = selectors.PatientFilters(
        lookup=selectors.search_lookup(principal.hospital.pk, data["q"]) if data.get("q") else None,
        department_id=data.get("department"),
        source_channel=data.get("source_channel", ""),
        sex=data.get("sex", ""),
        age_min=data.get("age_min"),
        age_max=data.get("age_max"),
        consent=data.get("consent", ""),
    )
    queryset = selectors.patient_queryset(principal, filters).select_related("first_department").order_by("-pk")
    paginator = Paginator(queryset, selectors.PAGE_SIZE)
    page = paginator.page(int(request.GET.get("page", "1")))  # COUNT(*), then LIMIT/OFFSET
    context = {
        "form": form,
        "page": selectors.Page(rows=list(page.object_list), next_cursor=None),
        "query": "",
        "search_expired": False,
        "can_write": principal.allows(Action.PATIENT_WRITE),
        "paginator_count": paginator.count,
    }
    return render(request, "core/patient_list.html", context)


urlpatterns = [path("bench/patients-offset/", patient_list_offset), *site_urlpatterns]
