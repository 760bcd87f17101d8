"""Reads of crisis cases: access, lists, the SLA clock, the propagation view, the timeline and the review figures.

Review figures (frozen into ``CrisisCase.review`` when the case is closed; definitions in docs/listening-cases.md):
the pivot is the first response (or the opening when there was none); the *before* window is the 48 hours before
the pivot, the *after* window the 48 hours from it, cut at closing time when the case closes earlier (hours are
reported, so rates per hour compare fairly). Two scopes are counted: the *story* (mentions of the linked clusters)
and the *entities* (every mention naming a department or doctor the story names).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncHour
from django.http import Http404
from django.utils import timezone

from xinqiao.core.access import Action, Principal, parse_pk, require_member
from xinqiao.listening.models import (
    Alert,
    CaseEvent,
    CrisisCase,
    Mention,
    MentionEntity,
    Platform,
    ReplyDraft,
    Sentiment,
)
from xinqiao.listening.selectors.dashboard import REACH, SENTIMENTS, entity_labels

REVIEW_WINDOW = dt.timedelta(hours=48)
SLA_WARNING_BEFORE = dt.timedelta(hours=4)
PROPAGATION_ROWS = 200


def access_case(principal: Principal | None, pk: object, action: str = Action.LISTENING_VIEW) -> CrisisCase:
    """One case of the principal's hospital: 404 when it is another hospital's, 403 without the action."""
    principal = require_member(principal)
    case = (
        CrisisCase.objects.filter(pk=parse_pk(pk), hospital=principal.hospital)
        .select_related("owner", "opened_by", "hospital")
        .first()
    )
    if case is None:
        raise Http404
    principal.require(Action.LISTENING_VIEW)
    principal.require(action)
    return case


def access_reply(principal: Principal | None, pk: object, action: str) -> ReplyDraft:
    principal = require_member(principal)
    draft = (
        ReplyDraft.objects.filter(pk=parse_pk(pk), case__hospital=principal.hospital)
        .select_related("case", "author", "signed_off_by")
        .first()
    )
    if draft is None:
        raise Http404
    principal.require(action)
    return draft


def access_alert_for_case(principal: Principal | None, pk: object) -> Alert:
    principal = require_member(principal)
    alert = Alert.objects.filter(pk=parse_pk(pk), hospital=principal.hospital).first()
    if alert is None:
        raise Http404
    principal.require(Action.CASE_MANAGE)
    return alert


def case_list(hospital_id: int, *, status: str = "") -> QuerySet[CrisisCase]:
    cases = CrisisCase.objects.filter(hospital_id=hospital_id).select_related("owner")
    if status:
        cases = cases.filter(status=status)
    return cases.annotate(
        cluster_count=Count("clusters", distinct=True),
        awaiting_sign_off=Count("drafts", filter=Q(drafts__status=ReplyDraft.Status.SUBMITTED), distinct=True),
    ).order_by("-opened_at", "-pk")


# --- SLA --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sla:
    due_at: dt.datetime
    responded_at: dt.datetime | None
    remaining_seconds: int  # negative once overdue; frozen at the response
    state: str  # "met", "late", "overdue", "warning", "running", "closed"

    @property
    def is_overdue(self) -> bool:
        return self.state == "overdue"

    @property
    def remaining_label(self) -> str:
        seconds = abs(self.remaining_seconds)
        hours, rest = divmod(seconds, 3600)
        return f"{'-' if self.remaining_seconds < 0 else ''}{hours}:{rest // 60:02d}"


def case_sla(case: CrisisCase, *, now: dt.datetime | None = None) -> Sla:
    """The 24-hour first-response clock: running, within 4 hours (warning), overdue, met or late."""
    now = now or timezone.now()
    due = case.first_response_due_at
    if case.first_responded_at is not None:
        remaining = int((due - case.first_responded_at).total_seconds())
        return Sla(due, case.first_responded_at, remaining, "met" if remaining >= 0 else "late")
    remaining = int((due - now).total_seconds())
    if case.status == CrisisCase.Status.CLOSED:
        return Sla(due, None, remaining, "closed")
    if remaining < 0:
        return Sla(due, None, remaining, "overdue")
    if remaining <= SLA_WARNING_BEFORE.total_seconds():
        return Sla(due, None, remaining, "warning")
    return Sla(due, None, remaining, "running")


# --- propagation ------------------------------------------------------------------------------------------------


def case_mentions(case: CrisisCase) -> QuerySet[Mention]:
    """The story: mentions of the case's linked clusters."""
    return Mention.objects.filter(hospital_id=case.hospital_id, cluster__in=case.clusters.all())


