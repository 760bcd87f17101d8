"""The review state machine.

draft → 科室初审 (department) → 医务部复审 (medical) → 品牌部终审 (final) → approved → scheduled → published,
with "returned" (back to the author) and "rejected" (final) from every review step, a comment required for both.
A hospital's ReviewPolicy says which steps apply per content type and whether any one or all named approvers
must approve a step; without a policy all three steps apply and any one holder of the step's role approves.
The department step is skipped for items without a department. Nobody approves their own item; department
reviewers act only on their departments. BLOCK findings stop approval; WARN findings need a reason (logged).
An approval that completes after the scheduled time moves the item to "expired approval" instead of publishing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.content.models import (
    REVIEW_STATES,
    Approval,
    ContentItem,
    ReviewPolicy,
    ReviewPolicyStep,
    ReviewStep,
    Revision,
    Transition,
    WarnAcknowledgement,
)
from xinqiao.content.services import item_compliance, story_consent_valid
from xinqiao.core.access import Action, Principal
from xinqiao.core.audit import audit_record
from xinqiao.core.exceptions import ApplicationError

State = ContentItem.State

STEP_STATE = {
    ReviewStep.DEPARTMENT: State.DEPARTMENT_REVIEW,
    ReviewStep.MEDICAL: State.MEDICAL_REVIEW,
    ReviewStep.FINAL: State.FINAL_REVIEW,
}
STATE_STEP = {state: step for step, state in STEP_STATE.items()}
STEP_ACTION = {
    ReviewStep.DEPARTMENT: Action.CONTENT_REVIEW_DEPARTMENT,
    ReviewStep.MEDICAL: Action.CONTENT_REVIEW_MEDICAL,
    ReviewStep.FINAL: Action.CONTENT_REVIEW_FINAL,
}
STEP_ORDER = (ReviewStep.DEPARTMENT, ReviewStep.MEDICAL, ReviewStep.FINAL)
AFTER_APPROVAL = (State.APPROVED, State.SCHEDULED, State.EXPIRED_APPROVAL)


@dataclass(frozen=True)
class StepSpec:
    step: str
    mode: str
    approver_ids: frozenset[int]

    @property
    def label(self) -> str:
        """The step's name in the user's language (科室初审, 医务部复审, 品牌部终审)."""
        return str(ReviewStep(self.step).label)


def policy_steps(item: ContentItem) -> list[StepSpec]:
    """The review steps that apply to this item, in order."""
    policy = ReviewPolicy.objects.filter(hospital_id=item.hospital_id, content_type=item.content_type).first()
    if policy is None:
        specs = [StepSpec(step, ReviewPolicyStep.Mode.ANY, frozenset()) for step in STEP_ORDER]
    else:
        rows = {row.step: row for row in policy.steps.prefetch_related("approvers")}
        specs = [
            StepSpec(step, rows[step].mode, frozenset(user.pk for user in rows[step].approvers.all()))
            for step in STEP_ORDER
            if step in rows
        ]
    if item.department_id is None:
        specs = [spec for spec in specs if spec.step != ReviewStep.DEPARTMENT]
    return specs


def _transition(item: ContentItem, to_state: str, *, action: str, actor, comment: str = "", revision=None) -> None:
    Transition.objects.create(
        item=item,
        revision=revision or item.current_revision,
        from_state=item.state,
        to_state=to_state,
        action=action,
        actor=actor,
        comment=comment,
    )
    item.state = to_state
    item.state_changed_at = timezone.now()
    item.save(update_fields=["state", "state_changed_at", "review_round"])


def _locked(item: ContentItem) -> ContentItem:
    return ContentItem.objects.select_for_update(of=("self",)).select_related("current_revision").get(pk=item.pk)


def _first_state(item: ContentItem, *, now: dt.datetime) -> str:
    specs = policy_steps(item)
    if specs:
        return STEP_STATE[specs[0].step]
    return _approved_state(item, now=now)


def _approved_state(item: ContentItem, *, now: dt.datetime) -> str:
    if item.scheduled_at is None:
        return State.APPROVED
    return State.EXPIRED_APPROVAL if item.scheduled_at <= now else State.SCHEDULED


def _check_publishable_facts(item: ContentItem, *, now: dt.datetime) -> None:
    """Facts that may have changed since the item was saved: consent withdrawn, certificate expired."""
    today = timezone.localdate(now)
    if item.is_patient_story:
        from xinqiao.core.selectors import patient_consent_state

        consent = patient_consent_state(item.story_patient)["story_publication"] if item.story_patient else None
        if not story_consent_valid(consent, on=today):
            raise ApplicationError(
                _("The patient's consent to publish this story is no longer valid."), code="story_consent"
            )
    if item.is_ad and (item.ad_certificate_valid_until is None or item.ad_certificate_valid_until < today):
        raise ApplicationError(
            _("The medical advertising review certificate is missing or expired."), code="ad_certificate_expired"
        )


@transaction.atomic
def item_submit(*, principal: Principal, item: ContentItem, comment: str = "", now: dt.datetime | None = None) -> None:
    principal.require(Action.CONTENT_WRITE)
    now = now or timezone.now()
    item = _locked(item)
    if item.state not in (State.DRAFT, State.RETURNED):
        raise ApplicationError(
            _("Only drafts and returned items can be submitted; this one is %(state)s.")
            % {"state": item.get_state_display()},
            code="bad_state",
        )
    _check_publishable_facts(item, now=now)
    item.review_round += 1
    _transition(item, _first_state(item, now=now), action="submitted", actor=principal.user, comment=comment)


def restart_review(*, item: ContentItem, actor, revision: Revision) -> None:
    """An edit after submission: the new revision goes through review again from the first step."""
    item.review_round += 1
    _transition(
        item, _first_state(item, now=timezone.now()), action="edited", actor=actor, revision=revision,
        comment=_("Edited after submission; review starts again."),
    )  # fmt: skip


def _acting_step(principal: Principal, item: ContentItem, step: str) -> StepSpec:
    """Check that ``principal`` may act on ``step`` of ``item`` now; returns the step's policy."""
    if step not in ReviewStep.values:
        raise ApplicationError(_("Unknown review step."), code="step")
    principal.require(STEP_ACTION[step])
    if item.state != STEP_STATE[step]:
        raise ApplicationError(
            _("This item is not waiting for %(step)s; it is %(state)s.")
            % {"step": ReviewStep(step).label, "state": item.get_state_display()},
            code="out_of_order",
        )
    if principal.user is not None and principal.user.pk == item.author_id:
        raise ApplicationError(_("You cannot review your own item."), code="own_item")
    if step == ReviewStep.DEPARTMENT:
        departments = principal.department_ids_for(Action.CONTENT_REVIEW_DEPARTMENT)
        if departments is not None and item.department_id not in departments:
            raise ApplicationError(_("You review only your own departments' content."), code="department")
    spec = next((spec for spec in policy_steps(item) if spec.step == step), None)
    if spec is None:
        raise ApplicationError(_("This step does not apply to this item."), code="out_of_order")
    if spec.approver_ids and principal.user.pk not in spec.approver_ids:
        raise ApplicationError(_("You are not a named approver of this step."), code="not_approver")
    return spec


