"""The retention sweep (REQ-RET-001), legal holds (REQ-RET-002) and the retention page.

Time moves forward by passing ``now`` to the sweep: the rows are made today and the sweep looks at them from the
day their rule expires, one day before and one day after.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.utils import timezone

from xinqiao.analytics.models import Consultation
from xinqiao.channels.models import Notification
from xinqiao.core import retention
from xinqiao.core.audit import audit_verify_chain
from xinqiao.core.catalogue import catalogue_load
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditChainHead, AuditEvent, Consent, LegalHold, LoginThrottle, Patient, Visit
from xinqiao.core.services import consent_record
from xinqiao.listening.models import CaseEvent, CrisisCase, Mention, MentionCluster

DAY = dt.timedelta(days=1)


def later(days: int) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


def erased(patient: Patient) -> bool:
    patient.refresh_from_db()
    return patient.erased_at is not None


def sweep(world, days: int, **kwargs):
    return retention.sweep(now=later(days), hospitals=[world.hospital], **kwargs)


def hold(world, subject_type: str, subject_id: int) -> LegalHold:
    return retention.legal_hold_place(
        principal=world.principal("admin"),
        subject_type=subject_type,
        subject_id=subject_id,
        reason="患者投诉诉讼，保全证据",
        approved_by="法务部",
        reference="(2026)京0105民初1234号",
    )


def consent(world, patient, purpose, action, valid_until=None):
    return consent_record(
        principal=world.principal("service"),
        patient=patient,
        purpose=purpose,
        action=action,
        channel=Consent.Channel.PAPER,
        notice_version="v1",
        valid_until=valid_until,
    )


# -- rules ------------------------------------------------------------------------------------------------------


def test_every_catalogue_rule_is_swept_or_explained():
    rules = set(catalogue_load().retention_rules)
    assert rules == set(retention.SWEPT_RULES) | set(retention.NOT_SWEPT)
    assert not set(retention.SWEPT_RULES) & set(retention.NOT_SWEPT)


# -- patient_record ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_lead_without_conversion_is_anonymised_180_days_after_the_last_contact(world):
    lead = world.patients[0]

    assert sweep(world, 179).by_hospital[world.hospital.code]["patients_anonymised"] == 0
    assert not erased(lead)

    report = sweep(world, 181)

    assert erased(lead)
    assert lead.name_sealed == lead.mobile_sealed == lead.id_number_sealed == ""
    assert lead.name_bidx == ""
    assert lead.id_number_bidx is None
    assert report.by_hospital[world.hospital.code]["patients_anonymised"] == 3
    assert not erased(world.other_patient)  # another hospital's patients were not in this sweep
    assert sweep(world, 181).by_hospital[world.hospital.code]["patients_anonymised"] == 0  # idempotent


@pytest.mark.django_db
def test_a_later_contact_restarts_the_period(world):
    lead = world.patients[0]
    Consultation.objects.create(
        hospital=world.hospital, patient=lead, occurred_at=later(100), channel="phone", source_ref="c-1"
    )

    sweep(world, 181)

    assert not erased(lead)
    assert erased(world.patients[1])
    sweep(world, 281)
    assert erased(lead)


@pytest.mark.django_db
def test_a_converted_patient_goes_30_days_after_the_last_visit(world):
    patient = world.patients[1]
    Visit.objects.create(
        hospital=world.hospital,
        patient=patient,
        department=world.departments["pediatrics"],
        kind=Visit.Kind.VISIT,
        occurred_on=timezone.localdate(),
        channel="walk_in",
        revenue_fen=12_000,
    )

    sweep(world, 29)
    assert not erased(patient)

    sweep(world, 31)

    assert erased(patient)
    assert Visit.objects.filter(patient=patient).count() == 1  # the visit stays, anonymous
    assert not erased(world.patients[0])  # unconverted leads wait 180 days


@pytest.mark.django_db
def test_an_active_record_keeping_consent_keeps_the_record(world):
    kept, withdrawn = world.patients[0], world.patients[1]
    consent(world, kept, Consent.Purpose.HEALTH_MANAGEMENT, Consent.Action.GRANT)
    consent(world, withdrawn, Consent.Purpose.MARKETING_CONTACT, Consent.Action.GRANT)
    consent(world, withdrawn, Consent.Purpose.MARKETING_CONTACT, Consent.Action.WITHDRAW)

    sweep(world, 400)

    assert not erased(kept)
    assert erased(withdrawn)


@pytest.mark.django_db
def test_the_latest_event_of_each_purpose_decides_ties_by_record_order(world):
    """Events recorded at the same instant are ordered as recorded (by id): a withdrawal saved after a grant of
    the same second ends it; a grant saved after a withdrawal starts it again; another purpose does not matter."""
    ended, restarted = world.patients[0], world.patients[1]
    moment = timezone.now()
    for patient, actions in ((ended, ("grant", "withdraw")), (restarted, ("withdraw", "grant"))):
        for action in actions:
            Consent(
                hospital=world.hospital,
                patient=patient,
                purpose=Consent.Purpose.HEALTH_MANAGEMENT,
                action=action,
                channel=Consent.Channel.PAPER,
                notice_version="v1",
                recorded_at=moment,
            ).save()
    consent(world, ended, Consent.Purpose.MARKETING_CONTACT, Consent.Action.GRANT)
    consent(world, ended, Consent.Purpose.MARKETING_CONTACT, Consent.Action.WITHDRAW)

    kept = retention._active_keeping_consent(world.hospital, timezone.localdate())
    assert restarted.pk in kept
    assert ended.pk not in kept
    assert retention._active_keeping_consent(world.hospital, timezone.localdate(), [ended.pk]) == set()

    sweep(world, 400)
    assert erased(ended)
    assert not erased(restarted)


@pytest.mark.django_db
def test_an_expired_consent_keeps_nothing(world):
    patient = world.patients[0]
    consent(world, patient, Consent.Purpose.MARKETING_CONTACT, Consent.Action.GRANT, valid_until=later(200).date())

    sweep(world, 199)
    assert not erased(patient)
    sweep(world, 201)
    assert erased(patient)


@pytest.mark.django_db
def test_patients_are_anonymised_a_batch_at_a_time_with_their_grants_withdrawn(world, monkeypatch):
    monkeypatch.setattr(retention, "CHUNK", 2)  # three patients: two batches
    patients = list(Patient.objects.filter(hospital=world.hospital, erased_at__isnull=True).order_by("pk"))
    assert len(patients) == 3
    Patient.objects.filter(pk=patients[0].pk).update(birth_date=dt.date(1980, 7, 15))
    consent(world, patients[2], Consent.Purpose.MARKETING_CONTACT, Consent.Action.GRANT, valid_until=later(10).date())
    consent(world, patients[2], Consent.Purpose.STORY_PUBLICATION, Consent.Action.GRANT, valid_until=later(10).date())
    now = later(400)

    report = retention.sweep(now=now, hospitals=[world.hospital])

    assert report.by_hospital[world.hospital.code]["patients_anonymised"] == 3
    assert all(erased(patient) for patient in patients)
    assert patients[0].birth_date == dt.date(1980, 1, 1)  # cut to the year
    withdrawals = Consent.objects.filter(patient=patients[2], action=Consent.Action.WITHDRAW)
    assert sorted(withdrawals.values_list("purpose", flat=True)) == ["marketing_contact", "story_publication"]
    assert {(c.notice_version, c.recorded_at, c.recorded_by_id) for c in withdrawals} == {("retention", now, None)}
    assert not Consent.objects.filter(patient__in=patients[:2], action=Consent.Action.WITHDRAW).exists()


@pytest.mark.django_db
def test_a_contact_recorded_after_the_first_look_keeps_the_patient(world, monkeypatch):
    """The sweep lists the expired patients, then locks each batch and asks again: a consultation recorded in
    between (by another process) keeps its patient."""
    lead, other = world.patients[0], world.patients[1]
    listing = retention.expired_patients

    def list_then_contact(hospital, now, *, among=None):
        found = listing(hospital, now, among=among)
        if among is None:  # the first look; the consultation arrives before the batch is locked
            Consultation.objects.create(
                hospital=world.hospital, patient=lead, occurred_at=now, channel="phone", source_ref="c-late"
            )
        return found

    monkeypatch.setattr(retention, "expired_patients", list_then_contact)
    report = sweep(world, 400)

    assert not erased(lead)
    assert erased(other)
    assert report.by_hospital[world.hospital.code]["patients_anonymised"] == 2


@pytest.mark.django_db
def test_a_hold_placed_after_the_first_look_keeps_the_patient(world, monkeypatch):
    lead = world.patients[0]
    listing = retention.expired_patients

    def list_then_hold(hospital, now, *, among=None):
        found = listing(hospital, now, among=among)
        if among is None and not LegalHold.objects.exists():  # placed before the batch is locked
            hold(world, LegalHold.Subject.PATIENT, lead.pk)
        return found

    monkeypatch.setattr(retention, "expired_patients", list_then_hold)
    report = sweep(world, 400)

    assert not erased(lead)
    assert report.by_hospital[world.hospital.code]["patients_anonymised"] == 2


# -- legal holds ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_legal_hold_suspends_the_sweep_until_it_is_released(world):
    held = world.patients[0]
    placed = hold(world, LegalHold.Subject.PATIENT, held.pk)

    report = sweep(world, 181)

    assert not erased(held)
    assert report.by_hospital[world.hospital.code]["patients_held"] == 1
    assert erased(world.patients[1])

    retention.legal_hold_release(principal=world.principal("admin"), hold=placed, reason="诉讼已结案")
    sweep(world, 182)

    assert erased(held)
    changes = [event.detail["change"] for event in AuditEvent.objects.filter(action="legal_hold").order_by("pk")]
    assert changes == ["place", "release"]


@pytest.mark.django_db
def test_holds_are_validated(world):
    admin = world.principal("admin")
    with pytest.raises(ApplicationError) as missing:
        retention.legal_hold_place(
            principal=admin, subject_type="patient", subject_id=world.other_patient.pk, reason="x", approved_by="y"
        )
    assert missing.value.field == "subject_id"  # another hospital's patient is not there
    with pytest.raises(ApplicationError) as unnamed:
        retention.legal_hold_place(
            principal=admin, subject_type="patient", subject_id=world.patients[0].pk, reason="x", approved_by=" "
        )
    assert unnamed.value.field == "approved_by"
    hold(world, LegalHold.Subject.PATIENT, world.patients[0].pk)
    with pytest.raises(ApplicationError) as twice:
        hold(world, LegalHold.Subject.PATIENT, world.patients[0].pk)
    assert twice.value.code == "duplicate"
    with pytest.raises(PermissionDenied):
        retention.legal_hold_place(
            principal=world.principal("brand"), subject_type="patient", subject_id=1, reason="x", approved_by="y"
        )
    assert LegalHold.objects.count() == 1


# -- consent_evidence -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_consent_events_go_3_years_after_the_withdrawal(world):
    patient = world.patients[0]
    consent(world, patient, Consent.Purpose.MARKETING_CONTACT, Consent.Action.GRANT)
    consent(world, patient, Consent.Purpose.MARKETING_CONTACT, Consent.Action.WITHDRAW)
    consent(world, world.patients[1], Consent.Purpose.HEALTH_MANAGEMENT, Consent.Action.GRANT)

    sweep(world, 3 * 365)
    assert Consent.objects.filter(patient=patient).count() == 2

    report = sweep(world, 3 * 365 + 2)

    assert Consent.objects.filter(patient=patient).count() == 0
    assert report.by_hospital[world.hospital.code]["consents_deleted"] == 2
    assert Consent.objects.filter(patient=world.patients[1]).count() == 1  # still active


@pytest.mark.django_db
def test_a_story_consent_stays_while_its_story_names_it(world):
    from xinqiao.content.models import ContentItem
    from xinqiao.content.tests.helpers import make_item, writer

    patient = world.patients[0]
    granted = consent(world, patient, Consent.Purpose.STORY_PUBLICATION, Consent.Action.GRANT)
    consent(world, patient, Consent.Purpose.STORY_PUBLICATION, Consent.Action.WITHDRAW)
    item = make_item(world, writer(world))
    ContentItem.objects.filter(pk=item.pk).update(story_patient=patient, story_consent=granted)

    report = sweep(world, 3 * 365 + 2)

    assert Consent.objects.filter(patient=patient).count() == 2
    assert report.by_hospital[world.hospital.code]["consent_groups_story_evidence"] == 1


# -- content_evidence -------------------------------------------------------------------------------------------


@pytest.fixture
def published(world, settings, tmp_path):
    """A content item with a cover image published by hand on a Weibo and a Xiaohongshu account, linked to metric
    facts, touched by a patient through its tracking link and named by a cost entry. Returns the item, its two
    publications, the cover and ``take_down(publication)``, which takes a post down today."""
    from xinqiao.analytics.models import ContentMetricDaily, CostEntry, Touch
    from xinqiao.channels import services as channel_services
    from xinqiao.channels.models import PlatformAccount
    from xinqiao.content import services as content_services
    from xinqiao.content import workflow
    from xinqiao.content.models import ContentItem
    from xinqiao.content.tests.helpers import approve_through, make_item, png_bytes, principal_of, writer

    settings.MEDIA_ROOT = tmp_path / "media"
    author = writer(world)
    accounts = [
        PlatformAccount.objects.create(
            hospital=world.hospital, platform=platform, name=name, account_type="hospital_official"
        )
        for platform, name in (("weibo", "一院微博"), ("xiaohongshu", "一院小红书"))
    ]
    cover = content_services.image_upload(principal=principal_of(author, world), data=png_bytes("cover"))
    item = make_item(world, author, cover_id=cover.pk, account_ids=[account.pk for account in accounts])
    approve_through(world, item, until=ContentItem.State.APPROVED)
    publications = sorted(workflow.item_publish(principal=world.principal("brand"), item=item), key=lambda p: p.pk)
    for number, publication in enumerate(publications):
        channel_services.publication_mark_published(
            principal=world.principal("brand"), publication=publication, post_url=f"https://example.com/{number}"
        )
    first = publications[0]
    ContentMetricDaily.objects.create(
        hospital=world.hospital, account=first.account, publication=first, platform="weibo", content_key="w1",
        topic="高血压", stat_date=timezone.localdate(), views=120, source="import",
    )  # fmt: skip
    Touch.objects.create(
        hospital=world.hospital, patient=world.patients[0], publication=first, kind="link_click",
        occurred_at=timezone.now(), source_ref="click-1",
    )  # fmt: skip
    cost = CostEntry.objects.create(
        hospital=world.hospital, kind="kol", partner="达人合作", amount_fen=500_000,
        date_from=timezone.localdate(), date_to=timezone.localdate(),
    )  # fmt: skip
    cost.publications.add(first)

    def take_down(publication):
        publication.refresh_from_db()
        channel_services.publication_take_down(
            principal=world.principal("brand"), publication=publication, reason="到期下线"
        )

    item.refresh_from_db()
    return item, publications, cover, take_down


def rewind(item, days: int) -> None:
    """Move the item's history (its state changes, revisions and takedowns so far) ``days`` into the past."""
    from django.db.models import F

    from xinqiao.channels.models import Publication
    from xinqiao.content.models import ContentItem, Revision

    shift = dt.timedelta(days=days)
    ContentItem.objects.filter(pk=item.pk).update(state_changed_at=F("state_changed_at") - shift)
    Revision.objects.filter(item=item).update(created_at=F("created_at") - shift)
    Publication.objects.filter(item=item).update(taken_down_at=F("taken_down_at") - shift)


