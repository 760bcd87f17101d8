"""Writes of the content domain: items and revisions, images, compliance checks, rule additions, policies.

The review state machine lives in ``workflow.py``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import html
import json
import re
from dataclasses import dataclass, field
from typing import Any

import nh3
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.channels.models import PlatformAccount
from xinqiao.content import compliance
from xinqiao.content.models import (
    REVIEW_STATES,
    ContentImage,
    ContentItem,
    ReviewPolicy,
    ReviewPolicyStep,
    ReviewStep,
    Revision,
    RuleAddition,
    Transition,
)
from xinqiao.core.access import Action, Principal, access_patient
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import Consent, Department, Doctor, Membership, Patient
from xinqiao.core.selectors import hospital_department, hospital_doctor, patient_consent_state

State = ContentItem.State

# --- rich text ------------------------------------------------------------------------------------------------

ALLOWED_TAGS = {
    "p", "br", "strong", "b", "em", "i", "u", "s", "h2", "h3", "h4", "ul", "ol", "li", "blockquote", "a", "img",
    "span", "section", "figure", "figcaption", "hr", "table", "thead", "tbody", "tr", "th", "td", "sup", "sub",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt"}, "td": {"colspan", "rowspan"}}
BLOCK_TAGS = re.compile(r"</?(p|br|h[2-4]|li|blockquote|section|figure|figcaption|tr|hr|ul|ol|table)\b[^>]*>", re.I)
ANY_TAG = re.compile(r"<[^>]+>")
BLANK_LINES = re.compile(r"\n\s*\n+")


def sanitise_html(raw: str) -> str:
    """Keep formatting, links and images; drop scripts, event handlers, styles and unknown tags."""
    return nh3.clean(
        raw or "",
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


def html_to_text(body_html: str) -> str:
    """Readable plain text of sanitised HTML (paragraphs become lines)."""
    text = BLOCK_TAGS.sub("\n", body_html)
    text = html.unescape(ANY_TAG.sub("", text))
    lines = [line.strip() for line in text.splitlines()]
    return BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def checked_text(title: str, body_html: str) -> str:
    """The exact text the compliance engine sees; finding offsets index into it."""
    return f"{title}\n{html_to_text(body_html)}"


# --- images ---------------------------------------------------------------------------------------------------

DEFAULT_MAX_IMAGE_BYTES = 5 * 1024 * 1024


def max_image_bytes() -> int:
    return int(getattr(settings, "XINQIAO_CONTENT_IMAGE_MAX_BYTES", DEFAULT_MAX_IMAGE_BYTES))


def image_kind(data: bytes) -> str | None:
    """The image type from its magic bytes (the file name and the browser's content type are not trusted)."""
    if data.startswith(b"\xff\xd8\xff"):
        return ContentImage.Kind.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ContentImage.Kind.PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ContentImage.Kind.WEBP
    return None


def image_validate(data: bytes, *, field_name: str = "image") -> str:
    limit = max_image_bytes()
    if len(data) > limit:
        raise ApplicationError(
            _("The image is larger than %(limit)d KB.") % {"limit": limit // 1024},
            code="image_too_large",
            field=field_name,
        )
    kind = image_kind(data)
    if kind is None:
        raise ApplicationError(_("Only JPEG, PNG and WebP images are accepted."), code="image_type", field=field_name)
    return kind


@transaction.atomic
def image_upload(
    *, principal: Principal, data: bytes, original_name: str = "", item: ContentItem | None = None,
    field_name: str = "image",
) -> ContentImage:  # fmt: skip
    principal.require(Action.CONTENT_WRITE)
    kind = image_validate(data, field_name=field_name)
    image = ContentImage(
        hospital=principal.hospital,
        item=item,
        kind=kind,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        original_name=(original_name or "")[:120],
        uploaded_by=principal.user,
    )
    extension = "jpg" if kind == ContentImage.Kind.JPEG else kind
    image.file.save(f"{image.sha256[:16]}.{extension}", ContentFile(data), save=False)
    image.save()
    return image


# --- compliance -----------------------------------------------------------------------------------------------


def rule_overlay(hospital_id: int) -> compliance.RuleOverlay | None:
    additions = list(RuleAddition.objects.filter(hospital_id=hospital_id, is_active=True).order_by("rule_id", "pk"))
    if not additions:
        return None
    return compliance.RuleOverlay(tuple(addition.as_overlay_item() for addition in additions))


def _story_consent_context(consent: Consent | None) -> list[dict[str, Any]]:
    if consent is None:
        return []
    entry: dict[str, Any] = {
        "status": "granted" if consent.action == Consent.Action.GRANT else "withdrawn",
        "purposes": ["publicity"],
    }
    if consent.valid_until:
        entry["valid_until"] = consent.valid_until.isoformat()
    for key in ("face", "minor", "guardian_signed", "allows_details"):
        if key in (consent.scope or {}):
            entry[key] = consent.scope[key]
    return [entry]


def account_type_for(accounts: list[PlatformAccount]) -> str | None:
    """The strictest account type among the targets (ads may only run on official accounts)."""
    types = {account.account_type for account in accounts}
    for candidate in ("doctor_personal", "department", "hospital_official"):
        if candidate in types:
            return candidate
    return None


def compliance_check(
    *,
    hospital_id: int,
    title: str,
    body_html: str,
    content_type: str,
    is_ad: bool,
    accounts: list[PlatformAccount],
    is_patient_story: bool,
    story_consent: Consent | None,
    ad_certificate_number: str,
    ad_certificate_valid_until: dt.date | None,
    scheduled_at: dt.datetime | None,
) -> dict[str, Any]:
    """Run the engine with the hospital's rule additions; returns the report as a dict plus the checked text."""
    context: dict[str, Any] = {"title": title, "patient_story": is_patient_story}
    account_type = account_type_for(accounts)
    if account_type:
        context["account_type"] = account_type
    if is_patient_story:
        context["consents"] = _story_consent_context(story_consent)
    if ad_certificate_number:
        cert: dict[str, Any] = {"number": ad_certificate_number}
        if ad_certificate_valid_until:
            cert["expiry_date"] = ad_certificate_valid_until.isoformat()
        context["ad_cert"] = cert
    if scheduled_at:
        context["publish_date"] = timezone.localdate(scheduled_at).isoformat()
    text = checked_text(title, body_html)
    report = compliance.check(
        text,
        content_type=content_type,
        is_ad=True if is_ad else None,
        context=context,
        extra_rules=rule_overlay(hospital_id),
    )
    return {**report.to_dict(), "checked_text": text}


def item_compliance(item: ContentItem) -> dict[str, Any]:
    return compliance_check(
        hospital_id=item.hospital_id,
        title=item.title,
        body_html=item.body_html,
        content_type=item.content_type,
        is_ad=item.is_ad,
        accounts=list(item.target_accounts.all()),
        is_patient_story=item.is_patient_story,
        story_consent=item.story_consent,
        ad_certificate_number=item.ad_certificate_number,
        ad_certificate_valid_until=item.ad_certificate_valid_until,
        scheduled_at=item.scheduled_at,
    )


# --- items ----------------------------------------------------------------------------------------------------

DEIDENTIFICATION_CHECKS = {
    "names": _("Names replaced or removed (patient, family, bystanders)"),
    "faces": _("Faces blurred, or the consent covers showing the face"),
    "identifiers": _("No ID, medical record, bed or phone numbers"),
    "dates_places": _("No exact dates, addresses or workplaces"),
    "documents": _("No readable reports, prescriptions or wristbands in images"),
}


@dataclass
class ItemInput:
    title: str
    content_type: str
    pillar: str
    body_html: str = ""
    disease_topics: list[str] = field(default_factory=list)
    department_id: int | None = None
    account_ids: list[int] = field(default_factory=list)
    doctor_id: int | None = None
    references: list[str] = field(default_factory=list)
    cover_id: int | None = None
    is_patient_story: bool = False
    story_patient_id: int | None = None
    deidentification: list[str] = field(default_factory=list)
    is_ad: bool = False
    ad_certificate_number: str = ""
    ad_certificate_valid_until: dt.date | None = None
    scheduled_at: dt.datetime | None = None


@dataclass
class _Resolved:
    department: Department | None
    accounts: list[PlatformAccount]
    doctor: Doctor | None
    cover: ContentImage | None
    patient: Patient | None
    consent: Consent | None


def story_consent_valid(consent: Consent | None, *, on: dt.date) -> bool:
    return (
        consent is not None
        and consent.purpose == Consent.Purpose.STORY_PUBLICATION
        and consent.action == Consent.Action.GRANT
        and (consent.valid_until is None or consent.valid_until >= on)
    )


def _resolve(principal: Principal, data: ItemInput) -> _Resolved:
    hospital = principal.hospital
    if data.content_type not in ContentItem.ContentType.values:
        raise ApplicationError(_("Unknown content type."), code="content_type", field="content_type")
    if data.pillar not in ContentItem.Pillar.values:
        raise ApplicationError(_("Unknown content pillar."), code="pillar", field="pillar")
    title = data.title.strip()
    if not title:
        raise ApplicationError(_("The title is required."), code="title", field="title")
    department = hospital_department(hospital, data.department_id, code="department")
    doctor = hospital_doctor(hospital, data.doctor_id, code="doctor")
    account_ids = sorted(set(data.account_ids))
    accounts = list(PlatformAccount.objects.filter(hospital=hospital, pk__in=account_ids, is_active=True))
    if len(accounts) != len(account_ids):
        raise ApplicationError(_("Unknown or inactive target account."), code="account", field="accounts")
    cover = None
    if data.cover_id is not None:
        cover = ContentImage.objects.filter(hospital=hospital, pk=data.cover_id).first()
        if cover is None:
            raise ApplicationError(_("Unknown cover image."), code="cover", field="cover")
    patient, consent = None, None
    today = timezone.localdate()
    if data.is_patient_story:
        if data.story_patient_id is None:
            raise ApplicationError(
                _("A patient story needs the patient whose consent it relies on."), code="story_patient",
                field="story_patient",
            )  # fmt: skip
        try:
            patient = access_patient(principal, data.story_patient_id, Action.PATIENT_VIEW)
        except Http404:
            raise ApplicationError(_("No such patient."), code="story_patient", field="story_patient") from None
        consent = patient_consent_state(patient)[Consent.Purpose.STORY_PUBLICATION]
        if not story_consent_valid(consent, on=today):
            raise ApplicationError(
                _("This patient has no valid consent to publish their story (granted, not withdrawn, not expired)."),
                code="story_consent",
                field="story_patient",
            )
        missing = [key for key in DEIDENTIFICATION_CHECKS if key not in data.deidentification]
        if missing:
            raise ApplicationError(
                _("Complete the de-identification checklist: %(items)s")
                % {"items": "; ".join(str(DEIDENTIFICATION_CHECKS[key]) for key in missing)},
                code="deidentification",
                field="deidentification",
            )
    unknown_checks = set(data.deidentification) - set(DEIDENTIFICATION_CHECKS)
    if unknown_checks:
        raise ApplicationError(_("Unknown checklist entry."), code="deidentification", field="deidentification")
    if data.is_ad or data.content_type == ContentItem.ContentType.AD_CREATIVE:
        if not data.ad_certificate_number.strip() or data.ad_certificate_valid_until is None:
            raise ApplicationError(
                _("An advertisement needs its medical advertising review certificate number and validity date."),
                code="ad_certificate",
                field="ad_certificate_number",
            )
        last_day = data.ad_certificate_valid_until
        publish_day = timezone.localdate(data.scheduled_at) if data.scheduled_at else today
        if last_day < max(today, publish_day):
            raise ApplicationError(
                _("The medical advertising review certificate is no longer valid (valid until %(date)s).")
                % {"date": last_day.isoformat()},
                code="ad_certificate_expired",
                field="ad_certificate_valid_until",
            )
    return _Resolved(department, accounts, doctor, cover, patient, consent)


def _snapshot(item: ContentItem, accounts: list[PlatformAccount]) -> dict[str, Any]:
    return {
        "title": item.title,
        "content_type": item.content_type,
        "pillar": item.pillar,
        "disease_topics": list(item.disease_topics),
        "department": item.department.name if item.department else "",
        "accounts": [str(account) for account in sorted(accounts, key=lambda a: a.pk)],
        "account_ids": sorted(account.pk for account in accounts),
        "doctor": item.doctor.name if item.doctor else "",
        "references": list(item.references),
        "cover_id": item.cover_id,
        "is_patient_story": item.is_patient_story,
        "story_patient_id": item.story_patient_id,
        "story_consent_id": item.story_consent_id,
        "deidentification": list(item.deidentification),
        "is_ad": item.is_ad,
        "ad_certificate_number": item.ad_certificate_number,
        "ad_certificate_valid_until": (
            item.ad_certificate_valid_until.isoformat() if item.ad_certificate_valid_until else ""
        ),
        "scheduled_at": item.scheduled_at.isoformat() if item.scheduled_at else "",
    }


def revision_digest(title: str, body_html: str, snapshot: dict[str, Any]) -> str:
    payload = json.dumps(
        {"title": title, "body_html": body_html, "snapshot": snapshot}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _record_revision(item: ContentItem, accounts: list[PlatformAccount], author) -> Revision:
    number = (item.revisions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    snapshot = _snapshot(item, accounts)
    revision = Revision.objects.create(
        item=item,
        number=number,
        title=item.title,
        body_html=item.body_html,
        snapshot=snapshot,
        sha256=revision_digest(item.title, item.body_html, snapshot),
        compliance_report=item_compliance(item),
        author=author,
    )
    item.current_revision = revision
    item.save(update_fields=["current_revision"])
    return revision


def _apply(item: ContentItem, data: ItemInput, resolved: _Resolved) -> None:
    item.title = data.title.strip()
    item.content_type = data.content_type
    item.pillar = data.pillar
    item.body_html = sanitise_html(data.body_html)
    item.disease_topics = [topic.strip() for topic in data.disease_topics if topic.strip()]
    item.department = resolved.department
    item.doctor = resolved.doctor
    item.references = [ref.strip() for ref in data.references if ref.strip()]
    item.cover = resolved.cover
    item.is_patient_story = data.is_patient_story
    item.story_patient = resolved.patient
    item.story_consent = resolved.consent
    item.deidentification = sorted(data.deidentification) if data.is_patient_story else []
    item.is_ad = data.is_ad or data.content_type == ContentItem.ContentType.AD_CREATIVE
    item.ad_certificate_number = data.ad_certificate_number.strip() if item.is_ad else ""
    item.ad_certificate_valid_until = data.ad_certificate_valid_until if item.is_ad else None
    item.scheduled_at = data.scheduled_at


@transaction.atomic
def item_create(*, principal: Principal, data: ItemInput) -> ContentItem:
    principal.require(Action.CONTENT_WRITE)
    resolved = _resolve(principal, data)
    now = timezone.now()
    item = ContentItem(hospital=principal.hospital, author=principal.user, created_at=now, updated_at=now)
    _apply(item, data, resolved)
    item.save()
    item.target_accounts.set(resolved.accounts)
    if resolved.cover is not None and resolved.cover.item_id is None:
        ContentImage.objects.filter(pk=resolved.cover.pk).update(item=item)
    revision = _record_revision(item, resolved.accounts, principal.user)
    Transition.objects.create(
        item=item, revision=revision, from_state=State.DRAFT, to_state=State.DRAFT, action="created",
        actor=principal.user,
    )  # fmt: skip
    return item


@transaction.atomic
def item_update(*, principal: Principal, item: ContentItem, data: ItemInput) -> ContentItem:
    """Save a new revision. Editing an item under review or approved sends it back to the first review step."""
    principal.require(Action.CONTENT_WRITE)
    item = ContentItem.objects.select_for_update().get(pk=item.pk)
    if not item.is_editable:
        raise ApplicationError(
            _("A %(state)s item cannot be edited.") % {"state": item.get_state_display()}, code="not_editable"
        )
    resolved = _resolve(principal, data)
    _apply(item, data, resolved)
    item.updated_at = timezone.now()
    item.save()
    item.target_accounts.set(resolved.accounts)
    if resolved.cover is not None and resolved.cover.item_id is None:
        ContentImage.objects.filter(pk=resolved.cover.pk).update(item=item)
    revision = _record_revision(item, resolved.accounts, principal.user)
    if item.state in (*REVIEW_STATES, State.APPROVED, State.SCHEDULED, State.EXPIRED_APPROVAL):
        from xinqiao.content.workflow import restart_review

        restart_review(item=item, actor=principal.user, revision=revision)
    return item


def revision_diff_html(older: Revision | None, newer: Revision) -> str:
    """A side-by-side table of what changed (title, fields and text), from difflib."""

    def lines(revision: Revision | None) -> list[str]:
        if revision is None:
            return []
        snapshot = revision.snapshot
        head = [f"{key}: {json.dumps(snapshot.get(key), ensure_ascii=False)}" for key in sorted(snapshot)]
        return [f"# {revision.title}", *head, "", *html_to_text(revision.body_html).splitlines()]

    return difflib.HtmlDiff(wrapcolumn=70).make_table(
        lines(older),
        lines(newer),
        fromdesc=_("Revision %(number)d") % {"number": older.number} if older else _("(none)"),
        todesc=_("Revision %(number)d") % {"number": newer.number},
        context=True,
        numlines=2,
    )


# --- rule additions and review policies ------------------------------------------------------------------------


def _clean_list(values: list[str]) -> list[str]:
    return list(dict.fromkeys(value.strip() for value in values if value.strip()))


@transaction.atomic
def rule_addition_save(
    *, principal: Principal, rule_id: str, phrases: list[str], exceptions: list[str], note: str = "",
    is_active: bool = True,
) -> RuleAddition:  # fmt: skip
    """Create or replace a hospital's additions for one rule; the result must compile in the engine."""
    principal.require(Action.CONTENT_POLICY_MANAGE)
    rule_id = rule_id.strip().upper()
    if rule_id not in compliance.base_ruleset().by_id:
        raise ApplicationError(_("Unknown rule ID %(rule)s.") % {"rule": rule_id}, code="rule_id", field="rule_id")
    phrases, exceptions = _clean_list(phrases), _clean_list(exceptions)
    if not phrases and not exceptions:
        raise ApplicationError(_("Add at least one phrase or exception."), code="empty", field="phrases")
    try:
        compliance.compiled_rules([{"rule_id": rule_id, "phrases": phrases, "exceptions": exceptions}])
    except (ValueError, KeyError) as exc:
        raise ApplicationError(
            _("The engine cannot use these entries: %(error)s") % {"error": exc},
            code="rule_invalid",
            field="exceptions",
        ) from None
    addition, _created = RuleAddition.objects.update_or_create(
        hospital=principal.hospital,
        rule_id=rule_id,
        defaults={
            "phrases": phrases,
            "exceptions": exceptions,
            "note": note.strip()[:200],
            "is_active": is_active,
            "updated_by": principal.user,
            "updated_at": timezone.now(),
        },
    )
    return addition


@transaction.atomic
def rule_addition_delete(*, principal: Principal, addition: RuleAddition) -> None:
    principal.require(Action.CONTENT_POLICY_MANAGE)
    addition.delete()


@dataclass
class StepInput:
    step: str
    enabled: bool
    mode: str = ReviewPolicyStep.Mode.ANY
    approver_ids: list[int] = field(default_factory=list)


STEP_ROLES = {
    ReviewStep.DEPARTMENT: Membership.Role.DEPT_REVIEWER,
    ReviewStep.MEDICAL: Membership.Role.MEDICAL_AFFAIRS,
    ReviewStep.FINAL: Membership.Role.BRAND,
}


@transaction.atomic
def review_policy_save(*, principal: Principal, content_type: str, steps: list[StepInput]) -> ReviewPolicy:
    principal.require(Action.CONTENT_POLICY_MANAGE)
    if content_type not in ContentItem.ContentType.values:
        raise ApplicationError(_("Unknown content type."), code="content_type", field="content_type")
    for spec in steps:
        if spec.step not in ReviewStep.values:
            raise ApplicationError(_("Unknown review step."), code="step")
        if spec.mode not in ReviewPolicyStep.Mode.values:
            raise ApplicationError(_("Unknown approval mode."), code="mode")
        if spec.enabled and spec.approver_ids:
            members = set(
                Membership.objects.filter(
                    hospital=principal.hospital, role=STEP_ROLES[spec.step], user_id__in=spec.approver_ids
                ).values_list("user_id", flat=True)
            )
            if members != set(spec.approver_ids):
                raise ApplicationError(
                    _("Every named approver of %(step)s must hold the %(role)s role in this hospital.")
                    % {"step": ReviewStep(spec.step).label, "role": Membership.Role(STEP_ROLES[spec.step]).label},
                    code="approver",
                )
        if spec.enabled and spec.mode == ReviewPolicyStep.Mode.ALL and not spec.approver_ids:
            raise ApplicationError(
                _("“All named approvers” needs at least one named approver."), code="approver_required"
            )
    policy, _created = ReviewPolicy.objects.update_or_create(
        hospital=principal.hospital, content_type=content_type, defaults={"updated_at": timezone.now()}
    )
    policy.steps.all().delete()
    for spec in steps:
        if spec.enabled:
            row = ReviewPolicyStep.objects.create(policy=policy, step=spec.step, mode=spec.mode)
            row.approvers.set(spec.approver_ids)
    return policy
