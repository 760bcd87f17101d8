from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from django.core.exceptions import PermissionDenied
from django.db import DataError

from xinqiao.analytics.importers.parse import ContentRecord, parse_file
from xinqiao.analytics.models import ContentMetricDaily, MetricImport
from xinqiao.analytics.services import imports as services
from xinqiao.analytics.tests.imports_support import (
    checked,
    csv_bytes,
    douyin_lines,
    make_account,
    publish,
    upload,
    xlsx_bytes,
)
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    from django.utils import translation

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def preview(world, account, content: bytes, name: str = "works.csv", persona: str = "brand", platform="douyin"):
    return services.metric_import_preview(
        principal=world.principal(persona), account=account, platform=platform, uploaded_file=upload(name, content)
    )


def commit(world, metric_import, persona: str = "brand"):
    return services.metric_import_commit(principal=world.principal(persona), metric_import=metric_import)


def facts(account):
    return list(
        ContentMetricDaily.objects.filter(account=account)
        .order_by("title")
        .values_list(
            "title", "stat_date", "views", "completion_rate", "avg_watch_seconds", "likes", "comments", "source"
        )
    )


def test_preview_records_what_the_file_holds_and_writes_no_facts(world):
    account = make_account(world)
    metric_import = preview(world, account, csv_bytes(douyin_lines(), "gbk"))
    assert metric_import.status == MetricImport.Status.PREVIEW
    assert metric_import.export_type == "douyin.works"
    assert metric_import.header_row == 3
    assert metric_import.rows_total == 2
    assert metric_import.column_map == {
        "作品名称": "title",
        "发布时间": "publish_time",
        "播放量": "play_count",
        "完播率": "completion_rate",
        "平均播放时长": "avg_watch_seconds",
        "点赞量": "likes",
        "评论量": "comments",
        "分享量": "shares",
        "收藏量": "favorites",
    }
    assert metric_import.unknown_columns == ["作品链接"]
    assert [row["row"] for row in metric_import.preview_rows] == [4, 5]
    assert metric_import.preview_rows[0]["values"]["播放量"] == "1.2万"
    assert metric_import.errors == []
    assert (metric_import.date_from, metric_import.date_to) == (dt.date(2025, 3, 7), dt.date(2025, 3, 7))
    assert metric_import.details["encoding"] == "gb18030"
    assert ContentMetricDaily.objects.count() == 0


def test_commit_writes_every_row_and_reimport_changes_nothing(world):
    account = make_account(world)
    first = commit(world, preview(world, account, csv_bytes(douyin_lines())))
    assert (first.status, first.rows_created, first.rows_updated, first.rows_unchanged) == ("committed", 2, 0, 0)
    expected = [
        ("孩子发烧别慌", dt.date(2025, 3, 7), 9876, 0.1225, 65.0, 120, 0, "import"),
        ("高血压的日常管理", dt.date(2025, 3, 7), 12000, 0.355, 35.0, 800, 40, "import"),
    ]
    assert facts(account) == expected
    row = ContentMetricDaily.objects.get(account=account, title="高血压的日常管理")
    assert row.extra == {"unknown": {"作品链接": "https://v.douyin.com/a"}}
    assert row.metric_import_id == first.pk
    assert row.hospital_id == world.hospital.pk
    assert row.content_format == "video"
    stamp = row.updated_at
    assert AuditEvent.objects.filter(action=AuditEvent.Action.METRIC_IMPORT, object_id=str(first.pk)).count() == 1

    # the same file as xlsx: same facts, nothing changes
    again = commit(world, preview(world, account, xlsx_bytes(douyin_lines()), name="works.xlsx"))
    assert (again.rows_created, again.rows_updated, again.rows_unchanged) == (0, 0, 2)
    assert facts(account) == expected
    row.refresh_from_db()
    assert (row.updated_at, row.metric_import_id) == (stamp, first.pk)
    assert ContentMetricDaily.objects.count() == 2


def test_changed_figures_update_only_their_rows(world):
    account = make_account(world)
    commit(world, preview(world, account, csv_bytes(douyin_lines())))
    lines = douyin_lines()
    lines[3][2] = "1.3万"
    changed = commit(world, preview(world, account, csv_bytes(lines)))
    assert (changed.rows_created, changed.rows_updated, changed.rows_unchanged) == (0, 1, 1)
    assert ContentMetricDaily.objects.get(account=account, title="高血压的日常管理").views == 13000


def test_a_file_with_errors_is_rejected_and_nothing_is_imported(world):
    account = make_account(world)
    lines = douyin_lines()
    lines.append(lines[3])  # duplicate of row 4
    metric_import = preview(world, account, csv_bytes(lines))
    assert metric_import.status == MetricImport.Status.REJECTED
    assert metric_import.errors == [
        {"row": 6, "column": "作品名称、发布时间", "message": "Duplicate row: the same 作品名称、发布时间 as row 4."}
    ]
    with pytest.raises(ApplicationError) as error:
        commit(world, metric_import)
    assert error.value.message == "This import was already committed or rejected."
    assert ContentMetricDaily.objects.count() == 0


