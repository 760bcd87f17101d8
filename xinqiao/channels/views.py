"""Thin HTML views of the channels domain: the account matrix, publications, tracking links, notifications."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from xinqiao.channels import selectors, services
from xinqiao.channels.forms import AccountForm, MarkPublishedForm, TakeDownForm
from xinqiao.channels.models import PlatformAccount
from xinqiao.core.access import Action
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.views import _apply_error, member_required


@member_required
@require_GET
def account_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    platform = request.GET.get("platform", "")
    if platform and platform not in PlatformAccount.Platform.values:
        platform = ""
    rows = selectors.account_list(principal, platform=platform)
    return render(
        request,
        "channels/account_list.html",
        {
            "rows": rows,
            "platforms": PlatformAccount.Platform.choices,
            "platform": platform,
            "can_manage": principal.allows(Action.CHANNEL_MANAGE),
        },
    )


@member_required
@require_http_methods(["GET", "POST"])
def account_create(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.CHANNEL_MANAGE)
    form = AccountForm(request.POST or None, hospital=principal.hospital)
    if request.method == "POST" and form.is_valid():
        try:
            services.account_create(principal=principal, data=form.to_input(), request=request)
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("Account added."))
            return redirect("channels:account_list")
    return render(request, "channels/account_form.html", {"form": form}, status=400 if form.errors else 200)


@member_required
@require_http_methods(["GET", "POST"])
def account_edit(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    account = selectors.access_account(principal, pk, Action.CHANNEL_VIEW)
    can_manage = principal.allows(Action.CHANNEL_MANAGE)
    if request.method == "POST":
        principal.require(Action.CHANNEL_MANAGE)
        form = AccountForm(request.POST, hospital=principal.hospital)
        if form.is_valid():
            try:
                services.account_update(principal=principal, account=account, data=form.to_input(), request=request)
            except ApplicationError as error:
                _apply_error(form, error)
            else:
                messages.success(request, _("Account saved."))
                return redirect("channels:account_list")
    else:
        form = AccountForm(initial=AccountForm.initial_from(account), hospital=principal.hospital)
    return render(
        request,
        "channels/account_form.html",
        {"form": form, "account": account, "can_manage": can_manage},
        status=400 if form.errors else 200,
    )


@member_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    rows = selectors.notifications_for(request.principal, include_resolved=request.GET.get("all") == "1")
    return render(request, "channels/notifications.html", {"notifications": rows})


@member_required
@require_POST
def notification_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    notification = selectors.access_notification(request.principal, pk)
    services.notification_resolve(principal=request.principal, notification=notification)
    return redirect("channels:notification_list")


# --- publications ----------------------------------------------------------------------------------------------


@member_required
@require_GET
def publication_package(request: HttpRequest, pk: int) -> HttpResponse:
    publication = selectors.access_publication(request.principal, pk, Action.CONTENT_PUBLISH)
    response = HttpResponse(services.export_package(publication), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="publication-{publication.pk}.zip"'
    return response


@member_required
@require_POST
def publication_mark_published(request: HttpRequest, pk: int) -> HttpResponse:
    publication = selectors.access_publication(request.principal, pk, Action.CONTENT_PUBLISH)
    form = MarkPublishedForm(request.POST)
    try:
        if not form.is_valid():
            raise ApplicationError(_("Enter the post's full web address (http or https)."), code="post_url")
        services.publication_mark_published(
            principal=request.principal, publication=publication, post_url=form.cleaned_data["post_url"],
            request=request,
        )  # fmt: skip
    except ApplicationError as error:
        return _back_with_error(request, publication.item_id, error)
    messages.success(request, _("Marked as published."))
    return redirect("content:item_detail", pk=publication.item_id)


@member_required
@require_POST
def publication_retry(request: HttpRequest, pk: int) -> HttpResponse:
    publication = selectors.access_publication(request.principal, pk, Action.CONTENT_PUBLISH)
    try:
        services.publication_retry(principal=request.principal, publication=publication)
    except ApplicationError as error:
        return _back_with_error(request, publication.item_id, error)
    messages.success(request, _("Publishing started again."))
    return redirect("content:item_detail", pk=publication.item_id)


@member_required
@require_POST
def publication_take_down(request: HttpRequest, pk: int) -> HttpResponse:
    publication = selectors.access_publication(request.principal, pk, Action.CONTENT_PUBLISH)
    form = TakeDownForm(request.POST)
    valid = form.is_valid()
    try:
        deleted = services.publication_take_down(
            principal=request.principal,
            publication=publication,
            reason=form.cleaned_data["reason"] if valid else "",
            removed_on_platform=valid and form.cleaned_data["removed_on_platform"],
            request=request,
        )
    except ApplicationError as error:
        return _back_with_error(request, publication.item_id, error)
    if deleted:
        messages.success(request, _("Deleted on %(platform)s and recorded as taken down.")
                         % {"platform": publication.account.get_platform_display()})  # fmt: skip
    else:
        messages.success(request, _("Recorded as taken down."))
    return redirect("content:item_detail", pk=publication.item_id)


def _back_with_error(request: HttpRequest, item_id: int, error: ApplicationError) -> HttpResponse:
    return render(request, "channels/error.html", {"message": error.message, "item_id": item_id}, status=400)


@member_required
@require_GET
def publication_qr(request: HttpRequest, pk: int) -> HttpResponse:
    """A PNG QR code of the publication's tracking link (for posters and print)."""
    publication = selectors.access_publication(request.principal, pk, Action.CONTENT_VIEW)
    link = getattr(publication, "tracking_link", None)
    if link is None:
        raise Http404
    url = request.build_absolute_uri(f"/t/{link.code}")
    response = HttpResponse(services.qr_png(url), content_type="image/png")
    response["Content-Disposition"] = f'inline; filename="qr-{link.code}.png"'
    return response


@never_cache
@require_GET
def tracking_redirect(request: HttpRequest, code: str) -> HttpResponse:
    """Public short link: logs the click without personal data and redirects to the post."""
    if len(code) > 16:
        raise Http404
    target = services.tracking_click(
        code=code, referrer=request.headers.get("Referer", ""), user_agent=request.headers.get("User-Agent", "")
    )
    if target is None:
        raise Http404
    response = HttpResponseRedirect(target)
    response["Referrer-Policy"] = "no-referrer"
    return response
