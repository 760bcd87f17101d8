"""Crisis cases (危机事件): opening from an alert, owner and severity, status, reply wording (回应口径) checked by
the compliance engine and signed off by 医务部, the 24-hour first-response SLA with escalation, and the frozen
post-crisis review.

Status moves forward only: 监测中 (monitoring) → 响应中 (responding) → 已回应 (responded) → 已关闭 (closed); a case
that needs no public response may be closed straight from monitoring. Every change writes a CaseEvent (the
timeline) and a CASE_CHANGE audit event; a sign-off writes REPLY_SIGN_OFF.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.channels.services import notify
from xinqiao.content import compliance
from xinqiao.content.services import rule_overlay
from xinqiao.core.access import Action, Principal
from xinqiao.core.audit import audit_record
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent, Membership
from xinqiao.integrations.services import outbound_enqueue
from xinqiao.listening.models import Alert, CaseEvent, CrisisCase, MentionCluster, ReplyDraft
from xinqiao.listening.selectors.cases import SLA_WARNING_BEFORE, case_review_figures

Status = CrisisCase.Status
DraftStatus = ReplyDraft.Status

# Allowed manual status moves (closing has its own service because it needs lessons and freezes the review).
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.MONITORING: frozenset({Status.RESPONDING}),
    Status.RESPONDING: frozenset({Status.RESPONDED}),
    Status.RESPONDED: frozenset(),
    Status.CLOSED: frozenset(),
}
CLOSABLE = frozenset({Status.MONITORING, Status.RESPONDED})
# SLA notices go to every route for crisis cases, whatever its minimum alert severity (0–100).
CASE_NOTICE_SEVERITY = 100.0
REPLY_MAX_CHARS = 2000
REPLY_CONTENT_TYPE = "comment_reply"


class EventKind:
    """CaseEvent.kind values (stable codes; the timeline shows translated labels)."""

    OPENED = "opened"
    UPDATED = "updated"
    STATUS = "status"
    REPLY_DRAFTED = "reply_drafted"
    REPLY_EDITED = "reply_edited"
    REPLY_SUBMITTED = "reply_submitted"
    REPLY_SIGNED_OFF = "reply_signed_off"
    REPLY_RETURNED = "reply_returned"
    REPLY_PUBLISHED = "reply_published"
    SLA_WARNING = "sla_warning"
    ESCALATED = "escalated"
    CLOSED = "closed"


def _event(case: CrisisCase, kind: str, text: str, *, actor=None, now: dt.datetime | None = None) -> CaseEvent:
    return CaseEvent.objects.create(case=case, kind=kind, text=text, actor=actor, created_at=now or timezone.now())


def _audit(principal: Principal, case: CrisisCase, change: str, *, request=None, **detail: Any) -> None:
    audit_record(
        action=AuditEvent.Action.CASE_CHANGE,
        principal=principal,
        request=request,
        object_type="crisis_case",
        object_id=case.pk,
        detail={"change": change, **detail},
    )


def _locked(case: CrisisCase) -> CrisisCase:
    return CrisisCase.objects.select_for_update().get(pk=case.pk)


def _locked_draft(draft: ReplyDraft) -> ReplyDraft:
    return ReplyDraft.objects.select_for_update().select_related("case").get(pk=draft.pk)


def _require_open(case: CrisisCase) -> None:
    if case.status == Status.CLOSED:
        raise ApplicationError(_("This case is closed; it can no longer be changed."), code="case_closed")


def _check_case(principal: Principal, case: CrisisCase, action: str) -> None:
    principal.require(action)
    if case.hospital_id != principal.hospital.pk:
        raise ApplicationError(_("This case belongs to another hospital."), code="wrong_hospital")


def case_owner_choices(hospital_id: int) -> list[tuple[int, str]]:
    """Members who may own a case (the brand team), as (user pk, display name)."""
    members = (
        Membership.objects.filter(hospital_id=hospital_id, role=Membership.Role.BRAND)
        .select_related("user")
        .order_by("user__username")
    )
    seen: dict[int, str] = {}
    for membership in members:
        seen.setdefault(membership.user_id, membership.user.get_full_name() or membership.user.get_username())
    return list(seen.items())


def _valid_owner(hospital_id: int, owner) -> Any:
    if owner is None:
        return None
    owner_pk = owner if isinstance(owner, int) else owner.pk
    if owner_pk not in dict(case_owner_choices(hospital_id)):
        raise ApplicationError(
            _("The owner must be a member of the brand team of this hospital."), code="invalid_owner", field="owner"
        )
    return get_user_model().objects.get(pk=owner_pk)


def _valid_severity(severity: int | None) -> int | None:
    if severity is None:
        return None
    if severity not in CrisisCase.Severity.values:
        raise ApplicationError(_("Choose a severity from the list."), code="invalid_severity", field="severity")
    return int(severity)


def severity_from_score(score: float) -> int:
    """A case severity from an alert's or cluster's severity score (0–100, see pipeline/severity.py)."""
    if score >= 80:
        return CrisisCase.Severity.CRITICAL
    if score >= 60:
        return CrisisCase.Severity.HIGH
    if score >= 30:
        return CrisisCase.Severity.MEDIUM
    return CrisisCase.Severity.LOW


def _owner_label(user) -> str:
    return user.get_full_name() or user.get_username()


# --- opening ------------------------------------------------------------------------------------------------------


@transaction.atomic
def case_open_from_alert(
    *, principal: Principal, alert: Alert, owner=None, severity: int | None = None, request=None,
    now: dt.datetime | None = None,
) -> CrisisCase:  # fmt: skip
    """Open a case for an alert and link the alert's clusters (and the clusters of its mentions).

    Idempotent: an alert that already has a case returns that case unchanged.
    """
    principal.require(Action.CASE_MANAGE)
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.hospital_id != principal.hospital.pk:
        raise ApplicationError(_("This alert belongs to another hospital."), code="wrong_hospital")
    if alert.case_id is not None:
        return CrisisCase.objects.get(pk=alert.case_id)
    now = now or timezone.now()
    owner_user = _valid_owner(principal.hospital.pk, owner) or principal.user
    level = _valid_severity(severity) or severity_from_score(alert.severity)
    case = CrisisCase.objects.create(
        hospital=principal.hospital, title=alert.title[:200], summary=alert.detail, owner=owner_user,
        severity=level, opened_at=now, opened_by=principal.user,
    )  # fmt: skip
    cluster_ids = set(alert.clusters.values_list("pk", flat=True))
    cluster_ids |= set(
        alert.mentions.filter(cluster__isnull=False).values_list("cluster_id", flat=True).order_by().distinct()
    )
    case.clusters.set(MentionCluster.objects.filter(pk__in=cluster_ids, hospital=principal.hospital))
    alert.case = case
    alert.status = Alert.Status.CASE_OPENED
    alert.save(update_fields=["case", "status"])
    _event(
        case, EventKind.OPENED,
        _("Case opened from alert “%(alert)s”; owner %(owner)s; %(clusters)d linked clusters.")
        % {"alert": alert.title, "owner": _owner_label(owner_user), "clusters": len(cluster_ids)},
        actor=principal.user, now=now,
    )  # fmt: skip
    _audit(principal, case, "opened", request=request, alert=alert.pk, clusters=sorted(cluster_ids))
    return case


@transaction.atomic
def case_open(
    *, principal: Principal, title: str, summary: str = "", owner=None, severity: int | None = None,
    cluster_ids: list[int] | tuple[int, ...] = (), request=None, now: dt.datetime | None = None,
) -> CrisisCase:  # fmt: skip
    """Open a case by hand (e.g. a complaint heard by phone), optionally linking clusters."""
    principal.require(Action.CASE_MANAGE)
    title = (title or "").strip()
    if not title:
        raise ApplicationError(_("Give the case a title."), code="title_required", field="title")
    if len(title) > 200:
        raise ApplicationError(_("The title is longer than 200 characters."), code="title_too_long", field="title")
    now = now or timezone.now()
    owner_user = _valid_owner(principal.hospital.pk, owner) or principal.user
    level = _valid_severity(severity) or CrisisCase.Severity.MEDIUM
    clusters = list(MentionCluster.objects.filter(pk__in=list(cluster_ids), hospital=principal.hospital))
    if len(clusters) != len(set(cluster_ids)):
        raise ApplicationError(_("Some of the clusters were not found."), code="invalid_clusters", field="clusters")
    case = CrisisCase.objects.create(
        hospital=principal.hospital, title=title, summary=(summary or "").strip(), owner=owner_user, severity=level,
        opened_at=now, opened_by=principal.user,
    )  # fmt: skip
    case.clusters.set(clusters)
    _event(
        case, EventKind.OPENED,
        _("Case opened by hand; owner %(owner)s; %(clusters)d linked clusters.")
        % {"owner": _owner_label(owner_user), "clusters": len(clusters)},
        actor=principal.user, now=now,
    )  # fmt: skip
    _audit(principal, case, "opened", request=request, clusters=sorted(c.pk for c in clusters))
    return case


@transaction.atomic
def case_update(
    *, principal: Principal, case: CrisisCase, owner=None, severity: int | None = None, title: str | None = None,
    summary: str | None = None, request=None,
) -> CrisisCase:  # fmt: skip
    """Change owner, severity, title or summary (None leaves a field as it is)."""
    _check_case(principal, case, Action.CASE_MANAGE)
    case = _locked(case)
    _require_open(case)
    changes: list[str] = []
    owner_user = _valid_owner(case.hospital_id, owner)
    if owner_user is not None and owner_user.pk != case.owner_id:
        case.owner = owner_user
        changes.append(_("owner → %(owner)s") % {"owner": _owner_label(owner_user)})
    level = _valid_severity(severity)
    if level is not None and level != case.severity:
        case.severity = level
        changes.append(_("severity → %(severity)s") % {"severity": CrisisCase.Severity(level).label})
    if title is not None:
        title = title.strip()
        if not title:
            raise ApplicationError(_("Give the case a title."), code="title_required", field="title")
        if len(title) > 200:
            raise ApplicationError(_("The title is longer than 200 characters."), code="title_too_long", field="title")
        if title != case.title:
            case.title = title
            changes.append(_("title changed"))
    if summary is not None and summary.strip() != case.summary:
        case.summary = summary.strip()
        changes.append(_("summary changed"))
    if not changes:
        return case
    case.save(update_fields=["owner", "severity", "title", "summary"])
    _event(case, EventKind.UPDATED, "; ".join(changes), actor=principal.user)
    _audit(principal, case, "updated", request=request, owner=case.owner_id, severity=case.severity)
    return case


def _move(case: CrisisCase, target: str, *, actor, now: dt.datetime, note: str = "") -> None:
    previous = case.get_status_display()
    case.status = target
    case.save(update_fields=["status"])
    text = _("%(from)s → %(to)s") % {"from": previous, "to": case.get_status_display()}
    _event(case, EventKind.STATUS, f"{text}. {note}".strip() if note else text, actor=actor, now=now)


@transaction.atomic
def case_set_status(
    *, principal: Principal, case: CrisisCase, status: str, note: str = "", request=None,
    now: dt.datetime | None = None,
) -> CrisisCase:  # fmt: skip
    """Move the case one step forward (监测中 → 响应中 → 已回应); closing goes through ``case_close``."""
    _check_case(principal, case, Action.CASE_MANAGE)
    case = _locked(case)
    _require_open(case)
    if status not in Status.values:
        raise ApplicationError(_("Unknown status."), code="invalid_status", field="status")
    if status == Status.CLOSED:
        raise ApplicationError(_("Close the case with its lessons learned."), code="close_needs_lessons")
    if status not in TRANSITIONS[case.status]:
        raise ApplicationError(
            _("A case cannot move from %(from)s to %(to)s.")
            % {"from": case.get_status_display(), "to": Status(status).label},
            code="invalid_transition",
            field="status",
        )
    if status == Status.RESPONDED and case.first_responded_at is None:
        raise ApplicationError(
            _("Mark a signed-off reply as published first; that records the first response."),
            code="no_response_yet",
        )
    now = now or timezone.now()
    previous = case.status
    _move(case, status, actor=principal.user, now=now, note=note.strip())
    _audit(principal, case, "status", request=request, previous=previous, status=status)
    return case


# --- replies ------------------------------------------------------------------------------------------------------


def reply_check(*, hospital_id: int, text: str) -> dict[str, Any]:
    """Run the compliance engine over a reply wording (as a comment reply, not an ad) with the hospital's rules."""
    report = compliance.check(
        text, content_type=REPLY_CONTENT_TYPE, is_ad=False, context={"account_type": "hospital_official"},
        extra_rules=rule_overlay(hospital_id),
    )  # fmt: skip
    return {**report.to_dict(), "checked_text": text}


