"""Notification routes and the outbox: enqueue once, deliver with a lease, a per-robot token bucket and retries.

Delivery guarantees (docs/listening-alerts.md):
- ``outbound_enqueue`` writes one ``OutboundMessage`` per route under ``(route, dedup_key)``: enqueueing the same
  thing twice returns the existing rows and sends nothing new.
- ``outbound_deliver_due`` claims a message with a conditional UPDATE (status + lease stamp), so two workers never
  send the same message; a worker that dies leaves a lease that expires and another worker takes over.
- A 企业微信 robot accepts 20 posts a minute. Before claiming, the posts charged to the route in the last 60 s are
  summed from the database (so every process shares the bucket); a message that would overflow it waits.
- A long message is split into several posts; the parts already accepted are remembered
  (``provider_response["parts_sent"]``), so a retry resumes and never re-sends an accepted part.
- ``sent_at`` is set once, by the conditional UPDATE that ends the lease.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.channels.platforms.base import ProviderError
from xinqiao.core import vault
from xinqiao.core.access import Action, Principal
from xinqiao.core.audit import audit_record
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent, Membership
from xinqiao.integrations.email import AttachmentMissingError, email_send
from xinqiao.integrations.models import NotificationRoute, OutboundMessage
from xinqiao.integrations.wecom_robot import client as robot

logger = logging.getLogger(__name__)

Status = OutboundMessage.Status
Kind = NotificationRoute.Kind

LEASE_SECONDS = 60
MAX_ATTEMPTS = 8
ROBOT_POSTS_PER_MINUTE = robot.RATE_LIMIT_PER_MINUTE
WINDOW = dt.timedelta(seconds=60)
MAX_EMAILS = 20
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


# --- routes ---------------------------------------------------------------------------------------------------


@dataclass
class RouteInput:
    name: str
    kind: str
    webhook_url: str = ""  # empty on edit: keep the stored one
    emails: list[str] = field(default_factory=list)
    purposes: list[str] = field(default_factory=list)
    min_severity: int = 0
    is_active: bool = True


def _webhook_context(hospital_id: int) -> str:
    return f"integration.webhook_url|h{hospital_id}"


def _allow_loopback() -> bool:
    """Sandbox robots on 127.0.0.1 are accepted outside production (the demo and tests use them)."""
    return bool(getattr(settings, "XINQIAO_WECOM_ROBOT_ALLOW_LOOPBACK", not settings.IS_PRODUCTION))


def _validate_webhook_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    valid_official = parts.scheme == "https" and parts.hostname == robot.OFFICIAL_HOST
    valid_sandbox = parts.scheme in ("http", "https") and parts.hostname in LOOPBACK_HOSTS and _allow_loopback()
    if not (valid_official or valid_sandbox) or parts.path != robot.WEBHOOK_PATH or not robot.robot_key(url):
        raise ApplicationError(
            _("Paste the robot's webhook address: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"),
            code="webhook_url",
            field="webhook_url",
        )
    return url


def _validate_route(principal: Principal, data: RouteInput, *, route: NotificationRoute | None) -> dict[str, Any]:
    name = " ".join(data.name.split())
    if not name or len(name) > 60:
        raise ApplicationError(_("Give the route a name of at most 60 characters."), code="name", field="name")
    clash = NotificationRoute.objects.filter(hospital=principal.hospital, name=name)
    if route is not None:
        clash = clash.exclude(pk=route.pk)
    if clash.exists():
        raise ApplicationError(_("Another route already has this name."), code="name_taken", field="name")
    kind = route.kind if route is not None else data.kind
    if kind not in Kind.values:
        raise ApplicationError(_("Choose a kind of route."), code="kind", field="kind")
    purposes = sorted(set(data.purposes))
    if not purposes or any(p not in NotificationRoute.Purpose.values for p in purposes):
        raise ApplicationError(_("Choose at least one purpose."), code="purposes", field="purposes")
    if not 0 <= int(data.min_severity) <= 100:
        raise ApplicationError(_("The minimum severity must be between 0 and 100."), code="min_severity",
                               field="min_severity")  # fmt: skip
    fields: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "purposes": purposes,
        "min_severity": int(data.min_severity),
        "is_active": bool(data.is_active),
        "emails": [],
    }
    if kind == Kind.EMAIL:
        emails = []
        for raw in data.emails:
            address = raw.strip()
            if not address:
                continue
            local, _sep, domain = address.rpartition("@")
            if not local or "." not in domain or " " in address or len(address) > 254:
                raise ApplicationError(_("%(address)s is not an e-mail address.") % {"address": address[:60]},
                                       code="emails", field="emails")  # fmt: skip
            if address.lower() not in (e.lower() for e in emails):
                emails.append(address)
        if not emails or len(emails) > MAX_EMAILS:
            raise ApplicationError(_("Enter between 1 and 20 e-mail addresses."), code="emails", field="emails")
        fields["emails"] = emails
    else:
        if data.webhook_url:
            fields["webhook_url"] = _validate_webhook_url(data.webhook_url)
        elif route is None or not route.webhook_url_sealed:
            raise ApplicationError(_("Paste the robot's webhook address."), code="webhook_url", field="webhook_url")
    return fields


def _route_audit_detail(route: NotificationRoute) -> dict[str, Any]:
    return {
        "name": route.name,
        "kind": route.kind,
        "purposes": route.purposes,
        "min_severity": route.min_severity,
        "is_active": route.is_active,
        "webhook_hint": route.webhook_hint,
        "emails": len(route.emails),
    }


def _apply_route_fields(route: NotificationRoute, fields: dict[str, Any]) -> None:
    url = fields.pop("webhook_url", None)
    for name, value in fields.items():
        setattr(route, name, value)
    if url is not None:
        route.webhook_url_sealed = vault.encrypt(url, context=_webhook_context(route.hospital_id))
        route.webhook_hint = robot.key_hint(url)


@transaction.atomic
def notification_route_create(*, principal: Principal, data: RouteInput, request=None) -> NotificationRoute:
    principal.require(Action.INTEGRATION_MANAGE)
    fields = _validate_route(principal, data, route=None)
    route = NotificationRoute(hospital=principal.hospital)
    _apply_route_fields(route, fields)
    route.save()
    audit_record(action=AuditEvent.Action.INTEGRATION_CHANGE, principal=principal, request=request,
                 object_type="notification_route", object_id=route.pk,
                 detail={"change": "create", **_route_audit_detail(route)})  # fmt: skip
    return route


@transaction.atomic
def notification_route_update(
    *, principal: Principal, route: NotificationRoute, data: RouteInput, request=None
) -> NotificationRoute:
    principal.require(Action.INTEGRATION_MANAGE)
    route = NotificationRoute.objects.select_for_update().get(pk=route.pk, hospital=principal.hospital)
    fields = _validate_route(principal, data, route=route)
    url_changed = "webhook_url" in fields
    _apply_route_fields(route, fields)
    route.save()
    audit_record(action=AuditEvent.Action.INTEGRATION_CHANGE, principal=principal, request=request,
                 object_type="notification_route", object_id=route.pk,
                 detail={"change": "update", "webhook_changed": url_changed,
                         **_route_audit_detail(route)})  # fmt: skip
    return route


@transaction.atomic
def notification_route_deactivate(*, principal: Principal, route: NotificationRoute, request=None) -> NotificationRoute:
    """Stop using a route; its pending messages are failed so nothing goes out later by surprise."""
    principal.require(Action.INTEGRATION_MANAGE)
    route = NotificationRoute.objects.select_for_update().get(pk=route.pk, hospital=principal.hospital)
    if route.is_active:
        route.is_active = False
        route.save(update_fields=["is_active"])
        OutboundMessage.objects.filter(route=route, status=Status.PENDING).update(
            status=Status.FAILED, last_error=_("The route was deactivated.")[:300]
        )
        audit_record(action=AuditEvent.Action.INTEGRATION_CHANGE, principal=principal, request=request,
                     object_type="notification_route", object_id=route.pk,
                     detail={"change": "deactivate", **_route_audit_detail(route)})  # fmt: skip
    return route


def notification_route_webhook_url(route: NotificationRoute) -> str:
    """The robot's webhook URL in clear (it is a credential: never log it or show it)."""
    return vault.decrypt(route.webhook_url_sealed, context=_webhook_context(route.hospital_id))


