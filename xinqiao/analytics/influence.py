"""Account influence indices: WeChat WCI (V11, V12, V13, V14.2-A, V14.2-B) and Weibo BCI (full, simplified).

Source: ``/work/shared/domain/influence-index.md`` (copied facts, graded there; section numbers below refer to
it). Every version is a data-driven weight set (§10.1), the arithmetic is floating point only (§10.4), every
stored value keeps its version, window, ``d``, snapshot time and raw inputs (§10.2), and accounts are ranked
only within one window and one version (§10.5).

How the inputs are derived from ``ContentMetricDaily`` (one row per article and day, daily increments):

- an **article** is one ``content_key`` of the account whose ``published_at`` (Asia/Shanghai date) lies in the
  window; ``n`` counts them;
- an article's **reads** (``R``) are the sum of its daily ``views`` up to the snapshot (weekly: up to the
  following Friday 00:00, the health-commission freeze; monthly: the article's first 7 days, GSData's rule);
  its **在看** (``Z``) the sum of ``extra["zaikan"]`` (or ``extra["wow"]``, the import's 在看人数 column) when
  the source reports 在看, else its likes (the V≤13
  meaning of Z, flagged ``z_from_likes``); **likes** (``L``) the sum of ``likes``; **shares** (``RE``) the sum
  of ``shares``;
- **10万+**: an article whose source shows "10万+" (``extra["reads_display"] == "10万+"``,
  ``extra["reads_capped"]``, or a daily row of exactly 100001 views — the metric import already stores
  "10万+" as 100001) is counted as 100001 reads and flagged (§3, §10.3);
- the **headline** of a push is its first article: articles of one account published at the same minute
  form a push; the first is the one with the lowest ``extra["position"]`` (WeChat's ``idx``), else the
  ``_<idx>`` suffix of a WeChat ``msgid_idx`` content key, else the smallest content key;
- V13 (健康榜-compatible) and V14.2 revision A are stored for every WeChat account; revision B (the default
  display version) only for accounts whose window has share data (Σ shares > 0), so B ranks only accounts with
  shares and no account is scored with RE = 0 (§4.5);
- Weibo: every content key is a post (``X1``); ``extra["is_original"]`` marks original posts; with that
  split the full BCI (§7.1) is computed, otherwise the simplified one (§7.2).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from xinqiao.analytics.models import ContentMetricDaily, InfluenceIndex
from xinqiao.analytics.selectors import LOCAL_TZ
from xinqiao.channels.models import PlatformAccount
from xinqiao.core.models import Hospital

READS_DISPLAY_CAP = 100_000
CAPPED_READS = 100_001
INTERACTION_MULTIPLIER = 10.0


# --- weight sets (§4, §5, §10.1) --------------------------------------------------------------


@dataclass(frozen=True)
class WciWeights:
    """WCI = (Σ_dimension w_dim · Σ_metric w_metric · ln(m_metric · x + 1))² × outer.

    Dimensions: ``overall`` (totals when ``overall_uses_totals`` — V11 — else per day), ``article`` (per
    article), ``headline`` (headline totals per ``d`` or per ``nt``), ``peak`` (single-article maximum).
    V11/V12's "0.80·Rd + 0.20·Zd" with 40/45/15 inside is the same linear form with the roles of the two
    weight levels exchanged.
    """

    version: str
    dimensions: Mapping[str, float]
    metrics: Mapping[str, float]  # "reads", "zaikan", "likes", "shares"
    outer: float
    overall_uses_totals: bool = False
    headline_denominator: str = "d"  # "d" (V13, V14.2) or "nt" (V14.0/14.1, not shipped)
    interaction_multiplier: float = INTERACTION_MULTIPLIER


WCI_VERSIONS: dict[str, WciWeights] = {
    "wci-11": WciWeights(
        "wci-11", {"overall": 0.40, "article": 0.45, "headline": 0.0, "peak": 0.15},
        {"reads": 0.80, "zaikan": 0.20}, 10.0, overall_uses_totals=True,
    ),
    "wci-12": WciWeights(
        "wci-12", {"overall": 0.40, "article": 0.45, "headline": 0.0, "peak": 0.15},
        {"reads": 0.80, "zaikan": 0.20}, 10.0,
    ),
    "wci-13": WciWeights(
        "wci-13", {"overall": 0.30, "article": 0.30, "headline": 0.30, "peak": 0.10},
        {"reads": 0.85, "zaikan": 0.15}, 10.0,
    ),
    "wci-14.2-a": WciWeights(
        "wci-14.2-a", {"overall": 0.60, "article": 0.20, "headline": 0.10, "peak": 0.10},
        {"reads": 0.85, "zaikan": 0.09, "likes": 0.06}, 12.0,
    ),
    "wci-14.2-b": WciWeights(
        "wci-14.2-b", {"overall": 0.60, "article": 0.20, "headline": 0.10, "peak": 0.10},
        {"reads": 0.70, "zaikan": 0.09, "likes": 0.06, "shares": 0.15}, 12.0,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class BciWeights:
    """BCI = (w_activity · Σ w·ln(x+1) + w_spread · Σ w·ln(x+1)) × multiplier (linear, not squared; §7)."""

    version: str
    activity: Mapping[str, float]
    spread: Mapping[str, float]
    activity_weight: float = 0.20
    spread_weight: float = 0.80
    multiplier: float = 160.0


BCI_VERSIONS: dict[str, BciWeights] = {
    "bci-full": BciWeights(
        "bci-full",
        {"posts": 0.30, "original_posts": 0.70},
        {"reposts": 0.20, "comments": 0.20, "original_reposts": 0.25, "original_comments": 0.25, "likes": 0.10},
    ),
    "bci-simple": BciWeights("bci-simple", {"posts": 1.0}, {"reposts": 0.40, "comments": 0.40, "likes": 0.20}),
}

DEFAULT_WCI_VERSION = "wci-14.2-b"
HEALTH_LIST_VERSION = "wci-13"  # 健康榜-compatible output (§6)


# --- inputs and formulas ----------------------------------------------------------------------


@dataclass
class WciInputs:
    """Window inputs of §2. ``*_max`` are single-article maxima; ``*_headline`` headline sums."""

    d: float
    n: int
    reads: float
    reads_headline: float
    reads_max: float
    zaikan: float = 0.0
    zaikan_headline: float = 0.0
    zaikan_max: float = 0.0
    likes: float = 0.0
    likes_headline: float = 0.0
    likes_max: float = 0.0
    shares: float = 0.0
    shares_headline: float = 0.0
    shares_max: float = 0.0
    nt: int = 0

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def _ln1(value: float) -> float:
    return math.log(value + 1.0)


def wci_dimensions(
    inputs: WciInputs, weights: WciWeights, *, round_averages: int | None = None
) -> dict[str, float] | None:
    """The four dimension scores (O, A, H, P) of §4; None when n = 0 (inactive)."""
    if inputs.n <= 0:
        return None
    d = float(inputs.d)
    headline_divisor = float(inputs.nt) if weights.headline_denominator == "nt" else d

    def per_article(total: float) -> float:
        value = total / inputs.n
        return round(value, round_averages) if round_averages is not None else value

    metric_values = {
        "reads": (inputs.reads, inputs.reads_headline, inputs.reads_max, 1.0),
        "zaikan": (inputs.zaikan, inputs.zaikan_headline, inputs.zaikan_max, weights.interaction_multiplier),
        "likes": (inputs.likes, inputs.likes_headline, inputs.likes_max, weights.interaction_multiplier),
        "shares": (inputs.shares, inputs.shares_headline, inputs.shares_max, weights.interaction_multiplier),
    }
    scores = {"overall": 0.0, "article": 0.0, "headline": 0.0, "peak": 0.0}
    for metric, weight in weights.metrics.items():
        total, headline, peak, multiplier = metric_values[metric]
        overall = total if weights.overall_uses_totals else total / d
        scores["overall"] += weight * _ln1(multiplier * overall)
        scores["article"] += weight * _ln1(multiplier * per_article(total))
        scores["headline"] += weight * _ln1(multiplier * (headline / headline_divisor if headline_divisor else 0.0))
        scores["peak"] += weight * _ln1(multiplier * peak)
    return scores


def wci(inputs: WciInputs, version: str = DEFAULT_WCI_VERSION, *, round_averages: int | None = None) -> float:
    """The WCI of one account and window; 0.0 when n = 0 (§3: inactive, not ranked)."""
    weights = WCI_VERSIONS[version]
    scores = wci_dimensions(inputs, weights, round_averages=round_averages)
    if scores is None:
        return 0.0
    inner = sum(weights.dimensions[name] * score for name, score in scores.items())
    return inner * inner * weights.outer


def bci(counts: Mapping[str, float], version: str = "bci-full") -> float:
    """The BCI of one Weibo account and window; 0.0 without posts."""
    weights = BCI_VERSIONS[version]
    if not counts.get("posts"):
        return 0.0
    activity = sum(w * _ln1(float(counts.get(name, 0))) for name, w in weights.activity.items())
    spread = sum(w * _ln1(float(counts.get(name, 0))) for name, w in weights.spread.items())
    return (weights.activity_weight * activity + weights.spread_weight * spread) * weights.multiplier


# --- articles → inputs ------------------------------------------------------------------------


@dataclass
class Article:
    key: str
    published_at: dt.datetime | None
    reads: float = 0.0
    zaikan: float = 0.0
    has_zaikan: bool = False
    likes: float = 0.0
    shares: float = 0.0
    comments: float = 0.0
    is_capped: bool = False
    is_original: bool | None = None
    position: int | None = None
    extra_keys: set[str] = field(default_factory=set)


_IDX_SUFFIX = re.compile(r"_(\d+)$")


def _position(key: str, position: Any) -> int | None:
    if position not in (None, ""):
        try:
            return int(position)
        except (TypeError, ValueError):
            return None
    match = _IDX_SUFFIX.search(key)
    return int(match.group(1)) if match else None


def headline_keys(articles: Iterable[Article]) -> set[str]:
    """Content keys of the headline (first) article of each push (same account, same publish minute)."""
    pushes: dict[Any, list[Article]] = defaultdict(list)
    for article in articles:
        minute = article.published_at.replace(second=0, microsecond=0) if article.published_at else article.key
        pushes[minute].append(article)
    heads = set()
    for members in pushes.values():
        first = min(members, key=lambda a: (a.position if a.position is not None else 10**6, a.key))
        heads.add(first.key)
    return heads


def wci_inputs_from_articles(articles: list[Article], d: float) -> WciInputs:
    heads = headline_keys(articles)
    inputs = WciInputs(d=d, n=len(articles), reads=0.0, reads_headline=0.0, reads_max=0.0, nt=len(heads))
    for article in articles:
        is_head = article.key in heads
        for metric in ("reads", "zaikan", "likes", "shares"):
            value = getattr(article, metric)
            setattr(inputs, metric, getattr(inputs, metric) + value)
            setattr(inputs, f"{metric}_max", max(getattr(inputs, f"{metric}_max"), value))
            if is_head:
                setattr(inputs, f"{metric}_headline", getattr(inputs, f"{metric}_headline") + value)
    return inputs


def bci_counts_from_articles(articles: list[Article]) -> tuple[dict[str, float], str]:
    """Weibo counts of §7 and the variant they allow (full needs the original-post split)."""
    has_split = any(article.is_original is not None for article in articles)
    counts = {
        "posts": float(len(articles)),
        "reposts": sum(a.shares for a in articles),
        "comments": sum(a.comments for a in articles),
        "likes": sum(a.likes for a in articles),
    }
    if has_split:
        originals = [a for a in articles if a.is_original]
        counts.update(
            original_posts=float(len(originals)),
            original_reposts=sum(a.shares for a in originals),
            original_comments=sum(a.comments for a in originals),
        )
        return counts, "bci-full"
    return counts, "bci-simple"


# --- windows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    kind: str
    start: dt.date
    end: dt.date
    d: int
    snapshot_at: dt.datetime

    def snapshot_day_for(self, published_on: dt.date) -> dt.date:
        """The last stat_date counted for an article (weekly: the freeze; monthly: its 7th day)."""
        if self.kind == InfluenceIndex.Window.MONTH:
            return published_on + dt.timedelta(days=6)
        return (self.snapshot_at - dt.timedelta(seconds=1)).astimezone(LOCAL_TZ).date()


def window_for(kind: str, window_start: dt.date) -> Window:
    """Week: 7 days from ``window_start`` (Mon–Sun for the health-commission lists), frozen the following
    Friday 00:00 (Asia/Shanghai), d = 7. Month: the natural month of ``window_start``, d = 30 (GSData uses 30
    for every month), each article counted on its 7th day."""
    if kind == InfluenceIndex.Window.WEEK:
        end = window_start + dt.timedelta(days=6)
        friday = end + dt.timedelta(days=(4 - end.weekday()) % 7 or 7)
        snapshot = dt.datetime.combine(friday, dt.time.min, tzinfo=LOCAL_TZ)
        return Window(kind, window_start, end, 7, snapshot)
    if kind == InfluenceIndex.Window.MONTH:
        start = window_start.replace(day=1)
        next_month = (start + dt.timedelta(days=32)).replace(day=1)
        end = next_month - dt.timedelta(days=1)
        snapshot = dt.datetime.combine(end + dt.timedelta(days=8), dt.time.min, tzinfo=LOCAL_TZ)
        return Window(kind, start, end, 30, snapshot)
    raise ValueError(kind)


def articles_of_window(hospital: Hospital, window: Window) -> dict[int, list[Article]]:
    """Articles per account published in the window with their counts up to the snapshot (one query)."""
    lower = dt.datetime.combine(window.start, dt.time.min, tzinfo=LOCAL_TZ)
    upper = dt.datetime.combine(window.end + dt.timedelta(days=1), dt.time.min, tzinfo=LOCAL_TZ)
    last_day = window.end + dt.timedelta(days=40)
    rows = (
        ContentMetricDaily.objects.filter(
            hospital=hospital,
            published_at__gte=lower,
            published_at__lt=upper,
            stat_date__gte=window.start,
            stat_date__lte=last_day,
            platform__in=[PlatformAccount.Platform.WECHAT_OA, PlatformAccount.Platform.WEIBO],
        )
        .order_by("account_id", "content_key", "stat_date")
        .values_list(
            "account_id", "content_key", "published_at", "stat_date", "views", "likes", "shares", "comments", "extra"
        )
    )
    by_account: dict[int, dict[str, Article]] = defaultdict(dict)
    for account_id, key, published_at, stat_date, views, likes, shares, comments, extra in rows:
        article = by_account[account_id].get(key)
        if article is None:
            article = by_account[account_id][key] = Article(key=key, published_at=published_at)
        extra = extra or {}
        if article.position is None:
            article.position = _position(key, extra.get("position", extra.get("idx")))
        if "is_original" in extra:
            article.is_original = bool(extra["is_original"])
        published_on = published_at.astimezone(LOCAL_TZ).date()
        if stat_date > window.snapshot_day_for(published_on):
            continue
        article.reads += views
        article.likes += likes
        article.shares += shares
        article.comments += comments
        zaikan_key = "zaikan" if "zaikan" in extra else "wow" if "wow" in extra else None
        if zaikan_key is not None:
            article.zaikan += float(extra[zaikan_key] or 0)
            article.has_zaikan = True
        if extra.get("reads_display") == "10万+" or extra.get("reads_capped") or views == CAPPED_READS:
            article.is_capped = True
    result: dict[int, list[Article]] = {}
    for account_id, articles in by_account.items():
        for article in articles.values():
            if article.is_capped:
                article.reads = float(CAPPED_READS)
            if not article.has_zaikan:
                article.zaikan = article.likes
        result[account_id] = list(articles.values())
    return result


# --- service ----------------------------------------------------------------------------------


@transaction.atomic
def influence_compute(*, hospital: Hospital, window: str, window_start: dt.date) -> list[InfluenceIndex]:
    """Compute and store WCI (V13, V14.2-A, and V14.2-B with share data) for WeChat accounts and BCI for Weibo
    accounts of one hospital and window, then rank within each version. Idempotent: reruns update rows."""
    spec = window_for(window, window_start)
    articles_by_account = articles_of_window(hospital, spec)
    accounts = PlatformAccount.objects.filter(
        hospital=hospital,
        is_active=True,
        platform__in=[PlatformAccount.Platform.WECHAT_OA, PlatformAccount.Platform.WEIBO],
    ).order_by("pk")
    now = timezone.now()
    stored: list[InfluenceIndex] = []
    for account in accounts:
        articles = articles_by_account.get(account.pk, [])
        capped = sum(1 for article in articles if article.is_capped)
        results: list[tuple[str, float, dict[str, Any]]] = []
        if account.platform == PlatformAccount.Platform.WECHAT_OA:
            inputs = wci_inputs_from_articles(articles, spec.d)
            raw = inputs.as_dict() | {
                "z_from_likes": any(not a.has_zaikan for a in articles),
                "capped_keys": sorted(a.key for a in articles if a.is_capped),
            }
            versions = [HEALTH_LIST_VERSION, "wci-14.2-a"]
            if inputs.shares > 0:
                versions.append("wci-14.2-b")
            for version in versions:
                results.append((version, wci(inputs, version), raw))
            inactive = inputs.n == 0
        else:
            counts, version = bci_counts_from_articles(articles)
            results.append((version, bci(counts, version), counts))
            inactive = not articles
        for version, value, raw in results:
            row, _created = InfluenceIndex.objects.update_or_create(
                account=account,
                version=version,
                window=spec.kind,
                window_start=spec.start,
                defaults={
                    "hospital": hospital,
                    "window_end": spec.end,
                    "days": spec.d,
                    "snapshot_at": spec.snapshot_at,
                    "inputs": raw,
                    "value": value,
                    "is_inactive": inactive,
                    "rank": None,
                    "capped_articles": capped,
                    "computed_at": now,
                },
            )
            stored.append(row)
    rank_window(hospital=hospital, window=spec.kind, window_start=spec.start)
    return stored


def last_complete_window(window: str, today: dt.date) -> dt.date:
    """Start of the last complete Monday–Sunday week, or the first day of the last complete month."""
    if window == InfluenceIndex.Window.MONTH:
        return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    this_monday = today - dt.timedelta(days=today.weekday())
    return this_monday - dt.timedelta(days=7)


def influence_compute_due(*, today: dt.date | None = None) -> int:
    """The periodic job: the last complete week and month of every active hospital that has WeChat or Weibo
    accounts (idempotent, so running it every day keeps late-arriving metrics in the values). Returns rows stored."""
    today = today or timezone.localdate()
    hospital_ids = (
        PlatformAccount.objects.filter(
            is_active=True,
            hospital__is_active=True,
            platform__in=[PlatformAccount.Platform.WECHAT_OA, PlatformAccount.Platform.WEIBO],
        )
        .values_list("hospital_id", flat=True)
        .distinct()
    )
    stored = 0
    for hospital in Hospital.objects.filter(pk__in=list(hospital_ids)).order_by("pk"):
        for window in (InfluenceIndex.Window.WEEK, InfluenceIndex.Window.MONTH):
            start = last_complete_window(window, today)
            stored += len(influence_compute(hospital=hospital, window=window, window_start=start))
    return stored


def rank_window(*, hospital: Hospital, window: str, window_start: dt.date) -> None:
    """Rank active accounts within each version of one window (inactive ones stay unranked)."""
    rows = list(
        InfluenceIndex.objects.filter(hospital=hospital, window=window, window_start=window_start).order_by(
            "version", "-value", "account_id"
        )
    )
    by_version: dict[str, list[InfluenceIndex]] = defaultdict(list)
    for row in rows:
        by_version[row.version].append(row)
    changed = []
    for version_rows in by_version.values():
        rank = 0
        for row in version_rows:
            new_rank = None
            if not row.is_inactive:
                rank += 1
                new_rank = rank
            if row.rank != new_rank:
                row.rank = new_rank
                changed.append(row)
    InfluenceIndex.objects.bulk_update(changed, ["rank"])
