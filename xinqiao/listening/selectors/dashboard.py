"""Reads of the public-opinion dashboard: volume and sentiment over time, top negative clusters, topic, entity and
platform breakdowns, open alerts and cases. Every figure is one GROUP BY (or one aggregate) over the filtered
mentions; nothing is fetched per row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, Count, Exists, F, IntegerField, Max, OuterRef, Q, QuerySet, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.core.models import Department, Doctor
from xinqiao.listening.models import (
    Alert,
    CrisisCase,
    CrisisTopic,
    Mention,
    MentionCluster,
    MentionEntity,
    Platform,
    Sentiment,
)

DEFAULT_DAYS = 30
MAX_DAYS = 366
HOURLY_UP_TO_DAYS = 3  # ranges of up to three days are charted per hour, longer ones per day
SENTIMENTS = (Sentiment.NEGATIVE, Sentiment.NEUTRAL, Sentiment.POSITIVE)
REACH = F("author_followers") + F("likes") + F("reposts") + F("comments")


@dataclass(frozen=True)
class DashboardFilters:
    """Local (Asia/Shanghai) dates, both inclusive; empty strings mean "all"."""

    start: dt.date
    end: dt.date
    platform: str = ""
    entity_key: str = ""
    topic: str = ""

    @classmethod
    def last_days(cls, days: int = DEFAULT_DAYS, *, today: dt.date | None = None, **extra: str) -> DashboardFilters:
        today = today or timezone.localdate()
        return cls(start=today - dt.timedelta(days=days - 1), end=today, **extra)

    @property
    def start_at(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.start, dt.time.min))

    @property
    def end_at(self) -> dt.datetime:
        """Exclusive end: midnight after the last day."""
        return timezone.make_aware(dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def hourly(self) -> bool:
        return self.days <= HOURLY_UP_TO_DAYS


def topic_lookup(code: str) -> Q:
    """Mentions whose topic list holds ``code`` (codes are slugs, so the quoted code matches exactly one element;
    works on SQLite and PostgreSQL alike, where JSON containment is not portable)."""
    return Q(topics__icontains=f'"{code}"')


def mention_scope(hospital_id: int, filters: DashboardFilters) -> QuerySet[Mention]:
    scope = Mention.objects.filter(
        hospital_id=hospital_id, posted_at__gte=filters.start_at, posted_at__lt=filters.end_at
    )
    if filters.platform:
        scope = scope.filter(platform=filters.platform)
    if filters.topic:
        scope = scope.filter(topic_lookup(filters.topic))
    if filters.entity_key:
        scope = scope.filter(
            Exists(MentionEntity.objects.filter(mention_id=OuterRef("pk"), entity_key=filters.entity_key))
        )
    return scope


def _buckets(filters: DashboardFilters) -> list[tuple[str, dt.datetime]]:
    """(label, start) of every day, or every hour for short ranges, in local time."""
    if filters.hourly:
        starts = [filters.start_at + dt.timedelta(hours=h) for h in range(filters.days * 24)]
        return [(timezone.localtime(start).strftime("%m-%d %H:00"), start) for start in starts]
    days = [filters.start + dt.timedelta(days=d) for d in range(filters.days)]
    return [(day.isoformat(), timezone.make_aware(dt.datetime.combine(day, dt.time.min))) for day in days]


def volume_series(scope: QuerySet[Mention], filters: DashboardFilters) -> list[dict[str, Any]]:
    """Mentions per day (or per hour for short ranges) by sentiment, every bucket present (zeros included).

    The bucket of a row is a CASE over the bucket boundaries (plain comparisons in SQL): on SQLite, Django's date
    truncation with a time zone is a Python function called per row, several times slower."""
    buckets = _buckets(filters)
    index = Case(
        *[When(posted_at__lt=start, then=Value(number - 1)) for number, (_label, start) in enumerate(buckets[1:], 1)],
        default=Value(len(buckets) - 1),
        output_field=IntegerField(),
    )
    rows = scope.annotate(bucket=index).values("bucket", "sentiment").annotate(n=Count("pk")).order_by()
    counts: dict[int, dict[str, int]] = {}
    for row in rows:
        by_sentiment = counts.setdefault(row["bucket"], {})
        by_sentiment[row["sentiment"] or ""] = by_sentiment.get(row["sentiment"] or "", 0) + row["n"]
    series = []
    for number, (label, _start) in enumerate(buckets):
        by_sentiment = counts.get(number, {})
        entry = {"label": label, **{s: by_sentiment.get(s, 0) for s in SENTIMENTS}}
        entry["total"] = sum(by_sentiment.values())
        entry["negative_share"] = _share(entry[Sentiment.NEGATIVE], entry["total"])
        series.append(entry)
    return series


def _share(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def sentiment_totals(scope: QuerySet[Mention]) -> dict[str, Any]:
    figures = scope.aggregate(
        total=Count("pk"),
        reach=Sum(REACH),
        **{s: Count("pk", filter=Q(sentiment=s)) for s in SENTIMENTS},
    )
    figures["reach"] = figures["reach"] or 0
    figures["negative_share"] = _share(figures[Sentiment.NEGATIVE], figures["total"])
    return figures


def top_negative_clusters(scope: QuerySet[Mention], *, limit: int = 10) -> list[dict[str, Any]]:
    """Clusters with the most negative mentions in the filtered range (ties: higher severity first)."""
    rows = list(
        scope.filter(sentiment=Sentiment.NEGATIVE, cluster__isnull=False)
        .values("cluster")
        .annotate(negative=Count("pk"), reach=Sum(REACH), last=Max("posted_at"))
        .order_by("-negative", "cluster")[: limit * 3]
    )
    clusters = MentionCluster.objects.in_bulk([row["cluster"] for row in rows])
    result = []
    for row in rows:
        cluster = clusters[row["cluster"]]
        result.append(
            {
                "cluster": cluster,
                "negative": row["negative"],
                "reach": row["reach"] or 0,
                "last": row["last"],
                "severity": cluster.severity,
            }
        )
    result.sort(key=lambda r: (-r["negative"], -r["severity"], r["cluster"].pk))
    return result[:limit]


def topic_breakdown(scope: QuerySet[Mention], hospital_id: int) -> list[dict[str, Any]]:
    """Mentions and negative mentions per crisis topic of the hospital (one aggregate query)."""
    topics = list(CrisisTopic.objects.filter(hospital_id=hospital_id).order_by("code").values_list("code", "name"))
    if not topics:
        return []
    aggregates: dict[str, Any] = {}
    for index, (code, _name) in enumerate(topics):
        aggregates[f"t{index}"] = Count("pk", filter=topic_lookup(code))
        aggregates[f"n{index}"] = Count("pk", filter=topic_lookup(code) & Q(sentiment=Sentiment.NEGATIVE))
    figures = scope.aggregate(**aggregates)
    rows = [
        {"code": code, "name": name, "total": figures[f"t{i}"], "negative": figures[f"n{i}"]}
        for i, (code, name) in enumerate(topics)
    ]
    rows = [row for row in rows if row["total"]]
    rows.sort(key=lambda r: (-r["total"], r["code"]))
    return rows


def entity_labels(hospital_id: int, keys: list[str] | set[str]) -> dict[str, str]:
    """Readable names of entity keys ("hospital", "department:<pk>", "doctor:<pk>"): two queries at most."""
    department_ids, doctor_ids = set(), set()
    for key in keys:
        kind, _sep, pk = key.partition(":")
        if pk.isdigit():
            (department_ids if kind == "department" else doctor_ids if kind == "doctor" else set()).add(int(pk))
    departments = dict(
        Department.objects.filter(hospital_id=hospital_id, pk__in=department_ids).values_list("pk", "name")
    )
    doctors = dict(Doctor.objects.filter(hospital_id=hospital_id, pk__in=doctor_ids).values_list("pk", "name"))
    labels = {}
    for key in keys:
        kind, _sep, pk = key.partition(":")
        if key == "hospital":
            labels[key] = _("The hospital")
        elif kind == "department" and pk.isdigit() and int(pk) in departments:
            labels[key] = departments[int(pk)]
        elif kind == "doctor" and pk.isdigit() and int(pk) in doctors:
            labels[key] = doctors[int(pk)]
        else:
            labels[key] = key
    return labels


def entity_breakdown(
    scope: QuerySet[Mention], hospital_id: int, filters: DashboardFilters, *, limit: int = 15
) -> list[dict[str, Any]]:
    """Mentions and negative mentions per named entity (hospital, departments, doctors)."""
    rows_of = MentionEntity.objects.filter(hospital_id=hospital_id)
    if filters.platform or filters.topic or filters.entity_key:
        rows_of = rows_of.filter(mention__in=scope)
    else:  # dates only: the entity rows carry posted_at (indexed), no join needed
        rows_of = rows_of.filter(posted_at__gte=filters.start_at, posted_at__lt=filters.end_at)
    rows = list(
        rows_of.values("entity_key")
        .annotate(total=Count("pk"), negative=Count("pk", filter=Q(is_negative=True)))
        .order_by("-total", "entity_key")[:limit]
    )
    labels = entity_labels(hospital_id, {row["entity_key"] for row in rows})
    return [{**row, "label": labels[row["entity_key"]]} for row in rows]


def platform_breakdown(scope: QuerySet[Mention]) -> list[dict[str, Any]]:
    rows = list(
        scope.values("platform")
        .annotate(total=Count("pk"), negative=Count("pk", filter=Q(sentiment=Sentiment.NEGATIVE)))
        .order_by("-total", "platform")
    )
    labels = dict(Platform.choices)
    return [{**row, "label": labels.get(row["platform"], row["platform"])} for row in rows]


def open_alerts(hospital_id: int, *, limit: int = 10) -> list[Alert]:
    return list(
        Alert.objects.filter(
            hospital_id=hospital_id, status__in=[Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED]
        ).order_by("-severity", "-created_at")[:limit]
    )


def open_cases(hospital_id: int) -> list[CrisisCase]:
    return list(
        CrisisCase.objects.filter(hospital_id=hospital_id)
        .exclude(status=CrisisCase.Status.CLOSED)
        .select_related("owner")
        .order_by("first_response_due_at", "pk")
    )


def entity_choices(hospital_id: int) -> list[tuple[str, str]]:
    """The entities the filter offers: the hospital, its departments and doctors."""
    choices = [("hospital", _("The hospital"))]
    choices += [
        (f"department:{pk}", name)
        for pk, name in Department.objects.filter(hospital_id=hospital_id).order_by("name").values_list("pk", "name")
    ]
    choices += [
        (f"doctor:{pk}", name)
        for pk, name in Doctor.objects.filter(hospital_id=hospital_id).order_by("name").values_list("pk", "name")
    ]
    return choices


def topic_choices(hospital_id: int) -> list[tuple[str, str]]:
    return list(CrisisTopic.objects.filter(hospital_id=hospital_id).order_by("code").values_list("code", "name"))


@dataclass
class Dashboard:
    filters: DashboardFilters
    totals: dict[str, Any]
    series: list[dict[str, Any]]
    top_clusters: list[dict[str, Any]]
    topics: list[dict[str, Any]]
    entities: list[dict[str, Any]]
    platforms: list[dict[str, Any]]
    alerts: list[Alert]
    cases: list[CrisisCase]
    chart: dict[str, Any] = field(default_factory=dict)


def dashboard(hospital_id: int, filters: DashboardFilters) -> Dashboard:
    scope = mention_scope(hospital_id, filters)
    series = volume_series(scope, filters)
    topics = topic_breakdown(scope, hospital_id)
    entities = entity_breakdown(scope, hospital_id, filters)
    chart = {
        "labels": [row["label"] for row in series],
        "negative": [row[Sentiment.NEGATIVE] for row in series],
        "neutral": [row[Sentiment.NEUTRAL] for row in series],
        "positive": [row[Sentiment.POSITIVE] for row in series],
        "negative_share": [row["negative_share"] for row in series],
        "topics": {"names": [t["name"] for t in topics], "total": [t["total"] for t in topics],
                   "negative": [t["negative"] for t in topics]},
        "entities": {"names": [e["label"] for e in entities], "total": [e["total"] for e in entities],
                     "negative": [e["negative"] for e in entities]},
    }  # fmt: skip
    top_clusters = top_negative_clusters(scope)
    names = dict(topic_choices(hospital_id))
    for row in top_clusters:
        row["topic_names"] = [names.get(code, code) for code in row["cluster"].topics or []]
    return Dashboard(
        filters=filters,
        totals=sentiment_totals(scope),
        series=series,
        top_clusters=top_clusters,
        topics=topics,
        entities=entities,
        platforms=platform_breakdown(scope),
        alerts=open_alerts(hospital_id),
        cases=open_cases(hospital_id),
        chart=chart,
    )
