"""Plain-language recommendations backed by the numbers, with minimum samples so noise never speaks.

Each rule reads rows already aggregated by the selectors and returns ``Recommendation`` objects whose text is
a gettext message with placeholders (the numbers it rests on are in ``evidence``). Thresholds are constants
here and documented in docs/kpis.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from xinqiao.channels.models import PlatformAccount

MIN_POSTS = 5  # posts on each side of a comparison
MIN_COMPLETION_VIEWS = 1000  # views of rows reporting a completion rate, each side
MIN_VIEWS = 1000  # views of a format before its interaction rate is judged
MIN_RATIO = 1.2  # a difference smaller than 20 % is not worth a change of plan
UNDERPERFORMING = 0.7  # a format below 70 % of the overall interaction rate
MIN_HOURS = 3  # hours with data on a platform before naming the best one
MIN_COST_FEN = 100_000  # ¥1 000: cheaper cost groups are too small for ROI advice
CAC_OUTLIER = 2.0  # a group whose CAC is twice the overall CAC

FORMAT_LABELS = {
    "video": gettext_lazy("Videos"),
    "article": gettext_lazy("Articles"),
    "note": gettext_lazy("Notes"),
    "image": gettext_lazy("Image posts"),
    "live": gettext_lazy("Live streams"),
    "post": pgettext_lazy("content format", "Posts"),  # a Weibo post, a Zhihu 想法
    "answer": gettext_lazy("Answers"),
}


def format_label(value: str) -> str:
    return str(FORMAT_LABELS.get(value, value or _("Unspecified format")))


def platform_label(value: str) -> str:
    try:
        return str(PlatformAccount.Platform(value).label)
    except ValueError:
        return value


@dataclass
class Recommendation:
    kind: str
    text: str
    evidence: dict[str, Any] = field(default_factory=dict)


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def topic_mix(topic_formats: Iterable[Mapping[str, Any]]) -> list[Recommendation]:
    """Within one format, the topic that finishes most often against the one that finishes least often."""
    by_format: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in topic_formats:
        if (
            row.get("topic")
            and row.get("completion_rate") is not None
            and row["posts"] >= MIN_POSTS
            and row.get("completion_views", 0) >= MIN_COMPLETION_VIEWS
        ):
            by_format[row["content_format"]].append(row)
    result = []
    for content_format, rows in sorted(by_format.items()):
        if len(rows) < 2:
            continue
        best = max(rows, key=lambda r: (r["completion_rate"], r["topic"]))
        worst = min(rows, key=lambda r: (r["completion_rate"], r["topic"]))
        if worst["completion_rate"] <= 0:
            continue
        times = best["completion_rate"] / worst["completion_rate"]
        if times < MIN_RATIO:
            continue
        text = _(
            "%(format)s on %(best)s finish %(times).1f× more often than %(worst)s "
            "(%(best_rate)s vs %(worst_rate)s, n=%(best_posts)d and %(worst_posts)d posts): shift the mix."
        ) % {
            "format": format_label(content_format),
            "best": best["topic"],
            "worst": worst["topic"],
            "times": times,
            "best_rate": _pct(best["completion_rate"]),
            "worst_rate": _pct(worst["completion_rate"]),
            "best_posts": best["posts"],
            "worst_posts": worst["posts"],
        }
        result.append(
            Recommendation(
                "topic_mix",
                text,
                {
                    "format": content_format,
                    "best": best["topic"],
                    "worst": worst["topic"],
                    "times": round(times, 2),
                    "best_rate": best["completion_rate"],
                    "worst_rate": worst["completion_rate"],
                },
            )
        )
    return result


def posting_hours(hours: Iterable[Mapping[str, Any]]) -> list[Recommendation]:
    """Per platform, the publish hour with the most views per post, against the platform's average."""
    by_platform: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in hours:
        by_platform[row["platform"]].append(row)
    result = []
    for platform, rows in sorted(by_platform.items()):
        posts = sum(r["posts"] for r in rows)
        if len(rows) < MIN_HOURS or posts == 0:
            continue
        average = sum(r["views"] for r in rows) / posts
        eligible = [r for r in rows if r["posts"] >= MIN_POSTS and r["views_per_post"] is not None]
        if not eligible or average <= 0:
            continue
        best = max(eligible, key=lambda r: (r["views_per_post"], -r["hour"]))
        times = best["views_per_post"] / average
        if times < MIN_RATIO:
            continue
        text = _(
            "On %(platform)s, posts published at %(hour)02d:00 get %(times).1f× the views per post of the "
            "platform average (%(best).0f vs %(average).0f, n=%(posts)d posts): schedule more there."
        ) % {
            "platform": platform_label(platform),
            "hour": best["hour"],
            "times": times,
            "best": best["views_per_post"],
            "average": average,
            "posts": best["posts"],
        }
        result.append(
            Recommendation("posting_hour", text, {"platform": platform, "hour": best["hour"], "times": round(times, 2)})
        )
    return result


