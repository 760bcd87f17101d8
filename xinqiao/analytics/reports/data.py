"""Everything one report shows, gathered once and rendered twice (PDF and Excel).

Headline KPIs and their change come from ``selectors.period.period_summary``; recommended actions from
``recommendations``; this module adds what only reports need: top and bottom content of the period, topic
insights with their change vs the previous period, the listening sentiment summary (only when Mention rows
exist for the period) and per-day, per-platform raw figures. All reads are a handful of grouped queries.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, FloatField, Max, Q, Sum
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext_lazy

from xinqiao.analytics import kpis
from xinqiao.analytics.models import AccountMetricDaily, ContentMetricDaily
from xinqiao.analytics.reports.periods import ReportPeriod
from xinqiao.analytics.selectors.period import period_aggregates
from xinqiao.channels.models import PlatformAccount
from xinqiao.core.models import Department, Hospital

TOP_N = 10
TOPIC_LIMIT = 12
SENTIMENT_TOPIC_LIMIT = 5


def percent(value: float | None) -> str:
    return kpis.format_value(value, kpis.Unit.RATIO)


def signed_percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.1f}%"


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    unit: str  # kpis.Unit: "count", "ratio" (0..1), "fen", "score"
    layer: str
    higher_is_better: bool
    value: float | None
    previous: float | None
    change: float | None  # relative change vs the previous period (0.12 = +12 %), None when not defined

    @property
    def display(self) -> str:
        return kpis.format_value(self.value, self.unit)

    @property
    def previous_display(self) -> str:
        return kpis.format_value(self.previous, self.unit)

    @property
    def change_display(self) -> str:
        return signed_percent(self.change)

    @property
    def is_improvement(self) -> bool | None:
        if not self.change:
            return None
        return (self.change > 0) == self.higher_is_better


@dataclass(frozen=True)
class ContentRow:
    rank: int
    title: str
    platform: str
    platform_label: str
    account: str
    topic: str
    content_format: str
    department: str
    published_on: dt.date | None
    views: int
    engagements: int
    engagement_rate: float | None
    completion_rate: float | None
    follows_gained: int

    @property
    def views_display(self) -> str:
        return f"{self.views:,}"

    @property
    def engagement_rate_display(self) -> str:
        return percent(self.engagement_rate)

    @property
    def completion_rate_display(self) -> str:
        return percent(self.completion_rate)


@dataclass(frozen=True)
class TopicRow:
    topic: str
    items: int
    views: int
    engagements: int
    engagement_rate: float | None
    views_per_item: float
    previous_views: int
    change: float | None

    @property
    def views_display(self) -> str:
        return f"{self.views:,}"

    @property
    def engagement_rate_display(self) -> str:
        return percent(self.engagement_rate)

    @property
    def change_display(self) -> str:
        return signed_percent(self.change)


@dataclass(frozen=True)
class SentimentSummary:
    total: int
    positive: int
    neutral: int
    negative: int
    negative_share: float
    previous_total: int
    previous_negative_share: float | None
    negative_topics: list[tuple[str, int]]

    @property
    def negative_share_display(self) -> str:
        return percent(self.negative_share)

    @property
    def previous_negative_share_display(self) -> str:
        return percent(self.previous_negative_share)


@dataclass(frozen=True)
class Recommendation:
    title: str
    detail: str
    evidence: str = ""


@dataclass(frozen=True)
class DailyRow:
    day: dt.date
    platform: str
    platform_label: str
    impressions: int
    views: int
    likes: int
    comments: int
    shares: int
    favorites: int
    follows_gained: int
    net_followers: int


@dataclass
class ReportData:
    hospital_name: str
    period: ReportPeriod
    generated_at: dt.datetime
    kpis: list[Kpi] = field(default_factory=list)
    top_content: list[ContentRow] = field(default_factory=list)
    bottom_content: list[ContentRow] = field(default_factory=list)
    topics: list[TopicRow] = field(default_factory=list)
    sentiment: SentimentSummary | None = None
    recommendations: list[Recommendation] = field(default_factory=list)
    daily: list[DailyRow] = field(default_factory=list)
    platform_views: list[tuple[str, int]] = field(default_factory=list)

    @property
    def daily_totals(self) -> list[tuple[dt.date, int, int]]:
        """(day, views, engagements) summed over platforms, one row for every day of the period."""
        totals: dict[dt.date, list[int]] = {day: [0, 0] for day in self.period.dates()}
        for row in self.daily:
            bucket = totals.setdefault(row.day, [0, 0])
            bucket[0] += row.views
            bucket[1] += row.likes + row.comments + row.shares + row.favorites
        return [(day, views, engagements) for day, (views, engagements) in sorted(totals.items())]

    @property
    def has_content(self) -> bool:
        return bool(self.top_content)


_ratio = kpis.ratio
_change = kpis.relative_change


def _content_metrics(hospital: Hospital, period: ReportPeriod) -> list[dict[str, Any]]:
    return list(
        ContentMetricDaily.objects.filter(hospital=hospital, stat_date__range=(period.start, period.end))
        .values("account_id", "content_key")
        .annotate(
            title_=Max("title"),
            topic_=Max("topic"),
            format_=Max("content_format"),
            platform_=Max("platform"),
            department_=Max("department_id_snapshot"),
            published_=Max("published_at"),
            views_=Sum("views"),
            likes_=Sum("likes"),
            comments_=Sum("comments"),
            shares_=Sum("shares"),
            favorites_=Sum("favorites"),
            follows_=Sum("follows_gained"),
            completion_weighted_=Sum(
                Cast(F("completion_rate"), FloatField()) * F("views"), filter=Q(completion_rate__isnull=False)
            ),
            completion_views_=Sum("views", filter=Q(completion_rate__isnull=False)),
        )
        .order_by("account_id", "content_key")
    )


def _engagements(row: dict[str, Any]) -> int:
    return kpis.interactions(
        likes=row["likes_"], comments=row["comments_"], shares=row["shares_"], favorites=row["favorites_"]
    )


def _content_rows(hospital: Hospital, period: ReportPeriod, rows: list[dict[str, Any]]) -> tuple[list, list]:
    """Top and bottom pieces by views among those published in the period (or of unknown publish time)."""
    local_start = dt.datetime.combine(period.start, dt.time.min, tzinfo=timezone.get_current_timezone())
    local_end = local_start + dt.timedelta(days=period.days)
    candidates = [r for r in rows if r["published_"] is None or local_start <= r["published_"] < local_end]
    if not candidates:
        candidates = rows
    accounts = {a.pk: a for a in PlatformAccount.objects.filter(hospital=hospital)}
    departments = dict(Department.objects.filter(hospital=hospital).values_list("pk", "name"))
    labels = dict(PlatformAccount.Platform.choices)

    def build(rank: int, row: dict[str, Any]) -> ContentRow:
        account = accounts.get(row["account_id"])
        engagements = _engagements(row)
        published = row["published_"]
        return ContentRow(
            rank=rank,
            title=row["title_"] or row["content_key"],
            platform=row["platform_"],
            platform_label=str(labels.get(row["platform_"], row["platform_"])),
            account=account.name if account else "",
            topic=row["topic_"] or "",
            content_format=row["format_"] or "",
            department=departments.get(row["department_"], ""),
            published_on=timezone.localtime(published).date() if published else None,
            views=int(row["views_"]),
            engagements=engagements,
            engagement_rate=_ratio(engagements, row["views_"]),
            completion_rate=kpis.completion_rate(
                completion_weighted=row["completion_weighted_"], completion_views=row["completion_views_"] or 0
            ),
            follows_gained=int(row["follows_"]),
        )

    ordered = sorted(candidates, key=lambda r: (-r["views_"], -_engagements(r), r["content_key"]))
    top = [build(index + 1, row) for index, row in enumerate(ordered[:TOP_N])]
    rest = ordered[TOP_N:]
    bottom_source = list(reversed(rest[-TOP_N:]))
    bottom = [build(len(ordered) - index, row) for index, row in enumerate(bottom_source)]
    return top, bottom


def _topic_rows(current: list[dict[str, Any]], previous: list[dict[str, Any]]) -> list[TopicRow]:
    def totals(rows: list[dict[str, Any]]) -> dict[str, list[int]]:
        by_topic: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for row in rows:
            if not row["topic_"]:
                continue
            bucket = by_topic[row["topic_"]]
            bucket[0] += 1
            bucket[1] += int(row["views_"])
            bucket[2] += _engagements(row)
        return by_topic

    now_totals, before = totals(current), totals(previous)
    result = []
    for topic, (items, views, engagements) in now_totals.items():
        previous_views = before.get(topic, [0, 0, 0])[1]
        result.append(
            TopicRow(
                topic=topic,
                items=items,
                views=views,
                engagements=engagements,
                engagement_rate=_ratio(engagements, views),
                views_per_item=views / items,
                previous_views=previous_views,
                change=_change(views, previous_views),
            )
        )
    result.sort(key=lambda row: (-row.views, row.topic))
    return result[:TOPIC_LIMIT]


def _sentiment(hospital: Hospital, period: ReportPeriod) -> SentimentSummary | None:
    from xinqiao.listening.models import CrisisTopic, Mention

    zone = timezone.get_current_timezone()

    def window(p: ReportPeriod) -> Q:
        start = dt.datetime.combine(p.start, dt.time.min, tzinfo=zone)
        return Q(hospital=hospital, posted_at__gte=start, posted_at__lt=start + dt.timedelta(days=p.days))

    counts = dict(
        Mention.objects.filter(window(period)).values_list("sentiment").annotate(n=Count("pk")).order_by("sentiment")
    )
    total = sum(counts.values())
    if not total:
        return None
    previous = dict(
        Mention.objects.filter(window(period.previous))
        .values_list("sentiment")
        .annotate(n=Count("pk"))
        .order_by("sentiment")
    )
    previous_total = sum(previous.values())
    negative = counts.get("negative", 0)
    topic_counts: dict[str, int] = defaultdict(int)
    for topics in Mention.objects.filter(window(period), sentiment="negative").values_list("topics", flat=True):
        for code in topics or []:
            topic_counts[code] += 1
    names = dict(CrisisTopic.objects.filter(hospital=hospital).values_list("code", "name"))
    ranked = sorted(topic_counts.items(), key=lambda item: (-item[1], item[0]))[:SENTIMENT_TOPIC_LIMIT]
    return SentimentSummary(
        total=total,
        positive=counts.get("positive", 0),
        neutral=counts.get("neutral", 0),
        negative=negative,
        negative_share=negative / total,
        previous_total=previous_total,
        previous_negative_share=_ratio(previous.get("negative", 0), previous_total),
        negative_topics=[(names.get(code, code), n) for code, n in ranked],
    )


def _daily(hospital: Hospital, period: ReportPeriod) -> list[DailyRow]:
    content = (
        ContentMetricDaily.objects.filter(hospital=hospital, stat_date__range=(period.start, period.end))
        .values("stat_date", "platform")
        .annotate(
            impressions_=Sum("impressions"),
            views_=Sum("views"),
            likes_=Sum("likes"),
            comments_=Sum("comments"),
            shares_=Sum("shares"),
            favorites_=Sum("favorites"),
            follows_=Sum("follows_gained"),
        )
        .order_by("stat_date", "platform")
    )
    followers = (
        AccountMetricDaily.objects.filter(hospital=hospital, stat_date__range=(period.start, period.end))
        .values("stat_date", "account__platform")
        .annotate(net_=Sum("net_followers"))
        .order_by("stat_date", "account__platform")
    )
    labels = dict(PlatformAccount.Platform.choices)
    rows: dict[tuple[dt.date, str], dict[str, int]] = {}
    for row in content:
        rows[(row["stat_date"], row["platform"])] = {
            "impressions": row["impressions_"],
            "views": row["views_"],
            "likes": row["likes_"],
            "comments": row["comments_"],
            "shares": row["shares_"],
            "favorites": row["favorites_"],
            "follows_gained": row["follows_"],
            "net_followers": 0,
        }
    empty = dict.fromkeys(("impressions", "views", "likes", "comments", "shares", "favorites", "follows_gained"), 0)
    for row in followers:
        key = (row["stat_date"], row["account__platform"])
        rows.setdefault(key, {**empty, "net_followers": 0})["net_followers"] = row["net_"]
    return [
        DailyRow(day=day, platform=platform, platform_label=str(labels.get(platform, platform)), **values)
        for (day, platform), values in sorted(rows.items())
    ]


def _platform_views(daily: list[DailyRow]) -> list[tuple[str, int]]:
    totals: dict[str, int] = defaultdict(int)
    for row in daily:
        totals[row.platform_label] += row.views
    return sorted(((label, views) for label, views in totals.items() if views), key=lambda item: (-item[1], item[0]))


def _headline(hospital: Hospital, period: ReportPeriod) -> list[Kpi]:
    """Every KPI with data in this or the previous calendar period (a month is compared with the month
    before, not with the previous 31 days)."""
    previous = period.previous
    current_values = kpis.compute_all(period_aggregates(hospital=hospital, start=period.start, end=period.end))
    previous_values = kpis.compute_all(period_aggregates(hospital=hospital, start=previous.start, end=previous.end))
    rows = []
    for kpi in kpis.KPIS:
        value, before = current_values[kpi.key], previous_values[kpi.key]
        if value is None and before is None:
            continue
        rows.append(
            Kpi(
                key=kpi.key,
                label=str(kpi.label),
                unit=kpi.unit,
                layer=kpi.layer,
                higher_is_better=kpi.higher_is_better,
                value=value,
                previous=before,
                change=kpis.relative_change(value, before),
            )
        )
    return rows


def report_data(*, hospital: Hospital, period: ReportPeriod, now: dt.datetime | None = None) -> ReportData:
    """All figures of one hospital's report for one period (hospital-wide: reports are not department-scoped)."""
    current = _content_metrics(hospital, period)
    previous = _content_metrics(hospital, period.previous)
    top, bottom = _content_rows(hospital, period, current)
    daily = _daily(hospital, period)
    return ReportData(
        hospital_name=hospital.name,
        period=period,
        generated_at=now or timezone.now(),
        kpis=_headline(hospital, period),
        top_content=top,
        bottom_content=bottom,
        topics=_topic_rows(current, previous),
        sentiment=_sentiment(hospital, period),
        recommendations=_recommendations(hospital, period),
        daily=daily,
        platform_views=_platform_views(daily),
    )