@transaction.atomic
def notification_route_send_test(*, principal: Principal, route: NotificationRoute, request=None) -> OutboundMessage:
    """Queue a short test message for one route (delivered by the worker like any other)."""
    principal.require(Action.INTEGRATION_MANAGE)
    route = NotificationRoute.objects.get(pk=route.pk, hospital=principal.hospital)
    if not route.is_active:
        raise ApplicationError(_("This route is not active."), code="inactive")
    now = timezone.now()
    stamp = timezone.localtime(now).strftime("%Y-%m-%d %H:%M:%S")
    messages = outbound_enqueue(
        hospital_id=route.hospital_id,
        purpose=route.purposes[0] if route.purposes else NotificationRoute.Purpose.ALERTS,
        dedup_key=f"test:{uuid.uuid4().hex}",
        subject=_("XinQiao test message"),
        body_markdown="### " + _("XinQiao test message") + "\n> " + _("Sent at %(time)s.") % {"time": stamp},
        routes=[route],
        created_by=principal.user,
    )
    audit_record(action=AuditEvent.Action.INTEGRATION_CHANGE, principal=principal, request=request,
                 object_type="notification_route", object_id=route.pk,
                 detail={"change": "test_message", "message_id": messages[0].pk})  # fmt: skip
    return messages[0]


