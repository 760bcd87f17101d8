"""The month rollup (one row per content item and calendar month) stays equal to its facts through every writer, and
the views that read a long period's whole months from it give what the facts give."""

from __future__ import annotations

import datetime as dt
import io
import random
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F

from xinqiao.analytics.importers.headers import CONTENT, EXPORT_TYPES
from xinqiao.analytics.models import ContentMetricDaily, ContentMonthRollup, ContentMonthStale, MetricSource
from xinqiao.analytics.selectors import Filters, months
from xinqiao.analytics.selectors import content as content_selectors
from xinqiao.analytics.selectors import rankings as ranking_selectors
from xinqiao.analytics.selectors import topics as topic_selectors
from xinqiao.analytics.selectors.period import grouped_content_totals, posts_per_group
from xinqiao.analytics.services.imports import metric_import_file
from xinqiao.analytics.services.rollup import (
    content_month_differences,
    content_months_build,
    content_rollup_differences,
    content_rollup_rebuild,
    content_rollup_refresh,
    month_span,
)
from xinqiao.analytics.tests.imports_support import csv_bytes, douyin_lines, make_account
from xinqiao.analytics.tests.test_content_rollup import linked_sample
from xinqiao.analytics.tests.test_selectors_period import make_publication


@pytest.fixture(autouse=True)
def english(settings, tmp_path):
    from django.utils import translation

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def consistent(hospital) -> bool:
    return content_rollup_differences(hospital=hospital) == (0, []) == content_month_differences(hospital=hospital)


D = dt.date


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (D(2026, 10, 1), D(2026, 10, 31), (D(2026, 10, 1), D(2026, 10, 1))),
        (D(2026, 10, 1), D(2026, 10, 30), None),
        (D(2026, 10, 2), D(2026, 11, 30), (D(2026, 11, 1), D(2026, 11, 1))),
        (D(2025, 11, 25), D(2026, 11, 24), (D(2025, 12, 1), D(2026, 10, 1))),
        (D(2026, 2, 1), D(2026, 2, 28), (D(2026, 2, 1), D(2026, 2, 1))),
        (D(2024, 2, 1), D(2024, 2, 28), None),  # a leap year's February has 29 days
        (D(2026, 10, 5), D(2026, 11, 4), None),
        (D(2026, 12, 1), D(2027, 1, 31), (D(2026, 12, 1), D(2027, 1, 1))),
    ],
)
def test_whole_months_of_a_period(start, end, expected):
    assert months.whole_months(start, end) == expected


def test_the_edges_are_the_days_outside_the_whole_months():
    assert months.edges(D(2025, 11, 25), D(2026, 11, 24), (D(2025, 12, 1), D(2026, 10, 1))) == [
        (D(2025, 11, 25), D(2025, 11, 30)),
        (D(2026, 11, 1), D(2026, 11, 24)),
    ]
    assert months.edges(D(2026, 10, 1), D(2026, 10, 31), (D(2026, 10, 1), D(2026, 10, 1))) == []
    assert month_span(D(2026, 2, 14), D(2026, 3, 2)) == (D(2026, 2, 1), D(2026, 3, 31))
    assert month_span(D(2026, 12, 31), D(2026, 12, 31)) == (D(2026, 12, 1), D(2026, 12, 31))


def month_rows(account) -> list[tuple]:
    return list(
        ContentMonthRollup.objects.filter(account=account)
        .order_by("month", "views")
        .values_list("month", "fact_rows", "views", "likes")
    )


def stale(account) -> list[dt.date]:
    return sorted(ContentMonthStale.objects.filter(account=account).values_list("month", flat=True))


