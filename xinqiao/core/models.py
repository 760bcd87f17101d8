"""Organisation, access, patients (the PII subject), consents, visits and the audit log."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class HospitalGroup(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)

    class Meta:
        verbose_name = _("hospital group")
        verbose_name_plural = _("hospital groups")

    def __str__(self) -> str:
        return self.name


class Hospital(models.Model):
    name = models.CharField(_("name"), max_length=100)
    short_name = models.CharField(_("short name"), max_length=30, blank=True)
    code = models.SlugField(_("code"), max_length=40, unique=True)
    group = models.ForeignKey(
        HospitalGroup,
        verbose_name=_("hospital group"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="hospitals",
    )
    grade = models.CharField(_("grade"), max_length=20, blank=True)  # 三级甲等 …
    city = models.CharField(_("city"), max_length=40, blank=True)
    aliases = models.JSONField(_("aliases"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("hospital")
        verbose_name_plural = _("hospitals")

    def __str__(self) -> str:
        return self.name


class Department(models.Model):
    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="departments")
    name = models.CharField(_("name"), max_length=50)
    code = models.SlugField(_("code"), max_length=40)
    is_clinical = models.BooleanField(_("clinical"), default=True)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["hospital_id", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["hospital", "code"], name="department_unique_code"),
            models.UniqueConstraint(fields=["hospital", "name"], name="department_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Doctor(models.Model):
    class Title(models.TextChoices):
        CHIEF = "chief", _("Chief physician")
        ASSOCIATE_CHIEF = "associate_chief", _("Associate chief physician")
        ATTENDING = "attending", _("Attending physician")
        RESIDENT = "resident", _("Resident physician")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="doctors")
    name = models.CharField(_("name"), max_length=40)
    title = models.CharField(pgettext_lazy("doctor", "title"), max_length=20, choices=Title.choices)  # 职称
    specialties = models.JSONField(_("specialties"), default=list, blank=True)
    departments = models.ManyToManyField(Department, verbose_name=_("departments"), related_name="doctors")
    is_ip = models.BooleanField(_("doctor IP"), default=False, help_text=_("Runs a public personal brand"))
    aliases = models.JSONField(_("aliases"), default=list, blank=True)

    class Meta:
        verbose_name = _("doctor")
        verbose_name_plural = _("doctors")
        ordering = ["hospital_id", "pk"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """One role of one user in one hospital; a user may hold several."""

    class Role(models.TextChoices):
        ADMIN = "admin", _("System administrator")
        BRAND = "brand", _("Brand editor")
        DEPT_REVIEWER = "dept_reviewer", _("Department reviewer")
        MEDICAL_AFFAIRS = "medical_affairs", _("Medical affairs")
        SERVICE = "service", _("Patient service")
        HEALTH_MANAGER = "health_manager", _("Health manager")
        LEADERSHIP = "leadership", _("Hospital leadership")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    departments = models.ManyToManyField(
        Department,
        verbose_name=_("departments"),
        blank=True,
        related_name="memberships",
        help_text=_("Department roles act only on these departments"),
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.UniqueConstraint(fields=["user", "hospital", "role"], name="membership_unique_role")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.hospital_id}: {self.role}"


class Patient(models.Model):
    """The PII subject. Name, mobile and ID number are sealed by the vault; only masks are plain."""

    class Sex(models.TextChoices):
        MALE = "M", _("Male")
        FEMALE = "F", _("Female")
        UNKNOWN = "U", _("Unknown")

    class SourceChannel(models.TextChoices):
        WALK_IN = "walk_in", _("Walk-in")
        WECHAT_OA = "wechat_oa", _("WeChat Official Account")
        WECHAT_CHANNELS = "wechat_channels", _("WeChat Channels")
        WEIBO = "weibo", _("Weibo")
        DOUYIN = "douyin", _("Douyin")
        KUAISHOU = "kuaishou", _("Kuaishou")
        XIAOHONGSHU = "xiaohongshu", _("Xiaohongshu")
        BILIBILI = "bilibili", _("Bilibili")
        ZHIHU = "zhihu", _("Zhihu")
        WEBSITE = "website", _("Hospital website")
        ONLINE_BOOKING = "online_booking", _("Online booking platform")
        REFERRAL = "referral", _("Referral")
        PHONE = "phone", _("Phone")
        COMMUNITY = "community", _("Community event")

    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="patients")
    name_sealed = models.TextField()
    name_masked = models.CharField(max_length=20)
    name_bidx = models.CharField(max_length=32, db_index=False)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    mobile_sealed = models.TextField()
    mobile_masked = models.CharField(max_length=16)
    mobile_bidx = models.CharField(max_length=32)
    id_number_sealed = models.TextField(blank=True, default="")
    id_number_masked = models.CharField(max_length=24, blank=True, default="")
    id_number_bidx = models.CharField(max_length=32, null=True, blank=True)
    pii_key_version = models.PositiveSmallIntegerField(default=1)
    source_channel = models.CharField(_("source channel"), max_length=20, choices=SourceChannel.choices)
    first_department = models.ForeignKey(
        Department,
        verbose_name=_("department of first visit"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        indexes = [
            models.Index(fields=["hospital", "mobile_bidx"], name="patient_mobile_bidx"),
            models.Index(fields=["hospital", "name_bidx"], name="patient_name_bidx"),
            models.Index(fields=["hospital", "-id"], name="patient_hospital_recent"),
            models.Index(fields=["hospital", "first_department", "-id"], name="patient_department_recent"),
            models.Index(fields=["hospital", "source_channel", "-id"], name="patient_channel_recent"),
            models.Index(fields=["pii_key_version", "id"], name="patient_key_version"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["hospital", "id_number_bidx"],
                name="patient_unique_id_number",
                condition=models.Q(id_number_bidx__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.name_masked} (#{self.pk})"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("core:patient_detail", args=[self.pk])

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    def age_on(self, day: dt.date) -> int | None:
        if self.birth_date is None:
            return None
        born = self.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


class Consent(models.Model):
    """An append-only consent event: a grant or a withdrawal for one purpose (REQ-CON-008)."""

    class Purpose(models.TextChoices):
        MARKETING_CONTACT = "marketing_contact", _("Marketing contact")
        HEALTH_MANAGEMENT = "health_management", _("Health management")
        STORY_PUBLICATION = "story_publication", _("Patient story publication")

    class Action(models.TextChoices):
        GRANT = "grant", _("Granted")
        WITHDRAW = "withdraw", _("Withdrawn")

    class Channel(models.TextChoices):
        PAPER = "paper", _("Signed paper form")
        IN_PERSON = "in_person", _("In person")
        WECHAT = "wechat", _("WeChat")
        SMS = "sms", _("SMS")
        WEB = "web", _("Web form")
        PHONE = "phone", _("Phone")

    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(_("purpose"), max_length=24, choices=Purpose.choices)
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    channel = models.CharField(_("channel"), max_length=12, choices=Channel.choices)
    notice_version = models.CharField(_("notice version"), max_length=20)
    scope = models.JSONField(_("scope"), default=dict, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["recorded_at", "pk"]
        indexes = [models.Index(fields=["patient", "purpose", "recorded_at"], name="consent_patient_purpose")]

    def __str__(self) -> str:
        return f"{self.purpose} {self.action} #{self.patient_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("consent records are append-only; record a withdrawal instead")
        super().save(*args, **kwargs)


class Visit(models.Model):
    class Kind(models.TextChoices):
        APPOINTMENT = "appointment", _("Appointment")
        VISIT = "visit", _("Visit")

    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="visits")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    doctor = models.ForeignKey(Doctor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    occurred_on = models.DateField(_("date"))
    channel = models.CharField(_("channel"), max_length=20, choices=Patient.SourceChannel.choices)
    revenue_fen = models.BigIntegerField(_("revenue (fen)"), default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        indexes = [
            models.Index(fields=["hospital", "occurred_on"], name="visit_hospital_date"),
            models.Index(fields=["patient", "occurred_on"], name="visit_patient_date"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.occurred_on} #{self.patient_id}"


class AuditEvent(models.Model):
    """Append-only, hash-chained audit record (REQ-AUD-001..004). Never holds plaintext PII."""

    class Action(models.TextChoices):
        LOGIN = "login", _("Login")
        LOGIN_FAILED = "login_failed", _("Failed login")
        LOCKOUT = "lockout", _("Account locked")
        LOGOUT = "logout", _("Logout")
        REVEAL = "reveal", _("Reveal")
        EXPORT = "export", _("Export")
        ERASE = "erase", _("Erase")
        ROLE_CHANGE = "role_change", _("Role change")
        PATIENT_CREATE = "patient_create", _("Patient created")
        PATIENT_UPDATE = "patient_update", _("Patient updated")
        CONSENT = "consent", _("Consent recorded")
        API_KEY = "api_key", _("API key change")
        KEY_ROTATION = "key_rotation", _("Key rotation")
        COMPLIANCE_OVERRIDE = "compliance_override", _("Compliance warning acknowledged")
        CONTENT_PUBLISH = "content_publish", _("Content published")
        CONTENT_TAKEDOWN = "content_takedown", _("Content taken down")
        CHANNEL_FAILURE = "channel_failure", _("Channel connection failure")
        MENTION_IMPORT = "mention_import", _("Mentions imported")
        LISTENING_CONFIG = "listening_config", _("Monitoring settings changed")
        CASE_CHANGE = "case_change", _("Crisis case changed")
        REPLY_SIGN_OFF = "reply_sign_off", _("Crisis reply signed off")
        METRIC_IMPORT = "metric_import", _("Metrics imported")
        REPORT_EXPORT = "report_export", _("Report exported")
        INTEGRATION_CHANGE = "integration_change", _("Integration settings changed")
        RETENTION = "retention", _("Retention sweep")
        LEGAL_HOLD = "legal_hold", _("Legal hold changed")

    class Result(models.TextChoices):
        OK = "ok", _("OK")
        DENIED = "denied", _("Denied")
        ERROR = "error", _("Error")

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    hospital = models.ForeignKey(Hospital, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    actor_roles = models.JSONField(default=list, blank=True)
    actor_ip = models.GenericIPAddressField(null=True, blank=True)
    actor_agent = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=40, blank=True)
    fields = models.JSONField(default=list, blank=True)
    purpose = models.CharField(max_length=40, blank=True)
    result = models.CharField(max_length=10, choices=Result.choices, default=Result.OK)
    detail = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=40, blank=True)
    prev_hash = models.CharField(max_length=64)
    record_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-pk"]
        indexes = [
            models.Index(fields=["hospital", "action", "-created_at"], name="audit_hospital_action"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit events are append-only")


class AuditChainHead(models.Model):
    """One row holding the hash of the newest audit event; locking it serialises the chain."""

    last_hash = models.CharField(max_length=64)
    count = models.BigIntegerField(default=0)
    # The retention sweep deletes events older than three years from the start of the chain (REQ-AUD-005): the
    # verification then starts after ``pruned_through_pk`` from ``pruned_last_hash``, the last deleted event's hash.
    pruned_through_pk = models.BigIntegerField(default=0)
    pruned_last_hash = models.CharField(max_length=64, default="0" * 64)
    pruned_count = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"audit chain head ({self.count} events)"


class ApiKey(models.Model):
    class Scope(models.TextChoices):
        PATIENTS_READ = "patients:read", _("Read patients (masked)")
        PATIENTS_WRITE = "patients:write", _("Create patients")
        PATIENTS_REVEAL = "patients:reveal", _("Reveal patient fields (audited)")
        MENTIONS_WRITE = "mentions:write", _("Push public-opinion mentions")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(_("name"), max_length=80)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(_("scopes"), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class LoginThrottle(models.Model):
    """Failed-login counter per username digest; locks the account after repeated failures."""

    username_digest = models.CharField(max_length=64, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField(default=timezone.now)
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"login throttle {self.username_digest[:8]}"


class LegalHold(models.Model):
    """A legal hold (REQ-RET-002): while active, the retention sweep deletes and anonymises nothing of its
    subject. Placed and released by an administrator with a reason; the approver (e.g. the hospital's legal
    counsel or the regulator's letter) and a reference are recorded. Never deleted: a released hold stays as the
    record of what was held and why."""

    class Subject(models.TextChoices):
        PATIENT = "patient", _("Patient")
        MENTION = "mention", _("Mention")
        CRISIS_CASE = "crisis_case", _("Crisis case (with the mentions of its clusters)")
        CONTENT_ITEM = "content_item", _("Content item (with its publications and review record)")

    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="+")
    subject_type = models.CharField(_("subject"), max_length=20, choices=Subject.choices)
    subject_id = models.BigIntegerField(_("subject ID"))
    reason = models.CharField(_("reason"), max_length=300)
    approved_by = models.CharField(_("approved by"), max_length=120)
    reference = models.CharField(_("reference"), max_length=120, blank=True)
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    placed_at = models.DateTimeField(_("placed at"), default=timezone.now)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    release_reason = models.CharField(_("release reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("legal hold")
        verbose_name_plural = _("legal holds")
        ordering = ["-placed_at", "-pk"]
        indexes = [models.Index(fields=["hospital", "subject_type", "released_at"], name="legal_hold_active")]
        constraints = [
            models.UniqueConstraint(
                fields=["hospital", "subject_type", "subject_id"],
                condition=models.Q(released_at__isnull=True),
                name="legal_hold_one_active_per_subject",
            )
        ]

    def __str__(self) -> str:
        return f"legal hold {self.subject_type}:{self.subject_id}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None


class SchedulerHeartbeat(models.Model):
    """When each ``run_scheduler`` process last ticked (one row per host and job selection), so that the health
    endpoint and the system status page can tell a stopped scheduler: without it nothing is enqueued, and nothing
    else notices. Holds no personal data."""

    instance = models.CharField(max_length=200, unique=True)  # "host · all jobs" or "host · job, job"
    ticked_at = models.DateTimeField()
    interval_seconds = models.PositiveIntegerField()
    jobs = models.TextField()  # the names of the jobs this process schedules, comma-separated

    class Meta:
        verbose_name = _("scheduler heartbeat")
        verbose_name_plural = _("scheduler heartbeats")

    def __str__(self) -> str:
        return f"scheduler {self.instance} at {self.ticked_at:%Y-%m-%d %H:%M:%S}"


class BackupRecord(models.Model):
    """A backup made by ``manage.py backup`` (xinqiao/core/backup.py) and what ``verify_backup`` last found, for the
    system status page. The backup itself lives in its directory; this is only the record."""

    name = models.CharField(max_length=100, unique=True)  # xinqiao-<UTC time>
    location = models.CharField(max_length=500)  # the backup directory's path on the machine that made it
    created_at = models.DateTimeField()
    vendor = models.CharField(max_length=20)
    bytes = models.BigIntegerField()
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_ok = models.BooleanField(null=True)

    class Meta:
        verbose_name = _("backup record")
        verbose_name_plural = _("backup records")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name