def weak_formats(formats: Iterable[Mapping[str, Any]]) -> list[Recommendation]:
    """Formats whose interaction rate is below 70 % of the overall rate (enough posts and views)."""
    rows = list(formats)
    views = sum(r["views"] for r in rows)
    interactions = sum(r["interactions"] for r in rows)
    if views == 0 or interactions == 0:
        return []
    overall = interactions / views
    result = []
    for row in sorted(rows, key=lambda r: r["content_format"]):
        if row["posts"] < MIN_POSTS or row["views"] < MIN_VIEWS or row["interaction_rate"] is None:
            continue
        if row["interaction_rate"] >= overall * UNDERPERFORMING:
            continue
        text = _(
            "%(format)s get %(rate)s interaction against %(overall)s overall (n=%(posts)d posts): "
            "rework the format or publish fewer of them."
        ) % {
            "format": format_label(row["content_format"]),
            "rate": f"{row['interaction_rate'] * 100:.1f}%",
            "overall": f"{overall * 100:.1f}%",
            "posts": row["posts"],
        }
        result.append(
            Recommendation(
                "weak_format",
                text,
                {"format": row["content_format"], "rate": row["interaction_rate"], "overall": overall},
            )
        )
    return result


def roi_outliers(roi_rows: Iterable[Mapping[str, Any]], overall_cac_fen: float | None) -> list[Recommendation]:
    """Cost groups with no attributed patient, or with a CAC at least twice the overall CAC."""
    result = []
    for row in roi_rows:
        if row["cost_fen"] < MIN_COST_FEN:
            continue
        label = f"{row['kind_label']} · {row['label']}"
        if row["new_patients"] == 0 and row["visits"] == 0:
            text = _(
                "%(group)s cost ¥%(cost).0f in this period and brought no attributed appointment or visit: "
                "check its tracking links and QR codes, or stop it."
            ) % {"group": label, "cost": row["cost_fen"] / 100}
            result.append(Recommendation("roi_no_patients", text, {"group": label, "cost_fen": row["cost_fen"]}))
            continue
        cac = row["cac_fen"]
        if cac is None or not overall_cac_fen or cac < overall_cac_fen * CAC_OUTLIER:
            continue
        text = _(
            "%(group)s costs ¥%(cac).0f per new patient, %(times).1f× the average of ¥%(average).0f "
            "(n=%(patients)d new patients): renegotiate or move the budget."
        ) % {
            "group": label,
            "cac": cac / 100,
            "times": cac / overall_cac_fen,
            "average": overall_cac_fen / 100,
            "patients": row["new_patients"],
        }
        result.append(Recommendation("roi_cac", text, {"group": label, "cac_fen": cac, "overall": overall_cac_fen}))
    return result


def recommend(
    *,
    topic_formats: Iterable[Mapping[str, Any]] = (),
    hours: Iterable[Mapping[str, Any]] = (),
    formats: Iterable[Mapping[str, Any]] = (),
    roi_rows: Iterable[Mapping[str, Any]] = (),
    overall_cac_fen: float | None = None,
) -> list[Recommendation]:
    return [
        *topic_mix(topic_formats),
        *posting_hours(hours),
        *weak_formats(formats),
        *roi_outliers(roi_rows, overall_cac_fen),
    ]
