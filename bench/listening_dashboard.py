"""Public-opinion dashboard at bench scale: the GROUP BY selectors vs naive per-row ORM iteration.

Set-up (bench database): a fresh hospital with 12 departments, 40 doctors, 8 crisis topics and a month of mentions
(200,000; 20,000 with --quick: a busy hospital group's month) written with ``bulk_create`` together with their
MentionEntity rows and clusters; removed afterwards.

Ours: ``xinqiao.listening.selectors.dashboard.dashboard`` for the 30-day range (daily series by sentiment, totals,
top negative clusters, topic, entity and platform breakdowns, open alerts and cases): a fixed number of aggregate
queries whatever the row count. Baseline "naive ORM": the same figures by iterating every mention model instance of
the range with its entity rows (prefetched, so not even N+1) and counting in Python — what a first version of a
dashboard usually does. Both give the same totals, series and top clusters (checked every run). Also measured: the
filtered dashboard (one department) and the whole page over HTTP.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

from bench._common import row, summary, timed

TOPICS = ("malpractice", "fees", "attitude", "waiting", "privacy", "ethics", "infection-safety", "violence")
PLATFORMS = ("weibo", "douyin", "xiaohongshu", "wechat_oa", "zhihu", "news", "forum", "toutiao")


def _scale(quick: bool) -> int:
    return 20_000 if quick else 200_000


def build(quick: bool, seed: int = 2026) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from xinqiao.core.models import Department, Doctor, Hospital, Membership
    from xinqiao.listening.models import CrisisTopic, Mention, MentionCluster, MentionEntity

    rng = random.Random(seed)
    code = f"bench-listening-{seed}"
    leftover = Hospital.objects.filter(code=code).first()
    if leftover is not None:  # an interrupted earlier run
        wipe({"hospital": leftover, "username": code})
    hospital = Hospital.objects.create(name="基准舆情医院", short_name="基准院", code=code)
    departments = [Department.objects.create(hospital=hospital, name=f"科室{i}", code=f"d{i}") for i in range(12)]
    doctors = [Doctor.objects.create(hospital=hospital, name=f"医生{i}") for i in range(40)]
    for code in TOPICS:
        CrisisTopic.objects.create(hospital=hospital, code=code, name=code, keywords=[code])
    user = get_user_model().objects.create_user(username=code)
    Membership.objects.create(user=user, hospital=hospital, role=Membership.Role.BRAND)
    now = timezone.now()
    start = now - dt.timedelta(days=30)
    clusters = MentionCluster.objects.bulk_create(
        [
            MentionCluster(
                hospital=hospital, title=f"故事{i}", first_seen_at=start, last_seen_at=now, severity=rng.uniform(0, 100)
            )
            for i in range(2000)
        ]  # fmt: skip
    )
    total = _scale(quick)
    batch: list[Mention] = []
    entity_plan: list[list[str]] = []
    for index in range(total):
        sentiment = rng.choices(("negative", "neutral", "positive"), weights=(30, 45, 25))[0]
        keys = ["hospital"]
        if rng.random() < 0.5:
            keys.append(f"department:{rng.choice(departments).pk}")
        if rng.random() < 0.2:
            keys.append(f"doctor:{rng.choice(doctors).pk}")
        batch.append(
            Mention(
                hospital=hospital,
                platform=rng.choice(PLATFORMS),
                external_id=f"b{index}",
                author_handle=f"u{index}",
                author_followers=int(rng.lognormvariate(5, 2)),
                text="基准",
                sentiment=sentiment,
                posted_at=start + dt.timedelta(seconds=rng.randrange(30 * 86400)),
                likes=rng.randrange(50),
                reposts=rng.randrange(10),
                comments=rng.randrange(20),
                topics=rng.sample(TOPICS, k=rng.choice((0, 0, 1, 2))),
                entities=keys,
                cluster=rng.choice(clusters) if rng.random() < 0.3 else None,
                processed_at=now,
            )  # fmt: skip
        )
        entity_plan.append(keys)
        if len(batch) == 5000:
            _flush(hospital, batch, entity_plan, Mention, MentionEntity)
            batch, entity_plan = [], []
    if batch:
        _flush(hospital, batch, entity_plan, Mention, MentionEntity)
    return {"hospital": hospital, "department": departments[0], "mentions": total, "user": user, "username": code}


def _flush(hospital, batch, plans, Mention, MentionEntity) -> None:  # noqa: N803 - model classes
    created = Mention.objects.bulk_create(batch)
    if created[0].pk is None:  # backends that do not return pks: look them up by external id
        ids = dict(
            Mention.objects.filter(hospital=hospital, external_id__in=[m.external_id for m in batch]).values_list(
                "external_id", "pk"
            )
        )
        for mention in created:
            mention.pk = ids[mention.external_id]
    MentionEntity.objects.bulk_create(
        [
            MentionEntity(
                hospital=hospital,
                mention_id=mention.pk,
                entity_key=key,
                posted_at=mention.posted_at,
                is_negative=mention.sentiment == "negative",
            )  # fmt: skip
            for mention, keys in zip(created, plans, strict=True)
            for key in keys
        ]
    )


def wipe(data: dict[str, Any]) -> None:
    from django.contrib.auth import get_user_model

    from xinqiao.core.models import Hospital
    from xinqiao.listening.models import Mention, MentionCluster, MentionEntity

    hospital = data["hospital"]
    MentionEntity.objects.filter(hospital=hospital).delete()
    Mention.objects.filter(hospital=hospital).delete()
    MentionCluster.objects.filter(hospital=hospital).delete()
    Hospital.objects.filter(pk=hospital.pk).delete()
    get_user_model().objects.filter(username=data["username"]).delete()


def naive_dashboard(hospital, filters) -> dict[str, Any]:
    """The same headline figures by iterating model instances."""
    from django.utils import timezone

    from xinqiao.listening.models import Mention

    series: dict[dt.date, Counter] = {}
    totals: Counter = Counter()
    clusters: Counter = Counter()
    topics: Counter = Counter()
    entities: Counter = Counter()
    platforms: Counter = Counter()
    mentions = Mention.objects.filter(
        hospital=hospital, posted_at__gte=filters.start_at, posted_at__lt=filters.end_at
    ).prefetch_related("entity_rows")
    for mention in mentions:
        day = timezone.localtime(mention.posted_at).date()
        series.setdefault(day, Counter())[mention.sentiment] += 1
        totals[mention.sentiment] += 1
        totals["total"] += 1
        totals["reach"] += mention.reach
        platforms[mention.platform] += 1
        if mention.sentiment == "negative" and mention.cluster_id:
            clusters[mention.cluster_id] += 1
        for code in mention.topics:
            topics[code] += 1
        for entity in mention.entity_rows.all():
            entities[entity.entity_key] += 1
    return {
        "total": totals["total"],
        "negative": totals["negative"],
        "reach": totals["reach"],
        "days": {day.isoformat(): counter["negative"] for day, counter in series.items()},
        "top": [count for _cluster, count in clusters.most_common(10)],
        "topics": dict(topics),
        "entities": sum(entities.values()),
    }


def ours_headline(board) -> dict[str, Any]:
    return {
        "total": board.totals["total"],
        "negative": board.totals["negative"],
        "reach": board.totals["reach"],
        "days": {entry["label"]: entry["negative"] for entry in board.series if entry["total"]},
        "top": [entry["negative"] for entry in board.top_clusters],
        "topics": {entry["code"]: entry["total"] for entry in board.topics},
    }


def run(args) -> dict[str, Any]:
    from django.test import Client

    from xinqiao.listening.selectors.dashboard import DashboardFilters, dashboard

    data = build(args.quick)
    try:
        hospital = data["hospital"]
        month = DashboardFilters.last_days(30)
        by_department = DashboardFilters.last_days(30, entity_key=f"department:{data['department'].pk}")
        repetitions = 3 if args.quick else 10
        baseline_repetitions = 1 if args.quick else 3
        ours_ms = summary(timed(repetitions, lambda i: dashboard(hospital.pk, month), warmup=1))
        naive_ms = summary(timed(baseline_repetitions, lambda i: naive_dashboard(hospital, month)))
        filtered_ms = summary(timed(repetitions, lambda i: dashboard(hospital.pk, by_department), warmup=1))
        board = dashboard(hospital.pk, month)
        naive = naive_dashboard(hospital, month)
        ours = ours_headline(board)
        agree = {key: ours[key] == naive[key] for key in ("total", "negative", "reach", "days", "top", "topics")}
        client = Client()
        client.force_login(data["user"])
        http_ms = summary(timed(repetitions, lambda i: client.get("/listening/"), warmup=1))
        return {
            "title": f"Public-opinion dashboard, {data['mentions']:,} mentions in 30 days",
            "results": [
                row(
                    "dashboard selectors, 30 days",
                    "ms",
                    ours_ms,
                    "naive ORM iteration (prefetched entities)",
                    naive_ms,
                    mentions=data["mentions"],
                ),  # fmt: skip
                row(
                    "dashboard selectors, one department",
                    "ms",
                    filtered_ms,
                    "naive ORM iteration (whole month)",
                    naive_ms,
                ),  # fmt: skip
                row("GET /listening/ (whole page)", "ms", http_ms, "naive ORM iteration (figures only)", naive_ms),
            ],
            "notes": [f"ours and the baseline agree on the headline figures: {all(agree.values())} ({agree})"],
        }
    finally:
        wipe(data)