# --- enqueue --------------------------------------------------------------------------------------------------


DELIVERY_PRIORITY = 50  # ahead of bulk work (e.g. mention processing) in the same queue


def _schedule_delivery() -> None:
    from xinqiao.integrations.tasks import deliver_outbound  # late: tasks import this module

    deliver_outbound.using(priority=DELIVERY_PRIORITY).enqueue()


def outbound_enqueue(
    *,
    hospital_id: int,
    purpose: str,
    dedup_key: str,
    subject: str,
    body_markdown: str,
    attachments: Sequence[str] = (),
    severity: float = 0.0,
    routes: Iterable[NotificationRoute] | None = None,
    created_by=None,
) -> list[OutboundMessage]:
    """One outbox row per route (the active routes of the hospital for ``purpose`` at or above their
    ``min_severity``, or the given ``routes``); idempotent by ``(route, dedup_key)``. Delivery starts after commit.
    """
    if purpose not in NotificationRoute.Purpose.values:
        raise ApplicationError(_("Unknown notification purpose."), code="purpose")
    if not dedup_key or len(dedup_key) > 200:
        raise ApplicationError(_("A notification needs a key of at most 200 characters."), code="dedup_key")
    if not body_markdown.strip():
        raise ApplicationError(_("A notification needs a body."), code="body")
    if routes is None:
        chosen = [
            route
            for route in NotificationRoute.objects.filter(hospital_id=hospital_id, is_active=True)
            if purpose in route.purposes and route.min_severity <= severity
        ]
    else:
        chosen = [route for route in routes if route.hospital_id == hospital_id]
    messages: list[OutboundMessage] = []
    created = False
    with transaction.atomic():
        for route in chosen:
            existing = OutboundMessage.objects.filter(route=route, dedup_key=dedup_key).first()
            if existing is not None:
                messages.append(existing)
                continue
            try:
                with transaction.atomic():
                    message = OutboundMessage.objects.create(
                        hospital_id=hospital_id,
                        route=route,
                        dedup_key=dedup_key,
                        purpose=purpose,
                        subject=subject[:200],
                        body_markdown=body_markdown,
                        attachments=list(attachments),
                        created_by=created_by,
                    )
            except IntegrityError:  # a concurrent enqueue of the same key won
                message = OutboundMessage.objects.get(route=route, dedup_key=dedup_key)
            else:
                created = True
            messages.append(message)
        if created:
            transaction.on_commit(_schedule_delivery)
    return messages