def gone(model, pk) -> bool:
    return not model.objects.filter(pk=pk).exists()


def deleted_items(report) -> int:
    return report.by_hospital[next(iter(report.by_hospital))]["content_items_deleted"]


@pytest.mark.django_db
def test_published_content_goes_3_years_after_its_takedown_with_its_evidence(
    world, published, django_capture_on_commit_callbacks
):
    from django.core.files.storage import default_storage

    from xinqiao.analytics.models import ContentMetricDaily, CostEntry, Touch
    from xinqiao.channels.models import Publication, TrackingLink
    from xinqiao.content.models import Approval, ContentImage, ContentItem, Revision, Transition

    item, publications, cover, take_down = published
    path = cover.file.name
    assert default_storage.exists(path)
    assert Approval.objects.filter(item=item).exists()

    assert deleted_items(sweep(world, 5 * 365)) == 0  # still published: kept however old
    for publication in publications:
        take_down(publication)
    assert deleted_items(sweep(world, 3 * 365)) == 0
    assert not gone(ContentItem, item.pk)

    with django_capture_on_commit_callbacks(execute=True):  # the files go once the deletion has committed
        report = sweep(world, 3 * 365 + 2)

    counts = report.by_hospital[world.hospital.code]
    assert (counts["content_items_deleted"], counts["publications_deleted"]) == (1, 2)
    assert gone(ContentItem, item.pk)
    assert not Publication.objects.filter(pk__in=[publication.pk for publication in publications]).exists()
    for model in (Revision, Transition, Approval):
        assert not model.objects.filter(item_id=item.pk).exists()
    assert not TrackingLink.objects.filter(publication__in=publications).exists()
    assert not Touch.objects.exists()
    assert gone(ContentImage, cover.pk)
    assert not default_storage.exists(path)
    fact = ContentMetricDaily.objects.get(content_key="w1")
    assert (fact.publication_id, fact.views, fact.topic) == (None, 120, "高血压")  # the numbers stay, unlinked
    assert CostEntry.objects.get().publications.count() == 0
    assert deleted_items(sweep(world, 3 * 365 + 2)) == 0  # idempotent
    summary = AuditEvent.objects.filter(action="retention", hospital=world.hospital).latest("pk")
    assert summary.detail["counts"]["publications_deleted"] == 0


