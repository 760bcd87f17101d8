"""A small, hand-computed set of metrics for the report tests (September and October 2026, two accounts).

October: four pieces with views 1,500 (流感, WeChat article published 10-10), 4,000 (儿童发热, Douyin video
published 10-20), 200 (高血压, Douyin, 10-25) and a 100-view tail of a September article (糖尿病); September:
800 (糖尿病) and 600 (流感). Listening: four October mentions (two negative about 收费争议, one positive, one
neutral) and two in September (one negative, one positive).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from xinqiao.analytics.models import AccountMetricDaily, ContentMetricDaily, MetricSource
from xinqiao.analytics.services.rollup import content_rollup_rebuild
from xinqiao.channels.models import PlatformAccount
from xinqiao.core.models import Hospital

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")

# key -> (platform, title, topic, format, published local datetime)
PIECES = {
    "oa-1": ("wechat_oa", "流感季如何防护", "流感", "article", dt.datetime(2026, 10, 10, 8, 0)),
    "dy-1": ("douyin", "儿童发烧怎么办", "儿童发热", "video", dt.datetime(2026, 10, 20, 19, 0)),
    "dy-2": ("douyin", "高血压的日常管理", "高血压", "video", dt.datetime(2026, 10, 25, 19, 30)),
    "oa-0": ("wechat_oa", "糖尿病饮食小贴士", "糖尿病", "article", dt.datetime(2026, 9, 28, 8, 0)),
    "oa-s": ("wechat_oa", "流感疫苗现在打还来得及吗", "流感", "article", dt.datetime(2026, 9, 15, 8, 0)),
}
# (key, day, impressions, views, viewers, likes, comments, shares, favorites, follows, completion)
ROWS = [
    ("oa-1", dt.date(2026, 10, 10), 2000, 1000, 800, 20, 5, 30, 10, 4, 0.5),
    ("oa-1", dt.date(2026, 10, 11), 900, 500, 400, 10, 2, 10, 5, 1, 0.4),
    ("dy-1", dt.date(2026, 10, 20), 30000, 3000, 2500, 150, 20, 10, 20, 30, 0.3),
    ("dy-1", dt.date(2026, 10, 21), 9000, 1000, 900, 50, 5, 5, 10, 6, 0.2),
    ("dy-2", dt.date(2026, 10, 25), 2500, 200, 180, 4, 1, 0, 1, 0, None),
    ("oa-0", dt.date(2026, 10, 1), 150, 100, 90, 1, 0, 0, 0, 0, None),
    ("oa-0", dt.date(2026, 9, 28), 1500, 800, 700, 16, 4, 8, 4, 2, 0.45),
    ("oa-s", dt.date(2026, 9, 15), 1200, 600, 500, 6, 1, 3, 2, 1, 0.5),
]
OCTOBER_VIEWS = 5800
SEPTEMBER_VIEWS = 1400


def build_metrics(hospital: Hospital, *, department_id: int | None = None) -> dict[str, PlatformAccount]:
    accounts = {
        "wechat_oa": PlatformAccount.objects.create(
            hospital=hospital, platform="wechat_oa", name="一院公众号", account_type="hospital_official"
        ),
        "douyin": PlatformAccount.objects.create(
            hospital=hospital, platform="douyin", name="一院抖音", account_type="hospital_official"
        ),
    }
    rows = []
    for key, day, impressions, views, viewers, likes, comments, shares, favorites, follows, completion in ROWS:
        platform, title, topic, content_format, published = PIECES[key]
        rows.append(
            ContentMetricDaily(
                hospital=hospital, account=accounts[platform], platform=platform, content_key=key, title=title,
                topic=topic, content_format=content_format, department_id_snapshot=department_id,
                published_at=published.replace(tzinfo=SHANGHAI), stat_date=day, impressions=impressions,
                views=views, viewers=viewers, likes=likes, comments=comments, shares=shares, favorites=favorites,
                follows_gained=follows, completion_rate=completion, source=MetricSource.IMPORT,
            )
        )  # fmt: skip
    ContentMetricDaily.objects.bulk_create(rows)
    content_rollup_rebuild(hospitals=[hospital])
    AccountMetricDaily.objects.bulk_create(
        [
            AccountMetricDaily(hospital=hospital, account=accounts["wechat_oa"], stat_date=dt.date(2026, 9, 30),
                               followers=990, new_followers=12, lost_followers=2, net_followers=10,
                               source=MetricSource.IMPORT),
            AccountMetricDaily(hospital=hospital, account=accounts["wechat_oa"], stat_date=dt.date(2026, 10, 1),
                               followers=1000, new_followers=12, lost_followers=2, net_followers=10,
                               source=MetricSource.IMPORT),
            AccountMetricDaily(hospital=hospital, account=accounts["wechat_oa"], stat_date=dt.date(2026, 10, 31),
                               followers=1050, new_followers=8, lost_followers=3, net_followers=5,
                               source=MetricSource.IMPORT),
            AccountMetricDaily(hospital=hospital, account=accounts["douyin"], stat_date=dt.date(2026, 10, 31),
                               followers=500, new_followers=25, lost_followers=5, net_followers=20,
                               source=MetricSource.IMPORT),
        ]
    )  # fmt: skip
    return accounts


def build_mentions(hospital: Hospital) -> None:
    from xinqiao.listening.models import CrisisTopic, Mention

    CrisisTopic.objects.create(hospital=hospital, code="fee", name="收费争议", keywords=["收费"])
    specs = [
        ("m1", dt.datetime(2026, 10, 3, 9, 0), "negative", ["fee"]),
        ("m2", dt.datetime(2026, 10, 9, 9, 0), "negative", ["fee"]),
        ("m3", dt.datetime(2026, 10, 12, 9, 0), "positive", []),
        ("m4", dt.datetime(2026, 10, 31, 23, 30), "neutral", []),  # late on the last local day: still October
        ("m5", dt.datetime(2026, 9, 5, 9, 0), "negative", []),
        ("m6", dt.datetime(2026, 9, 6, 9, 0), "positive", []),
        ("m7", dt.datetime(2026, 11, 1, 0, 30), "negative", ["fee"]),  # November in Shanghai
    ]
    Mention.objects.bulk_create(
        [
            Mention(hospital=hospital, platform="weibo", external_id=external_id, text="演示文本",
                    posted_at=posted.replace(tzinfo=SHANGHAI), sentiment=sentiment, topics=topics)
            for external_id, posted, sentiment, topics in specs
        ]
    )  # fmt: skip
