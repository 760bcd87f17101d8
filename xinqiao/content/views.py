"""Thin HTML views of the content studio: library, editor, review, queue, rules and policies."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from xinqiao.channels.selectors import publications_of_item
from xinqiao.content import calendar as editorial_calendar
from xinqiao.content import observances, selectors, services, workflow
from xinqiao.content.forms import (
    CalendarForm,
    ItemFilterForm,
    ItemForm,
    PolicyForm,
    RescheduleForm,
    ReviewForm,
    RuleAdditionForm,
    ScheduleForm,
)
from xinqiao.content.models import ContentImage, ContentItem, ReviewPolicy, ReviewStep, RuleAddition
from xinqiao.core.access import Action, access_hospital_object
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import Membership
from xinqiao.core.views import _apply_error, member_required

User = get_user_model()


@member_required
@require_GET
def item_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.CONTENT_VIEW)
    form = ItemFilterForm(request.GET or None)
    data = form.cleaned_data if request.GET and form.is_valid() else {}
    rows = selectors.item_list(
        principal,
        selectors.ItemFilters(
            state=data.get("state", ""), content_type=data.get("content_type", ""), pillar=data.get("pillar", ""),
            q=data.get("q", ""),
        ),
    )  # fmt: skip
    template = "content/item_list.html#results" if request.headers.get("HX-Request") else "content/item_list.html"
    return render(request, template, {"form": form, "rows": rows, "can_write": principal.allows(Action.CONTENT_WRITE)})


def _read_upload(upload, field_name: str) -> tuple[bytes, str] | None:
    if not upload:
        return None
    if upload.size > services.max_image_bytes():
        raise ApplicationError(
            _("The image is larger than %(limit)d KB.") % {"limit": services.max_image_bytes() // 1024},
            code="image_too_large",
            field=field_name,
        )
    data = upload.read()
    services.image_validate(data, field_name=field_name)
    return data, upload.name


def _save_item(request: HttpRequest, form: ItemForm, item: ContentItem | None) -> ContentItem:
    """Validate uploads first, then create the images and the item in one transaction (all or nothing)."""
    principal = request.principal
    cover = _read_upload(request.FILES.get("cover"), "cover")
    extra = _read_upload(request.FILES.get("image"), "image")
    with transaction.atomic():
        cover_id = item.cover_id if item is not None else None
        if cover is not None:
            cover_id = services.image_upload(
                principal=principal, data=cover[0], original_name=cover[1], item=item, field_name="cover"
            ).pk
        data = form.to_input(cover_id=cover_id)
        if item is None:
            item = services.item_create(principal=principal, data=data)
        else:
            item = services.item_update(principal=principal, item=item, data=data)
        if extra is not None:
            services.image_upload(principal=principal, data=extra[0], original_name=extra[1], item=item)
    return item


@member_required
@require_http_methods(["GET", "POST"])
def item_create(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.CONTENT_WRITE)
    form = ItemForm(request.POST or None, request.FILES or None, hospital=principal.hospital)
    if request.method == "POST" and form.is_valid():
        try:
            item = _save_item(request, form, None)
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("Saved as revision 1."))
            return redirect(item)
    return render(request, "content/item_form.html", {"form": form}, status=400 if form.errors else 200)


@member_required
@require_http_methods(["GET", "POST"])
def item_edit(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    item = selectors.access_item(principal, pk, Action.CONTENT_WRITE)
    if request.method == "POST":
        form = ItemForm(request.POST, request.FILES, hospital=principal.hospital)
        if form.is_valid():
            try:
                item = _save_item(request, form, item)
            except ApplicationError as error:
                _apply_error(form, error)
            else:
                messages.success(request, _("Saved as revision %(number)d.") % {"number": item.current_revision.number})
                return redirect(item)
    else:
        form = ItemForm(initial=ItemForm.initial_from(item), hospital=principal.hospital)
    images = ContentImage.objects.filter(item=item).order_by("pk")
    return render(
        request, "content/item_form.html", {"form": form, "item": item, "images": images},
        status=400 if form.errors else 200,
    )  # fmt: skip


def _detail_context(request: HttpRequest, item: ContentItem, *, review_form=None, schedule_form=None) -> dict:
    principal = request.principal
    report = services.item_compliance(item)
    segments, document_findings = selectors.highlighted(report)
    step = selectors.step_of_state(item.state)
    can_review = bool(step) and principal.allows(workflow.STEP_ACTION[step]) and item.author_id != principal.user.pk
    revisions = selectors.revisions_of(item)
    return {
        "item": item,
        "report": report,
        "segments": segments,
        "document_findings": document_findings,
        "warn_count": sum(1 for f in report["findings"] if f["severity"] == "WARN"),
        "block_count": sum(1 for f in report["findings"] if f["severity"] == "BLOCK"),
        "step": step,
        "step_label": ReviewStep(step).label if step else "",
        "can_review": can_review,
        "review_form": review_form or ReviewForm(initial={"step": step}),
        "schedule_form": schedule_form or ScheduleForm(initial={"scheduled_at": item.scheduled_at}),
        "can_write": principal.allows(Action.CONTENT_WRITE) and item.is_editable,
        "can_submit": principal.allows(Action.CONTENT_WRITE) and item.state in ("draft", "returned"),
        "can_publish": principal.allows(Action.CONTENT_PUBLISH) and item.state in workflow.AFTER_APPROVAL,
        "can_manage_publications": principal.allows(Action.CONTENT_PUBLISH),
        "revisions": revisions,
        "transitions": item.transitions.select_related("actor", "revision").order_by("pk"),
        "acknowledgements": item.warn_acknowledgements.select_related("actor", "revision").order_by("pk"),
        "publications": publications_of_item(item.pk),
        "accounts": item.target_accounts.order_by("pk"),
        "images": ContentImage.objects.filter(item=item).order_by("pk"),
        "steps": workflow.policy_steps(item),
    }


@member_required
@require_GET
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = selectors.access_item(request.principal, pk, Action.CONTENT_VIEW)
    return render(request, "content/item_detail.html", _detail_context(request, item))


def _error_detail(request: HttpRequest, item: ContentItem, error: ApplicationError, **forms) -> HttpResponse:
    item.refresh_from_db()
    context = _detail_context(request, item, **forms)
    context["error"] = error.message
    return render(request, "content/item_detail.html", context, status=400)


@member_required
@require_POST
def item_submit(request: HttpRequest, pk: int) -> HttpResponse:
    item = selectors.access_item(request.principal, pk, Action.CONTENT_WRITE)
    try:
        workflow.item_submit(principal=request.principal, item=item, comment=request.POST.get("comment", "")[:2000])
    except ApplicationError as error:
        return _error_detail(request, item, error)
    messages.success(request, _("Submitted for review."))
    return redirect(item)


@member_required
@require_POST
def item_review(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    item = selectors.access_item(principal, pk, Action.CONTENT_VIEW)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        return _error_detail(request, item, ApplicationError(_("Choose a decision.")), review_form=form)
    data = form.cleaned_data
    try:
        if data["decision"] == "approve":
            workflow.item_approve(
                principal=principal, item=item, step=data["step"], comment=data["comment"],
                warn_reason=data["warn_reason"], request=request,
            )  # fmt: skip
        else:
            workflow.item_send_back(
                principal=principal, item=item, step=data["step"], decision=data["decision"], comment=data["comment"]
            )
    except ApplicationError as error:
        return _error_detail(request, item, error, review_form=form)
    messages.success(request, _("Decision recorded."))
    return redirect(item)


@member_required
@require_POST
def item_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    item = selectors.access_item(request.principal, pk, Action.CONTENT_WRITE)
    form = ScheduleForm(request.POST)
    try:
        if not form.is_valid():
            raise ApplicationError(_("Enter a date and time."), field="scheduled_at")
        workflow.item_reschedule(principal=request.principal, item=item, scheduled_at=form.cleaned_data["scheduled_at"])
    except ApplicationError as error:
        return _error_detail(request, item, error, schedule_form=form)
    messages.success(request, _("Publishing time saved."))
    return redirect(item)


@member_required
@require_POST
def item_publish(request: HttpRequest, pk: int) -> HttpResponse:
    item = selectors.access_item(request.principal, pk, Action.CONTENT_PUBLISH)
    try:
        workflow.item_publish(principal=request.principal, item=item, request=request)
    except ApplicationError as error:
        return _error_detail(request, item, error)
    messages.success(request, _("Publishing started."))
    return redirect(item)


@member_required
@require_GET
def revision_diff(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    item = selectors.access_item(request.principal, pk, Action.CONTENT_VIEW)
    revision = item.revisions.filter(number=number).first()
    if revision is None:
        raise Http404
    previous = item.revisions.filter(number__lt=number).order_by("-number").first()
    return render(
        request,
        "content/revision_diff.html",
        {"item": item, "revision": revision, "previous": previous,
         "diff": services.revision_diff_html(previous, revision)},
    )  # fmt: skip


@member_required
@require_GET
def item_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    """The item's evidence record as PDF: published revisions, sha256, compliance reports, approval chain."""
    from xinqiao.content.evidence import evidence_pdf

    item = selectors.access_item(request.principal, pk, Action.CONTENT_VIEW)
    response = HttpResponse(evidence_pdf(item), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="content-{item.pk}-evidence.pdf"'
    return response


@member_required
@require_GET
def image(request: HttpRequest, pk: int) -> HttpResponse:
    image = selectors.access_image(request.principal, pk)
    response = FileResponse(image.file.open("rb"), content_type=image.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@member_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.CONTENT_VIEW)
    return render(request, "content/review_queue.html", {"sections": selectors.reviewer_queue(principal)})


# --- rule additions and policies (admin) -----------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@member_required
@require_http_methods(["GET", "POST"])
def rule_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.CONTENT_POLICY_MANAGE)
    form = RuleAdditionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.rule_addition_save(
                principal=principal, rule_id=data["rule_id"], phrases=_lines(data["phrases"]),
                exceptions=_lines(data["exceptions"]), note=data["note"],
            )  # fmt: skip
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("Rule additions saved; the next check uses them."))
            return redirect("content:rule_list")
    additions = RuleAddition.objects.filter(hospital=principal.hospital).order_by("rule_id")
    return render(
        request, "content/rule_list.html", {"form": form, "additions": additions}, status=400 if form.errors else 200
    )