@transaction.atomic
def item_approve(
    *, principal: Principal, item: ContentItem, step: str, comment: str = "", warn_reason: str = "",
    now: dt.datetime | None = None, request=None,
) -> ContentItem:  # fmt: skip
    now = now or timezone.now()
    item = _locked(item)
    spec = _acting_step(principal, item, step)
    revision = item.current_revision
    report = item_compliance(item)
    blocking = [f for f in report["findings"] if f["severity"] == "BLOCK"]
    if blocking:
        raise ApplicationError(
            _("Blocking compliance findings must be fixed before approval: %(rules)s")
            % {"rules": ", ".join(sorted({f["rule_id"] for f in blocking}))},
            code="blocked",
        )
    warnings = [f for f in report["findings"] if f["severity"] == "WARN"]
    warn_reason = warn_reason.strip()
    if warnings and not warn_reason:
        raise ApplicationError(
            _("Acknowledge the warnings (%(rules)s) with a reason to approve.")
            % {"rules": ", ".join(sorted({f["rule_id"] for f in warnings}))},
            code="warn_ack_required",
            field="warn_reason",
        )
    _check_publishable_facts(item, now=now)
    if Approval.objects.filter(item=item, step=step, review_round=item.review_round, approver=principal.user).exists():
        raise ApplicationError(_("You have already approved this step."), code="duplicate")
    Approval.objects.create(
        item=item, revision=revision, step=step, review_round=item.review_round, approver=principal.user,
        comment=comment, created_at=now,
    )  # fmt: skip
    for finding in warnings:
        WarnAcknowledgement.objects.create(
            item=item, revision=revision, step=step, rule_id=finding["rule_id"], finding_text=finding["text"][:200],
            reason=warn_reason, actor=principal.user, created_at=now,
        )  # fmt: skip
    if warnings:
        audit_record(
            action="compliance_override",
            principal=principal,
            request=request,
            object_type="content_item",
            object_id=item.pk,
            purpose=step,
            detail={
                "revision": revision.number,
                "rules": sorted({f["rule_id"] for f in warnings}),
                "reason": warn_reason,
            },
        )
    approved_by = set(
        Approval.objects.filter(item=item, step=step, review_round=item.review_round).values_list(
            "approver_id", flat=True
        )
    )
    complete = spec.mode == ReviewPolicyStep.Mode.ANY or not spec.approver_ids or spec.approver_ids <= approved_by
    if not complete:
        return item
    specs = policy_steps(item)
    position = [s.step for s in specs].index(step)
    if position + 1 < len(specs):
        _transition(
            item, STEP_STATE[specs[position + 1].step], action="approved", actor=principal.user, comment=comment
        )
    else:
        _transition(item, _approved_state(item, now=now), action="approved", actor=principal.user, comment=comment)
    return item


