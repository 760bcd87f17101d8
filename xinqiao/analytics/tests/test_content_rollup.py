"""The content rollup stays equal to its facts through every writer, and the dashboards read the same numbers from it
as from the facts."""

from __future__ import annotations

import datetime as dt
import io
import random
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import F

from xinqiao.analytics.importers.headers import CONTENT, EXPORT_TYPES
from xinqiao.analytics.importers.parse import parse_file
from xinqiao.analytics.models import ContentMetricDaily, ContentMetricRollup, ContentMonthRollup, MetricSource
from xinqiao.analytics.samples import make_sample
from xinqiao.analytics.selectors import Filters, content_rows
from xinqiao.analytics.selectors.overview import daily_totals
from xinqiao.analytics.selectors.period import (
    content_aggregate_expressions,
    content_totals,
    grouped_content_totals,
    period_aggregates,
    totals_with_posts,
)
from xinqiao.analytics.services.imports import metric_import_file, upsert_content
from xinqiao.analytics.services.rollup import (
    content_month_differences,
    content_months_build,
    content_rollup_differences,
    content_rollup_rebuild,
    content_rollup_refresh,
)
from xinqiao.analytics.tests.imports_support import csv_bytes, douyin_lines, make_account
from xinqiao.analytics.tests.test_selectors_period import make_publication

START, END = dt.date(2026, 10, 1), dt.date(2026, 10, 31)


@pytest.fixture(autouse=True)
def english(settings, tmp_path):
    from django.utils import translation

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def rollup_of(account) -> list[tuple]:
    return list(
        ContentMetricRollup.objects.filter(account=account)
        .order_by("stat_date", "topic", "department_id_snapshot")
        .values_list("stat_date", "topic", "department_id_snapshot", "fact_rows", "views", "likes")
    )


def facts_summed(account) -> list[tuple]:
    """The rollup rows worked out in Python from the account's facts."""
    groups: dict[tuple, list[int]] = {}
    for fact in ContentMetricDaily.objects.filter(account=account):
        group = groups.setdefault((fact.stat_date, fact.topic, fact.department_id_snapshot), [0, 0, 0])
        group[0] += 1
        group[1] += fact.views
        group[2] += fact.likes
    return sorted((*key, *values) for key, values in groups.items())


def test_an_import_and_a_changed_reimport_keep_the_rollup_equal_to_the_facts(world, tmp_path):
    account = make_account(world, department=world.departments["cardiology"])
    path = tmp_path / "works.csv"
    path.write_bytes(csv_bytes(douyin_lines()))

    metric_import_file(hospital=world.hospital, platform="douyin", path=path, account=account)

    day = dt.date(2025, 3, 7)
    department = world.departments["cardiology"].pk
    # 1.2万 + 9,876 views, 800 + 120 likes, on the export's day
    assert rollup_of(account) == [(day, "", department, 2, 21_876, 920)] == facts_summed(account)

    lines = douyin_lines()
    lines[3][2] = "1.5万"  # the first work's views changed since
    path.write_bytes(csv_bytes(lines))
    imported = metric_import_file(hospital=world.hospital, platform="douyin", path=path, account=account)

    assert (imported.rows_created, imported.rows_updated, imported.rows_unchanged) == (0, 1, 1)
    assert rollup_of(account) == [(day, "", department, 2, 24_876, 920)] == facts_summed(account)
    assert content_rollup_differences(hospital=world.hospital) == (0, [])


def test_the_row_by_row_merge_keeps_the_rollup_and_leaves_other_accounts_alone(world):
    first, second = make_account(world, name="一号"), make_account(world, name="二号")
    result = parse_file(csv_bytes(douyin_lines()), filename="works.csv", platform="douyin", today=dt.date(2025, 3, 8))
    assert upsert_content(account=first, records=list(result.content), source="import") == (2, 0, 0)
    assert upsert_content(account=second, records=result.content, source="import") == (2, 0, 0)
    before = rollup_of(second)

    changed = [record for record in result.content]
    changed[1].metrics["views"] += 100
    assert upsert_content(account=first, records=changed, source="import") == (0, 1, 1)

    assert rollup_of(first)[0][4] == before[0][4] + 100
    assert rollup_of(second) == before
    assert content_rollup_differences(hospital=world.hospital) == (0, [])


CONTENT_SAMPLES = [
    export_type.code for export_type in EXPORT_TYPES if export_type.kind == CONTENT and not export_type.split_by
]