def _valid_reply_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ApplicationError(_("Write the reply text."), code="text_required", field="text")
    if len(text) > REPLY_MAX_CHARS:
        raise ApplicationError(
            _("The reply is longer than %(limit)d characters.") % {"limit": REPLY_MAX_CHARS},
            code="text_too_long",
            field="text",
        )
    return text


def _rules_of(report: dict[str, Any], severity: str) -> list[str]:
    return sorted({f["rule_id"] for f in report.get("findings", []) if f["severity"] == severity})


@transaction.atomic
def reply_draft_create(
    *, principal: Principal, case: CrisisCase, text: str, request=None, now: dt.datetime | None = None
) -> ReplyDraft:
    """A new reply wording, checked at once; a monitoring case moves to 响应中."""
    _check_case(principal, case, Action.CASE_MANAGE)
    case = _locked(case)
    _require_open(case)
    text = _valid_reply_text(text)
    now = now or timezone.now()
    report = reply_check(hospital_id=case.hospital_id, text=text)
    draft = ReplyDraft.objects.create(
        case=case, text=text, compliance_report=report, author=principal.user, created_at=now
    )
    _event(
        case, EventKind.REPLY_DRAFTED,
        _("Reply #%(pk)d drafted (%(findings)d compliance findings).")
        % {"pk": draft.pk, "findings": len(report["findings"])},
        actor=principal.user, now=now,
    )  # fmt: skip
    if case.status == Status.MONITORING:
        _move(case, Status.RESPONDING, actor=principal.user, now=now)
    _audit(principal, case, "reply_drafted", request=request, reply=draft.pk, findings=len(report["findings"]))
    return draft


