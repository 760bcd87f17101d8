"""Every KPI XinQiao reports, defined once: name, layer, unit, formula (as code) and description.

The functions are pure: they take already aggregated inputs (sums and counts produced by the selectors in
``xinqiao.analytics.selectors``) and return a number, or ``None`` when the value cannot be computed (a
denominator of zero, or an optional source the hospital does not record yet, e.g. NPS). ``None`` is shown
as "no data" in every dashboard and report; it is never replaced by zero or an invented value.

The ``KPIS`` registry lists them in the four layers the hospital is judged by (品牌认知, 患者信任,
服务转化, 口碑传播). ``docs/kpis.md`` documents each one with its source tables and caveats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _


class Layer:
    AWARENESS = "awareness"  # 品牌认知
    TRUST = "trust"  # 患者信任
    CONVERSION = "conversion"  # 服务转化
    WORD_OF_MOUTH = "word_of_mouth"  # 口碑传播


LAYER_LABELS = {
    Layer.AWARENESS: _("Brand awareness"),
    Layer.TRUST: _("Patient trust"),
    Layer.CONVERSION: _("Service conversion"),
    Layer.WORD_OF_MOUTH: _("Word of mouth"),
}
LAYER_ORDER = (Layer.AWARENESS, Layer.TRUST, Layer.CONVERSION, Layer.WORD_OF_MOUTH)


class Unit:
    COUNT = "count"
    RATIO = "ratio"  # 0..1, shown as a percentage
    FEN = "fen"  # money, integer 分, shown in yuan
    SCORE = "score"  # NPS: -100..100


Number = int | float | None


# --- formulas ----------------------------------------------------------------------------------


def ratio(numerator: Number, denominator: Number) -> float | None:
    """numerator / denominator; None when either is missing or the denominator is zero."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def exposure(*, impressions: int) -> int:
    """曝光: Σ impressions of the period's content metric rows."""
    return int(impressions)


def reach(*, viewers: int) -> int:
    """覆盖: Σ unique viewers per post and day (platforms report viewers per post, so one person reached by
    two posts counts twice; a cross-post de-duplicated reach is not available from the platforms)."""
    return int(viewers)


def views(*, views: int) -> int:
    """阅读/播放: Σ views."""
    return int(views)


def followers(*, followers: int | None) -> int | None:
    """粉丝数: Σ over accounts of each account's latest follower count on or before the period end."""
    return None if followers is None else int(followers)


def net_follower_growth(*, net_followers: int) -> int:
    """净增粉丝: Σ net followers (new − lost) in the period."""
    return int(net_followers)


def interactions(*, likes: int, comments: int, shares: int, favorites: int) -> int:
    """互动量: likes + comments + shares + favourites."""
    return int(likes + comments + shares + favorites)


def interaction_rate(*, likes: int, comments: int, shares: int, favorites: int, views: int) -> float | None:
    """互动率: (likes + comments + shares + favourites) / views."""
    return ratio(interactions(likes=likes, comments=comments, shares=shares, favorites=favorites), views)


def completion_rate(*, completion_weighted: float | None, completion_views: int) -> float | None:
    """完播率: views-weighted mean of the daily completion rates, over rows that report one.

    ``completion_weighted`` = Σ(completion_rate × views), ``completion_views`` = Σ views of those rows.
    """
    return ratio(completion_weighted, completion_views)


def doctor_ip_followers(*, doctor_ip_followers: int | None) -> int | None:
    """医生IP粉丝: Σ latest followers of accounts linked to a doctor marked as doctor IP."""
    return None if doctor_ip_followers is None else int(doctor_ip_followers)


def positive_sentiment_share(*, positive: int, classified: int) -> float | None:
    """正面声量占比: positive mentions / all mentions with a sentiment (listening); None without mentions."""
    return ratio(positive, classified)


def tracking_clicks(*, clicks: int) -> int:
    """追踪链接点击: tracking-link clicks in the period."""
    return int(clicks)