@dataclass
class Propagation:
    first: dict[str, Any] | None
    accounts: list[dict[str, Any]]
    mentions: list[dict[str, Any]]
    cumulative: list[dict[str, Any]]
    total_mentions: int
    total_reach: int


def case_propagation(case: CrisisCase, *, limit: int = PROPAGATION_ROWS) -> Propagation:
    """Who posted first, which accounts relayed it (in order, with their reach) and the cumulative reach per hour."""
    story = case_mentions(case)
    fields = (
        "pk", "platform", "external_id", "url", "author_handle", "author_followers", "is_verified_author",
        "posted_at", "likes", "reposts", "comments", "parent_external_id", "sentiment", "cluster_id",
    )  # fmt: skip
    mentions = list(
        story.annotate(reach_value=REACH).order_by("posted_at", "pk").values(*fields, "reach_value")[:limit]
    )
    accounts = list(
        story.values("platform", "author_handle")
        .annotate(
            first_at=Min("posted_at"),
            posts=Count("pk"),
            followers=Max("author_followers"),
            reach=Sum(REACH),
            verified=Count("pk", filter=Q(is_verified_author=True)),
        )
        .order_by("first_at", "platform", "author_handle")[:limit]
    )
    platforms = dict(Platform.choices)
    for row in (*mentions, *accounts):
        row["platform_label"] = platforms.get(row["platform"], row["platform"])
    for account in accounts:
        account["verified"] = account["verified"] > 0
        account["reach"] = account["reach"] or 0
    hourly = list(
        story.annotate(hour=TruncHour("posted_at"))
        .values("hour")
        .annotate(posts=Count("pk"), reach=Sum(REACH))
        .order_by("hour")
    )
    running_reach, running_posts, cumulative = 0, 0, []
    for row in hourly:
        running_reach += row["reach"] or 0
        running_posts += row["posts"]
        cumulative.append(
            {
                "hour": timezone.localtime(row["hour"]),
                "posts": row["posts"],
                "reach": row["reach"] or 0,
                "cumulative_posts": running_posts,
                "cumulative_reach": running_reach,
            }
        )
    return Propagation(
        first=mentions[0] if mentions else None,
        accounts=accounts,
        mentions=mentions,
        cumulative=cumulative,
        total_mentions=running_posts,
        total_reach=running_reach,
    )


# --- timeline and drafts ----------------------------------------------------------------------------------------


def case_timeline(case: CrisisCase) -> list[CaseEvent]:
    return list(case.events.select_related("actor").order_by("created_at", "pk"))


def case_drafts(case: CrisisCase) -> list[ReplyDraft]:
    return list(case.drafts.select_related("author", "signed_off_by").order_by("-created_at", "-pk"))


def case_alerts(case: CrisisCase) -> list[Alert]:
    return list(case.alerts.order_by("-created_at"))


# --- review figures ---------------------------------------------------------------------------------------------


def case_entity_keys(case: CrisisCase) -> list[str]:
    """Departments and doctors the story names (and those its alerts are about); the hospital when none."""
    keys = set(
        MentionEntity.objects.filter(mention__in=case_mentions(case))
        .exclude(entity_key="hospital")
        .values_list("entity_key", flat=True)
        .order_by()
        .distinct()
    )
    keys |= {
        key for key in case.alerts.exclude(entity_key="").values_list("entity_key", flat=True) if key != "hospital"
    }
    return sorted(keys) or ["hospital"]


