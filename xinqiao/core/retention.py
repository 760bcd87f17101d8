"""Retention (privacy-requirements §7.1, REQ-RET-001, REQ-RET-002): the daily sweep that deletes or anonymises
what has outlived its rule in ``data_catalogue.yaml``, except what an active legal hold keeps.

Each rule the catalogue names is either swept here (``SWEPT_RULES``) or explained in ``NOT_SWEPT`` (a rule whose
trigger is an event, not an age); ``tests/test_retention.py`` fails when the catalogue names a rule in neither.

The sweep is idempotent (what it removed is gone; what it anonymised is marked erased and skipped next time) and
writes one summary audit event per hospital and one for the tables without a hospital, with counts only
(REQ-RET-001): never a name, a text or an ID of what was removed. ``dry_run`` counts without changing anything
(clusters and import batches only count when earlier runs emptied them: the real run empties them first).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.sessions.models import Session
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from xinqiao.core.access import Action, Principal
from xinqiao.core.audit import audit_record
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import (
    AuditChainHead,
    AuditEvent,
    BackupRecord,
    Consent,
    Hospital,
    LegalHold,
    LoginThrottle,
    Patient,
    Visit,
)

logger = logging.getLogger(__name__)

# §7.1 and the catalogue's retention_rules, in days.
LEAD_UNCONVERTED_DAYS = 180  # patient_record: a lead without conversion, after the last contact
LEAD_CONVERTED_DAYS = 30  # patient_record / lead_booking: after the booking or visit is completed
CONSENT_EVIDENCE_DAYS = 3 * 365 + 1  # consent_evidence: 3 years after withdrawal or expiry (a leap day included)
CONTENT_EVIDENCE_DAYS = 3 * 365 + 1  # content_evidence: 3 years after the last takedown
SOCIAL_DAYS = 365  # social_1y: after collection
CRISIS_CASE_DAYS = 3 * 365 + 1  # crisis_case: after the case closes
AUDIT_DAYS = 3 * 365 + 1  # audit_3y (REQ-AUD-005; the legal minimum is 6 months)
OPERATIONAL_DAYS = 365  # operational: at most a year
LEGAL_HOLD_DAYS = 3 * 365 + 1  # legal_hold: after release

# Consents that keep a patient's record beyond the lead periods while active: marketing contact and health
# management (the patient_record rule), and story publication (its evidence rule runs while the story is out).
RECORD_KEEPING_PURPOSES = (
    Consent.Purpose.MARKETING_CONTACT,
    Consent.Purpose.HEALTH_MANAGEMENT,
    Consent.Purpose.STORY_PUBLICATION,
)

CHUNK = 1_000
CONTENT_CHUNK = 100  # content items per transaction: each brings its revisions, review record and publications

SWEPT_RULES: dict[str, str] = {
    "patient_record": gettext_lazy(
        "Patients anonymised (identity destroyed; visits, touches and consultations kept anonymous) 180 days after "
        "the last contact, 30 days for converted patients, unless a marketing, health-management or story consent "
        "is active."
    ),
    "consent_evidence": gettext_lazy(
        "Consent events deleted 3 years after the withdrawal or expiry they end with, unless a story names them."
    ),
    "content_evidence": gettext_lazy(
        "Published content items deleted with their revisions, review record, images and publications (with their "
        "tracking links and touches) 3 years after the last takedown, when nothing of the item is published or "
        "waiting any more; drafts that were never published stay while the item exists."
    ),
    "social_1y": gettext_lazy(
        "Mentions deleted a year after collection, with their entity rows and alert links; old alerts, empty "
        "clusters and import batches (with their files) too."
    ),
    "crisis_case": gettext_lazy("Closed cases deleted with their events and reply drafts 3 years after closing."),
    "audit_3y": gettext_lazy(
        "Audit events older than 3 years deleted from the start of the chain (its anchor is kept, so the chain "
        "still verifies), and the admin log."
    ),
    "operational": gettext_lazy(
        "Notices, finished outbound messages, login throttles, task results and backup records deleted after a year; "
        "expired sessions."
    ),
    "legal_hold": gettext_lazy("Released holds deleted 3 years after their release."),
}

NOT_SWEPT: dict[str, str] = {
    "lead_booking": gettext_lazy(
        "Visits stay as anonymous analytics once their patient is anonymised (30 days after the last booking or visit)."
    ),
    "config_lifetime": gettext_lazy("Deleted with the tenant at the end of the service, not by age."),
    "staff_account": gettext_lazy("Removed by deprovisioning when a person leaves, not by age."),
    "public_profile": gettext_lazy("Removed when the doctor leaves or withdraws from the public profile."),
    "credential": gettext_lazy("A revoked key stays as long as the audit events that name it."),
    "story_publicity": gettext_lazy(
        "Swept with the story's content item under content_evidence; raw story material is not stored."
    ),
    "business_record": gettext_lazy(
        "Aggregates without personal data beyond staff references; the period is for the DPO to set."
    ),
}


# What each count of a sweep's summary means, for the retention page (the audit event keeps the names).
COUNT_LABELS: dict[str, str] = {
    "patients_anonymised": gettext_lazy("Patients anonymised"),
    "patients_held": gettext_lazy("Patients kept by a hold"),
    "content_items_deleted": gettext_lazy("Content items deleted"),
    "publications_deleted": gettext_lazy("Publications deleted"),
    "content_items_held": gettext_lazy("Content items kept by a hold"),
    "consents_deleted": gettext_lazy("Consent events deleted"),
    "consent_groups_held": gettext_lazy("Consent histories kept by a hold"),
    "consent_groups_story_evidence": gettext_lazy("Consent histories kept as a story's evidence"),
    "mentions_deleted": gettext_lazy("Mentions deleted"),
    "mentions_held": gettext_lazy("Mentions kept by a hold"),
    "alerts_deleted": gettext_lazy("Alerts deleted"),
    "clusters_deleted": gettext_lazy("Empty clusters deleted"),
    "mention_batches_deleted": gettext_lazy("Mention imports deleted"),
    "cases_deleted": gettext_lazy("Crisis cases deleted"),
    "cases_held": gettext_lazy("Crisis cases kept by a hold"),
    "notifications_deleted": gettext_lazy("Notices deleted"),
    "outbound_messages_deleted": gettext_lazy("Outbound messages deleted"),
    "legal_holds_deleted": gettext_lazy("Released holds deleted"),
    "login_throttles_deleted": gettext_lazy("Login throttles deleted"),
    "task_results_deleted": gettext_lazy("Task results deleted"),
    "backup_records_deleted": gettext_lazy("Backup records deleted"),
    "sessions_deleted": gettext_lazy("Expired sessions deleted"),
    "admin_log_deleted": gettext_lazy("Admin log entries deleted"),
    "audit_events_pruned": gettext_lazy("Audit events pruned"),
}


def labelled_counts(counts: dict[str, int]) -> list[tuple[str, str, int]]:
    """The non-zero counts of a sweep summary as (name, label, count), in the order of ``COUNT_LABELS``; a name
    without a label (from an older release) shows as itself."""
    order = {name: position for position, name in enumerate(COUNT_LABELS)}
    names = sorted(
        (name for name, value in counts.items() if value), key=lambda name: (order.get(name, len(order)), name)
    )
    return [(name, str(COUNT_LABELS.get(name, name)), counts[name]) for name in names]


@dataclass
class SweepReport:
    """What one sweep did (or, in a dry run, would do): counts per hospital code, and for the global tables."""

    dry_run: bool = False
    by_hospital: dict[str, Counter] = field(default_factory=dict)
    global_counts: Counter = field(default_factory=Counter)

    def total(self, name: str) -> int:
        return self.global_counts[name] + sum(counts[name] for counts in self.by_hospital.values())


def held_ids(hospital: Hospital, subject: str) -> set[int]:
    return set(
        LegalHold.objects.filter(hospital=hospital, subject_type=subject, released_at__isnull=True).values_list(
            "subject_id", flat=True
        )
    )


def sweep(*, now: dt.datetime | None = None, dry_run: bool = False, hospitals: Iterable[Hospital] | None = None):
    """Apply every swept rule to every hospital (or the ones given) and to the global tables."""
    now = now or timezone.now()
    report = SweepReport(dry_run=dry_run)
    for hospital in hospitals if hospitals is not None else Hospital.objects.order_by("pk"):
        counts: Counter = Counter()
        counts.update(_patients(hospital, now, dry_run))
        # Content first: a story whose evidence period ended releases its story consent to the consent rule.
        counts.update(_content(hospital, now, dry_run))
        counts.update(_consents(hospital, now, dry_run))
        counts.update(_social(hospital, now, dry_run))
        counts.update(_cases(hospital, now, dry_run))
        counts.update(_operational(hospital, now, dry_run))
        counts["legal_holds_deleted"] = _delete_chunked(
            LegalHold.objects.filter(hospital=hospital, released_at__lt=now - dt.timedelta(days=LEGAL_HOLD_DAYS)),
            dry_run,
        )
        report.by_hospital[hospital.code] = counts
        logger.info("retention sweep%s %s: %s", " (dry run)" if dry_run else "", hospital.code, _compact(counts))
        if not dry_run:
            _summary(hospital, counts)
    if hospitals is None:
        report.global_counts.update(_global(now, dry_run))
        if not dry_run:
            _summary(None, report.global_counts)
    return report


def _compact(counts: Counter) -> str:
    return ", ".join(f"{name} {value}" for name, value in sorted(counts.items()) if value) or "nothing due"


def _summary(hospital: Hospital | None, counts: Counter) -> None:
    audit_record(
        action=AuditEvent.Action.RETENTION,
        hospital=hospital,
        actor_label="retention",
        object_type="retention",
        detail={"counts": {name: counts[name] for name in sorted(counts)}},
    )


# -- patient_record and consent_evidence ------------------------------------------------------------------------


def _active_keeping_consent(hospital: Hospital, today: dt.date, patient_ids: list[int] | None = None) -> set[int]:
    """The hospital's patients (or those of ``patient_ids``) with a record-keeping consent whose latest event is a
    grant that has not expired: one query, the latest event found by the (patient, purpose, recorded_at) index. At
    1,000,000 patients, reading every event into Python to find the latest took 55 of the 60 s the daily listing of
    expired patients took (SQLite)."""
    later = Consent.objects.filter(patient_id=OuterRef("patient_id"), purpose=OuterRef("purpose")).filter(
        Q(recorded_at__gt=OuterRef("recorded_at")) | Q(recorded_at=OuterRef("recorded_at"), pk__gt=OuterRef("pk"))
    )
    grants = Consent.objects.filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=today),
        purpose__in=RECORD_KEEPING_PURPOSES,
        action=Consent.Action.GRANT,
    )
    grants = grants.filter(hospital=hospital) if patient_ids is None else grants.filter(patient_id__in=patient_ids)
    return set(grants.exclude(Exists(later)).values_list("patient_id", flat=True))


def expired_patients(hospital: Hospital, now: dt.datetime, *, among: list[int] | None = None) -> list[int]:
    """Patients (not yet anonymised) past the patient_record rule, held ones included: a lead without a booking or
    visit 180 days after the last contact, a converted one 30 days after the last contact (the last booking or
    visit, touch, consultation or consent event, or the record's creation), unless a record-keeping consent is
    active. ``among``: only these patients (the sweep asks again for each batch it has locked)."""
    from xinqiao.analytics.models import Consultation, Touch

    today = timezone.localdate(now)
    found: list[int] = []
    for converted, days in ((False, LEAD_UNCONVERTED_DAYS), (True, LEAD_CONVERTED_DAYS)):
        since = now - dt.timedelta(days=days)
        visits = Visit.objects.filter(patient=OuterRef("pk"))
        rows = Patient.objects.filter(hospital=hospital, erased_at__isnull=True, created_at__lt=since)
        if among is not None:
            rows = rows.filter(pk__in=among)
        rows = rows.filter(Exists(visits)) if converted else rows.exclude(Exists(visits))
        rows = rows.exclude(Exists(visits.filter(occurred_on__gt=today - dt.timedelta(days=days))))
        rows = rows.exclude(Exists(Touch.objects.filter(patient=OuterRef("pk"), occurred_at__gte=since)))
        rows = rows.exclude(Exists(Consultation.objects.filter(patient=OuterRef("pk"), occurred_at__gte=since)))
        rows = rows.exclude(Exists(Consent.objects.filter(patient=OuterRef("pk"), recorded_at__gte=since)))
        found.extend(rows.order_by("pk").values_list("pk", flat=True))
    kept = _active_keeping_consent(hospital, today, among)
    return sorted(pk for pk in found if pk not in kept)


def _patients(hospital: Hospital, now: dt.datetime, dry_run: bool) -> Counter:
    """Anonymise the expired patients a batch (``CHUNK``) per transaction: the batch's rows are locked, the rule
    is checked again for them under the lock (a visit, touch, consultation or consent recorded since the first
    look keeps a patient, as do a legal hold placed meanwhile and an erasure that came first), and the rest are
    erased with a few statements."""
    held = held_ids(hospital, LegalHold.Subject.PATIENT)
    expired = expired_patients(hospital, now)
    counts = Counter(patients_held=sum(1 for pk in expired if pk in held))
    due = [pk for pk in expired if pk not in held]
    if dry_run:
        counts["patients_anonymised"] = len(due)
        return counts
    counts["patients_anonymised"] = anonymise_patients(hospital, due, now)
    return counts


def anonymise_patients(hospital: Hospital, due: list[int], now: dt.datetime) -> int:
    """Erase the identity of the patients ``due`` (expired, not held) a batch per transaction; how many were."""
    from xinqiao.core.services import erase_identities

    done = 0
    for start in range(0, len(due), CHUNK):
        with transaction.atomic():
            batch = list(
                Patient.objects.select_for_update()
                .filter(pk__in=due[start : start + CHUNK], erased_at__isnull=True)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            held = held_ids(hospital, LegalHold.Subject.PATIENT) if batch else set()  # a hold placed meanwhile
            still = [pk for pk in expired_patients(hospital, now, among=batch) if pk not in held] if batch else []
            erase_identities(still, now=now, recorded_by=None, notice_version="retention")
        done += len(still)
    return done


def _consents(hospital: Hospital, now: dt.datetime, dry_run: bool) -> Counter:
    """consent_evidence: every event of a (patient, purpose) whose last event is a withdrawal recorded, or a grant
    that expired, more than 3 years ago; not while a content item names one of them as its story consent (that
    evidence follows the story's own rule)."""
    from xinqiao.content.models import ContentItem

    cutoff = now - dt.timedelta(days=CONSENT_EVIDENCE_DAYS)
    held = held_ids(hospital, LegalHold.Subject.PATIENT)
    groups = (
        Consent.objects.filter(hospital=hospital)
        .values("patient_id", "purpose")
        .annotate(last=Max("recorded_at"))
        .filter(last__lt=cutoff)
        .order_by("patient_id", "purpose")
    )
    counts: Counter = Counter()
    for group in groups:
        if group["patient_id"] in held:
            counts["consent_groups_held"] += 1
            continue
        events = Consent.objects.filter(patient_id=group["patient_id"], purpose=group["purpose"])
        last = events.order_by("-recorded_at", "-pk").first()
        if last is None:
            continue
        ended = last.action == Consent.Action.WITHDRAW or (
            last.valid_until is not None and last.valid_until < timezone.localdate(cutoff)
        )
        if not ended:
            continue
        if ContentItem.objects.filter(story_consent__in=events).exists():
            counts["consent_groups_story_evidence"] += 1
            continue
        size = events.count()
        if not dry_run:
            events.delete()
        counts["consents_deleted"] += size
    return counts


# -- content_evidence -------------------------------------------------------------------------------------------


def expired_content_items(hospital: Hospital, now: dt.datetime, *, among: list[int] | None = None) -> list[int]:
    """Content items past the content_evidence rule, held ones included: published once (a publication taken
    down), no publication published, waiting or publishing now, the last takedown more than 3 years ago, and the
    item's state unchanged since (a published item is final today; were the workflow to reopen one, it would be
    a draft again, kept while it exists). Failed publications never went out and do not count either way."""
    from xinqiao.channels.models import Publication
    from xinqiao.content.models import ContentItem

    cutoff = now - dt.timedelta(days=CONTENT_EVIDENCE_DAYS)
    publications = Publication.objects.filter(item=OuterRef("pk"))
    ended = Q(status=Publication.Status.TAKEN_DOWN, taken_down_at__lt=cutoff)
    rows = (
        ContentItem.objects.filter(hospital=hospital, state_changed_at__lt=cutoff)
        .filter(Exists(publications.filter(ended)))
        .exclude(Exists(publications.exclude(ended).exclude(status=Publication.Status.FAILED)))
    )
    if among is not None:
        rows = rows.filter(pk__in=among)
    return list(rows.order_by("pk").values_list("pk", flat=True))


def _content(hospital: Hospital, now: dt.datetime, dry_run: bool) -> Counter:
    held = held_ids(hospital, LegalHold.Subject.CONTENT_ITEM)
    expired = expired_content_items(hospital, now)
    counts = Counter(content_items_held=sum(1 for pk in expired if pk in held), publications_deleted=0)
    due = [pk for pk in expired if pk not in held]
    if dry_run:
        from xinqiao.channels.models import Publication

        counts["content_items_deleted"] = len(due)
        counts["publications_deleted"] = Publication.objects.filter(item_id__in=due).count()
        return counts
    counts["content_items_deleted"] = 0
    for start in range(0, len(due), CONTENT_CHUNK):
        counts.update(delete_content_items(hospital, due[start : start + CONTENT_CHUNK], now))
    return counts


def delete_content_items(hospital: Hospital, batch: list[int], now: dt.datetime) -> Counter:
    """Delete the content items ``batch`` (expired, not held) in one transaction: the items are locked and the rule
    checked again under the lock (a publication or a hold added since the first look keeps an item). Their
    publications go with their tracking links, clicks and touches (the metric facts keep their numbers, unlinked);
    their images' files are removed once the transaction has committed, except an image another item still shows
    (it is only detached)."""
    from xinqiao.channels.models import Publication
    from xinqiao.content.models import Approval, ContentImage, ContentItem, Revision, Transition, WarnAcknowledgement

    counts: Counter = Counter()
    with transaction.atomic():
        locked = list(ContentItem.objects.select_for_update().filter(pk__in=batch).values_list("pk", flat=True))
        held = held_ids(hospital, LegalHold.Subject.CONTENT_ITEM) if locked else set()
        still = [pk for pk in expired_content_items(hospital, now, among=locked) if pk not in held]
        if not still:
            return counts
        images = ContentImage.objects.filter(item_id__in=still)
        shared = {image.pk for image in images if _image_used_elsewhere(image, still)}
        images.filter(pk__in=shared).update(item=None)
        files = list(images.exclude(file="").values_list("file", flat=True))
        counts["publications_deleted"] = Publication.objects.filter(item_id__in=still).count()
        Publication.objects.filter(item_id__in=still).delete()
        # The review record points at revisions, which refuse to go while it does (PROTECT): it goes first.
        for model in (Transition, Approval, WarnAcknowledgement):
            model.objects.filter(item_id__in=still).delete()
        ContentItem.objects.filter(pk__in=still).update(current_revision=None, cover=None)
        Revision.objects.filter(item_id__in=still).delete()
        ContentItem.objects.filter(pk__in=still).delete()
        counts["content_items_deleted"] = len(still)
        transaction.on_commit(lambda: _delete_files(files))
    return counts


def _image_used_elsewhere(image, items: list[int]) -> bool:
    """Whether another item of the image's hospital than ``items`` has the image as its cover or in the text of one
    of its revisions (an image is served to its own hospital only)."""
    from xinqiao.content.models import ContentItem, Revision

    if ContentItem.objects.filter(cover=image).exclude(pk__in=items).exists():
        return True
    revisions = Revision.objects.filter(
        item__hospital_id=image.hospital_id, body_html__contains=image.get_absolute_url()
    )
    return revisions.exclude(item_id__in=items).exists()


def _delete_files(paths: list[str]) -> None:
    for path in paths:
        if default_storage.exists(path):
            default_storage.delete(path)


# -- social_1y and crisis_case ----------------------------------------------------------------------------------


def _delete_chunked(queryset, dry_run: bool) -> int:
    pks = list(queryset.order_by("pk").values_list("pk", flat=True))
    if dry_run:
        return len(pks)
    for start in range(0, len(pks), CHUNK):
        with transaction.atomic():
            queryset.model.objects.filter(pk__in=pks[start : start + CHUNK]).delete()
    return len(pks)


def _social(hospital: Hospital, now: dt.datetime, dry_run: bool) -> Counter:
    from xinqiao.listening.models import Alert, CrisisCase, Mention, MentionBatch, MentionCluster

    cutoff = now - dt.timedelta(days=SOCIAL_DAYS)
    held_cases = held_ids(hospital, LegalHold.Subject.CRISIS_CASE)
    held_mentions = held_ids(hospital, LegalHold.Subject.MENTION)
    held_clusters = set(
        CrisisCase.clusters.through.objects.filter(crisiscase_id__in=held_cases).values_list(
            "mentioncluster_id", flat=True
        )
    )
    old = Mention.objects.filter(hospital=hospital, created_at__lt=cutoff)
    keep = Q(pk__in=held_mentions) | Q(cluster_id__in=held_clusters)
    counts = Counter(mentions_held=old.filter(keep).count())
    counts["mentions_deleted"] = _delete_chunked(old.exclude(keep), dry_run)
    counts["alerts_deleted"] = _delete_chunked(
        Alert.objects.filter(hospital=hospital, created_at__lt=cutoff).exclude(clusters__in=held_clusters), dry_run
    )
    empty_clusters = MentionCluster.objects.filter(hospital=hospital, last_seen_at__lt=cutoff).exclude(
        Exists(Mention.objects.filter(cluster=OuterRef("pk")))
    )
    counts["clusters_deleted"] = _delete_chunked(
        empty_clusters.exclude(Exists(CrisisCase.clusters.through.objects.filter(mentioncluster=OuterRef("pk")))),
        dry_run,
    )
    batches = MentionBatch.objects.filter(hospital=hospital, created_at__lt=cutoff).exclude(
        Exists(Mention.objects.filter(batch=OuterRef("pk")))
    )
    if not dry_run:
        for path in batches.exclude(stored_path="").values_list("stored_path", flat=True):
            if default_storage.exists(path):
                default_storage.delete(path)
    counts["mention_batches_deleted"] = _delete_chunked(batches, dry_run)
    return counts


def _cases(hospital: Hospital, now: dt.datetime, dry_run: bool) -> Counter:
    from xinqiao.listening.models import CrisisCase

    closed = CrisisCase.objects.filter(
        hospital=hospital,
        status=CrisisCase.Status.CLOSED,
        closed_at__lt=now - dt.timedelta(days=CRISIS_CASE_DAYS),
    )
    held = held_ids(hospital, LegalHold.Subject.CRISIS_CASE)
    return Counter(
        cases_held=closed.filter(pk__in=held).count(),
        cases_deleted=_delete_chunked(closed.exclude(pk__in=held), dry_run),
    )


# -- operational ------------------------------------------------------------------------------------------------


def _operational(hospital: Hospital, now: dt.datetime, dry_run: bool) -> Counter:
    from xinqiao.channels.models import Notification
    from xinqiao.integrations.models import OutboundMessage

    cutoff = now - dt.timedelta(days=OPERATIONAL_DAYS)
    finished = (OutboundMessage.Status.SENT, OutboundMessage.Status.FAILED)
    return Counter(
        notifications_deleted=_delete_chunked(
            Notification.objects.filter(hospital=hospital, created_at__lt=cutoff), dry_run
        ),
        outbound_messages_deleted=_delete_chunked(
            OutboundMessage.objects.filter(hospital=hospital, created_at__lt=cutoff, status__in=finished), dry_run
        ),
    )


def _global(now: dt.datetime, dry_run: bool) -> Counter:
    from django.contrib.admin.models import LogEntry
    from django_tasks_db.models import DBTaskResult

    operational = now - dt.timedelta(days=OPERATIONAL_DAYS)
    audit_cutoff = now - dt.timedelta(days=AUDIT_DAYS)
    counts = Counter(
        login_throttles_deleted=_delete_chunked(
            LoginThrottle.objects.filter(window_started_at__lt=operational).exclude(locked_until__gte=now), dry_run
        ),
        task_results_deleted=_delete_chunked(DBTaskResult.objects.filter(finished_at__lt=operational), dry_run),
        backup_records_deleted=_delete_chunked(BackupRecord.objects.filter(created_at__lt=operational), dry_run),
        sessions_deleted=_delete_chunked(Session.objects.filter(expire_date__lt=now), dry_run),
        admin_log_deleted=_delete_chunked(LogEntry.objects.filter(action_time__lt=audit_cutoff), dry_run),
    )
    counts["audit_events_pruned"] = prune_audit_chain(audit_cutoff, dry_run=dry_run)
    return counts


def prune_audit_chain(cutoff: dt.datetime, *, dry_run: bool = False) -> int:
    """Delete the audit events recorded before ``cutoff`` from the start of the chain and move its anchor to the
    last one deleted, so that ``audit_verify_chain`` still checks every remaining link. Only the unbroken run of
    old events at the start goes (an old event after a newer one, e.g. from a clock step, waits for the run to
    reach it)."""
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            return 0
        remaining = AuditEvent.objects.filter(pk__gt=head.pruned_through_pk)
        first_kept = remaining.filter(created_at__gte=cutoff).order_by("pk").values_list("pk", flat=True).first()
        doomed = remaining if first_kept is None else remaining.filter(pk__lt=first_kept)
        last = doomed.order_by("-pk").values_list("pk", "record_hash").first()
        if last is None:
            return 0
        size = doomed.count()
        if dry_run:
            return size
        doomed.delete()  # one DELETE statement; the model itself refuses deletes: append-only for everyone else
        head.pruned_through_pk, head.pruned_last_hash = last
        head.pruned_count += size
        head.save(update_fields=["pruned_through_pk", "pruned_last_hash", "pruned_count"])
    return size


# -- the rules, for the retention page --------------------------------------------------------------------------


def rule_rows() -> list[dict[str, object]]:
    """Every retention rule of the catalogue: its text, the tables and columns that follow it, and what the
    sweep does about it (or why it does not sweep it)."""
    from xinqiao.core.catalogue import catalogue_load

    catalogue = catalogue_load()
    used: dict[str, set[str]] = {name: set() for name in catalogue.retention_rules}
    for table in catalogue.tables.values():
        used.setdefault(table.retention, set()).add(table.name)
        for column in table.columns.values():
            if column.retention != table.retention:
                used.setdefault(column.retention, set()).add(f"{table.name}.{column.name}")
    return [
        {
            "name": name,
            "text": text,
            "swept": name in SWEPT_RULES,
            "action": SWEPT_RULES.get(name) or NOT_SWEPT.get(name, ""),
            "tables": sorted(used.get(name, ())),
        }
        for name, text in catalogue.retention_rules.items()
    ]


# -- legal holds (REQ-RET-002) ----------------------------------------------------------------------------------


def _subject_exists(hospital: Hospital, subject_type: str, subject_id: int) -> bool:
    from xinqiao.content.models import ContentItem
    from xinqiao.listening.models import CrisisCase, Mention

    model = {
        LegalHold.Subject.PATIENT: Patient,
        LegalHold.Subject.MENTION: Mention,
        LegalHold.Subject.CRISIS_CASE: CrisisCase,
        LegalHold.Subject.CONTENT_ITEM: ContentItem,
    }[subject_type]
    return model.objects.filter(hospital=hospital, pk=subject_id).exists()


@transaction.atomic
def legal_hold_place(
    *,
    principal: Principal,
    subject_type: str,
    subject_id: int,
    reason: str,
    approved_by: str,
    reference: str = "",
    request=None,
) -> LegalHold:
    """Suspend retention for one record of the principal's hospital, with the reason and who approved it."""
    principal.require(Action.RETENTION_MANAGE)
    reason, approved_by, reference = reason.strip(), approved_by.strip(), reference.strip()
    if subject_type not in LegalHold.Subject.values:
        raise ApplicationError(_("Choose what the hold is for."), code="subject_type", field="subject_type")
    if not reason:
        raise ApplicationError(_("State the reason for the hold."), code="reason", field="reason")
    if not approved_by:
        raise ApplicationError(_("Name who approved the hold."), code="approved_by", field="approved_by")
    if not _subject_exists(principal.hospital, subject_type, subject_id):
        raise ApplicationError(
            _("There is no such record in this hospital: check the ID."), code="subject_id", field="subject_id"
        )
    hospital = principal.hospital
    if LegalHold.objects.filter(
        hospital=hospital, subject_type=subject_type, subject_id=subject_id, released_at__isnull=True
    ).exists():
        raise ApplicationError(_("This record is under a hold already."), code="duplicate", field="subject_id")
    hold = LegalHold.objects.create(
        hospital=hospital,
        subject_type=subject_type,
        subject_id=subject_id,
        reason=reason[:300],
        approved_by=approved_by[:120],
        reference=reference[:120],
        placed_by=principal.user,
    )
    audit_record(
        action=AuditEvent.Action.LEGAL_HOLD,
        principal=principal,
        request=request,
        object_type=subject_type,
        object_id=subject_id,
        detail={"change": "place", "hold": hold.pk, "reason": hold.reason, "approved_by": hold.approved_by},
    )
    return hold


@transaction.atomic
def legal_hold_release(*, principal: Principal, hold: LegalHold, reason: str, request=None) -> None:
    """End a hold (kept as the record of what was held and why); the next sweep applies the rules again."""
    principal.require(Action.RETENTION_MANAGE)
    reason = reason.strip()
    if not reason:
        raise ApplicationError(_("State why the hold ends."), code="reason", field="reason")
    hold = LegalHold.objects.select_for_update().get(pk=hold.pk)
    if hold.released_at is not None:
        raise ApplicationError(_("This hold has ended already."), code="bad_state")
    hold.released_at = timezone.now()
    hold.released_by = principal.user
    hold.release_reason = reason[:300]
    hold.save(update_fields=["released_at", "released_by", "release_reason"])
    audit_record(
        action=AuditEvent.Action.LEGAL_HOLD,
        principal=principal,
        request=request,
        object_type=hold.subject_type,
        object_id=hold.subject_id,
        detail={"change": "release", "hold": hold.pk, "reason": hold.release_reason},
    )
