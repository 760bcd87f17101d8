"""Public-opinion monitoring (舆情): mentions, clusters, lexicons, alerts and crisis cases."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from xinqiao.core.models import Department, Doctor, Hospital


class Platform(models.TextChoices):
    """Where a mention was seen: the account-matrix platforms plus the places monitoring tools crawl."""

    WECHAT_OA = "wechat_oa", _("WeChat Official Account")
    WECHAT_CHANNELS = "wechat_channels", _("WeChat Channels")
    WEIBO = "weibo", _("Weibo")
    DOUYIN = "douyin", _("Douyin")
    KUAISHOU = "kuaishou", _("Kuaishou")
    XIAOHONGSHU = "xiaohongshu", _("Xiaohongshu")
    BILIBILI = "bilibili", _("Bilibili")
    ZHIHU = "zhihu", _("Zhihu")
    TOUTIAO = "toutiao", _("Toutiao")
    NEWS = "news", _("News site")
    FORUM = "forum", _("Forum / Tieba")
    GOVERNMENT = "government", _("Government message board (12345/12320)")
    OTHER = "other", _("Other")


class Sentiment(models.TextChoices):
    NEGATIVE = "negative", _("Negative")
    NEUTRAL = "neutral", _("Neutral")
    POSITIVE = "positive", _("Positive")


class WatchedName(models.Model):
    """An extra name or alias the matcher looks for (the hospital's, a department's or a doctor's).

    Official names come from core (Hospital.name/short_name/aliases, Department.name, Doctor.name/aliases);
    rows here add what the public actually writes (e.g. 市一院, 一院心内).
    """

    class Kind(models.TextChoices):
        HOSPITAL = "hospital", _("Hospital")
        DEPARTMENT = "department", _("Department")
        DOCTOR = "doctor", _("Doctor")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    doctor = models.ForeignKey(Doctor, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    alias = models.CharField(_("alias"), max_length=40)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("watched name")
        verbose_name_plural = _("watched names")
        constraints = [models.UniqueConstraint(fields=["hospital", "alias"], name="watched_name_unique_alias")]

    def __str__(self) -> str:
        return self.alias


class CrisisTopic(models.Model):
    """One entry of the hospital's editable crisis lexicon (医患纠纷, 收费争议 …)."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=40)
    keywords = models.JSONField(_("keywords"), default=list)
    weight = models.FloatField(_("severity weight"), default=1.0)
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("crisis topic")
        verbose_name_plural = _("crisis topics")
        ordering = ["hospital", "code"]
        constraints = [models.UniqueConstraint(fields=["hospital", "code"], name="crisis_topic_unique_code")]

    def __str__(self) -> str:
        return self.name


class RedLineRule(models.Model):
    """Terms that raise an alert at once when they appear near the hospital's or a doctor's name."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=60)
    terms = models.JSONField(_("terms"), default=list)
    # entity kinds (WatchedName.Kind values) the terms must appear near
    near_kinds = models.JSONField(_("near names of"), default=list)
    window_chars = models.PositiveSmallIntegerField(_("within characters"), default=30)
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("red-line rule")
        verbose_name_plural = _("red-line rules")
        ordering = ["hospital", "name"]
        constraints = [models.UniqueConstraint(fields=["hospital", "name"], name="red_line_unique_name")]

    def __str__(self) -> str:
        return self.name


class MentionBatch(models.Model):
    """One ingestion: a file import, an HTTP push or a comment pull; the unit that commits or not at all."""

    class Source(models.TextChoices):
        FILE = "file", _("File import")
        PUSH = "push", _("HTTP push")
        PULL = "pull", _("Platform comment pull")
        SEED = "seed", _("Demo data")

    class Status(models.TextChoices):
        PREVIEW = "preview", _("Preview")
        COMMITTED = "committed", _("Imported")
        REJECTED = "rejected", _("Rejected")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PREVIEW)
    filename = models.CharField(_("file name"), max_length=200, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    # uploaded file kept until the preview is committed or discarded (default storage path)
    stored_path = models.CharField(max_length=300, blank=True)
    column_mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_created = models.PositiveIntegerField(default=0)
    rows_duplicate = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # [{"row": n, "column": c, "message": m}]
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key_prefix = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    committed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("mention batch")
        verbose_name_plural = _("mention batches")
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.source} #{self.pk}"


class MentionCluster(models.Model):
    """Near-duplicate mentions (reposts, copy-paste) of one story."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    representative = models.ForeignKey("Mention", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(_("summary"), max_length=120, blank=True)
    first_seen_at = models.DateTimeField(_("first seen"))
    last_seen_at = models.DateTimeField(_("last seen"))
    size = models.PositiveIntegerField(_("mentions"), default=0)
    negative_count = models.PositiveIntegerField(default=0)
    total_reach = models.BigIntegerField(_("reach"), default=0)
    topics = models.JSONField(default=list, blank=True)
    severity = models.FloatField(_("severity"), default=0.0)
    # mentions in the last hour vs the hour before (for growth in the severity score)
    growth = models.FloatField(default=0.0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("mention cluster")
        verbose_name_plural = _("mention clusters")
        indexes = [
            models.Index(fields=["hospital", "-severity"], name="cluster_hospital_severity"),
            models.Index(fields=["hospital", "last_seen_at"], name="cluster_hospital_seen"),
        ]

    def __str__(self) -> str:
        return self.title or f"cluster #{self.pk}"


class Mention(models.Model):
    """One public post or comment about the hospital. Authors are kept as handles only (minimised)."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    batch = models.ForeignKey(MentionBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="mentions")
    platform = models.CharField(_("platform"), max_length=20, choices=Platform.choices)
    external_id = models.CharField(_("external id"), max_length=120)
    url = models.URLField(_("URL"), max_length=500, blank=True)
    author_handle = models.CharField(_("author"), max_length=80, blank=True)
    author_followers = models.BigIntegerField(_("author followers"), default=0)
    is_verified_author = models.BooleanField(_("verified author"), default=False)
    text = models.TextField(_("text"))
    posted_at = models.DateTimeField(_("posted at"))
    likes = models.BigIntegerField(_("likes"), default=0)
    reposts = models.BigIntegerField(_("reposts"), default=0)
    comments = models.BigIntegerField(_("comments"), default=0)
    # the post this one relays (external id on the same platform), when the source says so
    parent_external_id = models.CharField(max_length=120, blank=True)
    extra = models.JSONField(default=dict, blank=True)  # unknown source columns, kept
    # pipeline output
    normalised_text = models.TextField(blank=True)
    sentiment = models.CharField(_("sentiment"), max_length=10, choices=Sentiment.choices, blank=True)
    p_negative = models.FloatField(default=0.0)
    p_neutral = models.FloatField(default=0.0)
    p_positive = models.FloatField(default=0.0)
    topics = models.JSONField(_("topics"), default=list, blank=True)  # CrisisTopic codes
    entities = models.JSONField(_("entities"), default=list, blank=True)  # "hospital", "department:<pk>", "doctor:<pk>"
    minhash = models.BinaryField(null=True, blank=True)
    cluster = models.ForeignKey(
        MentionCluster, null=True, blank=True, on_delete=models.SET_NULL, related_name="mentions"
    )
    severity = models.FloatField(_("severity"), default=0.0)
    processed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("mention")
        verbose_name_plural = _("mentions")
        constraints = [
            models.UniqueConstraint(fields=["hospital", "platform", "external_id"], name="mention_unique_external")
        ]
        indexes = [
            models.Index(fields=["hospital", "posted_at"], name="mention_hospital_posted"),
            models.Index(fields=["hospital", "sentiment", "posted_at"], name="mention_sentiment_posted"),
            models.Index(fields=["hospital", "processed_at"], name="mention_unprocessed"),
            models.Index(fields=["cluster", "posted_at"], name="mention_cluster_posted"),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.external_id}"

    @property
    def reach(self) -> int:
        return self.author_followers + self.likes + self.reposts + self.comments


class MentionEntity(models.Model):
    """Which hospital entity a mention names (one row per match; for filtering and per-entity bursts)."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="entity_rows")
    entity_key = models.CharField(max_length=30)  # "hospital", "department:<pk>", "doctor:<pk>"
    posted_at = models.DateTimeField()
    is_negative = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mention", "entity_key"], name="mention_entity_unique")]
        indexes = [models.Index(fields=["hospital", "entity_key", "posted_at"], name="mention_entity_posted")]

    def __str__(self) -> str:
        return self.entity_key


class LshBucket(models.Model):
    """A MinHash LSH band of a cluster's mention, so clustering survives restarts and spans processes."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    band_key = models.BigIntegerField()
    cluster = models.ForeignKey(MentionCluster, on_delete=models.CASCADE, related_name="+")
    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["hospital", "band_key"], name="lsh_bucket_band")]

    def __str__(self) -> str:
        return str(self.band_key)


class Alert(models.Model):
    """A burst, red-line, digest or increase alert; ``dedup_key`` makes firing idempotent."""

    class Kind(models.TextChoices):
        RED_LINE = "red_line", _("Red line")
        BURST = "burst", _("Negative burst")
        INCREASE = "increase", _("Increase")
        DIGEST = "digest", _("Digest")

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("alert", "Open")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        CASE_OPENED = "case_opened", _("Case opened")
        DISMISSED = "dismissed", _("Dismissed")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=15, choices=Status.choices, default=Status.OPEN)
    dedup_key = models.CharField(max_length=200)
    entity_key = models.CharField(max_length=30, blank=True)
    title = models.CharField(_("title"), max_length=200)
    detail = models.TextField(_("detail"), blank=True)
    severity = models.FloatField(_("severity"), default=0.0)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    observed = models.FloatField(null=True, blank=True)
    expected = models.FloatField(null=True, blank=True)
    statistic = models.FloatField(null=True, blank=True)  # e.g. Poisson upper-tail p-value
    rule = models.ForeignKey(RedLineRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    clusters = models.ManyToManyField(MentionCluster, blank=True, related_name="alerts")
    mentions = models.ManyToManyField(Mention, blank=True, related_name="alerts")
    case = models.ForeignKey("CrisisCase", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["hospital", "dedup_key"], name="alert_unique_dedup")]
        indexes = [models.Index(fields=["hospital", "status", "-created_at"], name="alert_hospital_status")]

    def __str__(self) -> str:
        return self.title


class CrisisCase(models.Model):
    """A crisis being handled: owner, 24-hour first-response SLA, reply sign-off, post-crisis review."""

    FIRST_RESPONSE_HOURS = 24

    class Status(models.TextChoices):
        MONITORING = "monitoring", _("Monitoring")  # 监测中
        RESPONDING = "responding", _("Responding")  # 响应中
        RESPONDED = "responded", _("Responded")  # 已回应
        CLOSED = "closed", pgettext_lazy("case", "Closed")  # 已关闭

    class Severity(models.IntegerChoices):
        LOW = 1, _("Low")
        MEDIUM = 2, _("Medium")
        HIGH = 3, _("High")
        CRITICAL = 4, _("Critical")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(_("title"), max_length=200)
    summary = models.TextField(_("summary"), blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.PROTECT, related_name="+"
    )
    severity = models.PositiveSmallIntegerField(_("severity"), choices=Severity.choices, default=Severity.MEDIUM)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.MONITORING)
    clusters = models.ManyToManyField(MentionCluster, blank=True, related_name="cases")
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    first_response_due_at = models.DateTimeField(_("first response due"))
    first_responded_at = models.DateTimeField(_("first responded at"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    lessons = models.TextField(_("lessons learned"), blank=True)
    review = models.JSONField(default=dict, blank=True)  # frozen post-crisis figures at closing
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("crisis case")
        verbose_name_plural = _("crisis cases")
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["hospital", "status"], name="case_hospital_status")]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs):
        if self.first_response_due_at is None:
            self.first_response_due_at = self.opened_at + dt.timedelta(hours=self.FIRST_RESPONSE_HOURS)
        super().save(*args, **kwargs)


class CaseEvent(models.Model):
    """The case timeline: every status change, note, draft, sign-off and escalation."""

    case = models.ForeignKey(CrisisCase, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=30)
    text = models.TextField(_("text"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.kind


class ReplyDraft(models.Model):
    """A reply wording (回应口径) checked by the compliance engine and signed off by 医务部."""

    class Status(models.TextChoices):
        DRAFT = "draft", pgettext_lazy("reply", "Draft")
        SUBMITTED = "submitted", _("Awaiting sign-off")
        APPROVED = "approved", _("Signed off")
        RETURNED = "returned", _("Returned")
        PUBLISHED = "published", _("Published")

    case = models.ForeignKey(CrisisCase, on_delete=models.CASCADE, related_name="drafts")
    text = models.TextField(_("reply text"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    compliance_report = models.JSONField(default=dict, blank=True)
    acknowledged_warnings = models.JSONField(default=list, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_off_at = models.DateTimeField(null=True, blank=True)
    sign_off_comment = models.TextField(blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("reply draft")
        verbose_name_plural = _("reply drafts")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"reply #{self.pk}"