@transaction.atomic
def reply_draft_update(*, principal: Principal, draft: ReplyDraft, text: str, request=None) -> ReplyDraft:
    """Change a draft or a returned reply; it is checked again and goes back to draft."""
    _check_case(principal, draft.case, Action.CASE_MANAGE)
    draft = _locked_draft(draft)
    _require_open(draft.case)
    if draft.status not in (DraftStatus.DRAFT, DraftStatus.RETURNED):
        raise ApplicationError(
            _("Only a draft or a returned reply can be changed; write a new reply instead."), code="not_editable"
        )
    text = _valid_reply_text(text)
    report = reply_check(hospital_id=draft.case.hospital_id, text=text)
    draft.text = text
    draft.compliance_report = report
    draft.acknowledged_warnings = []
    draft.status = DraftStatus.DRAFT
    draft.save(update_fields=["text", "compliance_report", "acknowledged_warnings", "status"])
    _event(
        draft.case, EventKind.REPLY_EDITED,
        _("Reply #%(pk)d changed (%(findings)d compliance findings).")
        % {"pk": draft.pk, "findings": len(report["findings"])},
        actor=principal.user,
    )  # fmt: skip
    _audit(principal, draft.case, "reply_edited", request=request, reply=draft.pk, findings=len(report["findings"]))
    return draft