def test_an_import_leaves_its_months_stale_and_the_task_rebuilds_them(
    world, tmp_path, django_capture_on_commit_callbacks
):
    """The import deletes the month rows of its months and marks them stale (nothing more in its transaction); the
    task enqueued on commit rebuilds them from the facts. Another week of the month, and a changed re-import, alike."""
    account = make_account(world, department=world.departments["cardiology"])
    path = tmp_path / "works.csv"
    path.write_bytes(csv_bytes(douyin_lines()))  # two works on 2025-03-07

    with django_capture_on_commit_callbacks() as callbacks:
        metric_import_file(hospital=world.hospital, platform="douyin", path=path, account=account)
    assert stale(account) == [D(2025, 3, 1)]
    assert month_rows(account) == []
    assert consistent(world.hospital)  # (a stale month is expected to have no rows)
    for callback in callbacks:
        callback()  # the commit: the task (run at once by the test settings' backend) rebuilds the month
    assert stale(account) == []
    assert month_rows(account) == [(D(2025, 3, 1), 1, 9_876, 120), (D(2025, 3, 1), 1, 12_000, 800)]
    assert consistent(world.hospital)

    earlier = douyin_lines()  # the same works exported a day earlier: another day of the month
    earlier[0][0] = earlier[0][0].replace("2025-03-07", "2025-03-06")
    path.write_bytes(csv_bytes(earlier))
    with django_capture_on_commit_callbacks(execute=True):
        imported = metric_import_file(hospital=world.hospital, platform="douyin", path=path, account=account)
    assert imported.rows_created == 2
    assert month_rows(account) == [(D(2025, 3, 1), 2, 19_752, 240), (D(2025, 3, 1), 2, 24_000, 1_600)]

    changed = douyin_lines()
    changed[3][2] = "1.5万"
    path.write_bytes(csv_bytes(changed))
    with django_capture_on_commit_callbacks(execute=True):
        imported = metric_import_file(hospital=world.hospital, platform="douyin", path=path, account=account)
    assert (imported.rows_created, imported.rows_updated, imported.rows_unchanged) == (0, 1, 1)
    assert month_rows(account) == [(D(2025, 3, 1), 2, 19_752, 240), (D(2025, 3, 1), 2, 27_000, 1_600)]
    assert consistent(world.hospital)
    assert content_months_build(account_id=account.pk) == 0  # idempotent: nothing stale left


CONTENT_SAMPLES = [
    export_type.code for export_type in EXPORT_TYPES if export_type.kind == CONTENT and not export_type.split_by
]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("code", CONTENT_SAMPLES)
def test_every_platform_sample_is_rebuilt_as_the_facts_give_it(
    world, tmp_path, code, fmt, django_capture_on_commit_callbacks
):
    """Every platform's sample, with rows linked to publications (topic, department, publication)."""
    _sample, account, path = linked_sample(world, tmp_path, code, fmt, D(2025, 2, 25), D(2025, 3, 4))

    with django_capture_on_commit_callbacks(execute=True):
        imported = metric_import_file(hospital=world.hospital, platform=account.platform, path=path, account=account)

    assert imported.rows_created == imported.rows_total, imported.errors[:3]
    assert stale(account) == []
    assert ContentMonthRollup.objects.filter(account=account, publication__isnull=False).exists()
    assert consistent(world.hospital)