@pytest.mark.django_db
def test_a_live_post_the_last_takedown_a_hold_and_drafts_keep_content(world, published):
    from xinqiao.content.models import ContentItem
    from xinqiao.content.tests.helpers import make_item

    item, (first, second), _cover, take_down = published
    draft = make_item(world, item.author, title="从未发布的草稿")
    take_down(first)
    assert deleted_items(sweep(world, 3 * 365 + 2)) == 0  # the second post is still up

    rewind(item, 400)  # the first post came down 400 days ago, the second comes down today
    take_down(second)
    assert deleted_items(sweep(world, 3 * 365 + 2 - 400)) == 0  # 3 years after the first, not after the last

    held = hold(world, "content_item", item.pk)
    report = sweep(world, 3 * 365 + 2)
    assert report.by_hospital[world.hospital.code]["content_items_held"] == 1
    assert deleted_items(report) == 0

    retention.legal_hold_release(principal=world.principal("admin"), hold=held, reason="结案")
    assert deleted_items(sweep(world, 3 * 365 + 2)) == 1
    assert gone(ContentItem, item.pk)
    assert not gone(ContentItem, draft.pk)
    assert deleted_items(sweep(world, 30 * 365)) == 0  # a draft stays while it exists


@pytest.mark.django_db
def test_a_story_consent_follows_its_own_rule_once_the_story_has_gone(world, published):
    from xinqiao.content.models import ContentItem

    item, publications, _cover, take_down = published
    patient = world.patients[0]
    granted = consent(world, patient, Consent.Purpose.STORY_PUBLICATION, Consent.Action.GRANT)
    consent(world, patient, Consent.Purpose.STORY_PUBLICATION, Consent.Action.WITHDRAW)
    ContentItem.objects.filter(pk=item.pk).update(is_patient_story=True, story_patient=patient, story_consent=granted)
    for publication in publications:
        take_down(publication)

    counts = sweep(world, 3 * 365 + 2).by_hospital[world.hospital.code]

    assert (counts["content_items_deleted"], counts["consents_deleted"]) == (1, 2)
    assert not Consent.objects.filter(patient=patient).exists()