def linked_sample(world, folder, code: str, fmt: str, start: dt.date, end: dt.date):
    """(sample, account, path): a sample export of ``code`` over [start, end] saved in ``folder``, for a new account
    whose publications match two of its rows (topics 儿童用药 and 高血压, departments pediatrics and the account's)."""
    sample = make_sample(code, fmt=fmt, start=start, end=end)
    account = make_account(world, platform=sample.platform, department=world.departments["cardiology"])
    records = parse_file(sample.content, filename=sample.filename, platform=sample.platform).content
    linked = [record for record in records if record.published_at is not None][:2]
    assert len(linked) == 2, "the sample needs publish times to link rows"
    for record, (department, topic) in zip(linked, [("pediatrics", "儿童用药"), (None, "高血压")], strict=True):
        publication = make_publication(
            world, account, title=record.title, department=department, topic=topic, content_type="article"
        )
        publication.published_at = record.published_at
        publication.save(update_fields=["published_at"])
    path = folder / sample.filename
    path.write_bytes(sample.content)
    return sample, account, path


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("code", CONTENT_SAMPLES)
def test_a_first_import_sums_the_rollup_from_its_columns_as_the_facts_give_it(world, tmp_path, code, fmt):
    """The first import of a period sums the rollup from the columns it writes (polars), not from the facts: every
    platform's sample, with rows linked to publications of two topics and departments, agrees with the SQL sums."""
    sample, account, path = linked_sample(world, tmp_path, code, fmt, dt.date(2025, 3, 1), dt.date(2025, 3, 7))
    records = parse_file(sample.content, filename=sample.filename, platform=sample.platform).content
    refreshed = []

    def counting_refresh(**kwargs):
        refreshed.append(kwargs)
        return content_rollup_refresh(**kwargs)

    with mock.patch("xinqiao.analytics.services.imports.content_rollup_refresh", counting_refresh):
        imported = metric_import_file(hospital=world.hospital, platform=sample.platform, path=path, account=account)

    assert (imported.rows_created, imported.rows_updated) == (len(records), 0), imported.errors[:3]
    assert refreshed == []  # the columns' path, not the read-back
    topics = set(ContentMetricRollup.objects.filter(account=account).values_list("topic", flat=True))
    assert topics == {"", "儿童用药", "高血压"}
    assert ContentMetricRollup.objects.filter(account=account, completion_views__isnull=False).exists() == (
        ContentMetricDaily.objects.filter(account=account, completion_rate__isnull=False).exists()
    )
    assert content_rollup_differences(hospital=world.hospital) == (0, [])


def test_deleting_an_account_deletes_its_rollup(world, tmp_path):
    account = make_account(world)
    path = tmp_path / "works.csv"
    path.write_bytes(csv_bytes(douyin_lines()))
    metric_import_file(hospital=world.hospital, platform="douyin", path=path, account=account)
    assert ContentMetricRollup.objects.filter(account=account).exists()

    account.delete()

    assert not ContentMetricRollup.objects.exists()


def run(*args) -> str:
    out = io.StringIO()
    call_command("rebuild_content_rollup", *args, stdout=out)
    return out.getvalue()


def test_check_reports_what_differs_and_a_rebuild_repairs_it(world, tmp_path):
    account = make_account(world, department=world.departments["cardiology"])
    path = tmp_path / "works.csv"
    path.write_bytes(csv_bytes(douyin_lines()))
    metric_import_file(hospital=world.hospital, platform="douyin", path=path, account=account)
    content_months_build(account_id=account.pk)  # (the task the import's commit enqueues)
    assert "The content rollup matches the facts." in run("--check")

    # facts changed behind the writers' back, and a row of another day the rollup never had
    ContentMetricDaily.objects.filter(account=account).update(views=F("views") + 1)
    ContentMetricDaily.objects.create(
        hospital=world.hospital, account=account, platform="douyin", content_key="late", stat_date=dt.date(2025, 3, 6),
        views=5, source=MetricSource.IMPORT,
    )  # fmt: skip
    out = io.StringIO()
    # two days, and three content items of the month (both works' views, the new row's item)
    with pytest.raises(CommandError, match="5 rollup groups differ from the facts"):
        call_command("rebuild_content_rollup", "--check", stdout=out)
    department = world.departments["cardiology"].pk
    works = sorted(ContentMetricDaily.objects.filter(account=account).exclude(content_key="late").values_list(
        "content_key", flat=True
    ))  # fmt: skip
    assert out.getvalue().splitlines() == [
        f"{world.hospital.code}: account {account.pk}, 2025-03-06, topic “”, department -: - facts summed, 1 expected",
        f"{world.hospital.code}: account {account.pk}, 2025-03-07, topic “”, department {department}: "
        "2 facts summed, 2 expected",
        *(
            f"{world.hospital.code}: account {account.pk}, month 2025-03, content “{key}”: {stored} facts summed, "
            f"{expected} expected"
            for key, stored, expected in sorted([(works[0], 1, 1), (works[1], 1, 1), ("late", "-", 1)])
        ),
    ]
    stored = ContentMetricRollup.objects.get(account=account)

    assert "Content rollup rebuilt" in run("--hospital", world.hospital.code)

    assert ContentMetricRollup.objects.get(account=account, stat_date=dt.date(2025, 3, 7)).views == stored.views + 2
    assert "The content rollup matches the facts." in run("--check", "--hospital", world.hospital.code)


