"""Content items, their revisions and images, review policies and the review record, rule additions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from xinqiao.core.models import Consent, Department, Doctor, Hospital, Patient


class ContentItem(models.Model):
    class ContentType(models.TextChoices):
        # Values match the compliance engine's content types.
        ARTICLE = "article", _("Article")
        VIDEO_SCRIPT = "video_script", _("Video script")
        LIVE_SCRIPT = "live_script", _("Live-stream script")
        NOTE = "note", _("Note")
        AD_CREATIVE = "ad_creative", _("Ad creative")
        COMMENT_REPLY = "comment_reply", _("Comment-reply template")

    class Pillar(models.TextChoices):
        SCIENCE = "science", _("Science · useful")
        STORY = "story", _("Story · warm")
        CREATIVE = "creative", _("Creative · fun")

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        DEPARTMENT_REVIEW = "department_review", _("Department review")
        MEDICAL_REVIEW = "medical_review", _("Medical affairs review")
        FINAL_REVIEW = "final_review", _("Brand final review")
        APPROVED = "approved", _("Approved")
        SCHEDULED = "scheduled", _("Scheduled")
        PUBLISHED = "published", _("Published")
        RETURNED = "returned", _("Returned for changes")
        REJECTED = "rejected", _("Rejected")
        EXPIRED_APPROVAL = "expired_approval", _("Approved after the scheduled time")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="content_items")
    title = models.CharField(_("title"), max_length=120)
    content_type = models.CharField(_("content type"), max_length=20, choices=ContentType.choices)
    pillar = models.CharField(_("pillar"), max_length=10, choices=Pillar.choices)
    disease_topics = models.JSONField(_("disease topics"), default=list, blank=True)
    department = models.ForeignKey(
        Department, verbose_name=_("department"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    target_accounts = models.ManyToManyField(
        "xinqiao_channels.PlatformAccount", verbose_name=_("target accounts"), blank=True, related_name="+"
    )
    doctor = models.ForeignKey(
        Doctor, verbose_name=_("linked doctor"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    references = models.JSONField(_("references"), default=list, blank=True)
    body_html = models.TextField(_("body"), blank=True)
    cover = models.ForeignKey(
        "ContentImage", verbose_name=_("cover"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_patient_story = models.BooleanField(_("patient story"), default=False)
    story_patient = models.ForeignKey(
        Patient, verbose_name=_("patient"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    story_consent = models.ForeignKey(Consent, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    deidentification = models.JSONField(_("de-identification checklist"), default=list, blank=True)
    is_ad = models.BooleanField(_("advertisement"), default=False)
    ad_certificate_number = models.CharField(_("medical ad review certificate number"), max_length=60, blank=True)
    ad_certificate_valid_until = models.DateField(_("certificate valid until"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.DRAFT)
    review_round = models.PositiveIntegerField(default=0)
    state_changed_at = models.DateTimeField(default=timezone.now)
    current_revision = models.ForeignKey("Revision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    scheduled_at = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("content item")
        verbose_name_plural = _("content items")
        ordering = ["-pk"]
        indexes = [
            models.Index(fields=["hospital", "state"], name="content_hospital_state"),
            models.Index(fields=["hospital", "scheduled_at"], name="content_hospital_schedule"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("content:item_detail", args=[self.pk])

    @property
    def is_in_review(self) -> bool:
        return self.state in REVIEW_STATES

    @property
    def is_editable(self) -> bool:
        return self.state not in (self.State.PUBLISHED, self.State.REJECTED)


REVIEW_STATES = (
    ContentItem.State.DEPARTMENT_REVIEW,
    ContentItem.State.MEDICAL_REVIEW,
    ContentItem.State.FINAL_REVIEW,
)


class Revision(models.Model):
    """Every save of an item: a full snapshot, its digest and the compliance report of that text."""

    item = models.ForeignKey(ContentItem, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=120)
    body_html = models.TextField(blank=True)
    snapshot = models.JSONField(default=dict)
    sha256 = models.CharField(max_length=64)
    compliance_report = models.JSONField(default=dict)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("revision")
        verbose_name_plural = _("revisions")
        ordering = ["item_id", "number"]
        constraints = [models.UniqueConstraint(fields=["item", "number"], name="revision_unique_number")]

    def __str__(self) -> str:
        return f"{self.item_id} r{self.number}"

    @property
    def max_severity(self) -> str | None:
        return self.compliance_report.get("max_severity")


class ContentImage(models.Model):
    class Kind(models.TextChoices):
        JPEG = "jpeg", "JPEG"
        PNG = "png", "PNG"
        WEBP = "webp", "WebP"

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(ContentItem, null=True, blank=True, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to="content/%Y/%m/")
    kind = models.CharField(max_length=5, choices=Kind.choices)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    original_name = models.CharField(max_length=120, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("content image")
        verbose_name_plural = _("content images")
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"image #{self.pk} ({self.kind})"

    def get_absolute_url(self) -> str:
        return reverse("content:image", args=[self.pk])

    @property
    def content_type(self) -> str:
        return f"image/{self.kind}"

    @property
    def filename(self) -> str:
        return f"image-{self.pk}.{'jpg' if self.kind == self.Kind.JPEG else self.kind}"


class ReviewStep(models.TextChoices):
    DEPARTMENT = "department", _("Department review")
    MEDICAL = "medical", _("Medical affairs review")
    FINAL = "final", _("Brand final review")


class ReviewPolicy(models.Model):
    """Which review steps apply to one content type in one hospital, and who must approve each."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    content_type = models.CharField(_("content type"), max_length=20, choices=ContentItem.ContentType.choices)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("review policy")
        verbose_name_plural = _("review policies")
        constraints = [models.UniqueConstraint(fields=["hospital", "content_type"], name="review_policy_unique_type")]

    def __str__(self) -> str:
        return f"{self.hospital_id}: {self.content_type}"


