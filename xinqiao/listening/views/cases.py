"""Crisis case pages: list, open (from an alert or by hand), detail with SLA clock, propagation, timeline and replies;
the reply sign-off by 医务部; closing with lessons; the post-crisis review as PDF and Excel."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from xinqiao.content.selectors import highlighted
from xinqiao.core.access import Action
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.views import _apply_error, member_required
from xinqiao.listening import review_export
from xinqiao.listening.models import CrisisCase, ReplyDraft
from xinqiao.listening.selectors import cases as selectors
from xinqiao.listening.services import cases as services

# --- forms --------------------------------------------------------------------------------------------------------


class CaseForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    summary = forms.CharField(label=gettext_lazy("Summary"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    owner = forms.TypedChoiceField(label=gettext_lazy("Owner"), coerce=int, required=False)
    severity = forms.TypedChoiceField(
        label=gettext_lazy("Severity"), coerce=int, choices=CrisisCase.Severity.choices, required=False
    )

    def __init__(self, *args, owner_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", "—"), *owner_choices]


class ReplyForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Reply text"),
        max_length=services.REPLY_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 5}),
    )


STATUS_LABELS = {
    "opened": gettext_lazy("Opened"),
    "updated": gettext_lazy("Updated"),
    "status": gettext_lazy("Status"),
    "reply_drafted": gettext_lazy("Reply drafted"),
    "reply_edited": gettext_lazy("Reply changed"),
    "reply_submitted": gettext_lazy("Reply submitted"),
    "reply_signed_off": gettext_lazy("Reply signed off"),
    "reply_returned": gettext_lazy("Reply returned"),
    "reply_published": gettext_lazy("Reply published"),
    "sla_warning": gettext_lazy("SLA warning"),
    "escalated": gettext_lazy("Escalated"),
    "closed": gettext_lazy("Closed"),
}


# --- list and opening ---------------------------------------------------------------------------------------------


@member_required
@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.LISTENING_VIEW)
    status = request.GET.get("status", "")
    if status not in CrisisCase.Status.values:
        status = ""
    now = timezone.now()
    rows = [
        (case, selectors.case_sla(case, now=now)) for case in selectors.case_list(principal.hospital.pk, status=status)
    ]
    return render(
        request,
        "listening/cases/list.html",
        {
            "rows": rows,
            "status": status,
            "statuses": CrisisCase.Status.choices,
            "counts": selectors.case_counts_by_status(principal.hospital.pk),
            "can_manage": principal.allows(Action.CASE_MANAGE),
        },
    )


@member_required
@require_http_methods(["GET", "POST"])
def case_create(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.CASE_MANAGE)
    form = CaseForm(request.POST or None, owner_choices=services.case_owner_choices(principal.hospital.pk))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            case = services.case_open(
                principal=principal, title=data["title"], summary=data["summary"], owner=data["owner"] or None,
                severity=data["severity"] or None, request=request,
            )  # fmt: skip
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("Case opened."))
            return redirect("listening:case_detail", case.pk)
    return render(request, "listening/cases/form.html", {"form": form}, status=400 if form.errors else 200)


@member_required
@require_POST
def case_open_from_alert(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    alert = selectors.access_alert_for_case(principal, pk)
    existed = alert.case_id is not None
    case = services.case_open_from_alert(principal=principal, alert=alert, request=request)
    if existed:
        messages.info(request, _("This alert already has a case."))
    else:
        messages.success(request, _("Case opened from the alert; the 24-hour first-response clock is running."))
    return redirect("listening:case_detail", case.pk)


# --- detail -------------------------------------------------------------------------------------------------------


def _draft_view(draft: ReplyDraft, principal) -> dict:
    report = draft.compliance_report or {}
    segments, document = highlighted(report)
    findings = report.get("findings", [])
    return {
        "draft": draft,
        "segments": segments,
        "document_findings": document,
        "findings": findings,
        "block_count": sum(1 for f in findings if f["severity"] == "BLOCK"),
        "warn_count": sum(1 for f in findings if f["severity"] == "WARN"),
        "can_sign": principal.allows(Action.CASE_SIGN_OFF)
        and draft.status == ReplyDraft.Status.SUBMITTED
        and draft.author_id != principal.user.pk,
    }


def _detail_context(request: HttpRequest, case: CrisisCase, **extra) -> dict:
    principal = request.principal
    propagation = selectors.case_propagation(case)
    sla = selectors.case_sla(case)
    can_manage = principal.allows(Action.CASE_MANAGE) and case.status != CrisisCase.Status.CLOSED
    chart = {
        "hours": [row["hour"].strftime("%m-%d %H:00") for row in propagation.cumulative],
        "reach": [row["cumulative_reach"] for row in propagation.cumulative],
        "posts": [row["cumulative_posts"] for row in propagation.cumulative],
    }
    events = [
        {"event": event, "label": STATUS_LABELS.get(event.kind, event.kind)} for event in selectors.case_timeline(case)
    ]
    next_statuses = [(s, CrisisCase.Status(s).label) for s in sorted(services.TRANSITIONS[case.status])]
    context = {
        "case": case,
        "sla": sla,
        "propagation": propagation,
        "chart_json": json.dumps(chart, ensure_ascii=False),
        "events": events,
        "alerts": selectors.case_alerts(case),
        "clusters": list(case.clusters.order_by("-severity", "pk")),
        "drafts": [_draft_view(d, principal) for d in selectors.case_drafts(case)],
        "can_manage": can_manage,
        "next_statuses": next_statuses,
        "can_close": can_manage and case.status in services.CLOSABLE,
        "case_form": CaseForm(
            initial={"title": case.title, "summary": case.summary, "owner": case.owner_id, "severity": case.severity},
            owner_choices=services.case_owner_choices(case.hospital_id),
        ),
        "reply_form": ReplyForm(),
        "review": case.review or None,
    }
    context.update(extra)
    return context


@member_required
@require_GET
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    case = selectors.access_case(request.principal, pk)
    return render(request, "listening/cases/detail.html", _detail_context(request, case))


def _error(request: HttpRequest, case: CrisisCase, error: ApplicationError, **extra) -> HttpResponse:
    case.refresh_from_db()
    return render(
        request, "listening/cases/detail.html", _detail_context(request, case, error=error.message, **extra), status=400
    )


@member_required
@require_POST
def case_update(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    case = selectors.access_case(principal, pk, Action.CASE_MANAGE)
    form = CaseForm(request.POST, owner_choices=services.case_owner_choices(case.hospital_id))
    if not form.is_valid():
        return _error(request, case, ApplicationError(_("Check the case fields.")), case_form=form)
    data = form.cleaned_data
    try:
        services.case_update(
            principal=principal, case=case, owner=data["owner"] or None, severity=data["severity"] or None,
            title=data["title"], summary=data["summary"], request=request,
        )  # fmt: skip
    except ApplicationError as error:
        return _error(request, case, error, case_form=form)
    messages.success(request, _("Case updated."))
    return redirect("listening:case_detail", case.pk)


@member_required
@require_POST
def case_status(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    case = selectors.access_case(principal, pk, Action.CASE_MANAGE)
    try:
        services.case_set_status(
            principal=principal, case=case, status=request.POST.get("status", ""),
            note=request.POST.get("note", "")[:500], request=request,
        )  # fmt: skip
    except ApplicationError as error:
        return _error(request, case, error)
    messages.success(request, _("Status changed."))
    return redirect("listening:case_detail", case.pk)


@member_required
@require_POST
def case_close(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    case = selectors.access_case(principal, pk, Action.CASE_MANAGE)
    try:
        services.case_close(principal=principal, case=case, lessons=request.POST.get("lessons", ""), request=request)
    except ApplicationError as error:
        return _error(request, case, error, lessons=request.POST.get("lessons", ""))
    messages.success(request, _("Case closed; the post-crisis review is frozen."))
    return redirect("listening:case_detail", case.pk)


# --- replies ------------------------------------------------------------------------------------------------------


@member_required
@require_POST
def reply_create(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    case = selectors.access_case(principal, pk, Action.CASE_MANAGE)
    form = ReplyForm(request.POST)
    try:
        if not form.is_valid():
            raise ApplicationError(_("Write the reply text (at most 2,000 characters)."), field="text")
        services.reply_draft_create(principal=principal, case=case, text=form.cleaned_data["text"], request=request)
    except ApplicationError as error:
        return _error(request, case, error, reply_form=form)
    messages.success(request, _("Reply drafted and checked."))
    return redirect("listening:case_detail", case.pk)


@member_required
@require_POST
def reply_check(request: HttpRequest, pk: int) -> HttpResponse:
    """HTMX: the compliance findings of the text being typed, without saving it."""
    principal = request.principal
    case = selectors.access_case(principal, pk, Action.CASE_MANAGE)
    text = request.POST.get("text", "")[: services.REPLY_MAX_CHARS]
    report = services.reply_check(hospital_id=case.hospital_id, text=text) if text.strip() else {"findings": []}
    segments, document = highlighted(report)
    return render(
        request,
        "listening/cases/_findings.html",
        {"segments": segments, "findings": report["findings"], "document_findings": document, "live": True},
    )


def _reply_action(request: HttpRequest, pk: int, action: str, run, success: str) -> HttpResponse:
    principal = request.principal
    draft = selectors.access_reply(principal, pk, action)
    try:
        run(principal, draft)
    except ApplicationError as error:
        return _error(request, draft.case, error, failed_draft=draft.pk)
    messages.success(request, success)
    return redirect("listening:case_detail", draft.case_id)


@member_required
@require_POST
def reply_update(request: HttpRequest, pk: int) -> HttpResponse:
    text = request.POST.get("text", "")
    return _reply_action(
        request, pk, Action.CASE_MANAGE,
        lambda principal, draft: services.reply_draft_update(principal=principal, draft=draft, text=text,
                                                             request=request),
        _("Reply changed and checked again."),
    )  # fmt: skip


@member_required
@require_POST
def reply_submit(request: HttpRequest, pk: int) -> HttpResponse:
    reason = request.POST.get("warn_reason", "")[:1000]
    return _reply_action(
        request, pk, Action.CASE_MANAGE,
        lambda principal, draft: services.reply_submit(principal=principal, draft=draft, warn_reason=reason,
                                                       request=request),
        _("Reply submitted to medical affairs for sign-off."),
    )  # fmt: skip


@member_required
@require_POST
def reply_sign_off(request: HttpRequest, pk: int) -> HttpResponse:
    comment = request.POST.get("comment", "")[:2000]
    return _reply_action(
        request, pk, Action.CASE_SIGN_OFF,
        lambda principal, draft: services.reply_sign_off(principal=principal, draft=draft, comment=comment,
                                                         request=request),
        _("Reply signed off."),
    )  # fmt: skip


@member_required
@require_POST
def reply_return(request: HttpRequest, pk: int) -> HttpResponse:
    comment = request.POST.get("comment", "")[:2000]
    return _reply_action(
        request, pk, Action.CASE_SIGN_OFF,
        lambda principal, draft: services.reply_return(principal=principal, draft=draft, comment=comment,
                                                       request=request),
        _("Reply returned to the brand team."),
    )  # fmt: skip


@member_required
@require_POST
def reply_published(request: HttpRequest, pk: int) -> HttpResponse:
    return _reply_action(
        request, pk, Action.CASE_MANAGE,
        lambda principal, draft: services.reply_mark_published(principal=principal, draft=draft, request=request),
        _("Reply marked as published; the first response is recorded."),
    )  # fmt: skip


# --- review export ------------------------------------------------------------------------------------------------


def _closed_case(request: HttpRequest, pk: int) -> CrisisCase | HttpResponse:
    case = selectors.access_case(request.principal, pk)
    if case.status != CrisisCase.Status.CLOSED or not case.review:
        messages.error(request, _("The post-crisis review exists once the case is closed."))
        return redirect("listening:case_detail", case.pk)
    return case


@member_required
@require_GET
def review_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    case = _closed_case(request, pk)
    if isinstance(case, HttpResponse):
        return case
    response = HttpResponse(review_export.review_pdf(case), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="crisis-case-{case.pk}-review.pdf"'
    return response


@member_required
@require_GET
def review_xlsx(request: HttpRequest, pk: int) -> HttpResponse:
    case = _closed_case(request, pk)
    if isinstance(case, HttpResponse):
        return case
    response = HttpResponse(review_export.review_xlsx(case), content_type=review_export.XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="crisis-case-{case.pk}-review.xlsx"'
    return response


urlpatterns = [
    path("cases/", case_list, name="case_list"),
    path("cases/new/", case_create, name="case_create"),
    path("cases/from-alert/<int:pk>/", case_open_from_alert, name="case_open_from_alert"),
    path("cases/<int:pk>/", case_detail, name="case_detail"),
    path("cases/<int:pk>/update/", case_update, name="case_update"),
    path("cases/<int:pk>/status/", case_status, name="case_status"),
    path("cases/<int:pk>/close/", case_close, name="case_close"),
    path("cases/<int:pk>/replies/", reply_create, name="reply_create"),
    path("cases/<int:pk>/replies/check/", reply_check, name="reply_check"),
    path("cases/<int:pk>/review.pdf", review_pdf, name="case_review_pdf"),
    path("cases/<int:pk>/review.xlsx", review_xlsx, name="case_review_xlsx"),
    path("replies/<int:pk>/update/", reply_update, name="reply_update"),
    path("replies/<int:pk>/submit/", reply_submit, name="reply_submit"),
    path("replies/<int:pk>/sign-off/", reply_sign_off, name="reply_sign_off"),
    path("replies/<int:pk>/return/", reply_return, name="reply_return"),
    path("replies/<int:pk>/published/", reply_published, name="reply_published"),
]