def test_a_group_stored_twice_is_a_difference(world, tmp_path):
    account = make_account(world)
    path = tmp_path / "works.csv"
    path.write_bytes(csv_bytes(douyin_lines()))
    metric_import_file(hospital=world.hospital, platform="douyin", path=path, account=account)
    copy = ContentMetricRollup.objects.get(account=account)
    copy.pk = None
    copy.save()

    count, shown = content_rollup_differences(hospital=world.hospital)

    assert count == 1
    assert (shown[0]["stored"], shown[0]["expected"]) == (4, 2)


def test_an_unknown_hospital_is_refused(world):
    with pytest.raises(CommandError, match="No hospital with code nowhere."):
        run("--hospital", "nowhere")


@pytest.fixture
def varied_facts(world):
    """Facts of four accounts over October with every shape the rollup must sum right: topics and none, several
    departments and none, a content key on many days, one key on two accounts of one platform, completion rates on
    some rows only, a day without rows."""
    rng = random.Random(7)
    departments = [world.departments["cardiology"].pk, world.departments["pediatrics"].pk, None]
    accounts = [
        make_account(world, platform="douyin", name="抖音一", department=world.departments["cardiology"]),
        make_account(world, platform="douyin", name="抖音二"),
        make_account(world, platform="wechat_oa", name="公众号", department=world.departments["pediatrics"]),
        make_account(world, platform="weibo", name="微博"),
    ]
    facts = []
    for index in range(60):
        account = accounts[index % len(accounts)]
        key = "shared" if index in (0, 1) else f"k{index}"  # accounts 0 and 1: both douyin
        topic = rng.choice(["高血压", "儿童用药误区", ""])
        department = rng.choice(departments)
        first = START + dt.timedelta(days=rng.randint(0, 20))
        for offset in range(rng.randint(1, 12)):
            day = first + dt.timedelta(days=offset)
            if day == dt.date(2026, 10, 15):
                continue
            views = rng.randint(0, 5000)
            facts.append(
                ContentMetricDaily(
                    hospital=world.hospital, account=account, platform=account.platform, content_key=key,
                    topic=topic, department_id_snapshot=department, stat_date=day, impressions=views * 3, views=views,
                    viewers=views // 2, likes=views // 20, comments=views // 90, shares=views // 70,
                    favorites=views // 50, follows_gained=views // 300,
                    completion_rate=round(rng.random(), 3) if rng.random() < 0.6 else None,
                    source=MetricSource.SEED,
                )
            )  # fmt: skip
    ContentMetricDaily.objects.bulk_create(facts)
    content_rollup_rebuild(hospitals=[world.hospital])
    return accounts


def equal_totals(ours: dict, theirs: dict) -> None:
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert ours[key] == (pytest.approx(value) if isinstance(value, float) else value), key


def filter_cases(world, accounts):
    cardiology = world.departments["cardiology"].pk
    return [
        (Filters(), None),
        (Filters(platform="douyin"), None),
        (Filters(account_id=accounts[1].pk), None),
        (Filters(topic="高血压"), None),
        (Filters(department_id=cardiology), None),
        (Filters(platform="douyin"), [cardiology]),
    ]


@pytest.mark.parametrize("case", range(6))
def test_the_selectors_read_from_the_rollup_what_the_facts_give(world, varied_facts, case):
    filters, scope = filter_cases(world, varied_facts)[case]
    facts = content_rows(world.hospital, START, END, filters, scope)

    for group in ("platform", "account_id"):
        ours = grouped_content_totals(world.hospital, START, END, filters, scope, group)
        expected = totals_with_posts(facts, group)
        assert [row[group] for row in ours] == [row[group] for row in expected]
        assert len(ours) >= 1
        for mine, theirs in zip(ours, expected, strict=True):
            equal_totals(mine, theirs)

    aggregates = period_aggregates(hospital=world.hospital, start=START, end=END, filters=filters, department_ids=scope)
    expected = content_totals(facts.aggregate(**content_aggregate_expressions()))
    equal_totals({key: aggregates[key] for key in expected}, expected)

    by_day = daily_totals(world.hospital, START, END, filters, scope)
    expected_days = {
        row["stat_date"]: content_totals(row)
        for row in facts.values("stat_date").annotate(**content_aggregate_expressions()).order_by("stat_date")
    }
    assert by_day.keys() == expected_days.keys()
    assert dt.date(2026, 10, 15) not in by_day
    for day, totals in expected_days.items():
        equal_totals(by_day[day], totals)


