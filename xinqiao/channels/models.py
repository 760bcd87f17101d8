"""The account matrix, publications (with their evidence), tracking links and in-app notifications."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from xinqiao.core.models import Department, Doctor, Hospital


class PlatformAccount(models.Model):
    """One account of the hospital on one platform (the account matrix)."""

    class Platform(models.TextChoices):
        WECHAT_OA = "wechat_oa", _("WeChat Official Account")
        WECHAT_CHANNELS = "wechat_channels", _("WeChat Channels")
        WEIBO = "weibo", _("Weibo")
        DOUYIN = "douyin", _("Douyin")
        KUAISHOU = "kuaishou", _("Kuaishou")
        XIAOHONGSHU = "xiaohongshu", _("Xiaohongshu")
        BILIBILI = "bilibili", _("Bilibili")
        ZHIHU = "zhihu", _("Zhihu")
        WEBSITE = "website", _("Hospital website")

    # Platforms XinQiao publishes to through an API client; the others get an export package.
    API_PLATFORMS = frozenset({Platform.WECHAT_OA})

    class AccountType(models.TextChoices):
        # Values match the compliance engine's account types.
        HOSPITAL_OFFICIAL = "hospital_official", _("Hospital official")
        DEPARTMENT = "department", _("Department")
        DOCTOR_PERSONAL = "doctor_personal", _("Doctor personal")

    class Verification(models.TextChoices):
        NONE = "none", _("Not verified")
        PENDING = "pending", _("Verification pending")
        VERIFIED = "verified", _("Real-name verified / filed")

    class Connection(models.TextChoices):
        MANUAL = "manual", _("Manual publishing (no API)")
        CONNECTED = "connected", _("Connected")
        RECONNECT_NEEDED = "reconnect_needed", _("Reconnect needed")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="platform_accounts")
    platform = models.CharField(_("platform"), max_length=20, choices=Platform.choices)
    name = models.CharField(_("account name"), max_length=60)
    handle = models.CharField(_("account ID on the platform"), max_length=80, blank=True)
    account_type = models.CharField(_("account type"), max_length=20, choices=AccountType.choices)
    department = models.ForeignKey(
        Department,
        verbose_name=_("owner department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="platform_accounts",
    )
    doctor = models.ForeignKey(
        Doctor,
        verbose_name=_("linked doctor"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="platform_accounts",
    )
    positioning = models.CharField(_("positioning"), max_length=200, blank=True)
    verification = models.CharField(
        _("real-name / filing status"), max_length=10, choices=Verification.choices, default=Verification.NONE
    )
    filing_number = models.CharField(_("filing number"), max_length=60, blank=True)
    credential_holder = models.CharField(_("credentials held by"), max_length=60, blank=True)
    app_id = models.CharField(_("AppID"), max_length=64, blank=True)
    app_secret_sealed = models.TextField(blank=True, default="")
    api_base_url = models.URLField(_("API base URL"), blank=True)
    connection = models.CharField(_("connection"), max_length=20, choices=Connection.choices, default=Connection.MANUAL)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    target_posts_per_week = models.PositiveSmallIntegerField(_("target posts per week"), default=3)
    dormant_after_days = models.PositiveSmallIntegerField(_("dormant after (days)"), default=30)
    last_published_at = models.DateTimeField(_("last published"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("platform account")
        verbose_name_plural = _("platform accounts")
        ordering = ["hospital_id", "platform", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["hospital", "platform", "name"], name="platform_account_unique_name"),
            models.CheckConstraint(
                condition=~models.Q(account_type="doctor_personal") | models.Q(doctor__isnull=False),
                name="platform_account_doctor_required",
            ),
            models.CheckConstraint(
                condition=~models.Q(account_type="department") | models.Q(department__isnull=False),
                name="platform_account_department_required",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} · {self.name}"

    @property
    def has_api(self) -> bool:
        return self.platform in self.API_PLATFORMS

    @property
    def has_secret(self) -> bool:
        return bool(self.app_secret_sealed)

    def secret_context(self) -> str:
        return f"account.app_secret|h{self.hospital_id}"

    def is_dormant(self, now: dt.datetime | None = None) -> bool:
        """Nothing published for ``dormant_after_days`` (counted from creation when it never published)."""
        now = now or timezone.now()
        since = self.last_published_at or self.created_at
        return now - since > dt.timedelta(days=self.dormant_after_days)


class Publication(models.Model):
    """One approved revision going out on one account; keeps the platform IDs that make retries idempotent
    and, once published, the evidence (exact revision, its sha256, compliance report, approval chain)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to publish")
        PUBLISHING = "publishing", _("Publishing")
        AWAITING_MANUAL = "awaiting_manual", _("Export ready: publish by hand")
        PUBLISHED = "published", _("Published")
        FAILED = "failed", _("Failed")
        TAKEN_DOWN = "taken_down", _("Taken down")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey("content.ContentItem", on_delete=models.PROTECT, related_name="publications")
    revision = models.ForeignKey("content.Revision", on_delete=models.PROTECT, related_name="publications")
    account = models.ForeignKey(PlatformAccount, on_delete=models.PROTECT, related_name="publications")
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # A worker running this publication holds it until then; others leave it alone (several db_workers).
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    # Platform identifiers, each stored as soon as the platform returns it (see the WeChat client docstring).
    thumb_media_id = models.CharField(max_length=100, blank=True)
    inline_images = models.JSONField(default=dict, blank=True)  # content image pk -> hosted URL
    draft_media_id = models.CharField(max_length=100, blank=True)
    publish_id = models.CharField(max_length=64, blank=True)
    article_id = models.CharField(max_length=100, blank=True)
    # WeChat's id of the published message (returned by freepublish/submit); the comment APIs name articles by it.
    msg_data_id = models.BigIntegerField(null=True, blank=True)
    post_url = models.URLField(_("post URL"), max_length=500, blank=True)
    # Evidence
    content_sha256 = models.CharField(max_length=64, blank=True)
    compliance_report = models.JSONField(default=dict, blank=True)
    approval_chain = models.JSONField(default=list, blank=True)
    # Attribution: WeChat parametric QR code
    qr_scene = models.CharField(max_length=64, blank=True)
    qr_ticket = models.CharField(max_length=200, blank=True)
    qr_url = models.URLField(max_length=300, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    taken_down_at = models.DateTimeField(_("taken down at"), null=True, blank=True)
    takedown_reason = models.CharField(_("takedown reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("publication")
        verbose_name_plural = _("publications")
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(fields=["revision", "account"], name="publication_unique_revision_account")
        ]
        indexes = [models.Index(fields=["hospital", "status"], name="publication_hospital_status")]

    def __str__(self) -> str:
        return f"publication #{self.pk} ({self.status})"

    @property
    def deletable_on_platform(self) -> bool:
        """Whether XinQiao can delete this post through the platform's API: a WeChat OA article it published
        itself (WeChat's ``article_id`` is known) on an account whose credentials are stored. The other platforms'
        contracts have no delete call."""
        account = self.account
        return (
            account.platform == PlatformAccount.Platform.WECHAT_OA
            and bool(account.app_id)
            and account.has_secret
            and bool(self.article_id)
        )


class TrackingLink(models.Model):
    """A short link ``/t/<code>`` that redirects to the published post and counts clicks."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    publication = models.OneToOneField(Publication, on_delete=models.CASCADE, related_name="tracking_link")
    code = models.CharField(max_length=16, unique=True)
    target_url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("tracking link")
        verbose_name_plural = _("tracking links")

    def __str__(self) -> str:
        return self.code


class TrackingClick(models.Model):
    """One click on a tracking link. No personal data: time, referrer host and a coarse browser family only."""

    link = models.ForeignKey(TrackingLink, on_delete=models.CASCADE, related_name="clicks")
    clicked_at = models.DateTimeField(default=timezone.now)
    referrer_host = models.CharField(max_length=120, blank=True)
    agent_family = models.CharField(max_length=20)

    class Meta:
        verbose_name = _("tracking click")
        verbose_name_plural = _("tracking clicks")
        indexes = [models.Index(fields=["link", "clicked_at"], name="tracking_click_link_time")]

    def __str__(self) -> str:
        return f"{self.link_id} {self.clicked_at:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    """An in-app alert for the members of one role in one hospital (e.g. the brand team)."""

    class Level(models.TextChoices):
        INFO = "info", _("Information")
        WARNING = "warning", _("Warning")
        ERROR = "error", _("Error")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    audience_role = models.CharField(max_length=20)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    message = models.CharField(max_length=300)
    link = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-pk"]
        indexes = [models.Index(fields=["hospital", "audience_role", "resolved_at"], name="notification_open")]

    def __str__(self) -> str:
        return self.message
