"""Reads of mentions, clusters, batches and the lexicon (no N+1: one query per list)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.http import Http404

from xinqiao.core.access import Action, parse_pk
from xinqiao.listening.models import (
    CrisisTopic,
    Mention,
    MentionBatch,
    MentionCluster,
    MentionEntity,
    Platform,
    Sentiment,
    WatchedName,
)

if TYPE_CHECKING:
    from xinqiao.core.access import Principal

SHANGHAI = ZoneInfo("Asia/Shanghai")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
LIST_FIELDS = (
    "pk",
    "platform",
    "external_id",
    "url",
    "author_handle",
    "author_followers",
    "text",
    "posted_at",
    "likes",
    "reposts",
    "comments",
    "sentiment",
    "p_negative",
    "topics",
    "entities",
    "cluster_id",
    "severity",
    "processed_at",
)


@dataclass(frozen=True)
class MentionFilters:
    date_from: dt.date | None = None  # Beijing dates, inclusive
    date_to: dt.date | None = None
    platform: str = ""
    entity: str = ""  # "hospital", "department:<pk>", "doctor:<pk>"
    topic: str = ""
    sentiment: str = ""
    cluster_id: int | None = None
    query: str = ""
    min_severity: float | None = None


@dataclass(frozen=True)
class MentionPage:
    mentions: list[Mention]
    next_cursor: str  # "" on the last page


def encode_cursor(mention: Mention) -> str:
    return f"{mention.posted_at.astimezone(dt.UTC).strftime('%Y%m%dT%H%M%S%f')}_{mention.pk}"


def decode_cursor(cursor: str) -> tuple[dt.datetime, int] | None:
    try:
        stamp, pk = cursor.split("_", 1)
        moment = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S%f").replace(tzinfo=dt.UTC)
        return moment, parse_pk(pk)
    except (ValueError, Http404):
        return None


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI)


def mention_queryset(principal: Principal, filters: MentionFilters) -> QuerySet[Mention]:
    principal.require(Action.LISTENING_VIEW)
    queryset = Mention.objects.filter(hospital=principal.hospital)
    if filters.date_from:
        queryset = queryset.filter(posted_at__gte=_start_of(filters.date_from))
    if filters.date_to:
        queryset = queryset.filter(posted_at__lt=_start_of(filters.date_to + dt.timedelta(days=1)))
    if filters.platform in Platform.values:
        queryset = queryset.filter(platform=filters.platform)
    if filters.sentiment in Sentiment.values:
        queryset = queryset.filter(sentiment=filters.sentiment)
    if filters.entity:
        queryset = queryset.filter(
            pk__in=MentionEntity.objects.filter(hospital=principal.hospital, entity_key=filters.entity).values(
                "mention_id"
            )
        )
    if filters.topic:
        # topic codes are slugs; stored JSON lists hold them quoted
        queryset = queryset.filter(topics__icontains=f'"{filters.topic}"')
    if filters.cluster_id is not None:
        queryset = queryset.filter(cluster_id=filters.cluster_id)
    if filters.query:
        queryset = queryset.filter(Q(text__icontains=filters.query) | Q(author_handle__icontains=filters.query))
    if filters.min_severity is not None:
        queryset = queryset.filter(severity__gte=filters.min_severity)
    return queryset


def mention_list(
    *, principal: Principal, filters: MentionFilters, cursor: str = "", limit: int = PAGE_SIZE
) -> MentionPage:
    """Newest first, keyset-paginated on (posted_at, pk): page N costs what page 1 costs."""
    limit = max(1, min(MAX_PAGE_SIZE, limit))
    queryset = mention_queryset(principal, filters).only(*LIST_FIELDS)
    position = decode_cursor(cursor) if cursor else None
    if position is not None:
        moment, pk = position
        queryset = queryset.filter(Q(posted_at__lt=moment) | Q(posted_at=moment, pk__lt=pk))
    rows = list(queryset.order_by("-posted_at", "-pk")[: limit + 1])
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else ""
    return MentionPage(rows[:limit], next_cursor)


def mention_get(*, principal: Principal, pk: object) -> Mention:
    mention = (
        Mention.objects.filter(pk=parse_pk(pk), hospital=principal.hospital).select_related("cluster", "batch").first()
    )
    if mention is None:
        raise Http404
    principal.require(Action.LISTENING_VIEW)
    return mention


def cluster_get(*, principal: Principal, pk: object) -> MentionCluster:
    cluster = (
        MentionCluster.objects.filter(pk=parse_pk(pk), hospital=principal.hospital)
        .select_related("representative")
        .first()
    )
    if cluster is None:
        raise Http404
    principal.require(Action.LISTENING_VIEW)
    return cluster


def cluster_members(*, cluster: MentionCluster, limit: int = 200) -> list[Mention]:
    return list(Mention.objects.filter(cluster=cluster).only(*LIST_FIELDS).order_by("posted_at", "pk")[:limit])


def entity_labels(principal: Principal) -> dict[str, str]:
    """Entity key → display name, for filters and chips."""
    from xinqiao.core.models import Department, Doctor

    labels = {"hospital": principal.hospital.short_name or principal.hospital.name}
    for pk, name in Department.objects.filter(hospital=principal.hospital).values_list("pk", "name"):
        labels[f"department:{pk}"] = name
    for pk, name in Doctor.objects.filter(hospital=principal.hospital).values_list("pk", "name"):
        labels[f"doctor:{pk}"] = name
    return labels


def batch_list(*, principal: Principal, limit: int = 100) -> list[MentionBatch]:
    principal.require(Action.LISTENING_VIEW)
    return list(MentionBatch.objects.filter(hospital=principal.hospital).select_related("created_by")[:limit])


def batch_get(*, principal: Principal, pk: object, action: str = Action.LISTENING_VIEW) -> MentionBatch:
    batch = MentionBatch.objects.filter(pk=parse_pk(pk), hospital=principal.hospital).first()
    if batch is None:
        raise Http404
    principal.require(action)
    return batch


def topic_list(*, principal: Principal) -> list[CrisisTopic]:
    principal.require(Action.LISTENING_VIEW)
    return list(CrisisTopic.objects.filter(hospital=principal.hospital).order_by("code"))


def topic_names(*, principal: Principal) -> dict[str, str]:
    """Topic code → the name the hospital gave it (mentions and clusters store codes)."""
    principal.require(Action.LISTENING_VIEW)
    return dict(CrisisTopic.objects.filter(hospital=principal.hospital).values_list("code", "name"))


def topic_get(*, principal: Principal, pk: object, action: str = Action.LISTENING_MANAGE) -> CrisisTopic:
    topic = CrisisTopic.objects.filter(pk=parse_pk(pk), hospital=principal.hospital).first()
    if topic is None:
        raise Http404
    principal.require(action)
    return topic


def watched_name_list(*, principal: Principal) -> list[WatchedName]:
    principal.require(Action.LISTENING_VIEW)
    return list(
        WatchedName.objects.filter(hospital=principal.hospital).select_related("department", "doctor").order_by("alias")
    )


def watched_name_get(*, principal: Principal, pk: object) -> WatchedName:
    watched = WatchedName.objects.filter(pk=parse_pk(pk), hospital=principal.hospital).first()
    if watched is None:
        raise Http404
    principal.require(Action.LISTENING_MANAGE)
    return watched
