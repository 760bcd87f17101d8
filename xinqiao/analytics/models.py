"""Daily metric facts, their imports, costs, conversions for attribution, influence indices and reports."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from xinqiao.channels.models import PlatformAccount, Publication
from xinqiao.core.models import Hospital, Patient


class StoredJSONField(models.JSONField):
    """A ``JSONField`` kept as PostgreSQL's ``json`` (the text, checked to be JSON) instead of ``jsonb`` (parsed
    into a binary tree on the way in). For a value that is written often and only ever read whole, never searched
    inside: a fact's ``extra``. Building the ``jsonb`` of 200,000 imported rows took a quarter of the server's
    ``COPY`` (4.4 → 3.4 s, docs/metric-imports.md §4). Reading a key (``values_list("extra__name")``) works as
    before; filtering on what is inside does not on PostgreSQL (json has no equality, containment or key-exists
    operator), and nothing does. SQLite stores JSON as text either way."""

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def from_db_value(self, value, expression, connection):
        if value is not None and not isinstance(value, str):
            return value  # psycopg reads PostgreSQL's json into Python values itself
        return super().from_db_value(value, expression, connection)


class MetricSource(models.TextChoices):
    API = "api", _("Platform API")
    IMPORT = "import", _("Back-end export import")
    SEED = "seed", _("Demo data")


class MetricImport(models.Model):
    """One back-end export file: previewed, then committed atomically (or rejected with row errors). A large file
    is read by the task worker (*analysing* until its preview is ready) and committed by it (*queued* until it is
    done, *failed* with the reason and nothing written when it could not be)."""

    class Status(models.TextChoices):
        ANALYSING = "analysing", _("Analysing")
        PREVIEW = "preview", _("Preview")
        QUEUED = "queued", _("Importing")
        COMMITTED = "committed", _("Imported")
        REJECTED = "rejected", _("Rejected")
        FAILED = "failed", _("Failed")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(PlatformAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    platform = models.CharField(_("platform"), max_length=20, choices=PlatformAccount.Platform.choices)
    export_type = models.CharField(_("export type"), max_length=40, blank=True)
    filename = models.CharField(_("file name"), max_length=200)
    file_sha256 = models.CharField(max_length=64)
    stored_path = models.CharField(max_length=300, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PREVIEW)
    date_from = models.DateField(null=True, blank=True)
    date_to = models.DateField(null=True, blank=True)
    header_row = models.PositiveIntegerField(default=0)
    column_map = models.JSONField(default=dict, blank=True)  # source header -> canonical field
    unknown_columns = models.JSONField(default=list, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_created = models.PositiveIntegerField(default=0)
    rows_updated = models.PositiveIntegerField(default=0)
    rows_unchanged = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # [{"row": n, "column": c, "message": m}]
    errors_total = models.PositiveIntegerField(default=0)  # errors beyond the stored 5,000 are only counted
    preview_rows = models.JSONField(default=list, blank=True)  # first 20 data rows as written in the file
    details = models.JSONField(default=dict, blank=True)  # file kind, encoding, skipped totals rows, snapshot date
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Who asked for the commit of a file imported in the background, and when; why it failed, if it did.
    queued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    queued_at = models.DateTimeField(null=True, blank=True)
    failure = models.CharField(_("failure"), max_length=500, blank=True)
    committed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("metric import")
        verbose_name_plural = _("metric imports")
        ordering = ["-pk"]

    def __str__(self) -> str:
        return self.filename


class ContentMetricDaily(models.Model):
    """One published piece of content on one day: the fact table every content chart reads."""

    # No single-column indexes on these keys: the composite indexes below lead with each of them and serve the same
    # lookups (the three cost 93 MB at 5,000,000 rows on PostgreSQL, and every index is maintained on every import).
    # The hospital is the account's hospital, copied for the dashboard indexes: it is not a database foreign key
    # of its own. The account's is, and the account's hospital is one in turn, so a row can no more point at a
    # missing hospital than at a missing account; a second check per row (PostgreSQL runs one query per row and
    # key at commit: 1.1 s of a 200,000-row import) would prove nothing more. Deleting a hospital still deletes
    # its rows (Django's on_delete), as before.
    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    # On PostgreSQL the account and publication keys are checked by triggers once per statement, not by a foreign key
    # constraint once per row (migration 0008, docs/metric-imports.md §4); SQLite keeps the constraints.
    account = models.ForeignKey(PlatformAccount, on_delete=models.CASCADE, related_name="+", db_index=False)
    publication = models.ForeignKey(
        Publication, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    platform = models.CharField(max_length=20, choices=PlatformAccount.Platform.choices)
    # the platform's content id (msgid, BV号 …) or a hash of title + publish time when the export has none
    content_key = models.CharField(max_length=80)
    title = models.CharField(_("title"), max_length=200, blank=True)
    content_format = models.CharField(_("format"), max_length=20, blank=True)  # article/video/note/image …
    topic = models.CharField(_("topic"), max_length=40, blank=True)
    department_id_snapshot = models.IntegerField(null=True, blank=True)
    doctor_id_snapshot = models.IntegerField(null=True, blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    stat_date = models.DateField(_("date"))
    impressions = models.BigIntegerField(default=0)
    views = models.BigIntegerField(default=0)
    viewers = models.BigIntegerField(default=0)
    completion_rate = models.FloatField(null=True, blank=True)  # 0..1
    avg_watch_seconds = models.FloatField(null=True, blank=True)
    likes = models.BigIntegerField(default=0)
    comments = models.BigIntegerField(default=0)
    shares = models.BigIntegerField(default=0)
    favorites = models.BigIntegerField(default=0)
    follows_gained = models.BigIntegerField(default=0)
    extra = StoredJSONField(default=dict, blank=True)  # unknown columns and platform-specific counters
    source = models.CharField(max_length=10, choices=MetricSource.choices)
    # No index either: nothing reads the facts by import, and an import is only ever deleted with its hospital (the
    # foreign key then scans the table once); an index would be maintained on every row every import writes.
    # Which import last wrote the row, for the record: the import is created in the transaction that writes its
    # rows, and deleting one sets the link to NULL (Django's on_delete), so no database constraint checks it once
    # per row either (another 1.1 s of a 200,000-row import on PostgreSQL).
    metric_import = models.ForeignKey(
        MetricImport,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("content metric")
        verbose_name_plural = _("content metrics")
        constraints = [
            # Day before key: the key also serves every "this account between these days" lookup (no separate
            # (account, stat_date) index to fill on every imported row), and imports write in (day, key) order.
            models.UniqueConstraint(fields=["account", "stat_date", "content_key"], name="content_metric_unique_day")
        ]
        indexes = [
            models.Index(fields=["hospital", "stat_date"], name="content_metric_hospital_day"),
            # Rows get a topic from the publication they are linked to, so most imported rows have none; nothing
            # looks facts up by the empty topic (the topic filter and the topic choices exclude it and say so, which
            # SQLite needs to use a partial index), and those rows get no entry here.
            models.Index(
                fields=["hospital", "topic", "stat_date"],
                name="content_metric_topic_day",
                condition=~models.Q(topic=""),
            ),
            # Only rows linked to a publication are looked up by it (most imported rows are not linked): a partial
            # index spares every unlinked row's insert an index entry.
            models.Index(
                fields=["publication", "stat_date"],
                name="content_metric_pub_day",
                condition=models.Q(publication__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.content_key} {self.stat_date}"


class ContentSums(models.Model):
    """The sums of a group of content facts that both content rollups hold."""

    fact_rows = models.IntegerField()  # the facts summed
    impressions = models.BigIntegerField()
    views = models.BigIntegerField()
    viewers = models.BigIntegerField()
    likes = models.BigIntegerField()
    comments = models.BigIntegerField()
    shares = models.BigIntegerField()
    favorites = models.BigIntegerField()
    follows_gained = models.BigIntegerField()
    # Σ completion_rate × views and Σ views over the facts that report a completion rate (NULL when none does)
    completion_weighted = models.FloatField(null=True, blank=True)
    completion_views = models.BigIntegerField(null=True, blank=True)

    class Meta:
        abstract = True


class ContentMetricRollup(ContentSums):
    """The content facts of one account and day summed per topic and department: the rows the overview's daily
    trend, the period totals and the platform and account splits add up instead of every fact (a year of a large
    hospital is 5,000,000 facts and a few hundred thousand of these).

    Derived data, never edited: every writer of ``ContentMetricDaily`` recomputes the account's days it wrote
    (``services.rollup.content_rollup_refresh``, in the writer's transaction), and ``manage.py
    rebuild_content_rollup`` recomputes or checks a whole hospital. Deleting an account or a hospital deletes its
    rows with the facts."""

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    account = models.ForeignKey(PlatformAccount, on_delete=models.CASCADE, related_name="+", db_index=False)
    platform = models.CharField(max_length=20, choices=PlatformAccount.Platform.choices)
    topic = models.CharField(max_length=40, blank=True)
    department_id_snapshot = models.IntegerField(null=True, blank=True)
    stat_date = models.DateField()

    class Meta:
        verbose_name = _("content metric rollup")
        verbose_name_plural = _("content metric rollups")
        indexes = [
            models.Index(fields=["hospital", "stat_date"], name="content_rollup_hospital_day"),
            models.Index(fields=["account", "stat_date"], name="content_rollup_account_day"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.stat_date} {self.topic}"


class ContentMonthRollup(ContentSums):
    """The content facts of one content item (account and content key) in one calendar month, summed per topic,
    format, department and doctor: what the topic, post, department and doctor views add up for the whole months
    of a long period instead of every daily fact (a year of a large hospital: 5,000,000 facts, about 180,000 of
    these). The days of the period outside whole months are still read from the facts
    (``selectors.months``).

    Derived data like ``ContentMetricRollup`` and kept by the same calls (``services.rollup``): every writer of
    facts recomputes the account's months it wrote in its own transaction; ``manage.py rebuild_content_rollup``
    recomputes or checks both. ``title``, ``published_at`` and ``publication`` are the greatest title, the earliest
    publish time and the greatest publication of the month's facts (what the post table shows, as its GROUP BY over
    the facts takes them)."""

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    account = models.ForeignKey(PlatformAccount, on_delete=models.CASCADE, related_name="+", db_index=False)
    platform = models.CharField(max_length=20, choices=PlatformAccount.Platform.choices)
    month = models.DateField()  # the month's first day
    content_key = models.CharField(max_length=80)
    topic = models.CharField(max_length=40, blank=True)
    content_format = models.CharField(max_length=20, blank=True)
    department_id_snapshot = models.IntegerField(null=True, blank=True)
    doctor_id_snapshot = models.IntegerField(null=True, blank=True)
    title = models.CharField(max_length=200, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    # Unlinked when the publication is deleted, as the facts are (their link is SET_NULL too); no database
    # constraint, as for the facts' own keys.
    publication = models.ForeignKey(
        Publication,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        verbose_name = _("content month rollup")
        verbose_name_plural = _("content month rollups")
        indexes = [
            models.Index(fields=["hospital", "month"], name="content_month_hospital"),
            models.Index(fields=["account", "month"], name="content_month_account"),
            models.Index(
                fields=["publication"],
                name="content_month_publication",
                condition=models.Q(publication__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.month:%Y-%m} {self.content_key}"


class ContentMonthStale(models.Model):
    """An account's month whose ``ContentMonthRollup`` rows are not built: its facts changed since. Readers take
    such a month from the facts; ``services.rollup.content_months_build`` (a task enqueued by the writer) rebuilds
    it and removes the marker. A writer only deletes the month's rows and leaves this marker, in its own
    transaction: building a month right away would write as many rows again as a snapshot export has items."""

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    account = models.ForeignKey(PlatformAccount, on_delete=models.CASCADE, related_name="+", db_index=False)
    month = models.DateField()  # the month's first day

    class Meta:
        verbose_name = _("content month to rebuild")
        verbose_name_plural = _("content months to rebuild")
        constraints = [models.UniqueConstraint(fields=["account", "month"], name="content_month_stale_unique")]
        indexes = [models.Index(fields=["hospital", "month"], name="content_month_stale_hospital")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.month:%Y-%m}"


class AccountMetricDaily(models.Model):
    """Followers of one account on one day."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(PlatformAccount, on_delete=models.CASCADE, related_name="+")
    stat_date = models.DateField(_("date"))
    followers = models.BigIntegerField(_("followers"), null=True, blank=True)
    new_followers = models.BigIntegerField(_("new followers"), default=0)
    lost_followers = models.BigIntegerField(_("lost followers"), default=0)
    net_followers = models.BigIntegerField(_("net followers"), default=0)
    extra = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=10, choices=MetricSource.choices)
    metric_import = models.ForeignKey(MetricImport, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("account metric")
        verbose_name_plural = _("account metrics")
        constraints = [models.UniqueConstraint(fields=["account", "stat_date"], name="account_metric_unique_day")]
        indexes = [models.Index(fields=["hospital", "stat_date"], name="account_metric_hospital_day")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.stat_date}"


class CostEntry(models.Model):
    """Money spent on a channel, campaign or KOL partner over a period (for ROI and CAC)."""

    class Kind(models.TextChoices):
        CHANNEL = "channel", _("Channel operation")
        CAMPAIGN = "campaign", _("Campaign")
        KOL = "kol", _("KOL partner")
        PRODUCTION = "production", _("Content production")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    platform = models.CharField(_("platform"), max_length=20, choices=PlatformAccount.Platform.choices, blank=True)
    account = models.ForeignKey(PlatformAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    campaign = models.CharField(_("campaign"), max_length=80, blank=True)
    partner = models.CharField(_("KOL partner"), max_length=80, blank=True)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    date_from = models.DateField(_("from"))
    date_to = models.DateField(_("to"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    # The publications a campaign or KOL cost paid for: their attributed patients and revenue make its ROI.
    # Without them, an entry with an account is credited with that account's publications, a channel entry
    # with its platform's publications.
    publications = models.ManyToManyField(Publication, verbose_name=_("publications"), blank=True, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("cost entry")
        verbose_name_plural = _("cost entries")
        ordering = ["-date_from", "-pk"]
        indexes = [models.Index(fields=["hospital", "date_from"], name="cost_hospital_from")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_fen}"


class Touch(models.Model):
    """A patient's contact with a piece of content: a tracking-link click or a QR scene scan tied to a patient.

    The attribution funnel reads these with the patient's consultations and visits; first- and last-touch
    attribution pick the earliest or latest touch before a conversion within the lookback window.
    """

    class Kind(models.TextChoices):
        LINK_CLICK = "link_click", _("Tracking-link click")
        QR_SCAN = "qr_scan", _("QR scene scan")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    publication = models.ForeignKey(Publication, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    occurred_at = models.DateTimeField(_("occurred at"))
    source_ref = models.CharField(max_length=80)  # click id or scene event id: makes recording idempotent

    class Meta:
        verbose_name = _("touch")
        verbose_name_plural = _("touches")
        constraints = [models.UniqueConstraint(fields=["hospital", "kind", "source_ref"], name="touch_unique_source")]
        indexes = [
            models.Index(fields=["hospital", "occurred_at"], name="touch_hospital_time"),
            models.Index(fields=["patient", "occurred_at"], name="touch_patient_time"),
            models.Index(fields=["publication", "occurred_at"], name="touch_publication_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.occurred_at:%Y-%m-%d}"


class Consultation(models.Model):
    """A patient's consultation (咨询) — until the inbox app records them itself, entered or imported here."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    occurred_at = models.DateTimeField(_("occurred at"))
    channel = models.CharField(_("channel"), max_length=20, choices=Patient.SourceChannel.choices)
    source_ref = models.CharField(max_length=80)

    class Meta:
        verbose_name = _("consultation")
        verbose_name_plural = _("consultations")
        constraints = [models.UniqueConstraint(fields=["hospital", "source_ref"], name="consultation_unique_source")]
        indexes = [
            models.Index(fields=["hospital", "occurred_at"], name="consultation_hospital_time"),
            models.Index(fields=["patient", "occurred_at"], name="consultation_patient_time"),
        ]

    def __str__(self) -> str:
        return f"consultation {self.occurred_at:%Y-%m-%d}"


class InfluenceIndex(models.Model):
    """One computed WCI/BCI value with everything needed to recompute it (influence-index.md §10)."""

    class Window(models.TextChoices):
        WEEK = "week", _("Week")
        MONTH = "month", _("Month")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(PlatformAccount, on_delete=models.CASCADE, related_name="+")
    version = models.CharField(_("version"), max_length=20)  # wci-13, wci-14.2-a, wci-14.2-b, bci-full, bci-simple
    window = models.CharField(max_length=5, choices=Window.choices)
    window_start = models.DateField()
    window_end = models.DateField()
    days = models.PositiveSmallIntegerField()
    snapshot_at = models.DateTimeField()
    inputs = models.JSONField(default=dict)
    value = models.FloatField(_("index"))
    is_inactive = models.BooleanField(default=False)
    rank = models.PositiveIntegerField(null=True, blank=True)
    capped_articles = models.PositiveIntegerField(default=0)  # 10万+ substituted by 100001
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("influence index")
        verbose_name_plural = _("influence indices")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "version", "window", "window_start"], name="influence_unique_window"
            )
        ]
        indexes = [models.Index(fields=["hospital", "window", "window_start"], name="influence_hospital_window")]

    def __str__(self) -> str:
        return f"{self.version} {self.value:.2f}"


class Report(models.Model):
    """A weekly or monthly report built as PDF or Excel (files in default storage)."""

    class Period(models.TextChoices):
        WEEK = "week", _("Weekly")
        MONTH = "month", _("Monthly")

    class Format(models.TextChoices):
        PDF = "pdf", "PDF"
        XLSX = "xlsx", "Excel"

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    period = models.CharField(_("period"), max_length=5, choices=Period.choices)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    stored_path = models.CharField(max_length=300)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["hospital", "period", "period_start"], name="report_hospital_period")]
        constraints = [
            # one file per hospital, period and format: building again returns it (unless regenerated)
            models.UniqueConstraint(fields=["hospital", "period", "period_start", "format"], name="report_unique_file")
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.period_start} {self.format}"


class ReportSchedule(models.Model):
    """Deliver the weekly or monthly report to notification routes (e-mail and/or 企业微信 robot)."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="+")
    period = models.CharField(_("period"), max_length=5, choices=Report.Period.choices)
    formats = models.JSONField(_("formats"), default=list)
    routes = models.ManyToManyField("integrations.NotificationRoute", verbose_name=_("deliver to"), related_name="+")
    is_active = models.BooleanField(_("active"), default=True)
    last_period_start = models.DateField(null=True, blank=True)  # last period delivered (idempotency)
    last_delivered_at = models.DateTimeField(_("last delivered"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("report schedule")
        verbose_name_plural = _("report schedules")
        constraints = [models.UniqueConstraint(fields=["hospital", "period"], name="report_schedule_unique_period")]

    def __str__(self) -> str:
        return self.period
