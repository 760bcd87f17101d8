"""Header rows of platform back-end exports: normalisation, alias tables, header-row search, export-type
recognition (exports.md §0.2–0.3 and the per-platform tables).

Each ``ExportType`` lists the headers one export uses (aliases, after ``normalise_header``) and the canonical field
each one fills. The type of a file is the one whose aliases match the most of its headers; a file whose headers fit
another platform's export better than any export of the chosen platform is reported as a wrong-platform file.
Confidence: ``H``/``M``/``L`` as in exports.md; platforms exports.md does not cover (视频号, 微博, 快手, 知乎) are
``L`` (best knowledge of their creator back-ends, to be confirmed against a real file).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

# Kinds of export: what one row is.
CONTENT = "content"  # one piece of content (on one day, or a snapshot of its totals)
ACCOUNT = "account"  # followers of the account on one day
ACCOUNT_TRAFFIC = "account_traffic"  # reads/shares of the whole account on one day (WeChat OA 1a)

# Canonical field → how its cells are read.
FIELD_KINDS: dict[str, str] = {
    "title": "text",
    "content_id": "text",
    "content_type": "text",
    "source_channel": "text",
    "review_status": "text",
    "publish_time": "datetime",
    "stat_date": "date",
    "impressions": "count",
    "views": "count",
    "viewers": "count",
    "play_count": "count",
    "likes": "count",
    "comments": "count",
    "shares": "count",
    "shares_users": "count",
    "favorites": "count",
    "coins": "count",
    "danmaku": "count",
    "wow": "count",
    "reposts": "count",
    "interactions": "count",
    "new_followers": "count",
    "lost_followers": "count",
    "net_followers": "count",
    "followers": "count",
    "profile_visits": "count",
    "delivered": "count",
    "original_link_clicks": "count",
    "original_link_users": "count",
    "articles_sent": "count",
    "completion_rate": "rate",
    "completion_rate_5s": "rate",
    "bounce_rate_2s": "rate",
    "cover_ctr": "rate",
    "read_rate": "rate",
    "view_share": "rate",
    "avg_watch_seconds": "duration",
}

_UNIT_SUFFIX = re.compile(r"\((次|人|个|条|篇|秒|s|分钟|min|%|‰|万|元|天|小时|h)\)$")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Header:
    """One header cell: as written, normalised, and the unit its suffix named (``秒``, ``%``, ``分钟`` …)."""

    raw: str
    key: str
    unit: str = ""


def normalise_header(value: Any) -> Header:
    """Trim, fold full-width characters and brackets (NFKC), drop spaces and a trailing unit like ``(次)``."""
    raw = "" if value is None else str(value)
    text = unicodedata.normalize("NFKC", raw).replace("\u3000", " ")
    text = text.replace("【", "(").replace("】", ")").replace("[", "(").replace("]", ")")
    text = _SPACES.sub("", text).strip().lower()
    unit = ""
    match = _UNIT_SUFFIX.search(text)
    if match is not None and match.start() > 0:
        unit = match.group(1)
        text = text[: match.start()]
    return Header(raw=raw.strip(), key=text, unit=unit)


@dataclass(frozen=True)
class ExportType:
    code: str
    platform: str
    kind: str
    label: Any
    confidence: str
    aliases: dict[str, str]  # normalised header → canonical field
    required: tuple[str, ...]
    # a snapshot (no date column): values are totals up to the export's end date
    snapshot: bool = False
    # canonical fields that make a row unique besides content and date (per-channel rows)
    split_by: tuple[str, ...] = ()
    notes: Any = ""
    canonical: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "canonical", frozenset(self.aliases.values()))

    def match(self, headers: list[Header]) -> int:
        return sum(1 for header in headers if header.key in self.aliases)


def _aliases(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for canonical, names in table.items():
        for name in names:
            mapping[normalise_header(name).key] = canonical
    return mapping


EXPORT_TYPES: tuple[ExportType, ...] = (
    # -- WeChat Official Account (exports.md §1) --------------------------------------------------------------
    ExportType(
        code="wechat_oa.account_traffic",
        platform="wechat_oa",
        kind=ACCOUNT_TRAFFIC,
        label=_("WeChat OA: account traffic trend (数据趋势)"),
        confidence="H",
        aliases=_aliases(
            {
                "stat_date": ("日期", "时间"),
                "source_channel": ("渠道",),
                "views": ("阅读次数",),
                "viewers": ("阅读人数",),
                "shares": ("分享次数",),
                "original_link_clicks": ("阅读原文次数",),
                "original_link_users": ("阅读原文人数",),
                "favorites": ("收藏次数",),
                "articles_sent": ("群发篇数",),
            }
        ),
        required=("stat_date", "views"),
        split_by=("source_channel",),
    ),
    ExportType(
        code="wechat_oa.article_source",
        platform="wechat_oa",
        kind=CONTENT,
        label=_("WeChat OA: per-article traffic source (流量来源)"),
        confidence="H",
        aliases=_aliases(
            {
                "title": ("文章标题", "内容标题"),
                "stat_date": ("日期", "时间"),
                "source_channel": ("渠道", "流量来源"),
                "views": ("阅读次数",),
                "view_share": ("阅读次数占比",),
            }
        ),
        required=("title", "stat_date", "views", "view_share"),
        split_by=("source_channel",),
    ),
    ExportType(
        code="wechat_oa.article_detail",
        platform="wechat_oa",
        kind=CONTENT,
        label=_("WeChat OA: published article details (已发表内容详情)"),
        confidence="M",
        aliases=_aliases(
            {
                "title": ("内容标题", "文章标题"),
                "publish_time": ("发表时间", "发布时间", "群发时间"),
                "stat_date": ("统计日期",),
                "content_id": ("msgid", "文章id"),
                "delivered": ("送达人数",),
                "viewers": ("阅读人数",),
                "views": ("阅读次数",),
                "read_rate": ("送达阅读率",),
                "shares_users": ("分享人数",),
                "shares": ("分享次数",),
                "new_followers": ("阅读后关注人数",),
                "wow": ("在看人数",),
                "likes": ("点赞人数",),
                "comments": ("留言数", "留言人数"),
                "completion_rate": ("完读率", "阅读完成率"),
                "avg_watch_seconds": ("平均停留时长", "平均阅读时长"),
                "favorites": ("收藏人数",),
            }
        ),
        required=("title",),
        snapshot=True,
    ),
    ExportType(
        code="wechat_oa.user_growth",
        platform="wechat_oa",
        kind=ACCOUNT,
        label=_("WeChat OA: user growth (用户增长)"),
        confidence="M",
        aliases=_aliases(
            {
                "stat_date": ("时间", "日期"),
                "new_followers": ("新关注人数",),
                "lost_followers": ("取消关注人数",),
                "net_followers": ("净增关注人数",),
                "followers": ("累积关注人数", "累计关注人数"),
            }
        ),
        required=("stat_date",),
    ),
    # -- WeChat Channels 视频号助手 → 数据中心 → 作品数据 / 关注者数据 (not in exports.md: L) ----------------------
    ExportType(
        code="wechat_channels.videos",
        platform="wechat_channels",
        kind=CONTENT,
        label=_("WeChat Channels: video data (视频号助手 作品数据)"),
        confidence="L",
        aliases=_aliases(
            {
                "title": ("视频描述", "动态描述", "视频标题"),
                "publish_time": ("发表时间",),
                "stat_date": ("统计日期",),
                "content_id": ("视频id", "动态id"),
                "content_type": ("视频类型",),
                "impressions": ("曝光次数",),
                "play_count": ("播放次数", "播放量"),
                "completion_rate": ("完播率",),
                "avg_watch_seconds": ("平均播放时长",),
                "wow": ("推荐次数", "推荐"),
                "likes": ("点赞次数", "喜欢次数"),
                "comments": ("评论次数",),
                "shares": ("转发次数", "分享次数"),
                "favorites": ("收藏次数",),
                "new_followers": ("新增关注",),
            }
        ),
        required=("title",),
        snapshot=True,
    ),
    ExportType(
        code="wechat_channels.followers",
        platform="wechat_channels",
        kind=ACCOUNT,
        label=_("WeChat Channels: follower data (关注者数据)"),
        confidence="L",
        aliases=_aliases(
            {
                "stat_date": ("日期",),
                "new_followers": ("新增关注",),
                "lost_followers": ("取消关注",),
                "net_followers": ("净增关注",),
                "followers": ("关注者总数",),
            }
        ),
        required=("stat_date", "followers"),
    ),
    # -- Weibo 微博 创作者中心 → 数据助手 → 博文数据 / 粉丝数据 (not in exports.md: L) --------------------------------
    ExportType(
        code="weibo.posts",
        platform="weibo",
        kind=CONTENT,
        label=_("Weibo: post data (博文数据)"),
        confidence="L",
        aliases=_aliases(
            {
                "title": ("博文内容", "微博内容", "微博正文"),
                "publish_time": ("发博时间", "发布时间"),
                "stat_date": ("统计日期",),
                "content_id": ("微博id", "mid"),
                "impressions": ("阅读数", "曝光量"),
                "play_count": ("视频播放量",),
                "reposts": ("转发数",),
                "comments": ("评论数",),
                "likes": ("点赞数", "赞数"),
                "interactions": ("互动数",),
                "new_followers": ("涨粉数",),
            }
        ),
        required=("title",),
        snapshot=True,
    ),
    ExportType(
        code="weibo.fans",
        platform="weibo",
        kind=ACCOUNT,
        label=_("Weibo: follower data (粉丝数据)"),
        confidence="L",
        aliases=_aliases(
            {
                "stat_date": ("日期",),
                "new_followers": ("新增粉丝数",),
                "lost_followers": ("减少粉丝数", "取关粉丝数"),
                "net_followers": ("净增粉丝数",),
                "followers": ("粉丝总数",),
            }
        ),
        required=("stat_date",),
    ),
    # -- Douyin 抖音创作者服务中心 → 数据中心 → 作品数据 (exports.md §2) --------------------------------------------
    ExportType(
        code="douyin.works",
        platform="douyin",
        kind=CONTENT,
        label=_("Douyin: works list (作品列表)"),
        confidence="L",
        aliases=_aliases(
            {
                "title": ("作品名称", "作品标题"),
                "publish_time": ("发布时间",),
                "stat_date": ("统计日期",),
                "content_id": ("作品id",),
                "content_type": ("体裁", "作品类型"),
                "review_status": ("审核状态",),
                "play_count": ("播放量",),
                "completion_rate": ("完播率",),
                "completion_rate_5s": ("5s完播率",),
                "bounce_rate_2s": ("2s跳出率",),
                "cover_ctr": ("封面点击率",),
                "avg_watch_seconds": ("平均播放时长",),
                "likes": ("点赞量",),
                "comments": ("评论量",),
                "shares": ("分享量",),
                "favorites": ("收藏量",),
                "profile_visits": ("主页访问量",),
                "new_followers": ("粉丝增量", "带粉量"),
            }
        ),
        required=("title",),
        snapshot=True,
    ),
    # -- Kuaishou 快手创作者服务平台 → 数据中心 → 作品分析 (not in exports.md: L) ------------------------------------
    ExportType(
        code="kuaishou.works",
        platform="kuaishou",
        kind=CONTENT,
        label=_("Kuaishou: works analysis (作品分析)"),
        confidence="L",
        aliases=_aliases(
            {
                "title": ("作品描述", "作品标题"),
                "publish_time": ("发布时间",),
                "stat_date": ("统计日期",),
                "content_id": ("作品id",),
                "impressions": ("封面曝光数",),
                "play_count": ("播放数",),
                "completion_rate": ("完播率",),
                "avg_watch_seconds": ("平均播放时长",),
                "cover_ctr": ("封面点击率",),
                "likes": ("点赞数",),
                "comments": ("评论数",),
                "shares": ("分享数",),
                "favorites": ("收藏数",),
                "new_followers": ("涨粉数",),
            }
        ),
        required=("title",),
        snapshot=True,
    ),
    # -- Xiaohongshu 小红书创作服务平台 → 数据中心 → 笔记数据 (exports.md §3) ----------------------------------------
    ExportType(
        code="xiaohongshu.notes",
        platform="xiaohongshu",
        kind=CONTENT,
        label=_("Xiaohongshu: note data (笔记数据)"),
        confidence="L",
        aliases=_aliases(
            {
                "title": ("笔记标题",),
                "publish_time": ("首次发布时间", "发布时间"),
                "stat_date": ("统计日期",),
                "content_id": ("笔记id",),
                "content_type": ("体裁",),
                "impressions": ("曝光", "曝光数"),
                "views": ("观看量", "阅读量"),
                "cover_ctr": ("封面点击率",),
                "likes": ("点赞",),
                "comments": ("评论",),
                "favorites": ("收藏",),
                "shares": ("分享",),
                "new_followers": ("直接涨粉", "涨粉"),
                "avg_watch_seconds": ("人均观看时长", "平均观看时长"),
                "bounce_rate_2s": ("2s退出率",),
                "completion_rate": ("完播率",),
                "danmaku": ("弹幕",),
            }
        ),
        required=("title",),
        snapshot=True,
    ),
    # -- Bilibili 创作中心 → 数据中心 → 稿件数据 (exports.md §4) ----------------------------------------------------
    ExportType(
        code="bilibili.videos",
        platform="bilibili",
        kind=CONTENT,
        label=_("Bilibili: video data (稿件数据)"),
        confidence="L",
        aliases=_aliases(
            {
                "title": ("稿件标题", "标题"),
                "content_id": ("bv号", "bvid"),
                "publish_time": ("发布时间",),
                "stat_date": ("统计日期",),
                "play_count": ("播放", "播放量"),
                "likes": ("点赞",),
                "coins": ("投币",),
                "favorites": ("收藏",),
                "shares": ("分享",),
                "danmaku": ("弹幕",),
                "comments": ("评论",),
                "new_followers": ("涨粉", "新增粉丝"),
                "avg_watch_seconds": ("平均播放时长",),
                "completion_rate": ("完播率",),
                "cover_ctr": ("封标点击率", "点击率"),
            }
        ),
        required=("title",),
        snapshot=True,
    ),
    # -- Zhihu 知乎创作中心 → 数据分析 → 内容分析 (not in exports.md: L) ---------------------------------------------
    ExportType(
        code="zhihu.content",
        platform="zhihu",
        kind=CONTENT,
        label=_("Zhihu: content analysis (内容分析)"),
        confidence="L",
        aliases=_aliases(
            {
                "title": ("内容标题", "问题标题"),
                "content_type": ("内容类型",),
                "publish_time": ("发布时间",),
                "stat_date": ("统计日期",),
                "content_id": ("内容id",),
                "impressions": ("曝光量",),
                "views": ("阅读量", "播放量"),
                "likes": ("赞同数", "赞同"),
                "wow": ("喜欢数",),
                "comments": ("评论数",),
                "favorites": ("收藏数",),
                "shares": ("分享数",),
                "new_followers": ("新增关注数",),
            }
        ),
        required=("title",),
        snapshot=True,
    ),
)

EXPORT_TYPES_BY_CODE = {export_type.code: export_type for export_type in EXPORT_TYPES}
ALL_ALIASES: frozenset[str] = frozenset(key for export_type in EXPORT_TYPES for key in export_type.aliases)
HEADER_SEARCH_ROWS = 10
HEADER_MIN_MATCHES = 3


def find_header_row(rows: list[list[Any]]) -> tuple[int, list[Header]] | None:
    """Index (0-based) and headers of the row among the first 10 that matches most known headers (≥ 3)."""
    best: tuple[int, list[Header]] | None = None
    best_score = HEADER_MIN_MATCHES - 1
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        headers = [normalise_header(cell) for cell in row]
        score = sum(1 for header in headers if header.key in ALL_ALIASES)
        if score > best_score:
            best, best_score = (index, headers), score
    return best


@dataclass(frozen=True)
class Recognition:
    export_type: ExportType | None
    score: int
    other: ExportType | None  # another platform's export that fits better (wrong platform)


def recognise(headers: list[Header], platform: str) -> Recognition:
    """The chosen platform's export that fits the headers best, or the other platform's that fits better."""
    ranked = sorted(
        ((export_type.match(headers), export_type.platform == platform, export_type) for export_type in EXPORT_TYPES),
        key=lambda item: (item[0], item[1]),
        reverse=True,
    )
    own = next(((score, export_type) for score, is_own, export_type in ranked if is_own and score), None)
    best_score, _is_own, best = ranked[0]
    if own is None or best_score > own[0]:
        return Recognition(export_type=None, score=own[0] if own else 0, other=best if best_score else None)
    return Recognition(export_type=own[1], score=own[0], other=None)


def platform_export_types(platform: str) -> list[ExportType]:
    return [export_type for export_type in EXPORT_TYPES if export_type.platform == platform]
