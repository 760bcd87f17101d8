"""Reads of the content domain: scoped fetches, lists, the reviewer queue, highlights, evidence."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from xinqiao.content.models import REVIEW_STATES, ContentImage, ContentItem, ReviewStep, Revision, Transition
from xinqiao.core.access import Action, Principal, parse_pk, require_member

State = ContentItem.State


def item_scope(principal: Principal) -> Q:
    """Items this principal may see; department reviewers see only their departments' items."""
    principal.require(Action.CONTENT_VIEW)
    scope = Q(hospital=principal.hospital)
    departments = principal.department_ids_for(Action.CONTENT_VIEW)
    if departments is not None:
        scope &= Q(department_id__in=departments)
    return scope


def access_item(principal: Principal | None, pk: object, action: str = Action.CONTENT_VIEW) -> ContentItem:
    """404 for items outside the principal's hospital or departments, 403 when the action is not granted."""
    principal = require_member(principal)
    pk_int = parse_pk(pk)
    item = (
        ContentItem.objects.filter(pk=pk_int, hospital=principal.hospital)
        .select_related("department", "doctor", "author", "current_revision", "cover", "story_patient")
        .first()
    )
    if item is None:
        raise Http404
    if principal.allows(Action.CONTENT_VIEW):
        departments = principal.department_ids_for(Action.CONTENT_VIEW)
        if departments is not None and item.department_id not in departments:
            raise Http404
    principal.require(action)
    return item


def access_image(principal: Principal | None, pk: object) -> ContentImage:
    principal = require_member(principal)
    image = ContentImage.objects.filter(pk=parse_pk(pk), hospital=principal.hospital).select_related("item").first()
    if image is None:
        raise Http404
    principal.require(Action.CONTENT_VIEW)
    departments = principal.department_ids_for(Action.CONTENT_VIEW)
    if departments is not None and (image.item is None or image.item.department_id not in departments):
        raise Http404
    return image


@dataclass
class ItemFilters:
    state: str = ""
    content_type: str = ""
    pillar: str = ""
    q: str = ""


def item_list(principal: Principal, filters: ItemFilters, *, limit: int = 200) -> QuerySet[ContentItem]:
    rows = ContentItem.objects.filter(item_scope(principal)).select_related("department", "author")
    if filters.state:
        rows = rows.filter(state=filters.state)
    if filters.content_type:
        rows = rows.filter(content_type=filters.content_type)
    if filters.pillar:
        rows = rows.filter(pillar=filters.pillar)
    if filters.q:
        rows = rows.filter(title__icontains=filters.q)
    return rows.order_by("-updated_at", "-pk")[:limit]


REVIEW_STATE_ACTIONS = {
    State.DEPARTMENT_REVIEW: Action.CONTENT_REVIEW_DEPARTMENT,
    State.MEDICAL_REVIEW: Action.CONTENT_REVIEW_MEDICAL,
    State.FINAL_REVIEW: Action.CONTENT_REVIEW_FINAL,
}


@dataclass
class QueueRow:
    item: ContentItem
    age: dt.timedelta

    @property
    def age_hours(self) -> int:
        return int(self.age.total_seconds() // 3600)


@dataclass
class QueueSection:
    state: str
    label: str
    rows: list[QueueRow]

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def oldest_hours(self) -> int:
        return max((row.age_hours for row in self.rows), default=0)


def reviewer_queue(principal: Principal, *, now: dt.datetime | None = None) -> list[QueueSection]:
    """The review states this principal acts on (plus expired approvals for the brand team), oldest first."""
    now = now or timezone.now()
    sections = []
    states = [state for state, action in REVIEW_STATE_ACTIONS.items() if principal.allows(action)]
    if principal.allows(Action.CONTENT_PUBLISH):
        states.append(State.EXPIRED_APPROVAL)
    for state in states:
        scope = Q(hospital=principal.hospital, state=state)
        action = REVIEW_STATE_ACTIONS.get(state, Action.CONTENT_PUBLISH)
        departments = principal.department_ids_for(action)
        if departments is not None:
            scope &= Q(department_id__in=departments)
        rows = (
            ContentItem.objects.filter(scope)
            .exclude(author=principal.user)
            .select_related("department", "author")
            .order_by("state_changed_at", "pk")
        )
        if state == State.EXPIRED_APPROVAL:
            rows = ContentItem.objects.filter(scope).select_related("department", "author").order_by("state_changed_at")
        sections.append(
            QueueSection(state, str(State(state).label), [QueueRow(item, now - item.state_changed_at) for item in rows])
        )
    return sections


def approval_chain(item: ContentItem) -> list[dict[str, Any]]:
    """Every transition of the item, oldest first, as plain data for the evidence archive."""
    chain = []
    for transition in Transition.objects.filter(item=item).select_related("actor", "revision").order_by("pk"):
        chain.append(
            {
                "at": transition.created_at.isoformat(),
                "from": transition.from_state,
                "to": transition.to_state,
                "action": transition.action,
                "actor": transition.actor.get_username() if transition.actor else "",
                "comment": transition.comment,
                "revision": transition.revision.number if transition.revision else None,
            }
        )
    return chain


@dataclass
class Segment:
    text: str
    finding: dict[str, Any] | None = None


def highlighted(report: dict[str, Any]) -> tuple[list[Segment], list[dict[str, Any]]]:
    """Split the checked text into plain and flagged segments (overlaps: the first finding wins), and list the
    document-level findings (no span) separately."""
    text = report.get("checked_text", "")
    spans = sorted(
        (f for f in report.get("findings", []) if f["end"] > f["start"]), key=lambda f: (f["start"], -f["end"])
    )
    segments: list[Segment] = []
    cursor = 0
    for finding in spans:
        start, end = max(finding["start"], cursor), finding["end"]
        if end <= start:
            continue
        if start > cursor:
            segments.append(Segment(text[cursor:start]))
        segments.append(Segment(text[start:end], finding))
        cursor = end
    if cursor < len(text):
        segments.append(Segment(text[cursor:]))
    document = [f for f in report.get("findings", []) if f["end"] <= f["start"]]
    return segments, document


def revisions_of(item: ContentItem) -> list[Revision]:
    return list(item.revisions.select_related("author").order_by("-number"))


@dataclass(frozen=True)
class PublishPayload:
    title: str
    body_html: str
    author: str
    cover: ContentImage | None
    images: list[ContentImage]


def publish_payload(revision: Revision) -> PublishPayload:
    """What goes out for one revision: its exact title and body, the cover and the item's images."""
    snapshot = revision.snapshot
    images = list(ContentImage.objects.filter(item_id=revision.item_id).order_by("pk"))
    cover_id = snapshot.get("cover_id")
    cover = ContentImage.objects.filter(pk=cover_id).first() if cover_id else None
    return PublishPayload(
        title=revision.title,
        body_html=revision.body_html,
        author=snapshot.get("doctor", "")[:16],
        cover=cover,
        images=images,
    )


def step_of_state(state: str) -> str | None:
    return {
        State.DEPARTMENT_REVIEW: ReviewStep.DEPARTMENT,
        State.MEDICAL_REVIEW: ReviewStep.MEDICAL,
        State.FINAL_REVIEW: ReviewStep.FINAL,
    }.get(state)


def in_review(item: ContentItem) -> bool:
    return item.state in REVIEW_STATES