@pytest.mark.django_db
def test_an_image_another_item_shows_is_only_detached(world, published, django_capture_on_commit_callbacks):
    from django.core.files.storage import default_storage

    from xinqiao.content.models import ContentImage, ContentItem
    from xinqiao.content.tests.helpers import make_item

    item, publications, cover, take_down = published
    other = make_item(world, item.author, title="另一篇", cover_id=cover.pk)
    for publication in publications:
        take_down(publication)

    with django_capture_on_commit_callbacks(execute=True):
        sweep(world, 3 * 365 + 2)

    assert gone(ContentItem, item.pk)
    cover.refresh_from_db()
    assert cover.item_id is None
    assert default_storage.exists(cover.file.name)
    assert ContentItem.objects.get(pk=other.pk).cover_id == cover.pk
    assert ContentImage.objects.filter(pk=cover.pk).exists()


@pytest.mark.django_db
def test_a_dry_run_counts_content_without_deleting_it(world, published):
    from xinqiao.content.models import ContentItem

    item, publications, _cover, take_down = published
    for publication in publications:
        take_down(publication)

    report = sweep(world, 3 * 365 + 2, dry_run=True)

    counts = report.by_hospital[world.hospital.code]
    assert (counts["content_items_deleted"], counts["publications_deleted"]) == (1, 2)
    assert not gone(ContentItem, item.pk)


