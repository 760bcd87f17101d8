"""Where outgoing notifications go (routes) and what was sent (the outbox).

Every message is written to the outbox first, under a unique ``dedup_key``; a worker delivers it, so a
retried job never sends a second copy and a robot's rate limit is respected across processes.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from xinqiao.core.models import Hospital


class NotificationRoute(models.Model):
    """One destination: a 企业微信 group robot (webhook URL sealed at rest) or a list of e-mail addresses."""

    class Kind(models.TextChoices):
        WECOM_ROBOT = "wecom_robot", _("WeCom group robot")
        EMAIL = "email", _("E-mail")

    class Purpose(models.TextChoices):
        ALERTS = "alerts", _("Public-opinion alerts")
        CASES = "cases", _("Crisis case escalations")
        REPORTS = "reports", _("Scheduled reports")
        SECURITY = "security", _("Security alerts")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="notification_routes")
    name = models.CharField(_("name"), max_length=60)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    # The robot URL carries its key, the only credential: sealed with the PII vault, never logged.
    webhook_url_sealed = models.TextField(blank=True, default="")
    webhook_hint = models.CharField(_("robot key (last characters)"), max_length=20, blank=True)
    emails = models.JSONField(_("e-mail addresses"), default=list, blank=True)
    purposes = models.JSONField(_("purposes"), default=list, blank=True)
    min_severity = models.PositiveSmallIntegerField(_("minimum alert severity"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("notification route")
        verbose_name_plural = _("notification routes")
        ordering = ["hospital", "name"]
        constraints = [models.UniqueConstraint(fields=["hospital", "name"], name="route_unique_name")]

    def __str__(self) -> str:
        return self.name


class OutboundMessage(models.Model):
    """One message to one route; ``dedup_key`` makes enqueueing idempotent."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    route = models.ForeignKey(NotificationRoute, on_delete=models.CASCADE, related_name="messages")
    dedup_key = models.CharField(max_length=200)
    purpose = models.CharField(max_length=20, choices=NotificationRoute.Purpose.choices)
    subject = models.CharField(_("subject"), max_length=200)
    body_markdown = models.TextField(_("body"))
    # Storage paths (default storage) of files to attach to e-mails, e.g. a report PDF.
    attachments = models.JSONField(default=list, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    provider_response = models.JSONField(default=dict, blank=True)
    # Robot posts charged to this message's latest attempt (reserved when claimed, then the posts made) and
    # when: the per-robot token bucket sums them over the last 60 s, across processes.
    posts = models.PositiveSmallIntegerField(default=0)
    posted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbound messages")
        ordering = ["-pk"]
        constraints = [models.UniqueConstraint(fields=["route", "dedup_key"], name="outbound_unique_dedup")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbound_due"),
            models.Index(fields=["route", "posted_at"], name="outbound_route_posted"),
        ]

    def __str__(self) -> str:
        return self.subject