@member_required
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    addition = access_hospital_object(principal, RuleAddition, pk, Action.CONTENT_POLICY_MANAGE)
    services.rule_addition_delete(principal=principal, addition=addition)
    messages.success(request, _("Rule additions removed."))
    return redirect("content:rule_list")


def _approver_choices(hospital) -> dict[str, list[tuple[int, str]]]:
    choices: dict[str, list[tuple[int, str]]] = {}
    for step, role in services.STEP_ROLES.items():
        members = (
            Membership.objects.filter(hospital=hospital, role=role).select_related("user").order_by("user__username")
        )
        choices[step] = [(m.user_id, m.user.get_full_name() or m.user.get_username()) for m in members]
    return choices


@member_required
@require_http_methods(["GET", "POST"])
def policy_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.CONTENT_POLICY_MANAGE)
    form = PolicyForm(request.POST or None, approver_choices=_approver_choices(principal.hospital))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        steps = [
            services.StepInput(
                step=step,
                enabled=data[f"{step}_enabled"],
                mode=data[f"{step}_mode"],
                approver_ids=list(data[f"{step}_approvers"]),
            )  # fmt: skip
            for step in ReviewStep.values
        ]
        try:
            services.review_policy_save(principal=principal, content_type=data["content_type"], steps=steps)
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("Review policy saved."))
            return redirect("content:policy_list")
    policies = (
        ReviewPolicy.objects.filter(hospital=principal.hospital)
        .prefetch_related("steps__approvers")
        .order_by("content_type")
    )
    return render(
        request, "content/policy_list.html", {"form": form, "policies": policies},
        status=400 if form.errors else 200,
    )  # fmt: skip


