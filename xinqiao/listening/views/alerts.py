"""Alert pages of public-opinion monitoring: list, detail (statistic, mentions, clusters, delivery), acknowledge and
dismiss (``listening.manage``), and the red-line rule editor (``listening.manage``)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from xinqiao.core.access import Action, parse_pk
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.views import _apply_error, member_required
from xinqiao.integrations.models import OutboundMessage
from xinqiao.listening.models import Alert, RedLineRule
from xinqiao.listening.services import alerts as services

PAGE_SIZE = 50
DETAIL_MENTIONS = 100


class RuleForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=60)
    terms = forms.CharField(
        label=gettext_lazy("Terms"), widget=forms.Textarea(attrs={"rows": 4}), help_text=gettext_lazy("One per line.")
    )
    near_kinds = forms.MultipleChoiceField(
        label=gettext_lazy("Near names of"),
        choices=[
            ("hospital", gettext_lazy("Hospital")),
            ("department", gettext_lazy("Department")),
            ("doctor", gettext_lazy("Doctor")),
        ],  # fmt: skip
        widget=forms.CheckboxSelectMultiple,
    )
    window_chars = forms.IntegerField(label=gettext_lazy("Within characters"), min_value=1, max_value=200,
                                      initial=30)  # fmt: skip
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def to_input(self) -> services.RuleInput:
        data = self.cleaned_data
        terms = [t.strip() for t in data["terms"].replace("，", "\n").replace(",", "\n").splitlines() if t.strip()]
        return services.RuleInput(name=data["name"], terms=terms, near_kinds=list(data["near_kinds"]),
                                  window_chars=data["window_chars"], is_active=data["is_active"])  # fmt: skip

    @staticmethod
    def initial_from(rule: RedLineRule) -> dict:
        return {"name": rule.name, "terms": "\n".join(rule.terms), "near_kinds": rule.near_kinds,
                "window_chars": rule.window_chars, "is_active": rule.is_active}  # fmt: skip


def _alert(request: HttpRequest, pk: object) -> Alert:
    request.principal.require(Action.LISTENING_VIEW)
    return get_object_or_404(Alert, pk=parse_pk(pk), hospital=request.principal.hospital)


@member_required
@require_GET
def alert_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.LISTENING_VIEW)
    kind = request.GET.get("kind", "")
    status = request.GET.get("status", "")
    kind = kind if kind in Alert.Kind.values else ""
    status = status if status in Alert.Status.values else ""
    alerts = Alert.objects.filter(hospital=principal.hospital).order_by("-created_at", "-pk")
    if kind:
        alerts = alerts.filter(kind=kind)
    if status:
        alerts = alerts.filter(status=status)
    page = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "listening/alerts/alert_list.html",
        {
            "page": page,
            "kinds": Alert.Kind.choices,
            "statuses": Alert.Status.choices,
            "kind": kind,
            "status": status,
            "can_manage": principal.allows(Action.LISTENING_MANAGE),
        },
    )


@member_required
@require_GET
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    alert = _alert(request, pk)
    mentions = list(alert.mentions.order_by("posted_at", "pk")[:DETAIL_MENTIONS])
    clusters = list(alert.clusters.order_by("-severity", "pk"))
    deliveries = list(
        OutboundMessage.objects.filter(hospital=principal.hospital, dedup_key=f"alert:{alert.pk}")
        .select_related("route")
        .order_by("route__name")
    )
    return render(
        request,
        "listening/alerts/alert_detail.html",
        {
            "alert": alert,
            "mentions": mentions,
            "mention_total": alert.mentions.count(),
            "clusters": clusters,
            "deliveries": deliveries,
            "can_manage": principal.allows(Action.LISTENING_MANAGE),
            "can_open_case": principal.allows(Action.CASE_MANAGE) and alert.case_id is None,
        },
    )


def _handle(request: HttpRequest, pk: int, service, done: str) -> HttpResponse:
    alert = _alert(request, pk)
    request.principal.require(Action.LISTENING_MANAGE)
    try:
        service(principal=request.principal, alert=alert)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return redirect("listening:alert_detail", pk=alert.pk)


@member_required
@require_POST
def alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    return _handle(request, pk, services.alert_acknowledge, _("Alert acknowledged."))


@member_required
@require_POST
def alert_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    return _handle(request, pk, services.alert_dismiss, _("Alert dismissed."))


# --- red-line rules -------------------------------------------------------------------------------------------


@member_required
@require_GET
def red_line_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.LISTENING_VIEW)
    rules = list(RedLineRule.objects.filter(hospital=principal.hospital).order_by("name"))
    return render(request, "listening/alerts/red_line_list.html",
                  {"rules": rules, "can_manage": principal.allows(Action.LISTENING_MANAGE)})  # fmt: skip


@member_required
@require_http_methods(["GET", "POST"])
def red_line_create(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.LISTENING_MANAGE)
    form = RuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.red_line_rule_create(principal=principal, data=form.to_input())
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("Rule added."))
            return redirect("listening:red_line_list")
    return render(request, "listening/alerts/red_line_form.html", {"form": form},
                  status=400 if form.errors else 200)  # fmt: skip


@member_required
@require_http_methods(["GET", "POST"])
def red_line_edit(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    principal.require(Action.LISTENING_MANAGE)
    rule = get_object_or_404(RedLineRule, pk=parse_pk(pk), hospital=principal.hospital)
    if request.method == "POST":
        form = RuleForm(request.POST)
        if form.is_valid():
            try:
                services.red_line_rule_update(principal=principal, rule=rule, data=form.to_input())
            except ApplicationError as error:
                _apply_error(form, error)
            else:
                messages.success(request, _("Rule saved."))
                return redirect("listening:red_line_list")
    else:
        form = RuleForm(initial=RuleForm.initial_from(rule))
    return render(request, "listening/alerts/red_line_form.html", {"form": form, "rule": rule},
                  status=400 if form.errors else 200)  # fmt: skip


@member_required
@require_POST
def red_line_install_defaults(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.LISTENING_MANAGE)
    created = services.red_line_defaults_install(principal.hospital)
    messages.success(request, _("%(count)d default rules added.") % {"count": created})
    return redirect("listening:red_line_list")


urlpatterns = [
    path("alerts/", alert_list, name="alert_list"),
    path("alerts/<int:pk>/", alert_detail, name="alert_detail"),
    path("alerts/<int:pk>/acknowledge/", alert_acknowledge, name="alert_acknowledge"),
    path("alerts/<int:pk>/dismiss/", alert_dismiss, name="alert_dismiss"),
    path("red-lines/", red_line_list, name="red_line_list"),
    path("red-lines/new/", red_line_create, name="red_line_create"),
    path("red-lines/defaults/", red_line_install_defaults, name="red_line_install_defaults"),
    path("red-lines/<int:pk>/", red_line_edit, name="red_line_edit"),
]