# -- social_1y and crisis_case ----------------------------------------------------------------------------------


def mention(world, external_id: str, cluster=None) -> Mention:
    return Mention.objects.create(
        hospital=world.hospital,
        platform="weibo",
        external_id=external_id,
        text="某医院排队太久",
        posted_at=timezone.now(),
        cluster=cluster,
    )


@pytest.mark.django_db
def test_mentions_go_a_year_after_collection_except_held_ones(world):
    now = timezone.now()
    cluster = MentionCluster.objects.create(hospital=world.hospital, first_seen_at=now, last_seen_at=now)
    empty_cluster = MentionCluster.objects.create(hospital=world.hospital, first_seen_at=now, last_seen_at=now)
    case = CrisisCase.objects.create(hospital=world.hospital, title="排队投诉", owner=world.users["brand"])
    case.clusters.add(cluster)
    plain, held, in_held_case = mention(world, "1"), mention(world, "2"), mention(world, "3", cluster)
    hold(world, LegalHold.Subject.MENTION, held.pk)
    hold(world, LegalHold.Subject.CRISIS_CASE, case.pk)

    sweep(world, 364)
    assert Mention.objects.count() == 3

    report = sweep(world, 366)

    counts = report.by_hospital[world.hospital.code]
    assert set(Mention.objects.values_list("pk", flat=True)) == {held.pk, in_held_case.pk}
    assert not Mention.objects.filter(pk=plain.pk).exists()
    assert (counts["mentions_deleted"], counts["mentions_held"]) == (1, 2)
    assert not MentionCluster.objects.filter(pk=empty_cluster.pk).exists()
    assert MentionCluster.objects.filter(pk=cluster.pk).exists()


