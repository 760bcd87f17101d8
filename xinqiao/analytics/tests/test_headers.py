from __future__ import annotations

import pytest

from xinqiao.analytics.importers.headers import (
    EXPORT_TYPES,
    find_header_row,
    normalise_header,
    platform_export_types,
    recognise,
)
from xinqiao.analytics.samples import COLUMNS


@pytest.mark.parametrize(
    ("raw", "key", "unit"),
    [
        (" 阅读次数(次) ", "阅读次数", "次"),
        ("平均播放时长（秒）", "平均播放时长", "秒"),
        ("完播率(%)", "完播率", "%"),
        ("阅读\u3000人数", "阅读人数", ""),
        ("5S完播率", "5s完播率", ""),
        ("【点赞量】", "(点赞量)", ""),
        ("BV号", "bv号", ""),
    ],
)
def test_normalise_header(raw, key, unit):
    header = normalise_header(raw)
    assert (header.key, header.unit) == (key, unit)


def test_header_row_found_after_title_lines():
    rows = [
        ["抖音 作品列表 2025-03-01 至 2025-03-07"],
        [],
        ["作品名称", "发布时间", "播放量", "点赞量"],
        ["a", "b", 1, 2],
    ]
    index, headers = find_header_row(rows)
    assert index == 2
    assert [h.key for h in headers] == ["作品名称", "发布时间", "播放量", "点赞量"]


def test_header_row_needs_three_known_columns_in_the_first_ten_rows():
    rows = [["说明"]] * 10 + [["作品名称", "发布时间", "播放量"]]
    assert find_header_row(rows) is None
    assert find_header_row([["作品名称", "备注", "说明"]]) is None


@pytest.mark.parametrize("code", [export_type.code for export_type in EXPORT_TYPES])
def test_every_sample_layout_is_recognised_as_its_own_type(code):
    headers = [normalise_header(header) for header, _canonical, _style in COLUMNS[code]]
    platform = code.split(".")[0]
    recognition = recognise(headers, platform)
    assert recognition.export_type is not None
    assert recognition.export_type.code == code
    assert recognition.other is None


@pytest.mark.parametrize("code", [export_type.code for export_type in EXPORT_TYPES])
def test_every_layout_is_refused_for_every_other_platform(code):
    headers = [normalise_header(header) for header, _canonical, _style in COLUMNS[code]]
    own = code.split(".")[0]
    for platform in {export_type.platform for export_type in EXPORT_TYPES} - {own}:
        recognition = recognise(headers, platform)
        assert recognition.export_type is None, (code, platform)
        assert recognition.other.code == code


def test_wechat_oa_export_types_are_told_apart_by_their_headers():
    traffic = recognise(
        [normalise_header(h) for h in ["日期", "渠道", "阅读次数", "阅读人数", "分享次数"]], "wechat_oa"
    )
    source = recognise(
        [normalise_header(h) for h in ["文章标题", "日期", "渠道", "阅读次数", "阅读次数占比"]], "wechat_oa"
    )
    growth = recognise(
        [normalise_header(h) for h in ["时间", "新关注人数", "取消关注人数", "净增关注人数"]], "wechat_oa"
    )
    assert [traffic.export_type.code, source.export_type.code, growth.export_type.code] == [
        "wechat_oa.account_traffic",
        "wechat_oa.article_source",
        "wechat_oa.user_growth",
    ]


def test_every_platform_has_exports():
    platforms = ["wechat_oa", "wechat_channels", "weibo", "douyin", "kuaishou", "xiaohongshu", "bilibili", "zhihu"]
    assert [len(platform_export_types(platform)) for platform in platforms] == [4, 2, 2, 1, 1, 1, 1, 1]