@transaction.atomic
def reply_submit(
    *, principal: Principal, draft: ReplyDraft, warn_reason: str = "", request=None, now: dt.datetime | None = None
) -> ReplyDraft:
    """Send a reply to 医务部 for sign-off: no BLOCK findings; WARN findings need a reason (kept with the draft)."""
    _check_case(principal, draft.case, Action.CASE_MANAGE)
    draft = _locked_draft(draft)
    _require_open(draft.case)
    if draft.status != DraftStatus.DRAFT:
        raise ApplicationError(_("Only a draft can be submitted for sign-off."), code="not_draft")
    now = now or timezone.now()
    report = reply_check(hospital_id=draft.case.hospital_id, text=draft.text)
    blocking = _rules_of(report, "BLOCK")
    if blocking:
        draft.compliance_report = report
        draft.save(update_fields=["compliance_report"])
        raise ApplicationError(
            _("Blocking compliance findings must be fixed before submitting: %(rules)s")
            % {"rules": ", ".join(blocking)},
            code="blocked",
        )
    warnings = [f for f in report["findings"] if f["severity"] == "WARN"]
    warn_reason = (warn_reason or "").strip()
    if warnings and not warn_reason:
        raise ApplicationError(
            _("Acknowledge the warnings (%(rules)s) with a reason to submit.")
            % {"rules": ", ".join(_rules_of(report, "WARN"))},
            code="warn_ack_required",
            field="warn_reason",
        )
    draft.compliance_report = report
    draft.acknowledged_warnings = [
        {
            "rule_id": f["rule_id"],
            "text": f["text"][:200],
            "reason": warn_reason,
            "by": principal.user.get_username(),
            "at": now.isoformat(),
        }
        for f in warnings
    ]
    draft.status = DraftStatus.SUBMITTED
    draft.save(update_fields=["compliance_report", "acknowledged_warnings", "status"])
    text = _("Reply #%(pk)d submitted to medical affairs for sign-off.") % {"pk": draft.pk}
    if warnings:
        text += " " + _("Warnings acknowledged (%(rules)s): %(reason)s") % {
            "rules": ", ".join(_rules_of(report, "WARN")),
            "reason": warn_reason,
        }
    _event(draft.case, EventKind.REPLY_SUBMITTED, text, actor=principal.user, now=now)
    notify(
        hospital_id=draft.case.hospital_id,
        audience_role=Membership.Role.MEDICAL_AFFAIRS,
        level="info",
        message=_("A crisis reply awaits your sign-off: %(title)s") % {"title": draft.case.title},
        link=reverse("listening:case_detail", args=[draft.case_id]),
    )
    _audit(
        principal, draft.case, "reply_submitted", request=request, reply=draft.pk, warnings=_rules_of(report, "WARN")
    )
    return draft