@pytest.mark.django_db
def test_closed_cases_go_3_years_after_closing(world):
    closed_at = timezone.now()
    owner = world.users["brand"]
    old = CrisisCase.objects.create(
        hospital=world.hospital, title="旧案", owner=owner, status=CrisisCase.Status.CLOSED, closed_at=closed_at
    )
    CaseEvent.objects.create(case=old, kind="note", text="已回应")
    held = CrisisCase.objects.create(
        hospital=world.hospital, title="诉讼案", owner=owner, status=CrisisCase.Status.CLOSED, closed_at=closed_at
    )
    open_case = CrisisCase.objects.create(hospital=world.hospital, title="进行中", owner=owner)
    hold(world, LegalHold.Subject.CRISIS_CASE, held.pk)

    sweep(world, 3 * 365)
    assert CrisisCase.objects.count() == 3

    sweep(world, 3 * 365 + 2)

    assert set(CrisisCase.objects.values_list("pk", flat=True)) == {held.pk, open_case.pk}
    assert not CaseEvent.objects.filter(case_id=old.pk).exists()


# -- operational, audit and the summary -------------------------------------------------------------------------


@pytest.mark.django_db
def test_operational_rows_and_the_audit_chain(world):
    Notification.objects.create(hospital=world.hospital, audience_role="brand", message="旧通知")
    LoginThrottle.objects.create(username_digest="a" * 64, failures=2)
    Session.objects.create(session_key="k" * 32, session_data="", expire_date=timezone.now() - DAY)
    events_before = AuditEvent.objects.count()
    assert events_before > 0

    report = retention.sweep(now=later(3 * 365 + 2))

    assert Notification.objects.count() == 0
    assert LoginThrottle.objects.count() == 0
    assert not Session.objects.filter(session_key="k" * 32).exists()
    assert report.global_counts["audit_events_pruned"] >= events_before
    head = AuditChainHead.objects.get(pk=1)
    assert head.pruned_count == report.global_counts["audit_events_pruned"]
    chain = audit_verify_chain()
    assert chain.ok
    assert chain.checked == AuditEvent.objects.count() >= 1  # the global summary, written after the pruning