def consultations(*, consultations: int) -> int:
    """咨询量: consultations in the period."""
    return int(consultations)


def attributed_visits(*, attributed_visits: int) -> int:
    """归因到诊: appointments and visits attributed (last touch) to a publication."""
    return int(attributed_visits)


def conversion_rate(*, attributed_patients: int, touched_patients: int) -> float | None:
    """转化率: patients with an attributed appointment or visit / patients reached through a tracking link or QR
    scene code (touched within the period or its lookback window). Both sides count people, so it stays ≤ 100 %."""
    return ratio(attributed_patients, touched_patients)


def cost_per_acquired_patient(*, cost_fen: int, acquired_patients: int) -> float | None:
    """获客成本 (CAC): cost in 分 / new patients whose first visit was attributed to content."""
    return ratio(cost_fen, acquired_patients)


def patient_value(*, revenue_fen: int, patients: int) -> float | None:
    """患者价值: revenue (分) of attributed visits / attributed patients."""
    return ratio(revenue_fen, patients)


def return_on_investment(*, revenue_fen: int, cost_fen: int) -> float | None:
    """ROI: (attributed revenue − cost) / cost."""
    if not cost_fen:
        return None
    return (revenue_fen - cost_fen) / cost_fen


def shares(*, shares: int) -> int:
    """转发/分享: Σ shares."""
    return int(shares)


def optional_count(value: int | None) -> int | None:
    """UGC and referrals: no XinQiao app records them yet, so they are None (no data) unless supplied."""
    return None if value is None else int(value)


def ugc_count(*, ugc: int | None = None) -> int | None:
    """UGC 数: user-generated posts about the hospital, when a source records them."""
    return optional_count(ugc)


def referrals(*, referrals: int | None = None) -> int | None:
    """转介绍: patient referrals, when a source records them."""
    return optional_count(referrals)


def net_promoter_score(
    *, promoters: int | None = None, passives: int | None = None, detractors: int | None = None
) -> float | None:
    """NPS: (promoters − detractors) / respondents × 100; None when no survey answers exist."""
    if promoters is None or passives is None or detractors is None:
        return None
    total = promoters + passives + detractors
    if total == 0:
        return None
    return (promoters - detractors) / total * 100


def relative_change(current: Number, previous: Number) -> float | None:
    """Period-over-period change: (current − previous) / previous; None when previous is 0 or missing."""
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / abs(previous)


# --- registry ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kpi:
    key: str
    layer: str
    label: Any
    unit: str
    description: Any
    formula: Callable[..., Number]
    inputs: tuple[str, ...]
    optional: bool = False  # True: the source may not exist for a hospital ("no data" rather than 0)
    higher_is_better: bool = True

    def compute(self, aggregates: Mapping[str, Any]) -> Number:
        """Apply the formula to the aggregated inputs it names (missing optional inputs are None)."""
        kwargs = {name: aggregates.get(name) for name in self.inputs}
        if not self.optional and any(value is None for name, value in kwargs.items() if name not in NULLABLE_INPUTS):
            return None
        return self.formula(**kwargs)


# inputs that may legitimately be None for a non-optional KPI (the formula handles them)
NULLABLE_INPUTS = frozenset({"followers", "doctor_ip_followers", "completion_weighted"})

_INTERACTIONS = ("likes", "comments", "shares", "favorites")