def test_an_import_over_a_month_end_rebuilds_both_months(world, tmp_path, django_capture_on_commit_callbacks):
    """A works export with a date column (统计日期) over 27 February … 3 March: both months stale, then rebuilt with
    an item's days of each month summed and a title changed within a month taken as the greatest."""
    account = make_account(world, department=world.departments["cardiology"])
    publication = make_publication(
        world, account, title="作品一", department=None, topic="高血压", content_type="video"
    )
    publication.published_at = dt.datetime(2025, 2, 26, 1, 30, tzinfo=dt.UTC)
    publication.save(update_fields=["published_at"])
    header = ["作品名称", "作品id", "发布时间", "统计日期", "播放量", "完播率", "点赞量"]
    rows = []
    for offset in range(5):
        day = D(2025, 2, 27) + dt.timedelta(days=offset)
        rows.append(["作品一", "A1", "2025-02-26 09:30", day.isoformat(), 1000 + offset, f"{10 + offset}%", 5])
        rows.append(
            [f"作品二{'（修订）' if offset > 2 else ''}", "B2", "2025-02-20 20:00", day.isoformat(), 300, "--", 1]
        )
    path = tmp_path / "works.csv"
    path.write_bytes(csv_bytes([["抖音 作品列表 统计时间：2025-02-27 至 2025-03-03"], [], header, *rows]))

    with django_capture_on_commit_callbacks() as callbacks:
        imported = metric_import_file(hospital=world.hospital, platform="douyin", path=path, account=account)
    assert imported.rows_created == 10, imported.errors[:3]
    assert stale(account) == [D(2025, 2, 1), D(2025, 3, 1)]
    for callback in callbacks:
        callback()

    stored = list(
        ContentMonthRollup.objects.filter(account=account)
        .order_by("month", "title")
        .values_list("month", "title", "fact_rows", "views", "topic", "publication_id")
    )
    assert stored == [
        (D(2025, 2, 1), "作品一", 2, 2001, "高血压", publication.pk),
        (D(2025, 2, 1), "作品二", 2, 600, "", None),
        (D(2025, 3, 1), "作品一", 3, 3009, "高血压", publication.pk),
        (D(2025, 3, 1), "作品二（修订）", 3, 900, "", None),
    ]  # (the month's greatest title: the revised one, 2 and 3 March, over the one of 1 March)
    assert consistent(world.hospital)


def test_deleting_a_publication_unlinks_its_month_rows_as_it_unlinks_the_facts(world):
    account = make_account(world)
    publication = make_publication(world, account, title="t", department=None, topic="高血压", content_type="article")
    ContentMetricDaily.objects.create(
        hospital=world.hospital, account=account, publication=publication, platform=account.platform, content_key="k",
        topic="高血压", stat_date=D(2026, 10, 3), views=7, source=MetricSource.API,
    )  # fmt: skip
    content_rollup_refresh(account_id=account.pk, start=D(2026, 10, 3), end=D(2026, 10, 3))
    content_months_build(account_id=account.pk)
    assert ContentMonthRollup.objects.get(account=account).publication_id == publication.pk

    publication.delete()

    assert ContentMonthRollup.objects.get(account=account).publication_id is None
    assert consistent(world.hospital)


def run(*args) -> str:
    out = io.StringIO()
    call_command("rebuild_content_rollup", *args, stdout=out)
    return out.getvalue()


def test_check_reports_a_month_that_differs_and_a_rebuild_repairs_it(world, tmp_path):
    account = make_account(world)
    path = tmp_path / "works.csv"
    path.write_bytes(csv_bytes(douyin_lines()))
    metric_import_file(hospital=world.hospital, platform="douyin", path=path, account=account)
    content_months_build(account_id=account.pk)
    key = ContentMonthRollup.objects.filter(account=account).order_by("content_key").first().content_key
    ContentMonthRollup.objects.filter(account=account, content_key=key).update(fact_rows=F("fact_rows") + 4)

    out = io.StringIO()
    with pytest.raises(CommandError, match="1 rollup groups differ from the facts"):
        call_command("rebuild_content_rollup", "--check", stdout=out)
    assert out.getvalue().splitlines() == [
        f"{world.hospital.code}: account {account.pk}, month 2025-03, content “{key}”: 5 facts summed, 1 expected"
    ]

    run("--hospital", world.hospital.code)

    assert "The content rollup matches the facts." in run("--check")
    assert ContentMonthRollup.objects.get(account=account, content_key=key).fact_rows == 1


# ---- the views read a long period's whole months from the month rollup and give what the facts give ----