# --- delivery -------------------------------------------------------------------------------------------------


@dataclass
class DeliveryResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0  # waiting for the robot's token bucket
    message_ids: list[int] = field(default_factory=list)


def _backoff(attempts: int) -> float:
    """Seconds before retry number ``attempts`` + 1 after a network-type failure: 5, 10, 20, … capped at 10 min."""
    return float(min(600, 5 * 2 ** max(0, attempts - 1)))


def _due(now: dt.datetime) -> Q:
    return Q(status=Status.PENDING, next_attempt_at__lte=now) | Q(status=Status.SENDING, lease_until__lt=now)


def _robot_parts(message: OutboundMessage) -> int:
    try:
        return len(robot.split_utf8(message.body_markdown.strip("\n"), robot.MARKDOWN_LIMIT))
    except ValueError:
        return 1


def _claim(pk: int, now: dt.datetime, result: DeliveryResult) -> OutboundMessage | None:
    """Take the lease on one due message, or defer it when its robot's bucket is full. None: not ours to send."""
    with transaction.atomic():
        message = OutboundMessage.objects.filter(_due(now), pk=pk).select_related("route").first()
        if message is None:
            return None
        route = NotificationRoute.objects.select_for_update().get(pk=message.route_id)
        if not route.is_active:
            OutboundMessage.objects.filter(pk=pk, status=message.status, lease_until=message.lease_until).update(
                status=Status.FAILED, lease_until=None, last_error=_("The route was deactivated.")[:300]
            )
            result.failed += 1
            return None
        posts = 1
        if route.kind == Kind.WECOM_ROBOT:
            remaining = max(1, _robot_parts(message) - int(message.provider_response.get("parts_sent", 0)))
            window = OutboundMessage.objects.filter(route=route, posted_at__gt=now - WINDOW).exclude(pk=pk)
            used = window.aggregate(total=Sum("posts"))["total"] or 0
            if used and used + remaining > ROBOT_POSTS_PER_MINUTE:
                oldest = window.order_by("posted_at").values_list("posted_at", flat=True).first()
                wake = (oldest or now) + WINDOW + dt.timedelta(milliseconds=50)
                OutboundMessage.objects.filter(pk=pk, status=Status.PENDING).update(next_attempt_at=max(wake, now))
                result.deferred += 1
                return None
            posts = remaining
        lease = now + dt.timedelta(seconds=LEASE_SECONDS)
        claimed = OutboundMessage.objects.filter(
            pk=pk, status=message.status, lease_until=message.lease_until, attempts=message.attempts
        ).update(status=Status.SENDING, lease_until=lease, attempts=message.attempts + 1, posts=posts,
                 posted_at=now)  # fmt: skip
        if not claimed:
            return None
    message.status, message.lease_until, message.attempts = Status.SENDING, lease, message.attempts + 1
    message.route = route
    result.claimed += 1
    return message


def _finish(message: OutboundMessage, **changes: Any) -> bool:
    """End our lease with ``changes``; False when the lease was lost (another worker took the message over)."""
    return bool(
        OutboundMessage.objects.filter(pk=message.pk, status=Status.SENDING, lease_until=message.lease_until).update(
            lease_until=None, **changes
        )
    )


def _fail_or_retry(message: OutboundMessage, exc: ProviderError, now: dt.datetime, result: DeliveryResult,
                   extra: dict[str, Any]) -> None:  # fmt: skip
    error = str(exc)[:300]
    if exc.permanent or message.attempts >= MAX_ATTEMPTS:
        if _finish(message, status=Status.FAILED, last_error=error, **extra):
            result.failed += 1
            if exc.code == 93000:
                _notify_admins_invalid_robot(message)
        return
    delay = exc.retry_after if exc.retry_after is not None else _backoff(message.attempts)
    if _finish(message, status=Status.PENDING, last_error=error, next_attempt_at=now + dt.timedelta(seconds=delay),
               **extra):  # fmt: skip
        result.retried += 1