KPIS: tuple[Kpi, ...] = (
    Kpi("exposure", Layer.AWARENESS, _("Exposure"), Unit.COUNT,
        _("Impressions of published content (Σ impressions)."), exposure, ("impressions",)),
    Kpi("reach", Layer.AWARENESS, _("Reach"), Unit.COUNT,
        _("Unique viewers per post and day, summed over posts."), reach, ("viewers",)),
    Kpi("views", Layer.AWARENESS, _("Views"), Unit.COUNT, _("Reads and plays (Σ views)."), views, ("views",)),
    Kpi("followers", Layer.AWARENESS, _("Followers"), Unit.COUNT,
        _("Followers of all accounts at the end of the period."), followers, ("followers",)),
    Kpi("net_follower_growth", Layer.AWARENESS, _("Net new followers"), Unit.COUNT,
        _("New minus lost followers in the period."), net_follower_growth, ("net_followers",)),
    Kpi("interaction_rate", Layer.TRUST, _("Interaction rate"), Unit.RATIO,
        _("(Likes + comments + shares + favourites) / views."), interaction_rate, (*_INTERACTIONS, "views")),
    Kpi("completion_rate", Layer.TRUST, _("Completion rate"), Unit.RATIO,
        _("Views-weighted completion rate of videos and articles that report one."), completion_rate,
        ("completion_weighted", "completion_views")),
    Kpi("doctor_ip_followers", Layer.TRUST, _("Doctor-IP followers"), Unit.COUNT,
        _("Followers of accounts linked to doctor IPs at the end of the period."), doctor_ip_followers,
        ("doctor_ip_followers",)),
    Kpi("positive_sentiment_share", Layer.TRUST, _("Positive sentiment share"), Unit.RATIO,
        _("Positive mentions / all mentions with a sentiment (listening)."), positive_sentiment_share,
        ("positive", "classified"), optional=True),
    Kpi("tracking_clicks", Layer.CONVERSION, _("Tracking-link clicks"), Unit.COUNT,
        _("Clicks on the tracking links of publications."), tracking_clicks, ("clicks",)),
    Kpi("consultations", Layer.CONVERSION, _("Consultations"), Unit.COUNT,
        _("Consultations recorded in the period."), consultations, ("consultations",)),
    Kpi("attributed_visits", Layer.CONVERSION, _("Attributed appointments and visits"), Unit.COUNT,
        _("Appointments and visits attributed to a publication (last touch, 30-day lookback)."),
        attributed_visits, ("attributed_visits",)),
    Kpi("conversion_rate", Layer.CONVERSION, _("Conversion rate"), Unit.RATIO,
        _("Patients with an attributed appointment or visit / patients reached through a tracking link or QR code."),
        conversion_rate, ("attributed_patients", "touched_patients")),
    Kpi("cost_per_acquired_patient", Layer.CONVERSION, _("Cost per acquired patient"), Unit.FEN,
        _("Cost / new patients whose first visit is attributed to content."), cost_per_acquired_patient,
        ("cost_fen", "acquired_patients"), higher_is_better=False),
    Kpi("shares", Layer.WORD_OF_MOUTH, _("Shares"), Unit.COUNT, _("Shares and forwards (Σ shares)."), shares,
        ("shares",)),
    Kpi("ugc_count", Layer.WORD_OF_MOUTH, _("UGC"), Unit.COUNT,
        _("User-generated posts about the hospital, when a source records them."), ugc_count, ("ugc",),
        optional=True),
    Kpi("referrals", Layer.WORD_OF_MOUTH, _("Referrals"), Unit.COUNT,
        _("Patient referrals, when a source records them."), referrals, ("referrals",), optional=True),
    Kpi("nps", Layer.WORD_OF_MOUTH, _("NPS"), Unit.SCORE,
        _("(Promoters − detractors) / respondents × 100, when survey answers exist."), net_promoter_score,
        ("promoters", "passives", "detractors"), optional=True),
)  # fmt: skip

KPI_BY_KEY: dict[str, Kpi] = {kpi.key: kpi for kpi in KPIS}


def compute_all(aggregates: Mapping[str, Any]) -> dict[str, Number]:
    """Every registered KPI from one dict of aggregated inputs."""
    return {kpi.key: kpi.compute(aggregates) for kpi in KPIS}


def format_value(value: Number, unit: str) -> str:
    """Display text for a KPI value (dashboards and reports share it); "—" for no data."""
    if value is None:
        return "—"
    if unit == Unit.RATIO:
        return f"{value * 100:.1f}%"
    if unit == Unit.FEN:
        return f"¥{value / 100:,.2f}"
    if unit == Unit.SCORE:
        return f"{value:.1f}"
    return f"{int(value):,}"