def test_commit_is_atomic_when_the_database_refuses_a_later_row(world):
    account = make_account(world)
    metric_import = preview(world, account, csv_bytes(douyin_lines()))
    result = parse_file(csv_bytes(douyin_lines()), filename="works.csv", platform="douyin")
    # 2,500 good records (three batches), then one the database cannot store
    result.content = [
        ContentRecord(f"k{i}", dt.date(2025, 3, 7), f"t{i}", None, "video", {"views": i}, {}, [i]) for i in range(2500)
    ]
    result.content.append(ContentRecord("bad", dt.date(2025, 3, 7), "bad", None, "video", {"views": 2**70}, {}, [0]))
    # SQLite: the driver refuses the value; PostgreSQL: the server refuses it while copying
    with pytest.raises((OverflowError, DataError, psycopg.DataError)):
        services._commit(metric_import, result, principal=world.principal("brand"))
    assert ContentMetricDaily.objects.count() == 0
    metric_import.refresh_from_db()
    assert metric_import.status == MetricImport.Status.PREVIEW
    assert AuditEvent.objects.filter(action=AuditEvent.Action.METRIC_IMPORT).count() == 0


def test_rows_are_linked_to_the_accounts_publication_by_title_and_publish_day(world):
    from xinqiao.content.tests.helpers import writer

    account = make_account(world, department=world.departments["cardiology"], account_type="department")
    publication = publish(
        world, writer(world), account, "高血压的日常管理", dt.datetime(2025, 3, 2, 1, 30, tzinfo=dt.UTC)
    )
    commit(world, preview(world, account, csv_bytes(douyin_lines())))
    linked = dict(ContentMetricDaily.objects.filter(account=account).values_list("title", "publication_id"))
    assert linked == {"高血压的日常管理": publication.pk, "孩子发烧别慌": None}
    snapshots = set(ContentMetricDaily.objects.values_list("department_id_snapshot", flat=True))
    assert snapshots == {world.departments["cardiology"].pk}


def test_wrong_platform_file_is_rejected_with_the_platform_named(world):
    account = make_account(world, platform="bilibili", name="一院B站")
    metric_import = preview(world, account, csv_bytes(douyin_lines()), platform="bilibili")
    assert metric_import.status == MetricImport.Status.REJECTED
    assert metric_import.errors[0]["row"] == 3
    assert metric_import.errors[0]["message"].startswith("This file looks like a Douyin export")


def test_account_must_be_on_the_chosen_platform(world):
    account = make_account(world)
    with pytest.raises(ApplicationError) as error:
        preview(world, account, csv_bytes(douyin_lines()), platform="kuaishou")
    assert error.value.message == "The account 一院抖音号 is on Douyin, not on the chosen platform."
    assert MetricImport.objects.count() == 0


def test_another_hospitals_account_is_refused(world):
    account = make_account(world, hospital=world.other_hospital)
    with pytest.raises(ApplicationError) as error:
        preview(world, account, csv_bytes(douyin_lines()))
    assert error.value.message == "Choose one of your hospital's accounts."


def test_only_analytics_managers_import(world):
    account = make_account(world)
    with pytest.raises(PermissionDenied):
        preview(world, account, csv_bytes(douyin_lines()), persona="leadership")
    metric_import = preview(world, account, csv_bytes(douyin_lines()))
    with pytest.raises(PermissionDenied):
        commit(world, metric_import, persona="dept_reviewer")
    assert ContentMetricDaily.objects.count() == 0


def test_account_facts_from_a_user_growth_export_keep_traffic_extra(world):
    account = make_account(world, platform="wechat_oa", name="一院公众号")
    traffic = [
        ["日期", "渠道", "阅读次数", "阅读人数", "分享次数"],
        ["2025-03-01", "全部", 1000, 800, 30],
    ]
    growth = [
        ["时间", "新关注人数", "取消关注人数", "净增关注人数", "累积关注人数"],
        ["2025-03-01", 30, 5, 25, 12000],
    ]
    commit(world, preview(world, account, csv_bytes(traffic), name="traffic.csv", platform="wechat_oa"))
    result = commit(world, preview(world, account, csv_bytes(growth), name="growth.csv", platform="wechat_oa"))
    assert (result.rows_created, result.rows_updated) == (0, 1)
    from xinqiao.analytics.models import AccountMetricDaily

    day = AccountMetricDaily.objects.get(account=account)
    assert (day.followers, day.new_followers, day.lost_followers, day.net_followers) == (12000, 30, 5, 25)
    assert day.extra == {"traffic": {"views": 1000, "viewers": 800, "shares": 30}}


def test_fact_keys_without_their_own_constraint_still_follow_deletes(world):
    """The hospital and import columns of a fact are not database foreign keys (see the model): the account's key
    is checked by the database (test_fact_references.py), and Django's on_delete still clears or removes what points
    at a deleted import or account."""
    from django.db import IntegrityError

    account = make_account(world)
    first = commit(world, preview(world, account, csv_bytes(douyin_lines())))
    rows = ContentMetricDaily.objects.filter(account=account)
    assert set(rows.values_list("hospital_id", "metric_import_id")) == {(account.hospital_id, first.pk)}

    MetricImport.objects.filter(pk=first.pk).delete()
    assert set(rows.values_list("metric_import_id", flat=True)) == {None}

    # refused at once (PostgreSQL's reference triggers) or at the deferred check (SQLite's foreign key)
    orphan = ContentMetricDaily(
        hospital=world.hospital,
        account_id=account.pk + 10_000,
        platform="douyin",
        content_key="x",
        stat_date=dt.date(2025, 3, 7),
        source="import",
    )
    with pytest.raises(IntegrityError):
        checked(lambda: orphan.save(force_insert=True))

    account.delete()
    assert not rows.exists()
