"""Notification route pages (admin only, ``integration.manage``): list, create, edit, deactivate, test message."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from xinqiao.core.access import Action, parse_pk
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.views import _apply_error, member_required
from xinqiao.integrations import services
from xinqiao.integrations.forms import RouteForm
from xinqiao.integrations.models import NotificationRoute, OutboundMessage

RECENT_MESSAGES = 50


def _route(request: HttpRequest, pk: object) -> NotificationRoute:
    request.principal.require(Action.INTEGRATION_MANAGE)
    return get_object_or_404(NotificationRoute, pk=parse_pk(pk), hospital=request.principal.hospital)


@member_required
@require_GET
def route_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.INTEGRATION_MANAGE)
    routes = list(NotificationRoute.objects.filter(hospital=principal.hospital).order_by("-is_active", "name"))
    recent = list(
        OutboundMessage.objects.filter(hospital=principal.hospital)
        .select_related("route")
        .order_by("-pk")[:RECENT_MESSAGES]
    )
    return render(request, "integrations/route_list.html", {"routes": routes, "recent": recent})


@member_required
@require_http_methods(["GET", "POST"])
def route_create(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.INTEGRATION_MANAGE)
    form = RouteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.notification_route_create(principal=principal, data=form.to_input(), request=request)
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("Route added."))
            return redirect("integrations:route_list")
    return render(request, "integrations/route_form.html", {"form": form}, status=400 if form.errors else 200)


@member_required
@require_http_methods(["GET", "POST"])
def route_edit(request: HttpRequest, pk: int) -> HttpResponse:
    route = _route(request, pk)
    if request.method == "POST":
        form = RouteForm(request.POST, route=route)
        if form.is_valid():
            try:
                services.notification_route_update(principal=request.principal, route=route,
                                                   data=form.to_input(route), request=request)  # fmt: skip
            except ApplicationError as error:
                _apply_error(form, error)
            else:
                messages.success(request, _("Route saved."))
                return redirect("integrations:route_list")
    else:
        form = RouteForm(initial=RouteForm.initial_from(route), route=route)
    recent = list(route.messages.order_by("-pk")[:RECENT_MESSAGES])
    return render(request, "integrations/route_form.html", {"form": form, "route": route, "recent": recent},
                  status=400 if form.errors else 200)  # fmt: skip


@member_required
@require_POST
def route_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    route = _route(request, pk)
    services.notification_route_deactivate(principal=request.principal, route=route, request=request)
    messages.success(request, _("Route deactivated."))
    return redirect("integrations:route_list")


@member_required
@require_POST
def route_test(request: HttpRequest, pk: int) -> HttpResponse:
    route = _route(request, pk)
    try:
        services.notification_route_send_test(principal=request.principal, route=route, request=request)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Test message queued; its status appears below."))
    return redirect("integrations:route_edit", pk=route.pk)


urlpatterns = [
    path("routes/", route_list, name="route_list"),
    path("routes/new/", route_create, name="route_create"),
    path("routes/<int:pk>/", route_edit, name="route_edit"),
    path("routes/<int:pk>/deactivate/", route_deactivate, name="route_deactivate"),
    path("routes/<int:pk>/test/", route_test, name="route_test"),
]