@pytest.mark.django_db
def test_pruning_keeps_the_chain_verifiable_and_tamper_evident(world):
    assert retention.prune_audit_chain(timezone.now() - dt.timedelta(days=3650)) == 0  # nothing that old
    cutoff = timezone.now()
    hold(world, LegalHold.Subject.PATIENT, world.patients[0].pk)  # recorded after the cutoff
    before = AuditEvent.objects.count()

    pruned = retention.prune_audit_chain(cutoff)

    assert pruned == before - 1
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["legal_hold"]
    assert audit_verify_chain().ok
    assert retention.prune_audit_chain(cutoff) == 0  # idempotent
    AuditEvent.objects.filter(action="legal_hold").update(detail={"change": "forged"})
    assert not audit_verify_chain().ok


@pytest.mark.django_db
def test_the_summary_has_counts_only_and_a_dry_run_changes_nothing(world):
    dry = sweep(world, 400, dry_run=True)

    assert dry.by_hospital[world.hospital.code]["patients_anonymised"] == 3
    assert not any(erased(patient) for patient in world.patients)
    assert not AuditEvent.objects.filter(action="retention").exists()

    sweep(world, 400)

    summary = AuditEvent.objects.get(action="retention", hospital=world.hospital)
    assert set(summary.detail) == {"counts"}
    assert summary.detail["counts"]["patients_anonymised"] == 3
    assert all(isinstance(value, int) for value in summary.detail["counts"].values())
    assert summary.actor_label == "retention"