def _require_submitted(principal: Principal, draft: ReplyDraft) -> None:
    if draft.status != DraftStatus.SUBMITTED:
        raise ApplicationError(_("This reply is not awaiting sign-off."), code="not_submitted")
    if draft.author_id == principal.user.pk:
        raise ApplicationError(_("You cannot sign off or return a reply you wrote."), code="own_reply")


@transaction.atomic
def reply_sign_off(
    *, principal: Principal, draft: ReplyDraft, comment: str = "", request=None, now: dt.datetime | None = None
) -> ReplyDraft:
    """医务部 approves the wording (never the author's own)."""
    _check_case(principal, draft.case, Action.CASE_SIGN_OFF)
    draft = _locked_draft(draft)
    _require_open(draft.case)
    _require_submitted(principal, draft)
    now = now or timezone.now()
    comment = (comment or "").strip()[:2000]
    draft.status = DraftStatus.APPROVED
    draft.signed_off_by = principal.user
    draft.signed_off_at = now
    draft.sign_off_comment = comment
    draft.save(update_fields=["status", "signed_off_by", "signed_off_at", "sign_off_comment"])
    text = _("Reply #%(pk)d signed off by medical affairs.") % {"pk": draft.pk}
    _event(draft.case, EventKind.REPLY_SIGNED_OFF, f"{text} {comment}".strip(), actor=principal.user, now=now)
    audit_record(
        action=AuditEvent.Action.REPLY_SIGN_OFF,
        principal=principal,
        request=request,
        object_type="reply_draft",
        object_id=draft.pk,
        detail={
            "case": draft.case_id,
            "comment": comment,
            "rules_version": draft.compliance_report.get("rules_version"),
        },
    )
    notify(
        hospital_id=draft.case.hospital_id,
        audience_role=Membership.Role.BRAND,
        level="info",
        message=_("Crisis reply signed off, ready to publish: %(title)s") % {"title": draft.case.title},
        link=reverse("listening:case_detail", args=[draft.case_id]),
    )
    return draft


@transaction.atomic
def reply_return(
    *, principal: Principal, draft: ReplyDraft, comment: str, request=None, now: dt.datetime | None = None
) -> ReplyDraft:
    """医务部 sends the wording back with what to change."""
    _check_case(principal, draft.case, Action.CASE_SIGN_OFF)
    draft = _locked_draft(draft)
    _require_open(draft.case)
    _require_submitted(principal, draft)
    comment = (comment or "").strip()
    if not comment:
        raise ApplicationError(_("Say what has to change."), code="comment_required", field="comment")
    now = now or timezone.now()
    draft.status = DraftStatus.RETURNED
    draft.sign_off_comment = comment[:2000]
    draft.save(update_fields=["status", "sign_off_comment"])
    _event(
        draft.case, EventKind.REPLY_RETURNED,
        _("Reply #%(pk)d returned by medical affairs: %(comment)s") % {"pk": draft.pk, "comment": comment},
        actor=principal.user, now=now,
    )  # fmt: skip
    _audit(principal, draft.case, "reply_returned", request=request, reply=draft.pk)
    return draft


