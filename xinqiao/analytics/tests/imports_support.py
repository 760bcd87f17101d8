"""Builders for the metric import tests (synthetic data only)."""

from __future__ import annotations

import csv
import io

import openpyxl
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction

from xinqiao.analytics.models import ContentMetricDaily
from xinqiao.channels.models import PlatformAccount, Publication


def make_account(world, platform: str = "douyin", name: str = "一院抖音号", **fields) -> PlatformAccount:
    return PlatformAccount.objects.create(
        hospital=fields.pop("hospital", world.hospital),
        platform=platform,
        name=name,
        account_type=fields.pop("account_type", PlatformAccount.AccountType.HOSPITAL_OFFICIAL),
        **fields,
    )


def csv_bytes(lines: list[list[object]], encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(lines)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(lines: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for line in lines:
        sheet.append(line)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


DOUYIN_HEADER = [
    "作品名称",
    "发布时间",
    "播放量",
    "完播率",
    "平均播放时长",
    "点赞量",
    "评论量",
    "分享量",
    "收藏量",
    "作品链接",
]


def douyin_lines(
    rows=None, *, title_line: str = "抖音 作品列表 统计时间：2025-03-01 至 2025-03-07"
) -> list[list[object]]:
    rows = rows or [
        ["高血压的日常管理", "2025-03-02 09:30", "1.2万", "35.5%", "35秒", 800, 40, 30, 25, "https://v.douyin.com/a"],
        ["孩子发烧别慌", "2025-03-03 20:00", "9,876", "12.25%", "00:01:05", 120, "--", 8, 3, "https://v.douyin.com/b"],
    ]
    return [[title_line], [], DOUYIN_HEADER, *rows]


def checked(action) -> None:
    """Run ``action`` in a savepoint and have the database check its references before the savepoint ends (SQLite
    defers its foreign-key checks to the commit; PostgreSQL's reference triggers check each statement)."""
    tables = [ContentMetricDaily._meta.db_table, PlatformAccount._meta.db_table, Publication._meta.db_table]
    with transaction.atomic():
        action()
        connection.check_constraints(table_names=tables)


def publish(world, author, account: PlatformAccount, title: str, published_at) -> Publication:
    """A content item published on ``account`` (status published) at ``published_at``."""
    from xinqiao.content.tests.helpers import make_item

    item = make_item(world, author, title=title)
    return Publication.objects.create(
        hospital=world.hospital,
        item=item,
        revision=item.current_revision,
        account=account,
        status=Publication.Status.PUBLISHED,
        published_at=published_at,
    )