def _notify_admins_invalid_robot(message: OutboundMessage) -> None:
    from xinqiao.channels.models import Notification
    from xinqiao.channels.services import notify

    notify(
        hospital_id=message.hospital_id,
        message=_("The WeCom robot of route “%(name)s” rejected its key (93000): messages to it are not delivered.")
        % {"name": message.route.name},
        level=Notification.Level.ERROR,
        link=reverse("integrations:route_edit", args=[message.route_id]),
        audience_role=Membership.Role.ADMIN,
    )


def _deliver_robot(message: OutboundMessage, now: dt.datetime, result: DeliveryResult) -> None:
    parts_sent = int(message.provider_response.get("parts_sent", 0))
    try:
        url = notification_route_webhook_url(message.route)
        with robot.WeComRobotClient(url) as client:
            sent = client.send(message.body_markdown, msgtype="markdown", skip_parts=parts_sent)
    except vault.VaultError:
        exc = ProviderError(_("The robot address cannot be decrypted; enter it again."), permanent=True,
                            code="vault", provider=robot.PROVIDER)  # fmt: skip
        _fail_or_retry(message, exc, now, result, {"posts": 0})
        return
    except ProviderError as exc:
        newly = int(getattr(exc, "sent_parts", parts_sent)) - parts_sent
        response = {**message.provider_response, "parts_sent": parts_sent + max(0, newly), "errcode": exc.code}
        _fail_or_retry(message, exc, now, result, {"provider_response": response, "posts": max(0, newly)})
        return
    response = {"parts": sent.parts, "parts_sent": sent.parts, "errcode": 0}
    if _finish(message, status=Status.SENT, sent_at=now, last_error="", provider_response=response,
               posts=len(sent.responses)):  # fmt: skip
        result.sent += 1
        result.message_ids.append(message.pk)


def _deliver_email(message: OutboundMessage, now: dt.datetime, result: DeliveryResult) -> None:
    try:
        email_send(to=message.route.emails, subject=message.subject, body=message.body_markdown,
                   attachments=message.attachments)  # fmt: skip
    except AttachmentMissingError:
        exc = ProviderError(_("An attachment of this message no longer exists."), permanent=True,
                            code="attachment", provider="email")  # fmt: skip
        _fail_or_retry(message, exc, now, result, {})
        return
    except (smtplib.SMTPException, OSError) as error:
        permanent = isinstance(error, smtplib.SMTPRecipientsRefused)
        exc = ProviderError(_("The mail server refused or failed (%(kind)s).") % {"kind": type(error).__name__},
                            permanent=permanent, code="smtp", provider="email")  # fmt: skip
        _fail_or_retry(message, exc, now, result, {})
        return
    if _finish(message, status=Status.SENT, sent_at=now, last_error="",
               provider_response={"recipients": len(message.route.emails)}):  # fmt: skip
        result.sent += 1
        result.message_ids.append(message.pk)


def outbound_deliver_due(*, now: dt.datetime | None = None, limit: int = 100) -> DeliveryResult:
    """Deliver up to ``limit`` due messages (oldest first). Safe to run in several workers at once."""
    now = now or timezone.now()
    result = DeliveryResult()
    pks = list(
        OutboundMessage.objects.filter(_due(now)).order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit]
    )
    for pk in pks:
        message = _claim(pk, now, result)
        if message is None:
            continue
        if message.route.kind == Kind.WECOM_ROBOT:
            _deliver_robot(message, now, result)
        else:
            _deliver_email(message, now, result)
    if result.sent or result.failed or result.retried:
        logger.info("outbox: sent %d, retried %d, failed %d, deferred %d", result.sent, result.retried,
                    result.failed, result.deferred)  # fmt: skip
    return result


def outbound_next_due_at() -> dt.datetime | None:
    """When the next pending message becomes due (for a worker deciding how long to sleep)."""
    return (
        OutboundMessage.objects.filter(status=Status.PENDING)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