@transaction.atomic
def reply_mark_published(
    *, principal: Principal, draft: ReplyDraft, request=None, now: dt.datetime | None = None
) -> ReplyDraft:
    """The signed-off wording went out: records the first response (stops the SLA clock) and moves to 已回应."""
    _check_case(principal, draft.case, Action.CASE_MANAGE)
    draft = _locked_draft(draft)
    case = _locked(draft.case)
    _require_open(case)
    if draft.status != DraftStatus.APPROVED:
        raise ApplicationError(_("Only a signed-off reply can be published."), code="not_signed_off")
    now = now or timezone.now()
    draft.status = DraftStatus.PUBLISHED
    draft.published_at = now
    draft.save(update_fields=["status", "published_at"])
    first = case.first_responded_at is None
    if first:
        case.first_responded_at = now
        case.save(update_fields=["first_responded_at"])
    _event(
        case, EventKind.REPLY_PUBLISHED,
        (_("Reply #%(pk)d published: first response.") if first else _("Reply #%(pk)d published."))
        % {"pk": draft.pk},
        actor=principal.user, now=now,
    )  # fmt: skip
    if case.status in (Status.MONITORING, Status.RESPONDING):
        _move(case, Status.RESPONDED, actor=principal.user, now=now)
    _audit(principal, case, "reply_published", request=request, reply=draft.pk, first_response=first)
    return draft


# --- closing and review -------------------------------------------------------------------------------------------


@transaction.atomic
def case_close(
    *, principal: Principal, case: CrisisCase, lessons: str, request=None, now: dt.datetime | None = None
) -> CrisisCase:
    """Close with lessons learned and freeze the post-crisis review figures into ``case.review``."""
    _check_case(principal, case, Action.CASE_MANAGE)
    case = _locked(case)
    _require_open(case)
    lessons = (lessons or "").strip()
    if not lessons:
        raise ApplicationError(_("Write down the lessons learned to close the case."), code="lessons_required",
                               field="lessons")  # fmt: skip
    if case.status not in CLOSABLE:
        raise ApplicationError(
            _("A case in %(status)s cannot be closed: publish the signed-off reply first.")
            % {"status": case.get_status_display()},
            code="invalid_transition",
        )
    now = now or timezone.now()
    if ReplyDraft.objects.filter(case=case, status=DraftStatus.SUBMITTED).exists():
        raise ApplicationError(_("A reply still awaits sign-off; decide on it first."), code="pending_reply")
    case.review = case_review_figures(case, until=now)
    case.lessons = lessons[:10000]
    case.closed_at = now
    previous = case.status
    case.save(update_fields=["review", "lessons", "closed_at"])
    _move(case, Status.CLOSED, actor=principal.user, now=now)
    _event(case, EventKind.CLOSED, _("Lessons learned: %(lessons)s") % {"lessons": case.lessons},
           actor=principal.user, now=now)  # fmt: skip
    _audit(principal, case, "closed", request=request, previous=previous)
    return case


# --- SLA ----------------------------------------------------------------------------------------------------------


def _robot_body(case: CrisisCase, headline: str, due_local: dt.datetime) -> str:
    """The robot/e-mail message: case number, severity, status, owner, due time and a link. The title is left out:
    it is typed by people and may name a patient; robot groups are outside the system."""
    link = getattr(settings, "XINQIAO_PUBLIC_BASE_URL", "").rstrip("/") + reverse(
        "listening:case_detail", args=[case.pk]
    )
    return "\n".join(
        [
            f"### {headline}",
            f"> {_('Crisis case')} #{case.pk}",
            f"- {_('Severity')}: {case.get_severity_display()}",
            f"- {_('Status')}: {case.get_status_display()}",
            f"- {_('Owner')}: {_owner_label(case.owner)}",
            f"- {_('First response due')}: {due_local:%Y-%m-%d %H:%M}",
            f"[{_('Open in XinQiao')}]({link})",
        ]
    )