def test_posts_count_a_key_once_per_platform_and_once_per_account(world, varied_facts):
    platforms = {
        row["platform"]: row["posts"]
        for row in grouped_content_totals(world.hospital, START, END, Filters(), None, "platform")
    }
    accounts = {
        row["account_id"]: row["posts"]
        for row in grouped_content_totals(world.hospital, START, END, Filters(), None, "account_id")
    }
    # "shared" is on both douyin accounts: one post of the platform, one post of each account
    assert platforms["douyin"] == accounts[varied_facts[0].pk] + accounts[varied_facts[1].pk] - 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_sums_the_facts_stored_before_it(world):
    executor = MigrationExecutor(connection)
    before = [("analytics", "0009_metric_import_background_work")]
    latest = executor.loader.graph.leaf_nodes("analytics")
    try:
        executor.migrate(before)
        account = make_account(world, department=world.departments["cardiology"])
        with connection.cursor() as cursor:
            for key, day, views, rate in (("a", "2026-10-01", 100, 0.5), ("b", "2026-10-01", 50, None),
                                          ("a", "2026-10-02", 10, 0.25)):  # fmt: skip
                cursor.execute(
                    "INSERT INTO analytics_contentmetricdaily (hospital_id, account_id, platform, content_key, title, "
                    "content_format, topic, department_id_snapshot, stat_date, impressions, views, viewers, "
                    "completion_rate, likes, comments, shares, favorites, follows_gained, extra, source, updated_at) "
                    "VALUES (%s, %s, 'douyin', %s, '', '', '', %s, %s, 0, %s, 0, %s, 1, 0, 0, 0, 0, '{}', 'seed', "
                    "CURRENT_TIMESTAMP)",
                    [world.hospital.pk, account.pk, key, account.department_id, day, views, rate],
                )
        executor = MigrationExecutor(connection)
        executor.migrate(latest)

        rows = ContentMetricRollup.objects.filter(account=account).order_by("stat_date")
        assert [
            (row.stat_date, row.fact_rows, row.views, row.likes, row.completion_weighted, row.completion_views)
            for row in rows
        ] == [(dt.date(2026, 10, 1), 2, 150, 2, 50.0, 100), (dt.date(2026, 10, 2), 1, 10, 1, 2.5, 10)]
        assert content_rollup_differences(hospital=world.hospital) == (0, [])
        months = ContentMonthRollup.objects.filter(account=account).order_by("content_key")
        assert [(row.month, row.content_key, row.fact_rows, row.views, row.completion_weighted) for row in months] == [
            (dt.date(2026, 10, 1), "a", 2, 110, 52.5),
            (dt.date(2026, 10, 1), "b", 1, 50, None),
        ]
        assert content_month_differences(hospital=world.hospital) == (0, [])
    finally:
        MigrationExecutor(connection).migrate(latest)


def test_the_command_speaks_chinese_by_default(world, settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "zh-hans"
    with translation.override("zh-hans"):
        assert "内容汇总（按日、按月）与明细一致。" in run("--check")
        assert "内容汇总（按日、按月）已重算" in run("--hospital", world.hospital.code)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_two_writers_of_one_account_and_day_do_not_count_it_twice(world):
    """The second writer waits for the first one's transaction (the account lock) and then recomputes the day with
    both writers' facts. Without the lock its DELETE would not see the rollup row the first one inserted, and the day
    would be stored twice (PostgreSQL, READ COMMITTED)."""
    import threading

    from django.db import transaction

    from xinqiao.analytics.importers.parse import ContentRecord

    account = make_account(world)
    day = dt.date(2025, 3, 7)
    first_wrote, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def write(key: str, hold: bool) -> None:
        try:
            record = ContentRecord(key, day, key, None, "video", {"views": 10}, {}, [1])
            with transaction.atomic():
                upsert_content(account=account, records=[record], source=MetricSource.IMPORT)
                if hold:
                    first_wrote.set()
                    release.wait(10)
        except BaseException as error:  # reported by the test thread
            failures.append(error)
        finally:
            connection.close()

    first = threading.Thread(target=write, args=("a", True))
    first.start()
    assert first_wrote.wait(10)
    second = threading.Thread(target=write, args=("b", False))
    second.start()
    second.join(0.5)
    assert second.is_alive()  # waiting for the first writer's account lock
    release.set()
    first.join(10)
    second.join(10)

    assert failures == []
    assert rollup_of(account) == [(day, "", None, 2, 20, 0)]
    assert content_rollup_differences(hospital=world.hospital) == (0, [])
