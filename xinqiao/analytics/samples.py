"""Synthetic back-end exports of every supported platform (exports.md §5), deterministic by seed.

Each sample is written the way the platform's export writes it, with the variability the importer must handle:
a title/date-range line before the header, counts written with ``万``, ``--`` for missing values, percentage
strings, duration strings (``35秒``, ``00:00:35``, ``1分5秒``, ``12.3s``), one column the importer does not know
(kept in ``extra``) and one header written with its alternative name. ``make_sample`` returns the file and the
values an importer must read from it (``expected``), so tests and the demo can check the round trip.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xinqiao.analytics.importers.headers import EXPORT_TYPES, EXPORT_TYPES_BY_CODE

DEFAULT_TITLES = (
    "春季过敏高发，呼吸科专家教你科学应对",
    "体检报告里的这些箭头，需要担心吗？",
    "糖尿病患者的冬季饮食指南",
    "孩子发烧别慌，儿科医生讲清楚三件事",
    "高血压用药的五个常见误区",
    "关节疼痛，是骨关节炎还是痛风？",
    "护眼科普：孩子近视防控从现在开始",
    "心梗急救黄金时间，您需要知道这些",
)
CHANNELS = ("聊天会话", "公众号消息", "推荐", "搜一搜", "公众号主页", "其他")

# One column of a sample: header as written, canonical field, how values are written.
# Styles: title, id, datetime, date, channel, type, status, count, wan (counts ≥ 10,000 as 1.2万), pct, pct_null
# (every third row "--"), dur_s ("12.3s"), dur_cn ("1分5秒"/"35秒"), dur_clock ("00:01:05"), unknown.
COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "wechat_oa.account_traffic": [
        ("时间", "stat_date", "date"),  # alias of 日期
        ("渠道", "source_channel", "channel"),
        ("阅读次数", "views", "wan"),
        ("阅读人数", "viewers", "count"),
        ("分享次数", "shares", "count"),
        ("阅读原文次数", "original_link_clicks", "count"),
        ("阅读原文人数", "original_link_users", "count"),
        ("收藏次数", "favorites", "count"),
        ("群发篇数", "articles_sent", "count"),
        ("备注", "", "unknown"),
    ],
    "wechat_oa.article_source": [
        ("内容标题", "title", "title"),  # alias of 文章标题
        ("日期", "stat_date", "date"),
        ("渠道", "source_channel", "channel"),
        ("阅读次数", "views", "wan"),
        ("阅读次数占比", "view_share", "pct"),
        ("备注", "", "unknown"),
    ],
    "wechat_oa.article_detail": [
        ("内容标题", "title", "title"),
        ("发表时间", "publish_time", "datetime"),
        ("送达人数", "delivered", "wan"),
        ("阅读人数", "viewers", "count"),
        ("阅读次数", "views", "wan"),
        ("送达阅读率", "read_rate", "pct"),
        ("分享人数", "shares_users", "count"),
        ("分享次数", "shares", "count"),
        ("阅读后关注人数", "new_followers", "count"),
        ("在看人数", "wow", "count"),
        ("点赞人数", "likes", "count"),
        ("留言数", "comments", "count"),
        ("阅读完成率", "completion_rate", "pct_null"),  # alias of 完读率
        ("平均停留时长", "avg_watch_seconds", "dur_cn"),
        ("原创声明", "", "unknown"),
    ],
    "wechat_oa.user_growth": [
        ("时间", "stat_date", "date"),
        ("新关注人数", "new_followers", "count"),
        ("取消关注人数", "lost_followers", "count"),
        ("净增关注人数", "net_followers", "count"),
        ("累计关注人数", "followers", "wan"),  # alias of 累积关注人数
        ("备注", "", "unknown"),
    ],
    "wechat_channels.videos": [
        ("视频描述", "title", "title"),
        ("发表时间", "publish_time", "datetime"),
        ("视频ID", "content_id", "id"),
        ("播放次数", "play_count", "wan"),
        ("完播率", "completion_rate", "pct"),
        ("平均播放时长", "avg_watch_seconds", "dur_s"),
        ("推荐", "wow", "count"),  # alias of 推荐次数
        ("点赞次数", "likes", "count"),
        ("评论次数", "comments", "count"),
        ("转发次数", "shares", "count"),
        ("收藏次数", "favorites", "count"),
        ("新增关注", "new_followers", "count"),
        ("视频时长", "", "unknown"),
    ],
    "wechat_channels.followers": [
        ("日期", "stat_date", "date"),
        ("新增关注", "new_followers", "count"),
        ("取消关注", "lost_followers", "count"),
        ("净增关注", "net_followers", "count"),
        ("关注者总数", "followers", "wan"),
        ("备注", "", "unknown"),
    ],
    "weibo.posts": [
        ("微博内容", "title", "title"),  # alias of 博文内容
        ("发布时间", "publish_time", "datetime"),
        ("微博ID", "content_id", "id"),
        ("阅读数", "impressions", "wan"),
        ("视频播放量", "play_count", "count"),
        ("转发数", "reposts", "count"),
        ("评论数", "comments", "count"),
        ("点赞数", "likes", "count"),
        ("互动数", "interactions", "count"),
        ("微博类型", "", "unknown"),
    ],
    "weibo.fans": [
        ("日期", "stat_date", "date"),
        ("新增粉丝数", "new_followers", "count"),
        ("取关粉丝数", "lost_followers", "count"),  # alias of 减少粉丝数
        ("净增粉丝数", "net_followers", "count"),
        ("粉丝总数", "followers", "wan"),
        ("备注", "", "unknown"),
    ],
    "douyin.works": [
        ("作品标题", "title", "title"),  # alias of 作品名称
        ("发布时间", "publish_time", "datetime"),
        ("体裁", "content_type", "type"),
        ("审核状态", "review_status", "status"),
        ("播放量", "play_count", "wan"),
        ("完播率", "completion_rate", "pct"),
        ("5s完播率", "completion_rate_5s", "pct"),
        ("2s跳出率", "bounce_rate_2s", "pct"),
        ("封面点击率", "cover_ctr", "pct_null"),
        ("平均播放时长", "avg_watch_seconds", "dur_s"),
        ("点赞量", "likes", "count"),
        ("评论量", "comments", "count"),
        ("分享量", "shares", "count"),
        ("收藏量", "favorites", "count"),
        ("主页访问量", "profile_visits", "count"),
        ("粉丝增量", "new_followers", "count"),
        ("作品链接", "", "unknown"),
    ],
    "kuaishou.works": [
        ("作品描述", "title", "title"),
        ("发布时间", "publish_time", "datetime"),
        ("作品ID", "content_id", "id"),
        ("封面曝光数", "impressions", "wan"),
        ("播放数", "play_count", "wan"),
        ("完播率", "completion_rate", "pct"),
        ("平均播放时长", "avg_watch_seconds", "dur_clock"),
        ("封面点击率", "cover_ctr", "pct_null"),
        ("点赞数", "likes", "count"),
        ("评论数", "comments", "count"),
        ("分享数", "shares", "count"),
        ("收藏数", "favorites", "count"),
        ("涨粉数", "new_followers", "count"),
        ("作品类型", "", "unknown"),
    ],
    "xiaohongshu.notes": [
        ("笔记标题", "title", "title"),
        ("首次发布时间", "publish_time", "datetime"),
        ("体裁", "content_type", "type"),
        ("曝光数", "impressions", "wan"),  # alias of 曝光
        ("观看量", "views", "wan"),
        ("封面点击率", "cover_ctr", "pct"),
        ("点赞", "likes", "count"),
        ("评论", "comments", "count"),
        ("收藏", "favorites", "count"),
        ("分享", "shares", "count"),
        ("直接涨粉", "new_followers", "count"),
        ("人均观看时长", "avg_watch_seconds", "dur_s"),
        ("2s退出率", "bounce_rate_2s", "pct_null"),
        ("完播率", "completion_rate", "pct_null"),
        ("笔记链接", "", "unknown"),
    ],
    "bilibili.videos": [
        ("标题", "title", "title"),  # alias of 稿件标题
        ("BV号", "content_id", "id"),
        ("发布时间", "publish_time", "datetime"),
        ("播放", "play_count", "wan"),
        ("点赞", "likes", "count"),
        ("投币", "coins", "count"),
        ("收藏", "favorites", "count"),
        ("分享", "shares", "count"),
        ("弹幕", "danmaku", "count"),
        ("评论", "comments", "count"),
        ("涨粉", "new_followers", "count"),
        ("平均播放时长", "avg_watch_seconds", "dur_clock"),
        ("完播率", "completion_rate", "pct_null"),
        ("分区", "", "unknown"),
    ],
    "zhihu.content": [
        ("内容标题", "title", "title"),
        ("内容类型", "content_type", "type"),
        ("发布时间", "publish_time", "datetime"),
        ("曝光量", "impressions", "wan"),
        ("阅读量", "views", "count"),
        ("赞同", "likes", "count"),  # alias of 赞同数
        ("喜欢数", "wow", "count"),
        ("评论数", "comments", "count"),
        ("收藏数", "favorites", "count"),
        ("分享数", "shares", "count"),
        ("新增关注数", "new_followers", "count"),
        ("话题", "", "unknown"),
    ],
}
TYPE_WORDS = {
    "douyin.works": ("视频", "视频", "图文"),
    "xiaohongshu.notes": ("图文", "视频"),
    "zhihu.content": ("回答", "文章", "视频"),
}
UNKNOWN_VALUES = ("原创", "科普", "健康", "门诊")
# Scale of counts per platform: (low, high) of the main count of one row.
SCALES = {
    "wechat_oa": (800, 26_000),
    "wechat_channels": (1_000, 60_000),
    "weibo": (2_000, 90_000),
    "douyin": (3_000, 250_000),
    "kuaishou": (2_000, 120_000),
    "xiaohongshu": (1_000, 40_000),
    "bilibili": (800, 30_000),
    "zhihu": (500, 20_000),
}


@dataclass
class Sample:
    export_type: str
    platform: str
    filename: str
    content: bytes
    header_row: int  # 1-based
    expected: list[dict[str, Any]] = field(default_factory=list)  # canonical values per data row, as read


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 - synthetic data


def _wan(value: int) -> tuple[str | int, int]:
    """Counts of 10,000 and more written as ``1.2万`` (as platforms show them), with the value that reads back."""
    if value >= 10_000:
        text = f"{value / 10_000:.1f}万"
        return text, round(float(text[:-1]) * 10_000)
    return value, value


def _duration(style: str, seconds: int) -> tuple[str, float]:
    if style == "dur_s":
        tenths = seconds * 10 + 3
        return f"{tenths / 10:.1f}s", tenths / 10
    if style == "dur_clock":
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}", float(seconds)
    minutes, rest = divmod(seconds, 60)
    return (f"{minutes}分{rest}秒" if minutes else f"{rest}秒"), float(seconds)


def _rows(
    code: str, *, titles: Sequence[str], start: dt.date, end: dt.date, seed: int, rows: int | None
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(written cells by header, expected canonical values) per data row."""
    export_type = EXPORT_TYPES_BY_CODE[code]
    columns = COLUMNS[code]
    low, high = SCALES[export_type.platform]
    days = [start + dt.timedelta(days=offset) for offset in range((end - start).days + 1)]
    keys: list[tuple[str, dt.date | None, str]] = []
    has_date = any(canonical == "stat_date" for _h, canonical, _s in columns)
    has_title = any(canonical == "title" for _h, canonical, _s in columns)
    has_channel = any(canonical == "source_channel" for _h, canonical, _s in columns)
    if rows is not None:
        # Bench scale: distinct titles, spread over the days when the export has a date column.
        keys = [
            (f"{titles[i % len(titles)]}（{i + 1}）", days[i % len(days)] if has_date else None, "")
            for i in range(rows)
        ]
    elif has_date and has_title:
        keys = [(title, day, channel) for day in days for title in titles[:3] for channel in CHANNELS[:2]]
    elif has_date and has_channel:
        keys = [(title, day, channel) for day in days for title in ("",) for channel in ("全部", *CHANNELS[:3])]
    elif has_date:
        keys = [("", day, "") for day in days]
    else:
        keys = [(title, None, "") for title in titles]
    result = []
    for index, (title, day, channel) in enumerate(keys):
        rng = _rng(seed, code, title, day, channel, index)
        main = rng.randint(low, high)
        if channel == "全部":
            main = rng.randint(high // 2, high)
        cells: dict[str, Any] = {}
        expected: dict[str, Any] = {"row_title": title}
        published = dt.datetime.combine(
            (day or end) - dt.timedelta(days=rng.randint(0, 20) if day is None else 0),
            dt.time(rng.randint(7, 21), rng.choice((0, 15, 30, 45))),
        )
        if published.date() < start and day is None:
            published = dt.datetime.combine(start, published.time())
        for header, canonical, style in columns:
            if style == "title":
                cells[header], expected[canonical] = title, title
            elif style == "id":
                digest = hashlib.sha256(f"{seed}|{title}".encode()).hexdigest()
                if export_type.platform == "bilibili":
                    content_id = "BV1" + digest[:9]
                else:
                    content_id = str(7_300_000_000 + int(digest[:8], 16))
                cells[header], expected[canonical] = content_id, content_id
            elif style == "datetime":
                cells[header] = published.strftime("%Y-%m-%d %H:%M")
                expected[canonical] = published
            elif style == "date":
                cells[header], expected[canonical] = day, day
            elif style == "channel":
                cells[header], expected[canonical] = channel, channel
            elif style == "type":
                word = rng.choice(TYPE_WORDS.get(code, ("视频",)))
                cells[header], expected[canonical] = word, word
            elif style == "status":
                cells[header], expected[canonical] = "审核通过", "审核通过"
            elif style == "wan":
                cells[header], expected[canonical] = _wan(main if canonical in ("views", "play_count") else main * 3)
            elif style == "count":
                value = {
                    "viewers": int(main * 0.8),
                    "followers": main * 7,
                    "net_followers": 0,
                }.get(canonical, int(main * rng.uniform(0.002, 0.06)))
                if canonical == "net_followers":
                    value = expected.get("new_followers", 0) - expected.get("lost_followers", 0)
                cells[header], expected[canonical] = value, value
            elif style in ("pct", "pct_null"):
                if style == "pct_null" and index % 3 == 2:
                    cells[header], expected[canonical] = "--", None
                else:
                    hundredths = rng.randint(50, 9_000)
                    cells[header] = f"{hundredths / 100:.2f}%"
                    expected[canonical] = hundredths / 10_000
            elif style.startswith("dur"):
                cells[header], expected[canonical] = _duration(style, rng.randint(8, 190))
            else:  # unknown column: kept in extra
                cells[header] = rng.choice(UNKNOWN_VALUES)
                expected["unknown:" + header] = cells[header]
        result.append((cells, expected))
    return result


def title_line(code: str, account_name: str, start: dt.date, end: dt.date) -> str:
    export_type = EXPORT_TYPES_BY_CODE[code]
    label = str(export_type.label).split("(")[-1].rstrip(")")
    return f"{account_name} {label} 统计时间：{start:%Y-%m-%d} 至 {end:%Y-%m-%d}"


def make_sample(
    code: str,
    *,
    fmt: str = "xlsx",
    account_name: str = "示例医院",
    titles: Sequence[str] = DEFAULT_TITLES,
    start: dt.date | None = None,
    end: dt.date | None = None,
    seed: int = 7,
    rows: int | None = None,
) -> Sample:
    """One export of type ``code`` as ``xlsx`` or ``csv`` (GBK) — CSV text as a platform's GBK export writes it."""
    end = end or dt.date(2025, 3, 7)
    start = start or end - dt.timedelta(days=6)
    export_type = EXPORT_TYPES_BY_CODE[code]
    columns = COLUMNS[code]
    headers = [header for header, _canonical, _style in columns]
    data = _rows(code, titles=titles, start=start, end=end, seed=seed, rows=rows)
    lines: list[list[Any]] = [[title_line(code, account_name, start, end)], [], headers]
    lines += [[cells[header] for header in headers] for cells, _expected in data]
    name = f"{code.replace('.', '_')}_{start:%Y%m%d}_{end:%Y%m%d}.{fmt}"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        for line in lines:
            writer.writerow(
                ["" if cell is None else (cell.isoformat() if isinstance(cell, dt.date) else cell) for cell in line]
            )
        content = buffer.getvalue().encode("gb18030")
    elif fmt == "xlsx":
        content = _xlsx(lines)
    else:
        raise ValueError(f"unknown sample format {fmt!r}")
    return Sample(
        export_type=code,
        platform=export_type.platform,
        filename=name,
        content=content,
        header_row=3,
        expected=[expected for _cells, expected in data],
    )


def _xlsx(lines: list[list[Any]]) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("数据")
    for line in lines:
        sheet.append(line)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write_samples(
    output: Path,
    *,
    account_names: dict[str, str] | None = None,
    titles: Sequence[str] = DEFAULT_TITLES,
    start: dt.date | None = None,
    end: dt.date | None = None,
    seed: int = 7,
    formats: Sequence[str] = ("xlsx", "csv"),
) -> list[Path]:
    """Every export type of every platform, in each format, into ``output``; returns the files written."""
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for export_type in EXPORT_TYPES:
        name = (account_names or {}).get(export_type.platform, "示例医院")
        for fmt in formats:
            sample = make_sample(
                export_type.code, fmt=fmt, account_name=name, titles=titles, start=start, end=end, seed=seed
            )
            path = output / sample.filename
            path.write_bytes(sample.content)
            written.append(path)
    return written