def cases_escalate_overdue(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Warn the owner's team 4 hours before the first-response deadline and escalate to leadership once it has
    passed without a first response. Idempotent: each case is warned once and escalated once."""
    now = now or timezone.now()
    open_cases = CrisisCase.objects.exclude(status=Status.CLOSED).filter(first_responded_at__isnull=True)
    counts = {"warned": 0, "escalated": 0}
    overdue = list(
        open_cases.filter(first_response_due_at__lte=now, escalated_at__isnull=True).values_list("pk", flat=True)
    )
    for pk in overdue:
        counts["escalated"] += _escalate_one(pk, now)
    warn_pks = list(
        open_cases.filter(first_response_due_at__gt=now, first_response_due_at__lte=now + SLA_WARNING_BEFORE)
        .exclude(events__kind=EventKind.SLA_WARNING)
        .values_list("pk", flat=True)
    )
    for pk in warn_pks:
        counts["warned"] += _warn_one(pk, now)
    return counts


@transaction.atomic
def _escalate_one(pk: int, now: dt.datetime) -> int:
    case = CrisisCase.objects.select_for_update().select_related("owner").get(pk=pk)
    if case.escalated_at is not None or case.first_responded_at is not None or case.status == Status.CLOSED:
        return 0
    case.escalated_at = now
    case.save(update_fields=["escalated_at"])
    hours = CrisisCase.FIRST_RESPONSE_HOURS
    text = _("No first response within %(hours)d hours: escalated to hospital leadership.") % {"hours": hours}
    _event(case, EventKind.ESCALATED, text, now=now)
    link = reverse("listening:case_detail", args=[case.pk])
    notify(
        hospital_id=case.hospital_id, audience_role=Membership.Role.LEADERSHIP, level="error",
        message=_("Crisis case overdue (no first response in %(hours)d h): %(title)s")
        % {"hours": hours, "title": case.title},
        link=link,
    )  # fmt: skip
    notify(
        hospital_id=case.hospital_id, audience_role=Membership.Role.BRAND, level="error",
        message=_("Escalated to leadership, first response overdue: %(title)s") % {"title": case.title}, link=link,
    )  # fmt: skip
    due_local = timezone.localtime(case.first_response_due_at)
    outbound_enqueue(
        hospital_id=case.hospital_id, purpose="cases", dedup_key=f"case:{case.pk}:escalated",
        subject=_("Crisis case #%(pk)d overdue") % {"pk": case.pk},
        body_markdown=_robot_body(case, _("First response overdue, escalated to leadership"), due_local),
        severity=CASE_NOTICE_SEVERITY,
    )  # fmt: skip
    audit_record(
        action=AuditEvent.Action.CASE_CHANGE, hospital=case.hospital, actor_label="system", object_type="crisis_case",
        object_id=case.pk, detail={"change": "escalated", "due": case.first_response_due_at.isoformat()},
    )  # fmt: skip
    return 1


@transaction.atomic
def _warn_one(pk: int, now: dt.datetime) -> int:
    case = CrisisCase.objects.select_for_update().select_related("owner").get(pk=pk)
    if case.first_responded_at is not None or case.status == Status.CLOSED:
        return 0
    if case.events.filter(kind=EventKind.SLA_WARNING).exists():
        return 0
    left = case.first_response_due_at - now
    hours_left = max(0, int(left.total_seconds() // 3600))
    minutes_left = max(0, int(left.total_seconds() // 60) % 60)
    text = _("First response due in %(hours)d h %(minutes)d min.") % {"hours": hours_left, "minutes": minutes_left}
    _event(case, EventKind.SLA_WARNING, text, now=now)
    notify(
        hospital_id=case.hospital_id, audience_role=Membership.Role.BRAND, level="warning",
        message=_("First response due soon (%(left)s): %(title)s") % {"left": text, "title": case.title},
        link=reverse("listening:case_detail", args=[case.pk]),
    )  # fmt: skip
    due_local = timezone.localtime(case.first_response_due_at)
    outbound_enqueue(
        hospital_id=case.hospital_id, purpose="cases", dedup_key=f"case:{case.pk}:sla-warning",
        subject=_("Crisis case #%(pk)d: first response due soon") % {"pk": case.pk},
        body_markdown=_robot_body(case, _("First response due soon"), due_local),
        severity=CASE_NOTICE_SEVERITY,
    )  # fmt: skip
    audit_record(
        action=AuditEvent.Action.CASE_CHANGE, hospital=case.hospital, actor_label="system", object_type="crisis_case",
        object_id=case.pk, detail={"change": "sla_warning", "due": case.first_response_due_at.isoformat()},
    )  # fmt: skip
    return 1