@transaction.atomic
def item_send_back(*, principal: Principal, item: ContentItem, step: str, decision: str, comment: str) -> ContentItem:
    """Return the item to its author (``decision="return"``) or reject it for good (``"reject"``)."""
    if decision not in ("return", "reject"):
        raise ApplicationError(_("Unknown decision."), code="decision")
    comment = (comment or "").strip()
    if not comment:
        raise ApplicationError(_("Say why: a comment is required."), code="comment_required", field="comment")
    item = _locked(item)
    _acting_step(principal, item, step)
    target = State.RETURNED if decision == "return" else State.REJECTED
    _transition(item, target, action="returned" if decision == "return" else "rejected", actor=principal.user,
                comment=comment)  # fmt: skip
    return item


@transaction.atomic
def item_reschedule(
    *, principal: Principal, item: ContentItem, scheduled_at: dt.datetime, now: dt.datetime | None = None
) -> ContentItem:
    """Plan or move the publishing time. An approved item with a time becomes scheduled."""
    now = now or timezone.now()
    principal.require(Action.CONTENT_WRITE)
    item = _locked(item)
    if item.state in (State.PUBLISHED, State.REJECTED):
        raise ApplicationError(_("A %(state)s item cannot be rescheduled.") % {"state": item.get_state_display()},
                               code="bad_state")  # fmt: skip
    if scheduled_at <= now:
        raise ApplicationError(_("Choose a time in the future."), code="past", field="scheduled_at")
    if (
        item.is_ad
        and item.ad_certificate_valid_until
        and timezone.localdate(scheduled_at) > item.ad_certificate_valid_until
    ):
        raise ApplicationError(
            _("The medical advertising review certificate expires before that day."), code="ad_certificate_expired",
            field="scheduled_at",
        )  # fmt: skip
    item.scheduled_at = scheduled_at
    item.updated_at = now
    item.save(update_fields=["scheduled_at", "updated_at"])
    if item.state in (State.APPROVED, State.EXPIRED_APPROVAL):
        _transition(item, State.SCHEDULED, action="scheduled", actor=principal.user,
                    comment=timezone.localtime(scheduled_at).strftime("%Y-%m-%d %H:%M"))  # fmt: skip
    return item


@transaction.atomic
def item_publish(*, principal: Principal, item: ContentItem, now: dt.datetime | None = None, request=None) -> list:
    """Start publishing the approved revision to every target account (idempotent: one publication per account)."""
    principal.require(Action.CONTENT_PUBLISH)
    return _publish(item=_locked(item), actor=principal.user, now=now or timezone.now())


def _publish(*, item: ContentItem, actor, now: dt.datetime) -> list:
    from xinqiao.channels import services as channel_services
    from xinqiao.content.selectors import approval_chain

    if item.state not in AFTER_APPROVAL:
        raise ApplicationError(
            _("Only approved items can be published; this one is %(state)s.") % {"state": item.get_state_display()},
            code="bad_state",
        )
    accounts = list(item.target_accounts.filter(is_active=True).order_by("pk"))
    if not accounts:
        raise ApplicationError(_("Choose at least one target account before publishing."), code="no_account")
    _check_publishable_facts(item, now=now)
    revision = item.current_revision
    report = item_compliance(item)
    if report["max_severity"] == "BLOCK":
        raise ApplicationError(_("Blocking compliance findings must be fixed before publishing."), code="blocked")
    return channel_services.publications_start(
        item=item,
        revision=revision,
        accounts=accounts,
        compliance_report=report,
        approval_chain=approval_chain(item),
        requested_by=actor,
    )


def content_publish_due(*, now: dt.datetime | None = None) -> int:
    """Start publishing every scheduled item whose time has come (run by the scheduler every minute)."""
    now = now or timezone.now()
    started = 0
    due = ContentItem.objects.filter(state=State.SCHEDULED, scheduled_at__lte=now).values_list("pk", flat=True)
    for pk in list(due):
        with transaction.atomic():
            item = ContentItem.objects.select_for_update().filter(pk=pk, state=State.SCHEDULED).first()
            if item is None:
                continue
            try:
                _publish(item=item, actor=None, now=now)
            except ApplicationError:
                continue
            started += 1
    return started


@transaction.atomic
def item_mark_published(*, item_id: int, actor) -> None:
    """Called by the channels domain when a publication went live: the item is published once all are."""
    item = ContentItem.objects.select_for_update().filter(pk=item_id).first()
    if item is None or item.state == State.PUBLISHED:
        return
    publications = item.publications.filter(revision_id=item.current_revision_id)
    if publications.exists() and not publications.exclude(status="published").exists():
        _transition(item, State.PUBLISHED, action="published", actor=actor)


__all__ = [
    "REVIEW_STATES",
    "STATE_STEP",
    "content_publish_due",
    "item_approve",
    "item_mark_published",
    "item_publish",
    "item_reschedule",
    "item_send_back",
    "item_submit",
    "policy_steps",
    "restart_review",
]