class ReviewPolicyStep(models.Model):
    class Mode(models.TextChoices):
        ANY = "any", _("Any one approver")
        ALL = "all", _("All named approvers")

    policy = models.ForeignKey(ReviewPolicy, on_delete=models.CASCADE, related_name="steps")
    step = models.CharField(max_length=12, choices=ReviewStep.choices)
    mode = models.CharField(max_length=3, choices=Mode.choices, default=Mode.ANY)
    approvers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")

    class Meta:
        verbose_name = _("review policy step")
        verbose_name_plural = _("review policy steps")
        constraints = [models.UniqueConstraint(fields=["policy", "step"], name="review_policy_step_unique")]

    def __str__(self) -> str:
        return f"{self.policy_id}: {self.step} ({self.mode})"


class Transition(models.Model):
    """One state change of an item: who, when, why, on which revision."""

    item = models.ForeignKey(ContentItem, on_delete=models.CASCADE, related_name="transitions")
    revision = models.ForeignKey(Revision, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    from_state = models.CharField(max_length=20, choices=ContentItem.State.choices)
    to_state = models.CharField(max_length=20, choices=ContentItem.State.choices)
    action = models.CharField(max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("transition")
        verbose_name_plural = _("transitions")
        ordering = ["item_id", "pk"]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.from_state} → {self.to_state}"


class Approval(models.Model):
    """One approver's approval of one step in one review round (an "all approvers" step needs several)."""

    item = models.ForeignKey(ContentItem, on_delete=models.CASCADE, related_name="approvals")
    revision = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="+")
    step = models.CharField(max_length=12, choices=ReviewStep.choices)
    review_round = models.PositiveIntegerField()
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("approval")
        verbose_name_plural = _("approvals")
        constraints = [
            models.UniqueConstraint(
                fields=["item", "step", "review_round", "approver"], name="approval_unique_per_round"
            )
        ]

    def __str__(self) -> str:
        return f"{self.item_id} {self.step} by {self.approver_id}"


class WarnAcknowledgement(models.Model):
    """An approver's reasoned decision to approve despite a WARN finding."""

    item = models.ForeignKey(ContentItem, on_delete=models.CASCADE, related_name="warn_acknowledgements")
    revision = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="+")
    step = models.CharField(max_length=12, choices=ReviewStep.choices)
    rule_id = models.CharField(max_length=20)
    finding_text = models.CharField(max_length=200, blank=True)
    reason = models.TextField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("warning acknowledgement")
        verbose_name_plural = _("warning acknowledgements")
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.item_id} {self.rule_id}"


class RuleAddition(models.Model):
    """A hospital's own phrases and exceptions for one compliance rule, merged into the engine's catalogue."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    rule_id = models.CharField(_("rule ID"), max_length=20)
    phrases = models.JSONField(_("extra phrases"), default=list, blank=True)
    exceptions = models.JSONField(_("exceptions"), default=list, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("rule addition")
        verbose_name_plural = _("rule additions")
        ordering = ["rule_id", "pk"]
        constraints = [models.UniqueConstraint(fields=["hospital", "rule_id"], name="rule_addition_unique_rule")]

    def __str__(self) -> str:
        return f"{self.hospital_id}: {self.rule_id}"

    def as_overlay_item(self) -> dict:
        return {"rule_id": self.rule_id, "phrases": list(self.phrases), "exceptions": list(self.exceptions)}