@pytest.mark.django_db
def test_command(world, capsys):
    call_command("apply_retention", "--dry-run", "--hospital", world.hospital.code)
    out = capsys.readouterr().out
    assert world.hospital.code in out
    assert not AuditEvent.objects.filter(action="retention").exists()
    call_command("apply_retention")
    assert AuditEvent.objects.filter(action="retention").count() == 3  # two hospitals and the global tables


# -- the page ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_places_and_releases_a_hold_from_the_page(client, world, password):
    client.force_login(world.users["admin"])
    page = client.get("/retention/")
    assert page.status_code == 200
    assert "patient_record" in page.content.decode()

    bad = client.post(
        "/retention/",
        {"subject_type": "patient", "subject_id": world.other_patient.pk, "reason": "诉讼", "approved_by": "法务部"},
    )
    assert bad.status_code == 400
    assert not LegalHold.objects.exists()

    placed = client.post(
        "/retention/",
        {"subject_type": "patient", "subject_id": world.patients[0].pk, "reason": "诉讼", "approved_by": "法务部"},
    )
    assert placed.status_code == 302
    held = LegalHold.objects.get()
    assert (held.placed_by, held.approved_by) == (world.users["admin"], "法务部")

    release_url = f"/retention/holds/{held.pk}/release/"
    assert client.post(release_url, {"reason": "结案"}).status_code == 302
    held.refresh_from_db()
    assert held.is_active  # the release needs the password again first (sudo)
    client.post("/sudo/", {"password": password, "next": "/retention/"})
    assert client.post(release_url, {"reason": "结案"}).status_code == 302
    held.refresh_from_db()
    assert not held.is_active
    assert held.release_reason == "结案"


@pytest.mark.django_db
def test_every_count_a_sweep_gives_has_a_label(world, published):
    _item, publications, _cover, take_down = published
    for publication in publications:
        take_down(publication)

    report = retention.sweep(now=later(3 * 365 + 2))

    names = set(report.global_counts).union(*report.by_hospital.values())
    assert "content_items_deleted" in names
    assert names <= set(retention.COUNT_LABELS)


@pytest.mark.django_db
def test_the_page_names_what_the_last_sweeps_did_in_the_users_language(client, world, published):
    item, publications, _cover, take_down = published
    for publication in publications:
        take_down(publication)
    sweep(world, 3 * 365 + 2)
    client.force_login(world.users["admin"])

    page = client.get("/retention/").content.decode()

    sweeps = page.split('data-testid="sweeps"')[1].split("</table>")[0]
    assert "已匿名化的患者 3 · 已删除的内容 1 · 已删除的发布记录 2" in re.sub(r"<[^>]+>", "", sweeps)
    assert '<span title="content_items_deleted">' in sweeps  # the name stays at hand for whoever reads the audit log
    placed = client.post(
        "/retention/",
        {"subject_type": "content_item", "subject_id": item.pk + 1000, "reason": "广告争议", "approved_by": "法务部"},
    )
    assert placed.status_code == 400  # no such item
    assert not LegalHold.objects.exists()


@pytest.mark.django_db
def test_an_admin_holds_a_content_item_from_the_page(client, world, published):
    from xinqiao.content.models import ContentItem

    item, publications, _cover, take_down = published
    client.force_login(world.users["admin"])
    placed = client.post(
        "/retention/",
        {"subject_type": "content_item", "subject_id": item.pk, "reason": "广告争议", "approved_by": "法务部"},
    )
    assert placed.status_code == 302
    assert LegalHold.objects.get().subject_type == "content_item"
    for publication in publications:
        take_down(publication)

    counts = sweep(world, 3 * 365 + 2).by_hospital[world.hospital.code]

    assert (counts["content_items_held"], counts["content_items_deleted"]) == (1, 0)
    assert ContentItem.objects.filter(pk=item.pk).exists()


@pytest.mark.django_db
def test_only_admins_see_the_page(client, world):
    client.force_login(world.users["brand"])
    assert client.get("/retention/").status_code == 403