@pytest.fixture
def months_of_facts(world):
    """Facts of four accounts from mid-August to late November 2026: topics and none, departments and none, doctors,
    content keys over many days and across month ends, one key on two accounts, titles and publications that change,
    completion rates on some rows only."""
    rng = random.Random(11)
    departments = [world.departments["cardiology"].pk, world.departments["pediatrics"].pk, None]
    doctors = [doctor.pk for doctor in world.doctors] + [None]
    accounts = [
        make_account(world, platform="douyin", name="抖音一", department=world.departments["cardiology"]),
        make_account(world, platform="douyin", name="抖音二"),
        make_account(world, platform="wechat_oa", name="公众号", department=world.departments["pediatrics"]),
        make_account(world, platform="weibo", name="微博"),
    ]
    publications = [
        make_publication(world, accounts[0], title=f"文章{n}", department=None, topic="高血压", content_type="video")
        for n in range(3)
    ]
    facts = []
    for index in range(90):
        account = accounts[index % len(accounts)]
        key = "shared" if index in (0, 1) else f"k{index}"
        topic = rng.choice(["高血压", "儿童用药误区", ""])
        department = rng.choice(departments)
        doctor = rng.choice(doctors)
        fmt = rng.choice(["video", "article", ""])
        linked = account == accounts[0] and index % 5 == 0
        published = dt.datetime(2026, 8, 1, 2, tzinfo=dt.UTC) + dt.timedelta(hours=rng.randint(0, 2000))
        first = D(2026, 8, 10) + dt.timedelta(days=rng.randint(0, 90))
        for offset in range(rng.randint(1, 40)):
            day = first + dt.timedelta(days=offset)
            if day > D(2026, 11, 25):
                break
            views = rng.randint(0, 5000)
            facts.append(
                ContentMetricDaily(
                    hospital=world.hospital, account=account, platform=account.platform, content_key=key,
                    title=f"标题{index}" if offset < 20 else f"标题{index}（更新）", content_format=fmt, topic=topic,
                    department_id_snapshot=department, doctor_id_snapshot=doctor,
                    publication=publications[(index + offset // 15) % 3] if linked else None,
                    published_at=published, stat_date=day, impressions=views * 3, views=views, viewers=views // 2,
                    likes=views // 20, comments=views // 90, shares=views // 70, favorites=views // 50,
                    follows_gained=views // 300,
                    completion_rate=round(rng.random(), 3) if rng.random() < 0.6 else None, source=MetricSource.SEED,
                )
            )  # fmt: skip
    ContentMetricDaily.objects.bulk_create(facts)
    content_rollup_rebuild(hospitals=[world.hospital])
    assert consistent(world.hospital)
    return accounts


PERIODS = [
    (D(2026, 8, 10), D(2026, 11, 25)),  # both edges
    (D(2026, 9, 1), D(2026, 10, 31)),  # whole months only
    (D(2026, 9, 1), D(2026, 11, 10)),  # an edge at the end
    (D(2026, 8, 20), D(2026, 9, 30)),  # an edge at the start
    (D(2026, 10, 1), D(2026, 10, 31)),  # one month
]


def views_of_the_period(world, start, end, filters, scope):
    """What every view reading the month rollup shows for the period."""
    common = {"hospital": world.hospital, "start": start, "end": end, "filters": filters, "department_ids": scope}
    return {
        "topics": topic_selectors.topic_cells(**common),
        "topic_overview": topic_selectors.topic_overview(**common),
        "posts": content_selectors.post_table(world.hospital, start, end, filters, scope, limit=500),
        "doctors": ranking_selectors.doctor_ip_ranking(**common),
        "departments": ranking_selectors.department_ranking(**common),
        "platforms": grouped_content_totals(world.hospital, start, end, filters, scope, "platform"),
        "accounts": grouped_content_totals(world.hospital, start, end, filters, scope, "account_id"),
        "posts_per_platform": posts_per_group(world.hospital, start, end, filters, scope, "platform"),
        "posts_per_account": posts_per_group(world.hospital, start, end, filters, scope, "account_id"),
    }


def same(ours, theirs, path="") -> None:
    """Equal, floats to rounding (a sum of floats depends on the order it was added in)."""
    if isinstance(theirs, dict):
        assert ours.keys() == theirs.keys(), path
        for key in theirs:
            same(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), path
        for index, (mine, expected) in enumerate(zip(ours, theirs, strict=True)):
            same(mine, expected, f"{path}[{index}]")
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs), path
    else:
        assert ours == theirs, path


@pytest.mark.parametrize("with_stale_months", [False, True])
@pytest.mark.parametrize("period", range(len(PERIODS)))
@pytest.mark.parametrize("case", range(5))
def test_long_periods_read_from_the_month_rollup_what_the_facts_give(
    world, months_of_facts, period, case, with_stale_months
):
    start, end = PERIODS[period]
    cardiology = world.departments["cardiology"].pk
    filters, scope = [
        (Filters(), None),
        (Filters(platform="douyin"), None),
        (Filters(account_id=months_of_facts[0].pk), None),
        (Filters(topic="高血压"), None),
        (Filters(platform="douyin"), [cardiology]),
    ][case]
    if with_stale_months:  # two accounts' months written since (their task not run yet): read from the facts
        content_rollup_refresh(account_id=months_of_facts[0].pk, start=D(2026, 9, 10), end=D(2026, 10, 2))
        content_rollup_refresh(account_id=months_of_facts[2].pk, start=D(2026, 10, 1), end=D(2026, 10, 1))
        assert ContentMonthStale.objects.count() == 3
    read = []
    real_month_rows = months.month_rows

    def reading(*args, **kwargs):
        read.append(args[1:3])
        return real_month_rows(*args, **kwargs)

    with mock.patch.object(months, "month_rows", reading):
        ours = views_of_the_period(world, start, end, filters, scope)
    with mock.patch.object(months, "whole_months", return_value=None):
        theirs = views_of_the_period(world, start, end, filters, scope)

    assert read  # the month rollup was read
    assert theirs["posts"]
    assert theirs["topics"]
    same(ours, theirs)


def test_the_periodic_job_rebuilds_every_stale_month(world):
    """The hourly job rebuilds what the writers' own tasks have not (a task lost with a worker's queue)."""
    from xinqiao.analytics.tasks import build_stale_content_months

    first, second = make_account(world, name="一号"), make_account(world, name="二号")
    for account, day in ((first, D(2026, 9, 30)), (second, D(2026, 10, 1))):
        ContentMetricDaily.objects.create(
            hospital=world.hospital, account=account, platform=account.platform, content_key="k", stat_date=day,
            views=3, source=MetricSource.API,
        )  # fmt: skip
        content_rollup_refresh(account_id=account.pk, start=day, end=day)
    assert ContentMonthStale.objects.count() == 2

    assert build_stale_content_months.call() == 2

    assert not ContentMonthStale.objects.exists()
    assert sorted(ContentMonthRollup.objects.values_list("month", "views")) == [(D(2026, 9, 1), 3), (D(2026, 10, 1), 3)]
    assert consistent(world.hospital)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_period_is_read_from_one_snapshot(world, settings):
    """Called outside any transaction (as by a page), the parts are read in a transaction of their own (REPEATABLE
    READ on PostgreSQL), and the connection is back in autocommit afterwards."""
    from django.db import connection, transaction

    account = make_account(world)
    for day in (D(2026, 9, 30), D(2026, 10, 5), D(2026, 11, 2)):
        ContentMetricDaily.objects.create(
            hospital=world.hospital, account=account, platform=account.platform, content_key="k", stat_date=day,
            views=2, source=MetricSource.API,
        )  # fmt: skip
    with transaction.atomic():  # (as the writers run)
        content_rollup_rebuild(hospitals=[world.hospital])
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}  # (queued, no worker runs it)
    with transaction.atomic():
        content_rollup_refresh(account_id=account.pk, start=D(2026, 10, 5), end=D(2026, 10, 5))  # October stale
    assert ContentMonthStale.objects.filter(month=D(2026, 10, 1)).exists()
    assert not connection.in_atomic_block

    rows = months.grouped_totals(world.hospital, D(2026, 9, 1), D(2026, 11, 3), Filters(), None, ("content_key",))
    pairs = months.distinct_pairs(world.hospital, D(2026, 9, 1), D(2026, 11, 3), Filters(), None, "account_id")

    assert [(row["content_key"], row["total_views"]) for row in rows] == [("k", 6)]
    assert pairs == {(account.pk, "k")}
    assert connection.get_autocommit()
