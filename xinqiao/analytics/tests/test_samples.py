"""Every sample export of every platform imports exactly the values the generator wrote."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command

from xinqiao.analytics.importers.headers import EXPORT_TYPES
from xinqiao.analytics.importers.parse import CONTENT_FIELDS, parse_file
from xinqiao.analytics.models import AccountMetricDaily, ContentMetricDaily
from xinqiao.analytics.samples import make_sample
from xinqiao.analytics.services.imports import metric_import_file
from xinqiao.analytics.tests.imports_support import make_account

CODES = [export_type.code for export_type in EXPORT_TYPES]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
@pytest.mark.parametrize("code", CODES)
def test_sample_parses_to_the_written_values(code, fmt):
    sample = make_sample(code, fmt=fmt, account_name="一院", seed=11)
    result = parse_file(sample.content, filename=sample.filename, platform=sample.platform, today=dt.date(2025, 3, 8))
    assert result.errors == []
    assert result.export_type.code == code
    assert result.header_row == 3
    assert result.data_rows == len(sample.expected)
    assert len(result.unknown_columns) == 1
    if fmt == "csv":
        assert result.encoding == "gb18030"
    if result.content and not result.export_type.split_by:
        assert len(result.content) == len(sample.expected)
        in_file_order = sorted(result.content, key=lambda record: record.rows)  # (a clean CSV's: (day, key) order)
        for record, expected in zip(in_file_order, sample.expected, strict=True):
            assert record.title == expected["title"]
            for canonical, target in CONTENT_FIELDS.items():
                if canonical in expected:
                    value = expected[canonical]
                    if value is None and target not in ("completion_rate", "avg_watch_seconds"):
                        value = 0
                    assert record.metrics[target] == (pytest.approx(value) if value is not None else None), canonical
            unknown = [key for key in expected if key.startswith("unknown:")]
            assert record.extra["unknown"] == {key.removeprefix("unknown:"): expected[key] for key in unknown}
    if result.account and result.export_type.kind == "account":
        for record, expected in zip(result.account, sample.expected, strict=True):
            assert record.stat_date == expected["stat_date"]
            assert record.metrics == {
                name: expected[name]
                for name in ("new_followers", "lost_followers", "net_followers", "followers")
                if name in expected
            }


def test_samples_are_deterministic_by_seed():
    first = make_sample("douyin.works", fmt="csv", seed=3)
    assert make_sample("douyin.works", fmt="csv", seed=3).content == first.content
    assert make_sample("douyin.works", fmt="csv", seed=4).content != first.content


def test_samples_carry_the_documented_variability():
    text = make_sample("douyin.works", fmt="csv").content.decode("gb18030")
    lines = text.splitlines()
    assert lines[0].startswith("示例医院 作品列表 统计时间：2025-03-01 至 2025-03-07")
    assert lines[2].split(",")[0] == "作品标题"  # alias of 作品名称
    assert "万" in text
    assert ",--," in text
    assert "%" in text
    assert "s," in text


@pytest.mark.django_db
def test_each_platform_sample_imports_into_the_fact_tables(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    end = dt.date(2025, 3, 7)
    accounts = {}
    for code in CODES:
        sample = make_sample(code, fmt="xlsx", end=end)
        if sample.platform not in accounts:
            accounts[sample.platform] = make_account(world, platform=sample.platform, name=f"{sample.platform}号")
        account = accounts[sample.platform]
        path = tmp_path / sample.filename
        path.write_bytes(sample.content)
        metric_import_file(hospital=world.hospital, platform=sample.platform, path=path, account=account)
    counts = {
        code: (
            ContentMetricDaily.objects.filter(metric_import__export_type=code).count(),
            AccountMetricDaily.objects.filter(metric_import__export_type=code).count(),
        )
        for code in CODES
    }
    assert counts == {
        "wechat_oa.account_traffic": (0, 0),  # the user growth import below took the same days over
        "wechat_oa.article_source": (21, 0),
        "wechat_oa.article_detail": (8, 0),
        "wechat_oa.user_growth": (0, 7),
        "wechat_channels.videos": (8, 0),
        "wechat_channels.followers": (0, 7),
        "weibo.posts": (8, 0),
        "weibo.fans": (0, 7),
        "douyin.works": (8, 0),
        "kuaishou.works": (8, 0),
        "xiaohongshu.notes": (8, 0),
        "bilibili.videos": (8, 0),
        "zhihu.content": (8, 0),
    }
    day = AccountMetricDaily.objects.get(account__platform="wechat_oa", stat_date=end)
    assert set(day.extra) == {"traffic", "unknown"}


def test_make_export_samples_command_writes_every_type_in_both_formats(tmp_path):
    out = io.StringIO()
    call_command("make_export_samples", "--output", str(tmp_path), "--end", "2025-03-07", stdout=out)
    written = sorted(path.name for path in tmp_path.iterdir())
    assert len(written) == 26
    assert "douyin_works_20250301_20250307.csv" in written
    assert out.getvalue().strip().endswith("26 files written.")
