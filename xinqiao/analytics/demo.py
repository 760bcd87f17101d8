"""A year of synthetic analytics for the demo hospital, deterministic from a seed.

Run after ``seed_demo`` and ``seed_content_demo`` (it needs the demo account matrix and the demo patients).
What it writes, all synthetic and marked as demo data (``MetricSource.SEED``, ``demo-`` source references):

- **Content facts** (``ContentMetricDaily``): for every account, pieces published at the account's cadence over
  the 365 days up to yesterday (Asia/Shanghai), each with a topic, a format and the department the topic
  belongs to. A piece's total views follow a log-normal law scaled by platform, account type, the topic's season
  (flu and fever in winter, sun and myopia in summer, observance days such as 世界糖尿病日), the publishing
  weekday and the account's growth over the year; a handful are viral (15–40×). Views then decay day by day
  after publishing (fast for WeChat articles and Weibo, a long tail on Xiaohongshu, Bilibili and Zhihu), with a
  weekday effect on reading days. Videos carry completion rates and watch times, articles reads and dwell time.
- **Archive publications**: a fortnightly 健康课 series published through the real content workflow (create,
  reviews, publish, mark published) on three of the manually published official accounts in turn, so touches
  and campaign costs have publications to point to; their publishing time is then set back to their place in
  the year. Its topic follows the season, and the running campaign's topic while a campaign runs.
- **Followers** (``AccountMetricDaily``): a starting audience per account, daily new followers from a baseline
  plus what the day's content brought, unfollows as a share of new followers.
- **Touches and consultations** for EXISTING demo patients only (no new personal data): patients with a visit in
  the year through a social channel get a tracking-link click or QR scan on a publication 1–20 days before the
  visit and, mostly, a consultation in between; other patients get touches that convert to nothing. Every
  link-click touch also counts as a ``TrackingClick``, plus anonymous clicks.
- **Costs** (``CostEntry``): monthly channel operation per platform, content production (paying for the
  month's archive pieces), seasonal campaigns (paying for their archive pieces) and KOL partners.

A second run changes nothing (the hospital already has demo facts); the rows are written with multi-row INSERTs
in one transaction, a year in a few seconds.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.analytics.models import (
    AccountMetricDaily,
    Consultation,
    ContentMetricDaily,
    CostEntry,
    MetricSource,
    Touch,
)
from xinqiao.analytics.services.rollup import content_rollup_rebuild
from xinqiao.channels.models import PlatformAccount, Publication, TrackingClick, TrackingLink
from xinqiao.core.demo import FLAT, SCHOOL_HOLIDAYS, SUMMER, WINTER, _insert_rows
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import Department, Hospital, Membership, Patient, Visit

LOCAL_TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
DEFAULT_SEED = 2026
DAYS = 365
DEMO_MARK = "demo-analytics"  # prefix of every synthetic source reference and cost note
ARCHIVE_ITEMS = 24
VIRAL_ITEMS = 6
CADENCE_SHARE = 0.75  # accounts publish about three quarters of their weekly target
BATCH = 2000

SPRING = (0.9, 1.0, 1.3, 1.4, 1.3, 1.1, 0.9, 0.8, 0.9, 0.9, 0.9, 0.9)
HEAT = (0.2, 0.2, 0.3, 0.6, 1.0, 1.8, 2.4, 2.2, 1.0, 0.4, 0.2, 0.2)
OCTOBER = (0.8, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 1.0, 1.9, 1.0, 0.9)


@dataclass(frozen=True)
class TopicProfile:
    topic: str
    department_code: str  # "" when the topic belongs to no department
    season: tuple[float, ...]
    quality: float  # how well the topic performs besides its season
    share_bias: float = 1.0  # stories are shared more than they are read
    observances: tuple[tuple[int, int], ...] = ()  # (month, day) when the topic spikes
    titles: tuple[str, ...] = ()


TOPICS: tuple[TopicProfile, ...] = (
    TopicProfile("流感", "respiratory", WINTER, 1.25, titles=("流感季来了，这样做好防护", "流感和普通感冒怎么区分？", "流感疫苗现在打还来得及吗")),
    TopicProfile("儿童发热", "pediatrics", WINTER, 1.3, titles=("孩子发烧了，先别急着去医院", "退烧药怎么用才安全", "宝宝反复发热要警惕什么")),
    TopicProfile("高血压", "cardiology", WINTER, 1.0, observances=((5, 17),), titles=("高血压的日常管理", "量血压的正确姿势", "降压药能不能自己停？")),
    TopicProfile("心脑血管", "cardiology", WINTER, 1.1, titles=("冬季心脑血管疾病预防", "胸痛别硬扛：这些信号要当心", "清晨起床慢一点")),
    TopicProfile("糖尿病", "endocrinology", FLAT, 0.9, observances=((11, 14),), titles=("糖尿病饮食小贴士", "血糖高一点没关系？", "控糖路上的三个误区")),
    TopicProfile("甲状腺结节", "endocrinology", FLAT, 1.0, titles=("甲状腺结节要紧吗", "体检发现结节怎么办", "甲状腺结节需要手术吗")),
    TopicProfile("近视防控", "ophthalmology", SCHOOL_HOLIDAYS, 1.05, observances=((6, 6),), titles=("暑假护眼指南", "孩子近视了还能恢复吗", "户外活动两小时")),
    TopicProfile("防晒护肤", "dermatology", SUMMER, 1.1, titles=("防晒霜怎么选", "晒伤了怎么处理", "夏季湿疹反复怎么办")),
    TopicProfile("中暑", "", HEAT, 0.95, titles=("高温天警惕热射病", "中暑了先做这三件事", "老人和孩子更怕热")),
    TopicProfile("科学减重", "endocrinology", SPRING, 1.15, titles=("科学减重的三个误区", "春季减重从早餐开始", "管住嘴迈开腿的正确打开方式")),
    TopicProfile("失眠", "neurology", FLAT, 1.0, titles=("睡眠不好怎么办", "睡前刷手机的代价", "午睡多久最合适")),
    TopicProfile("口腔健康", "stomatology", SCHOOL_HOLIDAYS, 0.85, titles=("孩子换牙期注意什么", "洗牙伤牙吗", "牙缝越来越大怎么办")),
    TopicProfile("孕期保健", "obstetrics-gynecology", FLAT, 1.0, titles=("孕早期的五个注意事项", "产检时间表", "孕期能不能运动")),
    TopicProfile("骨关节", "orthopedics", WINTER, 0.9, titles=("膝盖疼是不是老了", "爬楼梯伤膝盖吗", "冬季关节保暖")),
    TopicProfile("幽门螺杆菌", "gastroenterology", FLAT, 1.2, titles=("幽门螺杆菌会传染吗", "一家人要不要一起查", "胃镜检查前要准备什么")),
    TopicProfile("肺结节", "respiratory", FLAT, 1.1, titles=("体检查出肺结节别慌", "肺结节多久复查一次", "低剂量CT筛查谁需要做")),
    TopicProfile("乳腺癌筛查", "oncology", OCTOBER, 1.0, observances=((10, 20),), titles=("粉红十月：乳腺自查方法", "乳腺增生会癌变吗", "乳腺癌筛查怎么选")),
    TopicProfile("医院故事", "", FLAT, 0.7, share_bias=3.0, observances=((5, 12), (8, 19)), titles=("护士的一天", "凌晨三点的急诊室", "一台手术背后的团队", "医生的听诊器", "新生儿科的第一声啼哭")),
)  # fmt: skip


@dataclass(frozen=True)
class PlatformProfile:
    content_format: str
    median_views: float
    sigma: float
    impressions_factor: float
    window_days: int
    decay: float  # share of the remaining views that come on each day
    like_rate: float
    comment_rate: float
    share_rate: float
    favorite_rate: float
    follow_rate: float
    completion: tuple[float, float] | None  # range of completion rates (videos and articles)
    watch_seconds: tuple[float, float] | None
    weekend_factor: float  # reading on Saturdays and Sundays vs weekdays
    publish_hours: tuple[int, ...]
    followers: int  # audience of the hospital's official account at the start of the year


PLATFORMS: dict[str, PlatformProfile] = {
    "wechat_oa": PlatformProfile("article", 2600, 0.6, 1.8, 10, 0.55, 0.012, 0.002, 0.02, 0.008, 0.0015, (0.35, 0.65), (70, 160), 0.8, (7, 8, 20), 118000),
    "wechat_channels": PlatformProfile("video", 3500, 0.8, 6.0, 10, 0.45, 0.03, 0.003, 0.015, 0.006, 0.002, (0.18, 0.42), (12, 40), 1.1, (12, 18, 21), 16500),
    "weibo": PlatformProfile("post", 4200, 0.7, 9.0, 5, 0.6, 0.01, 0.002, 0.004, 0.001, 0.0008, None, None, 1.0, (9, 12, 17), 56000),
    "douyin": PlatformProfile("video", 9000, 1.0, 10.0, 14, 0.4, 0.045, 0.004, 0.006, 0.008, 0.003, (0.12, 0.38), (9, 32), 1.15, (18, 19, 20, 21), 84000),
    "kuaishou": PlatformProfile("video", 6000, 1.0, 9.0, 14, 0.4, 0.04, 0.004, 0.005, 0.006, 0.003, (0.12, 0.36), (8, 28), 1.15, (18, 20), 30000),
    "xiaohongshu": PlatformProfile("note", 1800, 0.8, 7.0, 30, 0.12, 0.05, 0.006, 0.004, 0.05, 0.004, None, None, 1.1, (11, 20, 21), 12000),
    "bilibili": PlatformProfile("video", 5000, 0.9, 5.0, 30, 0.15, 0.04, 0.008, 0.003, 0.02, 0.004, (0.25, 0.55), (90, 320), 1.2, (17, 19), 6200),
    "zhihu": PlatformProfile("answer", 2200, 0.9, 4.0, 45, 0.06, 0.015, 0.004, 0.001, 0.02, 0.002, None, None, 0.9, (10, 22), 9100),
    "website": PlatformProfile("article", 600, 0.5, 1.2, 7, 0.4, 0.0, 0.0, 0.002, 0.0, 0.0, None, (40, 90), 0.7, (9,), 0),
}  # fmt: skip
ACCOUNT_TYPE_SCALE = {"hospital_official": 1.0, "department": 0.32, "doctor_personal": 0.6}
PUBLISH_WEEKDAY = (1.0, 1.15, 1.2, 1.15, 1.0, 0.7, 0.6)  # Monday … Sunday: how likely a post goes out
PUBLISH_WEEKDAY_EFFECT = (1.0, 1.08, 1.1, 1.06, 0.95, 0.85, 0.9)  # … and how well it does
SOCIAL_CHANNELS = ("wechat_oa", "wechat_channels", "weibo", "douyin", "kuaishou", "xiaohongshu", "bilibili", "zhihu")
CAMPAIGNS = (
    # (name, first month, months, amount 分 per month, topics of the archive pieces it pays for)
    ("冬季流感防护科普季", 12, 3, 800_000, ("流感", "儿童发热")),
    ("世界糖尿病日义诊", 11, 1, 500_000, ("糖尿病",)),
    ("全国爱眼日·暑期护眼", 6, 3, 450_000, ("近视防控",)),
    ("粉红十月乳腺健康月", 10, 1, 600_000, ("乳腺癌筛查",)),
)
KOL_PARTNERS = (
    # (partner, platform, month offset in the year, amount 分)
    ("健康科普达人·小林医生", "douyin", 2, 1_500_000),
    ("母婴博主·暖暖妈", "xiaohongshu", 5, 900_000),
    ("跑步达人·阿杰", "bilibili", 8, 700_000),
    ("健康科普达人·小林医生", "douyin", 10, 1_500_000),
)
CHANNEL_MONTHLY_FEN = {
    "wechat_oa": 1_200_000,
    "wechat_channels": 600_000,
    "weibo": 300_000,
    "douyin": 900_000,
    "xiaohongshu": 500_000,
    "bilibili": 300_000,
    "zhihu": 200_000,
}


CONTENT_COLUMNS = (
    "hospital_id", "account_id", "publication_id", "platform", "content_key", "title", "content_format", "topic",
    "department_id_snapshot", "doctor_id_snapshot", "published_at", "stat_date", "impressions", "views", "viewers",
    "completion_rate", "avg_watch_seconds", "likes", "comments", "shares", "favorites", "follows_gained", "extra",
    "source", "metric_import_id", "updated_at",
)  # fmt: skip
ACCOUNT_COLUMNS = (
    "hospital_id", "account_id", "stat_date", "followers", "new_followers", "lost_followers", "net_followers",
    "extra", "source", "metric_import_id", "updated_at",
)  # fmt: skip
TOUCH_COLUMNS = ("hospital_id", "patient_id", "publication_id", "kind", "occurred_at", "source_ref")
CONSULTATION_COLUMNS = ("hospital_id", "patient_id", "occurred_at", "channel", "source_ref")
CLICK_COLUMNS = ("link_id", "clicked_at", "referrer_host", "agent_family")
Row = tuple


def _row(columns: tuple[str, ...], **values) -> Row:
    """One row in column order (every column named exactly once)."""
    if set(values) != set(columns):
        raise ValueError(f"columns differ: {sorted(set(values) ^ set(columns))}")
    return tuple(values[column] for column in columns)


@dataclass
class Piece:
    account: PlatformAccount
    key: str
    title: str
    topic: TopicProfile
    department_id: int | None
    published_at: dt.datetime
    total_views: float
    completion: float | None
    watch_seconds: float | None
    publication_id: int | None = None


def _local(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LOCAL_TZ)


def _observance_boost(topic: TopicProfile, day: dt.date) -> float:
    for month, mday in topic.observances:
        distance = abs((day - dt.date(day.year, month, mday)).days)
        if distance <= 7:
            return 1.8 - distance * 0.1
    return 1.0


def demo_analytics_counts(hospital: Hospital) -> dict[str, int]:
    seeded_touches = Touch.objects.filter(hospital=hospital, source_ref__startswith=DEMO_MARK)
    return {
        "content_metrics": ContentMetricDaily.objects.filter(hospital=hospital, source=MetricSource.SEED).count(),
        "content_keys": ContentMetricDaily.objects.filter(hospital=hospital, source=MetricSource.SEED)
        .values("account_id", "content_key")
        .distinct()
        .count(),
        "account_metrics": AccountMetricDaily.objects.filter(hospital=hospital, source=MetricSource.SEED).count(),
        "touches": seeded_touches.count(),
        "consultations": Consultation.objects.filter(hospital=hospital, source_ref__startswith=DEMO_MARK).count(),
        "tracking_clicks": TrackingClick.objects.filter(
            link__hospital=hospital, referrer_host__startswith=DEMO_MARK
        ).count(),
        "cost_entries": CostEntry.objects.filter(hospital=hospital, note__startswith=DEMO_MARK).count(),
    }


def is_seeded(hospital: Hospital) -> bool:
    return ContentMetricDaily.objects.filter(hospital=hospital, source=MetricSource.SEED).exists()


class _Generator:
    def __init__(self, hospital: Hospital, *, rng: random.Random, last_day: dt.date) -> None:
        self.hospital = hospital
        self.rng = rng
        self.last_day = last_day
        self.first_day = last_day - dt.timedelta(days=DAYS - 1)
        departments = dict(Department.objects.filter(hospital=hospital).values_list("code", "pk"))
        self.topic_departments = {t.topic: departments.get(t.department_code) for t in TOPICS}
        self.by_topic = {t.topic: t for t in TOPICS}

    # --- pieces ------------------------------------------------------------------------------------------

    def _day_index(self, day: dt.date) -> int:
        return (day - self.first_day).days

    def _views(self, account: PlatformAccount, topic: TopicProfile, day: dt.date) -> float:
        profile = PLATFORMS[account.platform]
        growth = 1.0 + 0.35 * self._day_index(day) / DAYS  # the accounts grow over the year
        return (
            profile.median_views
            * math.exp(self.rng.gauss(0.0, profile.sigma))
            * ACCOUNT_TYPE_SCALE.get(account.account_type, 1.0)
            * topic.season[day.month - 1]
            * topic.quality
            * _observance_boost(topic, day)
            * PUBLISH_WEEKDAY_EFFECT[day.weekday()]
            * growth
        )

    def _pick_topic(self, account: PlatformAccount, day: dt.date) -> TopicProfile:
        if account.account_type == "department" and account.department_id:
            own = [t for t in TOPICS if self.topic_departments[t.topic] == account.department_id]
            if own and self.rng.random() < 0.8:
                return self.rng.choice(own)
        weights = [t.season[day.month - 1] * _observance_boost(t, day) for t in TOPICS]
        return self.rng.choices(TOPICS, weights=weights)[0]

    def _finish(self, account: PlatformAccount, piece_key: str, title: str, topic: TopicProfile, when: dt.datetime):
        profile = PLATFORMS[account.platform]
        completion = watch = None
        if profile.completion:
            completion = self.rng.uniform(*profile.completion)
        if profile.watch_seconds:
            watch = self.rng.uniform(*profile.watch_seconds)
        return Piece(
            account=account,
            key=piece_key,
            title=title,
            topic=topic,
            department_id=self.topic_departments[topic.topic],
            published_at=when,
            total_views=self._views(account, topic, when.astimezone(LOCAL_TZ).date()),
            completion=completion,
            watch_seconds=watch,
        )

    def pieces(self, accounts: list[PlatformAccount]) -> list[Piece]:
        result: list[Piece] = []
        for account in accounts:
            profile = PLATFORMS.get(account.platform)
            if profile is None:
                continue
            per_day = account.target_posts_per_week * CADENCE_SHARE / 7
            number = 0
            for offset in range(DAYS):
                day = self.first_day + dt.timedelta(days=offset)
                if self.rng.random() >= per_day * PUBLISH_WEEKDAY[day.weekday()]:
                    continue
                number += 1
                topic = self._pick_topic(account, day)
                title = self.rng.choice(topic.titles)
                when = _local(day, self.rng.choice(profile.publish_hours), self.rng.choice((0, 15, 30, 45)))
                result.append(self._finish(account, f"{DEMO_MARK}-{account.pk}-{number}", title, topic, when))
        # A few pieces go viral: picked among those published more than a month ago, spread over the year.
        eligible = [p for p in result if p.published_at.astimezone(LOCAL_TZ).date() < self.last_day - dt.timedelta(30)]
        for piece in self.rng.sample(eligible, k=min(VIRAL_ITEMS, len(eligible))):
            piece.total_views *= self.rng.uniform(15, 40)
        return result

    # --- daily rows --------------------------------------------------------------------------------------

    def content_rows(self, pieces: list[Piece], now: dt.datetime) -> tuple[list[Row], dict]:
        rows: list[Row] = []
        follows: dict[tuple[int, dt.date], int] = defaultdict(int)
        for piece in pieces:
            profile = PLATFORMS[piece.account.platform]
            published_on = piece.published_at.astimezone(LOCAL_TZ).date()
            window = profile.window_days * (2 if piece.total_views > profile.median_views * 12 else 1)
            weights = [profile.decay * (1 - profile.decay) ** d for d in range(window)]
            scale = piece.total_views / sum(weights)
            for day_number, weight in enumerate(weights):
                day = published_on + dt.timedelta(days=day_number)
                if day > self.last_day:
                    break
                weekend = profile.weekend_factor if day.weekday() >= 5 else 1.0
                views = round(scale * weight * weekend * self.rng.uniform(0.85, 1.15))
                if views < 1:
                    break
                share_bias = piece.topic.share_bias

                def count(rate: float, views: int = views) -> int:
                    expected = views * rate
                    return max(0, round(expected * self.rng.uniform(0.7, 1.3)))

                follows_gained = count(profile.follow_rate)
                follows[(piece.account.pk, day)] += follows_gained
                completion = (
                    None
                    if piece.completion is None
                    else round(min(0.98, max(0.02, piece.completion * self.rng.uniform(0.9, 1.1))), 4)
                )
                rows.append(
                    _row(
                        CONTENT_COLUMNS,
                        hospital_id=self.hospital.pk,
                        account_id=piece.account.pk,
                        publication_id=piece.publication_id,
                        platform=piece.account.platform,
                        content_key=piece.key,
                        title=piece.title,
                        content_format=profile.content_format,
                        topic=piece.topic.topic,
                        department_id_snapshot=piece.department_id,
                        doctor_id_snapshot=piece.account.doctor_id,
                        published_at=piece.published_at,
                        stat_date=day,
                        impressions=round(views * profile.impressions_factor * self.rng.uniform(0.9, 1.1)),
                        views=views,
                        viewers=round(views * self.rng.uniform(0.72, 0.88)),
                        completion_rate=completion,
                        avg_watch_seconds=None
                        if piece.watch_seconds is None
                        else round(piece.watch_seconds * self.rng.uniform(0.9, 1.1), 1),
                        likes=count(profile.like_rate),
                        comments=count(profile.comment_rate),
                        shares=count(profile.share_rate * share_bias),
                        favorites=count(profile.favorite_rate),
                        follows_gained=follows_gained,
                        extra={},
                        source=MetricSource.SEED,
                        metric_import_id=None,
                        updated_at=now,
                    )
                )
        return rows, follows

    def account_rows(self, accounts: list[PlatformAccount], follows: dict, now: dt.datetime) -> list[Row]:
        rows = []
        for account in accounts:
            profile = PLATFORMS.get(account.platform)
            if profile is None:
                continue
            followers = round(profile.followers * ACCOUNT_TYPE_SCALE.get(account.account_type, 1.0) * 1.0)
            baseline = followers * 0.0006
            for offset in range(DAYS):
                day = self.first_day + dt.timedelta(days=offset)
                weekday = 0.85 if day.weekday() >= 5 else 1.0
                new = round(baseline * weekday * self.rng.uniform(0.6, 1.4)) + follows.get((account.pk, day), 0)
                lost = round(new * self.rng.uniform(0.18, 0.34))
                followers += new - lost
                rows.append(
                    _row(
                        ACCOUNT_COLUMNS,
                        hospital_id=self.hospital.pk,
                        account_id=account.pk,
                        stat_date=day,
                        followers=followers,
                        new_followers=new,
                        lost_followers=lost,
                        net_followers=new - lost,
                        extra={},
                        metric_import_id=None,
                        source=MetricSource.SEED,
                        updated_at=now,
                    )
                )
        return rows

    # --- conversions -------------------------------------------------------------------------------------

    def conversions(self, publications: list[tuple[int, str, dt.datetime, int]]) -> tuple[list, list, list]:
        """Touches, consultations and clicks for existing patients; publications are (pk, platform, time, link)."""
        touches: list[Row] = []
        consultations: list[Row] = []
        clicks: list[Row] = []
        if not publications:
            return touches, consultations, clicks
        publications = sorted(publications, key=lambda p: (p[2], p[0]))
        visits = list(
            Visit.objects.filter(
                hospital=self.hospital,
                occurred_on__range=(self.first_day, self.last_day),
                channel__in=SOCIAL_CHANNELS,
            )
            .order_by("pk")
            .values_list("patient_id", "occurred_on", "channel")[:20000]
        )
        patients = list(
            Patient.objects.filter(hospital=self.hospital, erased_at__isnull=True)
            .order_by("pk")
            .values_list("pk", "source_channel")[:20000]
        )
        number = 0

        def touch(patient_id: int, when: dt.datetime, platform: str) -> None:
            nonlocal number
            before = [p for p in publications if p[2] <= when - dt.timedelta(hours=2)]
            if not before:
                return
            same = [p for p in before[-12:] if p[1] == platform]
            publication_id, _platform, _published, link_id = self.rng.choice(same or before[-6:])
            number += 1
            kind = Touch.Kind.LINK_CLICK if self.rng.random() < 0.7 else Touch.Kind.QR_SCAN
            reference = f"{DEMO_MARK}-touch-{number}"
            touches.append(
                _row(
                    TOUCH_COLUMNS,
                    hospital_id=self.hospital.pk,
                    patient_id=patient_id,
                    publication_id=publication_id,
                    kind=kind,
                    occurred_at=when,
                    source_ref=reference,
                )
            )
            if kind == Touch.Kind.LINK_CLICK:
                clicks.append(
                    _row(
                        CLICK_COLUMNS, link_id=link_id, clicked_at=when, referrer_host=DEMO_MARK, agent_family="wechat"
                    )
                )

        for patient_id, occurred_on, channel in visits:
            if self.rng.random() >= 0.45:
                continue
            days_before = self.rng.randint(1, 20)
            touched_at = _local(occurred_on - dt.timedelta(days=days_before), self.rng.randint(8, 22), 0)
            if touched_at.date() < self.first_day:
                continue
            before = len(touches)
            touch(patient_id, touched_at, channel)
            if len(touches) == before or self.rng.random() >= 0.75:
                continue
            consulted_at = touched_at + dt.timedelta(hours=self.rng.randint(1, max(1, days_before * 24 - 12)))
            consultations.append(
                _row(
                    CONSULTATION_COLUMNS,
                    hospital_id=self.hospital.pk,
                    patient_id=patient_id,
                    occurred_at=consulted_at,
                    channel=channel,
                    source_ref=f"{DEMO_MARK}-consultation-{len(consultations) + 1}",
                )
            )
        # touches that lead nowhere (the funnel narrows): about twice as many as the converting ones
        for patient_id, channel in self.rng.sample(patients, k=min(len(patients), 2 * len(touches))):
            day = self.first_day + dt.timedelta(days=self.rng.randrange(DAYS))
            touch(patient_id, _local(day, self.rng.randint(8, 22), 30), channel)
        # anonymous clicks (people who never became a known patient)
        for _index in range(3 * len(clicks)):
            publication_id, _platform, published, link_id = self.rng.choice(publications)
            when = published + dt.timedelta(hours=self.rng.randint(1, 24 * 14))
            if when.astimezone(LOCAL_TZ).date() <= self.last_day:
                clicks.append(
                    _row(
                        CLICK_COLUMNS, link_id=link_id, clicked_at=when, referrer_host=DEMO_MARK, agent_family="mobile"
                    )
                )
        return touches, consultations, clicks

    def costs(self, accounts: list[PlatformAccount], now: dt.datetime) -> list[CostEntry]:
        entries = []
        month_starts = []
        cursor = self.first_day.replace(day=1)
        while cursor <= self.last_day:
            month_starts.append(cursor)
            cursor = (cursor + dt.timedelta(days=32)).replace(day=1)
        official = {a.platform: a for a in accounts if a.account_type == "hospital_official"}

        def month_end(start: dt.date) -> dt.date:
            return (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)

        for start in month_starts:
            for platform, amount in CHANNEL_MONTHLY_FEN.items():
                account = official.get(platform)
                if account is None:
                    continue
                entries.append(
                    CostEntry(
                        hospital_id=self.hospital.pk, kind=CostEntry.Kind.CHANNEL, platform=platform, account=account,
                        amount_fen=round(amount * self.rng.uniform(0.9, 1.1)), date_from=start,
                        date_to=month_end(start), note=f"{DEMO_MARK}: 账号运营", created_at=now,
                    )
                )  # fmt: skip
            entries.append(
                CostEntry(
                    hospital_id=self.hospital.pk, kind=CostEntry.Kind.PRODUCTION, amount_fen=round(1_800_000 * self.rng.uniform(0.85, 1.15)),
                    date_from=start, date_to=month_end(start), note=f"{DEMO_MARK}: 视频拍摄与设计外包", created_at=now,
                )
            )  # fmt: skip
        for name, first_month, months, amount, _topics in CAMPAIGNS:
            for start in month_starts:
                offset = (start.month - first_month) % 12
                if offset < months:
                    entries.append(
                        CostEntry(
                            hospital_id=self.hospital.pk, kind=CostEntry.Kind.CAMPAIGN, campaign=name,
                            amount_fen=amount, date_from=start, date_to=month_end(start),
                            note=f"{DEMO_MARK}: {name}", created_at=now,
                        )
                    )  # fmt: skip
        for partner, platform, month_offset, amount in KOL_PARTNERS:
            if month_offset >= len(month_starts):
                continue
            start = month_starts[month_offset]
            entries.append(
                CostEntry(
                    hospital_id=self.hospital.pk, kind=CostEntry.Kind.KOL, platform=platform, partner=partner,
                    account=official.get(platform), amount_fen=amount, date_from=start,
                    date_to=start + dt.timedelta(days=13), note=f"{DEMO_MARK}: {partner}", created_at=now,
                )
            )  # fmt: skip
        return [entry for entry in entries if entry.date_from <= self.last_day]


def _member_principal(hospital: Hospital, role: str, *, nth: int = 0):
    from xinqiao.core.access import principal_for_user

    memberships = list(
        Membership.objects.filter(hospital=hospital, role=role).select_related("user").order_by("user_id")[: nth + 1]
    )
    if len(memberships) <= nth:
        return None
    return principal_for_user(memberships[nth].user, hospital)


def _campaign_topics(day: dt.date) -> tuple[str, tuple[str, ...]] | None:
    for name, first_month, months, _amount, topics in CAMPAIGNS:
        if (day.month - first_month) % 12 < months:
            return name, topics
    return None


def _archive(generator: _Generator, accounts: list[PlatformAccount]) -> list[Piece]:
    """A fortnightly 健康课 series published through the real workflow, then set back in time."""
    from xinqiao.channels.services import publication_mark_published
    from xinqiao.content import services as content_services
    from xinqiao.content import workflow
    from xinqiao.content.models import ContentItem

    targets = [a for a in accounts if a.account_type == "hospital_official" and not a.has_api]
    # authors may not review their own items: a second brand member writes (the content demo adds one)
    brand = _member_principal(generator.hospital, Membership.Role.BRAND)
    writer = _member_principal(generator.hospital, Membership.Role.BRAND, nth=1)
    reviewers = {
        "department": _member_principal(generator.hospital, Membership.Role.DEPT_REVIEWER),
        "medical": _member_principal(generator.hospital, Membership.Role.MEDICAL_AFFAIRS),
        "final": brand,
    }
    if not targets or writer is None or any(principal is None for principal in reviewers.values()):
        return []
    reviewed = reviewers["department"].department_limits.get(Membership.Role.DEPT_REVIEWER, frozenset())
    rng = generator.rng
    pieces: list[Piece] = []
    for index in range(ARCHIVE_ITEMS):
        day = generator.first_day + dt.timedelta(days=7 + index * 14)
        if day > generator.last_day - dt.timedelta(days=2):
            break
        campaign = _campaign_topics(day)
        if campaign is not None:
            topic = generator.by_topic[rng.choice(campaign[1])]
        else:
            weights = [t.season[day.month - 1] * _observance_boost(t, day) for t in TOPICS]
            topic = rng.choices(TOPICS, weights=weights)[0]
        # an item of a department its reviewer does not cover would wait for nobody: leave those without one
        topic_department = generator.topic_departments[topic.topic]
        department_id = topic_department if topic_department in reviewed else None
        chosen = [targets[(index + k) % len(targets)] for k in range(min(3, len(targets)))]
        title = f"健康课·第{index + 1}期：{rng.choice(topic.titles)}"
        item = content_services.item_create(
            principal=writer,
            data=content_services.ItemInput(
                title=title, content_type=ContentItem.ContentType.VIDEO_SCRIPT, pillar=ContentItem.Pillar.SCIENCE,
                body_html=f"<p>{topic.topic}科普：规律作息，遵医嘱用药，定期复查。</p><p>以上内容仅供参考，具体诊疗请遵医嘱。</p>",
                disease_topics=[topic.topic], department_id=department_id, account_ids=[a.pk for a in chosen],
            ),
        )  # fmt: skip
        workflow.item_submit(principal=writer, item=item)
        item.refresh_from_db()
        while item.state in workflow.STATE_STEP:
            step = workflow.STATE_STEP[item.state]
            workflow.item_approve(principal=reviewers[step], item=item, step=step, warn_reason="演示：历史内容")
            item.refresh_from_db()
        workflow.item_publish(principal=brand, item=item)
        when = _local(day, 19, 0)
        for publication in Publication.objects.filter(item=item).select_related("account").order_by("pk"):
            publication_mark_published(
                principal=brand,
                publication=publication,
                post_url=f"https://example.invalid/{publication.account.platform}/archive-{publication.pk}",
            )
            piece = generator._finish(publication.account, f"pub-{publication.pk}", title, topic, when)
            piece.publication_id = publication.pk
            piece.department_id = department_id
            pieces.append(piece)
        Publication.objects.filter(item=item).update(published_at=when)
        ContentItem.objects.filter(pk=item.pk).update(state_changed_at=when, created_at=when - dt.timedelta(days=5))
    return pieces


def _link_costs(entries: list[CostEntry], archive: list[Piece]) -> None:
    """Campaigns pay for their archive pieces, production for the month's archive pieces."""
    through = CostEntry.publications.through
    links = []
    for entry in entries:
        if entry.kind not in (CostEntry.Kind.CAMPAIGN, CostEntry.Kind.PRODUCTION):
            continue
        topics = next((c[4] for c in CAMPAIGNS if c[0] == entry.campaign), None)
        for piece in archive:
            day = piece.published_at.astimezone(LOCAL_TZ).date()
            if entry.date_from <= day <= entry.date_to and (topics is None or piece.topic.topic in topics):
                links.append(through(costentry_id=entry.pk, publication_id=piece.publication_id))
    through.objects.bulk_create(links, batch_size=BATCH)