# --- editorial calendar ------------------------------------------------------------------------------------------

DEFAULT_TOPIC_LEAD_DAYS = 30


def _calendar_params(form: CalendarForm) -> tuple[str, dt.date, int]:
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    mode = data.get("view") or editorial_calendar.MONTH
    anchor = data.get("date") or timezone.localdate()
    lead = data.get("lead") or int(getattr(settings, "XINQIAO_TOPIC_LEAD_DAYS", DEFAULT_TOPIC_LEAD_DAYS))
    return mode, anchor, lead


def _form_error(form) -> str:
    return " ".join(str(message) for errors in form.errors.values() for message in errors)


def _calendar_context(
    request: HttpRequest, *, mode: str, anchor: dt.date, lead: int, error: str = "", success: str = ""
) -> dict:
    principal = request.principal
    view = editorial_calendar.calendar_view(principal, mode=mode, anchor=anchor)
    can_reschedule = principal.allows(Action.CONTENT_WRITE)
    items = editorial_calendar.movable_items(view) if can_reschedule else []
    today = timezone.localdate()
    return {
        "view": view,
        "lead": lead,
        "error": error,
        "success": success,
        "can_reschedule": can_reschedule,
        "movable": items,
        "reschedule_form": RescheduleForm(),
        "today": today,
        "suggestions": observances.observance_suggestions(
            hospital=principal.hospital,
            start=today,
            days=lead,
            department_ids=principal.department_ids_for(Action.CONTENT_VIEW),
        ),
    }


