"""Reads of the channels domain."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q
from django.http import Http404
from django.utils import timezone

from xinqiao.channels.models import Notification, PlatformAccount, Publication
from xinqiao.core.access import Action, Principal, parse_pk, require_member

FREQUENCY_WINDOW_DAYS = 28


@dataclass
class AccountRow:
    account: PlatformAccount
    posts_in_window: int
    is_dormant: bool

    @property
    def actual_per_week(self) -> float:
        return round(self.posts_in_window * 7 / FREQUENCY_WINDOW_DAYS, 1)

    @property
    def below_target(self) -> bool:
        return self.actual_per_week < self.account.target_posts_per_week


def account_list(principal: Principal, *, platform: str = "", now: dt.datetime | None = None) -> list[AccountRow]:
    principal.require(Action.CHANNEL_VIEW)
    now = now or timezone.now()
    since = now - dt.timedelta(days=FREQUENCY_WINDOW_DAYS)
    rows = (
        PlatformAccount.objects.filter(hospital=principal.hospital)
        .select_related("department", "doctor")
        .annotate(
            recent=Count(
                "publications",
                filter=Q(publications__status=Publication.Status.PUBLISHED, publications__published_at__gte=since),
            )
        )
        .order_by("platform", "pk")
    )
    if platform:
        rows = rows.filter(platform=platform)
    return [AccountRow(account, account.recent, account.is_dormant(now)) for account in rows]


def access_account(principal: Principal | None, pk: object, action: str = Action.CHANNEL_VIEW) -> PlatformAccount:
    principal = require_member(principal)
    account = PlatformAccount.objects.filter(pk=parse_pk(pk), hospital=principal.hospital).first()
    if account is None:
        raise Http404
    principal.require(action)
    return account


def access_publication(principal: Principal | None, pk: object, action: str = Action.CONTENT_VIEW) -> Publication:
    """A publication is visible to whoever sees its content item (department reviewers: their departments)."""
    principal = require_member(principal)
    publication = (
        Publication.objects.filter(pk=parse_pk(pk), hospital=principal.hospital)
        .select_related("account", "revision", "item")
        .first()
    )
    if publication is None:
        raise Http404
    if principal.allows(Action.CONTENT_VIEW):
        departments = principal.department_ids_for(Action.CONTENT_VIEW)
        if departments is not None and publication.item.department_id not in departments:
            raise Http404
    principal.require(action)
    return publication


def publications_of_item(item_id: int) -> list[Publication]:
    return list(
        Publication.objects.filter(item_id=item_id)
        .select_related("account", "revision", "tracking_link")
        .annotate(clicks=Count("tracking_link__clicks"))
        .order_by("pk")
    )


def notifications_for(principal: Principal, *, include_resolved: bool = False) -> list[Notification]:
    """The in-app notices addressed to the principal's roles (every member reads their own roles' notices)."""
    principal.require(Action.DASHBOARD_VIEW)
    rows = Notification.objects.filter(hospital=principal.hospital, audience_role__in=sorted(principal.roles))
    if not include_resolved:
        rows = rows.filter(resolved_at__isnull=True)
    return list(rows.order_by("-pk")[:200])


def access_notification(principal: Principal | None, pk: object) -> Notification:
    principal = require_member(principal)
    notification = Notification.objects.filter(
        pk=parse_pk(pk), hospital=principal.hospital, audience_role__in=sorted(principal.roles)
    ).first()
    if notification is None:
        raise Http404
    principal.require(Action.DASHBOARD_VIEW)
    return notification