def _demo_publications(generator: _Generator, hospital: Hospital) -> list[Piece]:
    """Pieces for the content demo's own published publications (from their publishing day)."""
    pieces = []
    rows = Publication.objects.filter(
        hospital=hospital, status=Publication.Status.PUBLISHED, published_at__isnull=False
    ).select_related("account", "item")
    for publication in rows.order_by("pk"):
        if publication.account.platform not in PLATFORMS:
            continue
        topics = publication.item.disease_topics or []
        topic = generator.by_topic.get(topics[0]) if topics else None
        topic = topic or generator.by_topic["医院故事"]
        piece = generator._finish(
            publication.account, f"pub-{publication.pk}", publication.item.title, topic, publication.published_at
        )
        piece.publication_id = publication.pk
        piece.department_id = publication.item.department_id
        pieces.append(piece)
    return pieces


def seed_analytics_demo(hospital: Hospital, *, seed: int = DEFAULT_SEED, today: dt.date | None = None) -> dict:
    """Write a year of demo analytics for ``hospital`` once; returns ``{"created": bool, "counts": {...}}``."""
    if is_seeded(hospital):
        return {"created": False, "counts": demo_analytics_counts(hospital)}
    accounts = list(PlatformAccount.objects.filter(hospital=hospital, is_active=True).order_by("pk"))
    if not accounts:
        raise ApplicationError(
            _("The hospital has no accounts yet: run seed_content_demo first."), code="demo_no_accounts"
        )
    today = today or timezone.localdate()
    now = timezone.now()
    rng = random.Random(f"{seed}/analytics/{hospital.code}")
    generator = _Generator(hospital, rng=rng, last_day=today - dt.timedelta(days=1))
    with transaction.atomic():
        # the content demo's publications first: the archive adds published publications of its own
        existing = _demo_publications(generator, hospital)
        archive = _archive(generator, accounts)
        pieces = existing + archive + generator.pieces(accounts)
        content_rows, follows = generator.content_rows(pieces, now)
        _insert_rows(ContentMetricDaily, CONTENT_COLUMNS, content_rows)
        content_rollup_rebuild(hospitals=[hospital])
        _insert_rows(AccountMetricDaily, ACCOUNT_COLUMNS, generator.account_rows(accounts, follows, now))
        links = dict(TrackingLink.objects.filter(hospital=hospital).values_list("publication_id", "pk"))
        publications = [
            (p.publication_id, p.account.platform, p.published_at, links[p.publication_id])
            for p in pieces
            if p.publication_id is not None and p.publication_id in links
        ]
        touches, consultations, clicks = generator.conversions(publications)
        _insert_rows(Touch, TOUCH_COLUMNS, touches)
        _insert_rows(Consultation, CONSULTATION_COLUMNS, consultations)
        _insert_rows(TrackingClick, CLICK_COLUMNS, clicks)
        costs = CostEntry.objects.bulk_create(generator.costs(accounts, now), batch_size=BATCH)
        _link_costs(costs, [piece for piece in archive if piece.publication_id is not None])
    return {"created": True, "counts": demo_analytics_counts(hospital)}