def _is_calendar_swap(request: HttpRequest) -> bool:
    return bool(request.headers.get("HX-Request")) and request.headers.get("HX-Target") == "calendar"


@member_required
@require_GET
def calendar(request: HttpRequest) -> HttpResponse:
    """The editorial calendar (month or week, one lane per account) with the observance calendar and the
    topic suggestions for each department."""
    request.principal.require(Action.CONTENT_VIEW)
    form = CalendarForm(request.GET or None)
    error = _form_error(form) if request.GET and not form.is_valid() else ""
    mode, anchor, lead = _calendar_params(form)
    context = _calendar_context(request, mode=mode, anchor=anchor, lead=lead, error=error)
    template = "content/calendar.html#calendar" if _is_calendar_swap(request) else "content/calendar.html"
    return render(request, template, context, status=400 if error else 200)


@member_required
@require_POST
def calendar_reschedule(request: HttpRequest) -> HttpResponse:
    """Move an item to another day (drag and drop posts here through htmx; the form works without script)."""
    principal = request.principal
    principal.require(Action.CONTENT_WRITE)
    form = RescheduleForm(request.POST)
    mode, anchor, lead = _calendar_params(CalendarForm(request.POST))
    error, success = "", ""
    try:
        if not form.is_valid():
            raise ApplicationError(_("Choose an item and a valid day (and time): %(errors)s")
                                   % {"errors": _form_error(form)}, field="day")  # fmt: skip
        data = form.cleaned_data
        item = editorial_calendar.calendar_reschedule(
            principal=principal, item_id=data["item"], day=data["day"], time=data["time"]
        )
    except ApplicationError as exc:
        error = str(exc.message)
    else:
        success = _("“%(title)s” is now planned for %(when)s.") % {
            "title": item.title,
            "when": timezone.localtime(item.scheduled_at).strftime("%Y-%m-%d %H:%M"),
        }
    if request.headers.get("HX-Request"):
        context = _calendar_context(request, mode=mode, anchor=anchor, lead=lead, error=error, success=success)
        return render(request, "content/calendar.html#calendar", context, status=400 if error else 200)
    if error:
        context = _calendar_context(request, mode=mode, anchor=anchor, lead=lead, error=error)
        return render(request, "content/calendar.html", context, status=400)
    messages.success(request, success)
    query = urlencode({"view": mode, "date": anchor.isoformat(), "lead": lead})
    return redirect(f"{reverse('content:calendar')}?{query}")