RECOMMENDATION_TITLES = {
    "topic_mix": gettext_lazy("Shift the topic mix"),
    "posting_hour": gettext_lazy("Publish at the better hour"),
    "weak_format": gettext_lazy("Rework a weak format"),
    "roi_no_patients": gettext_lazy("Review spending that brought no patient"),
    "roi_cac": gettext_lazy("Review a costly channel"),
}


def _evidence(values: dict[str, Any]) -> str:
    def show(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    return "; ".join(f"{key}={show(value)}" for key, value in values.items())


def _recommendations(hospital: Hospital, period: ReportPeriod) -> list[Recommendation]:
    """The dashboards' rules (``xinqiao.analytics.recommendations``) applied to the report's period."""
    from xinqiao.analytics import attribution, recommendations
    from xinqiao.analytics.selectors.content import best_hours
    from xinqiao.analytics.selectors.roi import roi
    from xinqiao.analytics.selectors.topics import topic_cells

    window = {"hospital": hospital, "start": period.start, "end": period.end}
    attributed = attribution.attribute(**window)
    costs = roi(**window)
    advice = recommendations.recommend(
        topic_formats=topic_cells(**window, keys=("topic", "content_format"), attributed=attributed),
        hours=best_hours(hospital, period.start, period.end),
        formats=topic_cells(**window, keys=("content_format",), attributed=attributed),
        roi_rows=costs["rows"],
        overall_cac_fen=costs["cac_fen"],
    )
    return [
        Recommendation(
            title=str(RECOMMENDATION_TITLES.get(item.kind, item.kind)),
            detail=item.text,
            evidence=_evidence(item.evidence),
        )
        for item in advice
    ]
