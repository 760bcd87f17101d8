"""Overview and topic dashboards at bench scale: aggregated GROUP BY selectors vs naive per-row ORM iteration.

Data (built once per bench database with plain multi-row INSERTs, day by day as a hospital's data arrives, reused
while at size): a separate hospital
``bench-analytics`` with 20 accounts on five platforms, 8 departments, 10 doctors, 20,000 content items with
their publications, and **5,000,000 ``ContentMetricDaily`` rows** (20,000 content keys × 250 daily rows, each
key published on a day in the first 115 days of the year 2025-11-01 … 2026-10-31, so every day of the year has
rows; ``--quick``: 200,000 rows, 800 keys). Plus 7,300 follower rows, 2,000 tracking links with 100,000 clicks,
50,000 touches, 20,000 consultations and 30,000 appointments/visits (``--quick``: a tenth). The
**1,000,000 patients** are bench/run.py's seed of the demo hospital; the touches, consultations and visits
reference 50,000 of them. Patient rows themselves are not read by these two dashboards except through the
touched-patient subquery of the attribution step.

Ours: ``overview()`` (period_summary with the previous period, the daily trend and the platform split) and
``topic_overview()`` (topic, topic × format and topic × format × platform with attributed conversions) for the
last 30 days, plus the whole year (twelve calendar months, read from the month rollup for the topics) for both; and
the full HTTP pages ``/analytics/`` and
``/analytics/topics/`` through ``django.test.Client`` (middleware, session, templates). Baseline "naive ORM per
row": the same numbers computed by iterating model instances in Python (``for row in queryset``), follower
counts with one query per account, and attribution with one touch query per conversion (the N+1 shape the
selectors avoid). Both produce the same headline values (checked every run). The whole-year baselines are not run
(5 million model instances per request): they are extrapolated from the 30-day baselines' time per row, and say so.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import defaultdict
from typing import Any

from bench._common import row, summary, timed

BENCH_CODE = "bench-analytics"
END = dt.date(2026, 10, 31)
YEAR_DAYS = 365
DAYS_PER_KEY = 250
PUBLISH_SPREAD = YEAR_DAYS - DAYS_PER_KEY  # publish days 0..114
FULL_ROWS = 5_000_000
QUICK_ROWS = 200_000
PLATFORMS = [("wechat_oa", 6), ("douyin", 5), ("weibo", 3), ("xiaohongshu", 3), ("bilibili", 3)]
FORMATS = {"wechat_oa": "article", "douyin": "video", "weibo": "image", "xiaohongshu": "note", "bilibili": "video"}
TOPICS = ["儿童用药误区", "生长发育", "高血压", "糖尿病", "冠心病", "骨质疏松", "甲状腺结节", "哮喘", "痛风", "胃炎",
          "睡眠障碍", "流感防护"]  # fmt: skip
DEPARTMENTS = [("cardiology", "心内科"), ("pediatrics", "儿科"), ("endocrinology", "内分泌科"), ("orthopedics", "骨科"),
               ("respiratory", "呼吸科"), ("gastro", "消化科"), ("neurology", "神经内科"), ("child-health", "儿童保健科")]  # fmt: skip


def _scale(quick: bool) -> dict[str, int]:
    rows = QUICK_ROWS if quick else FULL_ROWS
    factor = 10 if quick else 1
    return {
        "rows": rows,
        "keys": rows // DAYS_PER_KEY,
        "links": 2000 // factor,
        "clicks": 100_000 // factor,
        "touches": 50_000 // factor,
        "consultations": 20_000 // factor,
        "visits": 30_000 // factor,
        "patients": 50_000 // factor,
    }


def _aware(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _wipe(hospital) -> None:
    from xinqiao.analytics.models import (
        AccountMetricDaily,
        Consultation,
        ContentMetricDaily,
        ContentMetricRollup,
        CostEntry,
        InfluenceIndex,
        Touch,
    )
    from xinqiao.channels.models import PlatformAccount, Publication, TrackingClick, TrackingLink
    from xinqiao.content.models import ContentItem, Revision
    from xinqiao.core.models import Visit

    TrackingClick.objects.filter(link__hospital=hospital).delete()
    for model in (TrackingLink, Touch, Consultation, Visit, ContentMetricRollup, ContentMetricDaily, AccountMetricDaily,
                  CostEntry, InfluenceIndex, Publication):  # fmt: skip
        model.objects.filter(hospital=hospital).delete()
    Revision.objects.filter(item__hospital=hospital).delete()
    ContentItem.objects.filter(hospital=hospital).delete()
    PlatformAccount.objects.filter(hospital=hospital).delete()


def _written_day_by_day(hospital) -> bool:
    """Whether the stored rows were written in date order (the first row on the year's first day, the last on the
    last day with rows: no item is still active on the year's very last day); data written key by key by an older
    version of this module is built again."""
    from django.db.models import Max

    from xinqiao.analytics.models import ContentMetricDaily

    rows = ContentMetricDaily.objects.filter(hospital=hospital)
    days = rows.order_by("pk").values_list("stat_date", flat=True)
    last_day = rows.aggregate(last=Max("stat_date"))["last"]
    return days.first() == END - dt.timedelta(days=YEAR_DAYS - 1) and days.last() == last_day


def build(quick: bool, seed: int = 2026) -> dict[str, Any]:
    """Create (or reuse) the bench hospital's data; returns what exists and how long building took."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.db.models import Sum
    from django.utils import timezone

    from xinqiao.analytics.models import (
        AccountMetricDaily,
        Consultation,
        ContentMetricDaily,
        ContentMetricRollup,
        CostEntry,
        MetricSource,
        Touch,
    )
    from xinqiao.analytics.services.rollup import content_rollup_rebuild
    from xinqiao.channels.models import PlatformAccount, Publication, TrackingClick, TrackingLink
    from xinqiao.content.models import ContentItem, Revision
    from xinqiao.core import demo
    from xinqiao.core.models import Department, Doctor, Hospital, Membership, Patient, Visit

    scale = _scale(quick)
    hospital, _created = Hospital.objects.get_or_create(
        code=BENCH_CODE, defaults={"name": "基准测试医院", "short_name": "基准"}
    )
    existing = ContentMetricDaily.objects.filter(hospital=hospital).count()
    if (
        existing == scale["rows"]
        and Touch.objects.filter(hospital=hospital).count() == scale["touches"]
        and _written_day_by_day(hospital)
    ):
        summed = ContentMetricRollup.objects.filter(hospital=hospital).aggregate(rows=Sum("fact_rows"))["rows"]
        if summed != existing:  # (data built before the rollup existed)
            with transaction.atomic():
                content_rollup_rebuild(hospitals=[hospital])
        return {"reused": True, "rows": existing, "seconds": 0.0}
    started = time.perf_counter()
    rng = random.Random(seed)
    _wipe(hospital)
    departments = []
    for code, name in DEPARTMENTS:
        department, _ = Department.objects.get_or_create(hospital=hospital, code=code, defaults={"name": name})
        departments.append(department)
    doctors = []
    for index in range(10):
        doctor, _ = Doctor.objects.get_or_create(
            hospital=hospital, name=f"基准医生{index}", defaults={"title": "chief", "is_ip": index < 5}
        )
        doctor.departments.set([departments[index % len(departments)]])
        doctors.append(doctor)
    User = get_user_model()
    user, user_created = User.objects.get_or_create(username="bench_analytics_brand")
    if user_created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    Membership.objects.get_or_create(user=user, hospital=hospital, role=Membership.Role.BRAND)
    accounts = []
    for platform, count in PLATFORMS:
        for index in range(count):
            department = departments[(len(accounts)) % len(departments)]
            doctor = doctors[len(accounts) % len(doctors)] if index == count - 1 else None
            accounts.append(
                PlatformAccount.objects.create(
                    hospital=hospital, platform=platform, name=f"{platform}-{index}",
                    account_type="doctor_personal" if doctor else "department", department=department, doctor=doctor,
                )
            )  # fmt: skip
    now = timezone.now()
    year_start = END - dt.timedelta(days=YEAR_DAYS - 1)
    keys = []
    with transaction.atomic():
        items = ContentItem.objects.bulk_create(
            [
                ContentItem(hospital=hospital, title=f"基准内容{i}", content_type="article", pillar="science",
                            department=departments[i % len(departments)], state="published", author=user,
                            created_at=now, updated_at=now)
                for i in range(scale["keys"])
            ],
            batch_size=2000,
        )  # fmt: skip
        revisions = Revision.objects.bulk_create(
            [Revision(item=item, number=1, title=item.title, sha256="0" * 64, author=user) for item in items],
            batch_size=2000,
        )
        publications = []
        for i, (item, revision) in enumerate(zip(items, revisions, strict=True)):
            account = accounts[i % len(accounts)]
            publish_day = year_start + dt.timedelta(days=rng.randint(0, PUBLISH_SPREAD - 1))
            published_at = _aware(publish_day, rng.choice([7, 8, 12, 18, 20, 21]), rng.randint(0, 59))
            topic = TOPICS[rng.randrange(len(TOPICS))]
            keys.append((account, item, publish_day, published_at, topic, i))
            publications.append(
                Publication(hospital=hospital, item=item, revision=revision, account=account, status="published",
                            published_at=published_at, created_at=now)
            )  # fmt: skip
        publications = Publication.objects.bulk_create(publications, batch_size=2000)
    columns = ("hospital", "account", "publication", "platform", "content_key", "title", "content_format", "topic",
               "department_id_snapshot", "doctor_id_snapshot", "published_at", "stat_date", "impressions", "views",
               "viewers", "completion_rate", "likes", "comments", "shares", "favorites", "follows_gained", "extra",
               "source", "updated_at")  # fmt: skip
    # Rows are written day by day, as they reach a hospital's table (the daily datacube sync, weekly or monthly
    # exports), so the table's physical order follows the date as in production. Written key by key instead, a
    # year read through the (hospital, day) index jumped across the whole table: 11.8 s instead of 1.6 s for one
    # GROUP BY over the 5,000,000 rows on SQLite.
    starting: dict[dt.date, list[tuple]] = defaultdict(list)
    for (account, item, publish_day, published_at, topic, index), publication in zip(keys, publications, strict=True):
        doctor_id = account.doctor_id or (doctors[index % len(doctors)].pk if index % 7 == 0 else None)
        starting[publish_day].append((account, item, publish_day, published_at, topic, index, publication,
                                      rng.randint(200, 20000), doctor_id))  # fmt: skip
    batch: list[tuple] = []
    active: list[tuple] = []
    for day in (year_start + dt.timedelta(days=offset) for offset in range(YEAR_DAYS)):
        active = [spec for spec in active if (day - spec[2]).days < DAYS_PER_KEY] + starting.pop(day, [])
        for account, item, publish_day, published_at, topic, index, publication, base, doctor_id in active:
            platform = account.platform
            content_format = FORMATS[platform]
            offset = (day - publish_day).days
            decay = 1.0 / (1 + offset * 0.2)
            views = int(base * decay * rng.uniform(0.5, 1.5)) + rng.randint(0, 3)
            completion = round(rng.uniform(0.2, 0.8), 3) if content_format == "video" else None
            batch.append((
                hospital.pk, account.pk, publication.pk, platform, f"bench-{index}", item.title, content_format,
                topic, item.department_id, doctor_id, published_at, day,
                views * 3, views, int(views * 0.8), completion, views // 20, views // 100, views // 50, views // 40,
                views // 200, {}, MetricSource.SEED, now,
            ))  # fmt: skip
            if len(batch) >= 50_000:
                with transaction.atomic():
                    demo._insert_rows(ContentMetricDaily, columns, batch)
                batch = []
    if batch:
        with transaction.atomic():
            demo._insert_rows(ContentMetricDaily, columns, batch)
    with transaction.atomic():
        content_rollup_rebuild(hospitals=[hospital])
    followers_rows = []
    for account in accounts:
        followers = rng.randint(5_000, 200_000)
        for offset in range(YEAR_DAYS):
            net = rng.randint(-20, 120)
            followers += net
            followers_rows.append((hospital.pk, account.pk, year_start + dt.timedelta(days=offset), followers,
                                   max(net, 0), max(-net, 0), net, {}, MetricSource.SEED, now))  # fmt: skip
    demo_hospital = Hospital.objects.get(code=demo.MAIN_HOSPITAL.code)
    bounds = Patient.objects.filter(hospital=demo_hospital).order_by("pk").values_list("pk", flat=True)
    first_pk, last_pk = bounds.first(), bounds.last()
    patient_ids = sorted({rng.randint(first_pk, last_pk) for _ in range(scale["patients"])})
    existing_ids = set(Patient.objects.filter(pk__in=patient_ids).values_list("pk", flat=True))
    patient_ids = [pk for pk in patient_ids if pk in existing_ids]
    with transaction.atomic():
        demo._insert_rows(
            AccountMetricDaily,
            ("hospital", "account", "stat_date", "followers", "new_followers", "lost_followers", "net_followers",
             "extra", "source", "updated_at"),
            followers_rows,
        )  # fmt: skip
        links = TrackingLink.objects.bulk_create(
            [TrackingLink(hospital=hospital, publication=p, code=f"bench{p.pk}", created_at=now)
             for p in publications[: scale["links"]]],
            batch_size=2000,
        )  # fmt: skip
        clicks = []
        for _ in range(scale["clicks"]):
            day = year_start + dt.timedelta(days=rng.randrange(YEAR_DAYS))
            clicks.append((rng.choice(links).pk, _aware(day, rng.randint(0, 23)), "", "wechat"))
        demo._insert_rows(TrackingClick, ("link", "clicked_at", "referrer_host", "agent_family"), clicks)
        touches = []
        for index in range(scale["touches"]):
            day = year_start + dt.timedelta(days=rng.randrange(YEAR_DAYS))
            touches.append((hospital.pk, rng.choice(patient_ids), rng.choice(publications[: scale["links"]]).pk,
                            rng.choice(["link_click", "qr_scan"]), _aware(day, rng.randint(0, 23)), f"t{index}"))  # fmt: skip
        demo._insert_rows(Touch, ("hospital", "patient", "publication", "kind", "occurred_at", "source_ref"), touches)
        consultations = []
        for index in range(scale["consultations"]):
            day = year_start + dt.timedelta(days=rng.randrange(YEAR_DAYS))
            consultations.append((hospital.pk, rng.choice(patient_ids), _aware(day, rng.randint(8, 22)), "wechat_oa",
                                  f"c{index}"))  # fmt: skip
        demo._insert_rows(Consultation, ("hospital", "patient", "occurred_at", "channel", "source_ref"), consultations)
        visits = []
        for _ in range(scale["visits"]):
            day = year_start + dt.timedelta(days=rng.randrange(YEAR_DAYS))
            kind = rng.choice(["visit", "visit", "appointment"])
            visits.append((hospital.pk, rng.choice(patient_ids), rng.choice(departments).pk, kind, day, "wechat_oa",
                           rng.randint(5_000, 200_000) if kind == "visit" else 0, now))  # fmt: skip
        demo._insert_rows(
            Visit, ("hospital", "patient", "department", "kind", "occurred_on", "channel", "revenue_fen", "created_at"),
            visits,
        )  # fmt: skip
        for index, account in enumerate(accounts[:10]):
            CostEntry.objects.create(hospital=hospital, kind="channel", platform=account.platform, account=account,
                                     amount_fen=rng.randint(100_000, 5_000_000), date_from=year_start, date_to=END,
                                     note=f"bench {index}")  # fmt: skip
    return {"reused": False, "rows": scale["rows"], "seconds": round(time.perf_counter() - started, 1)}


def analyze() -> None:
    """Fresh planner statistics after a bulk load (PostgreSQL would otherwise plan with empty-table guesses)."""
    from django.db import connection

    from xinqiao.analytics.models import (
        AccountMetricDaily,
        Consultation,
        ContentMetricDaily,
        ContentMetricRollup,
        Touch,
    )
    from xinqiao.channels.models import TrackingClick
    from xinqiao.core.models import Visit

    with connection.cursor() as cursor:
        for model in (ContentMetricDaily, ContentMetricRollup, AccountMetricDaily, Touch, Consultation, TrackingClick,
                      Visit):  # fmt: skip
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


# --- naive baseline: the same numbers by iterating model instances ------------------------------


def naive_period(hospital, start: dt.date, end: dt.date) -> dict[str, Any]:
    from xinqiao.analytics.models import AccountMetricDaily, Consultation, ContentMetricDaily, CostEntry, Touch
    from xinqiao.analytics.selectors import local_bounds, prorated_fen
    from xinqiao.channels.models import PlatformAccount, TrackingClick
    from xinqiao.core.models import Visit

    totals: dict[str, Any] = defaultdict(int)
    by_day: dict[dt.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_platform: dict[str, dict[str, Any]] = defaultdict(lambda: {"views": 0, "keys": set()})
    for metric in ContentMetricDaily.objects.filter(hospital=hospital, stat_date__gte=start, stat_date__lte=end):
        for name in ("impressions", "views", "viewers", "likes", "comments", "shares", "favorites"):
            totals[name] += getattr(metric, name)
        if metric.completion_rate is not None:
            totals["completion_weighted"] += metric.completion_rate * metric.views
            totals["completion_views"] += metric.views
        by_day[metric.stat_date]["views"] += metric.views
        by_platform[metric.platform]["views"] += metric.views
        by_platform[metric.platform]["keys"].add(metric.content_key)
    for metric in AccountMetricDaily.objects.filter(hospital=hospital, stat_date__gte=start, stat_date__lte=end):
        totals["net_followers"] += metric.net_followers
    followers = 0
    for account in PlatformAccount.objects.filter(hospital=hospital):
        latest = (
            AccountMetricDaily.objects.filter(account=account, stat_date__lte=end, followers__isnull=False)
            .order_by("-stat_date")
            .first()
        )
        followers += latest.followers if latest else 0
    totals["followers"] = followers
    lower, upper = local_bounds(start, end)
    totals["clicks"] = sum(
        1 for _ in TrackingClick.objects.filter(link__hospital=hospital, clicked_at__gte=lower, clicked_at__lt=upper)
    )
    lookback = dt.timedelta(days=30)
    attributed_consultations = 0
    for consultation in Consultation.objects.filter(hospital=hospital, occurred_at__gte=lower, occurred_at__lt=upper):
        touch = (
            Touch.objects.filter(
                hospital=hospital,
                patient_id=consultation.patient_id,
                occurred_at__gte=consultation.occurred_at - lookback,
                occurred_at__lte=consultation.occurred_at,
            )
            .order_by("-occurred_at")
            .first()
        )
        attributed_consultations += touch is not None
    attributed_visits = 0
    revenue = 0
    for visit in Visit.objects.filter(hospital=hospital, occurred_on__gte=start, occurred_on__lte=end):
        day_lower, _unused = local_bounds(visit.occurred_on - lookback, visit.occurred_on)
        _unused2, day_upper = local_bounds(visit.occurred_on, visit.occurred_on)
        touch = (
            Touch.objects.filter(
                hospital=hospital, patient_id=visit.patient_id, occurred_at__gte=day_lower, occurred_at__lt=day_upper
            )
            .order_by("-occurred_at")
            .first()
        )
        if touch is not None:
            attributed_visits += 1
            revenue += visit.revenue_fen if visit.kind == "visit" else 0
    totals["attributed_consultations"] = attributed_consultations
    totals["attributed_visits"] = attributed_visits
    totals["revenue_fen"] = revenue
    totals["cost_fen"] = sum(
        prorated_fen(entry.amount_fen, entry.date_from, entry.date_to, start, end)
        for entry in CostEntry.objects.filter(hospital=hospital, date_from__lte=end, date_to__gte=start)
    )
    return {"totals": dict(totals), "days": len(by_day), "platforms": len(by_platform)}


def naive_overview(hospital, start: dt.date, end: dt.date) -> dict[str, Any]:
    from xinqiao.analytics.selectors import previous_period

    previous_start, previous_end = previous_period(start, end)
    return {
        "current": naive_period(hospital, start, end),
        "previous": naive_period(hospital, previous_start, previous_end),
    }


def naive_topics(hospital, start: dt.date, end: dt.date) -> dict[str, Any]:
    from xinqiao.analytics.models import ContentMetricDaily, Touch
    from xinqiao.analytics.selectors import local_bounds
    from xinqiao.core.models import Visit

    cells: dict[tuple, dict[str, Any]] = defaultdict(lambda: {"views": 0, "keys": set(), "conversions": 0})
    for metric in ContentMetricDaily.objects.filter(hospital=hospital, stat_date__gte=start, stat_date__lte=end):
        for key in ((metric.topic,), (metric.topic, metric.content_format),
                    (metric.topic, metric.content_format, metric.platform)):  # fmt: skip
            cells[key]["views"] += metric.views
            cells[key]["keys"].add(metric.content_key)
    lookback = dt.timedelta(days=30)
    for visit in Visit.objects.filter(hospital=hospital, occurred_on__gte=start, occurred_on__lte=end):
        day_lower, _unused = local_bounds(visit.occurred_on - lookback, visit.occurred_on)
        _unused2, day_upper = local_bounds(visit.occurred_on, visit.occurred_on)
        touch = (
            Touch.objects.filter(
                hospital=hospital, patient_id=visit.patient_id, occurred_at__gte=day_lower, occurred_at__lt=day_upper
            )
            .order_by("-occurred_at")
            .first()
        )
        if touch is None:
            continue
        metric = ContentMetricDaily.objects.filter(publication_id=touch.publication_id).first()
        if metric is not None:
            cells[(metric.topic, metric.content_format, metric.platform)]["conversions"] += 1
    return {"cells": len(cells), "views": sum(c["views"] for k, c in cells.items() if len(k) == 1)}


# --- run -------------------------------------------------------------------------------------------


def run(args) -> dict[str, Any]:
    from django.db.models import Count
    from django.test import Client

    from xinqiao.analytics.models import ContentMetricDaily
    from xinqiao.analytics.selectors.overview import overview
    from xinqiao.analytics.selectors.topics import topic_overview
    from xinqiao.core.models import Hospital

    built = build(args.quick)
    analyze()
    hospital = Hospital.objects.get(code=BENCH_CODE)
    month = (END - dt.timedelta(days=29), END)
    year = (END - dt.timedelta(days=YEAR_DAYS - 1), END)
    rows_month = ContentMetricDaily.objects.filter(hospital=hospital, stat_date__range=month).count()
    rows_year = ContentMetricDaily.objects.filter(hospital=hospital, stat_date__range=year).count()
    repetitions = 5 if args.quick else 20
    baseline_repetitions = 2 if args.quick else 5

    ours_overview = overview(hospital=hospital, start=month[0], end=month[1])
    theirs_overview = naive_overview(hospital, *month)
    agree = {
        "views": ours_overview["summary"]["aggregates"]["views"] == theirs_overview["current"]["totals"]["views"],
        "clicks": ours_overview["summary"]["aggregates"]["clicks"] == theirs_overview["current"]["totals"]["clicks"],
        "followers": ours_overview["summary"]["aggregates"]["followers"]
        == theirs_overview["current"]["totals"]["followers"],
        "attributed_visits": ours_overview["summary"]["aggregates"]["attributed_visits"]
        == theirs_overview["current"]["totals"]["attributed_visits"],
        "cost": ours_overview["summary"]["aggregates"]["cost_fen"] == theirs_overview["current"]["totals"]["cost_fen"],
    }
    topics_ours = topic_overview(hospital=hospital, start=month[0], end=month[1])
    topics_naive = naive_topics(hospital, *month)
    agree["topic_views"] = sum(r["views"] for r in topics_ours["topics"]) == topics_naive["views"]

    overview_ms = summary(
        timed(repetitions, lambda i: overview(hospital=hospital, start=month[0], end=month[1]), warmup=1)
    )
    overview_naive_ms = summary(timed(baseline_repetitions, lambda i: naive_overview(hospital, *month)))
    topics_ms = summary(
        timed(repetitions, lambda i: topic_overview(hospital=hospital, start=month[0], end=month[1]), warmup=1)
    )
    topics_naive_ms = summary(timed(baseline_repetitions, lambda i: naive_topics(hospital, *month)))
    year_ms = summary(
        timed(max(3, repetitions // 4), lambda i: overview(hospital=hospital, start=year[0], end=year[1]), warmup=1)
    )
    topics_year_ms = summary(
        timed(
            max(3, repetitions // 4), lambda i: topic_overview(hospital=hospital, start=year[0], end=year[1]), warmup=1
        )
    )
    per_row_naive = overview_naive_ms["p50"] / max(1, rows_month + ContentMetricDaily.objects.filter(
        hospital=hospital, stat_date__range=(month[0] - dt.timedelta(days=30), month[0] - dt.timedelta(days=1))
    ).count())  # fmt: skip
    year_previous = ContentMetricDaily.objects.filter(hospital=hospital, stat_date__lt=year[0]).count()
    year_naive_extrapolated = per_row_naive * (rows_year + year_previous)
    topics_per_row_naive = topics_naive_ms["p50"] / max(1, rows_month)
    topics_year_naive_extrapolated = topics_per_row_naive * rows_year

    client = Client()
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="bench_analytics_brand"))
    query = f"start={month[0]}&end={month[1]}"

    def fetch(url: str) -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")

    http_overview_ms = summary(timed(repetitions, lambda i: fetch(f"/analytics/?{query}"), warmup=1))
    http_topics_ms = summary(timed(repetitions, lambda i: fetch(f"/analytics/topics/?{query}"), warmup=1))
    keys = ContentMetricDaily.objects.filter(hospital=hospital).aggregate(keys=Count("content_key", distinct=True))
    common = {"rows_in_30_days": rows_month, "rows_total": rows_year, "content_keys": keys["keys"], "agree": agree}
    return {
        "title": "Overview and topic dashboards: GROUP BY selectors vs naive per-row ORM",
        "results": [
            row("overview selector, 30 days", "ms", overview_ms, "naive ORM per row", overview_naive_ms, **common),
            row("topics selector, 30 days", "ms", topics_ms, "naive ORM per row", topics_naive_ms, **common),
            {
                "case": "overview selector, 365 days",
                "unit": "ms",
                "value": year_ms["p50"],
                "baseline": "naive ORM per row (extrapolated from the 30-day per-row cost)",
                "baseline_value": round(year_naive_extrapolated, 1),
                "ratio": round(year_naive_extrapolated / year_ms["p50"], 1) if year_ms["p50"] else None,
                "details": {"ours": year_ms, "extrapolated": True, "naive_ms_per_row": per_row_naive, **common},
            },
            {
                # twelve whole months: the topic groups come from the month rollup (selectors.months)
                "case": "topics selector, 365 days",
                "unit": "ms",
                "value": topics_year_ms["p50"],
                "baseline": "naive ORM per row (extrapolated from the 30-day per-row cost)",
                "baseline_value": round(topics_year_naive_extrapolated, 1),
                "ratio": round(topics_year_naive_extrapolated / topics_year_ms["p50"], 1)
                if topics_year_ms["p50"]
                else None,
                "details": {
                    "ours": topics_year_ms,
                    "extrapolated": True,
                    "naive_ms_per_row": topics_per_row_naive,
                    **common,
                },
            },
            row(
                "overview page over HTTP, 30 days",
                "ms",
                http_overview_ms,
                "naive ORM per row (selector only)",
                overview_naive_ms,
                **common,
            ),  # fmt: skip
            row(
                "topics page over HTTP, 30 days",
                "ms",
                http_topics_ms,
                "naive ORM per row (selector only)",
                topics_naive_ms,
                **common,
            ),  # fmt: skip
        ],
        "notes": [
            f"data: {'reused' if built['reused'] else f'built in {built["seconds"]} s'}; "
            f"{rows_year:,} content metric rows, {keys['keys']:,} content keys, {rows_month:,} rows in the 30-day window",
            f"ours and the baseline agree on the headline numbers: {all(agree.values())} ({agree})",
            f"p95 ours/baseline: overview {overview_ms['p95']} / {overview_naive_ms['p95']} ms, "
            f"topics {topics_ms['p95']} / {topics_naive_ms['p95']} ms; HTTP p95 overview {http_overview_ms['p95']} ms, "
            f"topics {http_topics_ms['p95']} ms",
        ],
    }