def _window_figures(scope: QuerySet[Mention], start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    figures = scope.filter(posted_at__gte=start, posted_at__lt=end).aggregate(
        total=Count("pk"),
        reach=Sum(REACH),
        **{s: Count("pk", filter=Q(sentiment=s)) for s in SENTIMENTS},
    )
    hours = max(0.0, (end - start).total_seconds() / 3600)
    total = figures["total"]
    return {
        "total": total,
        "negative": figures[Sentiment.NEGATIVE],
        "neutral": figures[Sentiment.NEUTRAL],
        "positive": figures[Sentiment.POSITIVE],
        "negative_share": round(100.0 * figures[Sentiment.NEGATIVE] / total, 1) if total else 0.0,
        "reach": figures["reach"] or 0,
        "per_hour": round(total / hours, 2) if hours else 0.0,
        "_rate": total / hours if hours else 0.0,
    }


def _change(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Relative change of mentions per hour (None when there were none before) and of the negative share."""
    rate_before, rate_after = before.pop("_rate"), after.pop("_rate")
    return {
        "per_hour_pct": round(100.0 * (rate_after - rate_before) / rate_before, 1) if rate_before else None,
        "negative_share_points": round(after["negative_share"] - before["negative_share"], 1),
    }


def case_review_figures(case: CrisisCase, *, until: dt.datetime) -> dict[str, Any]:
    """Volume and sentiment before and after the first response, for the story and for the named entities."""
    pivot = case.first_responded_at or case.opened_at
    before_start = pivot - REVIEW_WINDOW
    after_end = max(pivot, min(pivot + REVIEW_WINDOW, until))
    story = case_mentions(case)
    keys = case_entity_keys(case)
    entity_scope = Mention.objects.filter(
        hospital_id=case.hospital_id,
        pk__in=MentionEntity.objects.filter(hospital_id=case.hospital_id, entity_key__in=keys).values("mention_id"),
    )
    scopes = {"story": story, "entities": entity_scope}
    windows = {}
    for scope_name, scope in scopes.items():
        before = _window_figures(scope, before_start, pivot)
        after = _window_figures(scope, pivot, after_end)
        windows[scope_name] = {"before": before, "after": after, "change": _change(before, after)}
    hourly = (
        story.filter(posted_at__gte=before_start, posted_at__lt=after_end)
        .annotate(hour=TruncHour("posted_at"))
        .values("hour")
        .annotate(total=Count("pk"), negative=Count("pk", filter=Q(sentiment=Sentiment.NEGATIVE)))
        .order_by("hour")
    )
    labels = entity_labels(case.hospital_id, keys)
    return {
        "pivot": pivot.isoformat(),
        "pivot_kind": "first_response" if case.first_responded_at else "opened",
        "before": {"start": before_start.isoformat(), "end": pivot.isoformat(), "hours": REVIEW_WINDOW.total_seconds() / 3600},
        "after": {"start": pivot.isoformat(), "end": after_end.isoformat(),
                  "hours": round((after_end - pivot).total_seconds() / 3600, 2)},
        "entities": [{"key": key, "label": labels[key]} for key in keys],
        "figures": windows,
        "hourly": [
            {"hour": timezone.localtime(row["hour"]).strftime("%Y-%m-%d %H:00"), "total": row["total"],
             "negative": row["negative"]}
            for row in hourly
        ],
        "computed_at": until.isoformat(),
    }  # fmt: skip


def review_mentions(case: CrisisCase, *, limit: int = 2000) -> list[dict[str, Any]]:
    """The linked mentions for the review export: public handles only, no other personal data."""
    rows = (
        case_mentions(case)
        .annotate(reach_value=REACH)
        .order_by("posted_at", "pk")
        .values("posted_at", "platform", "author_handle", "author_followers", "is_verified_author", "url", "text",
                "sentiment", "likes", "reposts", "comments", "reach_value", "cluster_id")[:limit]
    )  # fmt: skip
    return list(rows)


def case_counts_by_status(hospital_id: int) -> dict[str, int]:
    rows = CrisisCase.objects.filter(hospital_id=hospital_id).values("status").annotate(n=Count("pk")).order_by()
    return {row["status"]: row["n"] for row in rows}
