"""Datacube sync against the WeChat OA sandbox over real HTTP on 127.0.0.1."""

from __future__ import annotations

import datetime as dt

import pytest

from xinqiao.analytics.models import AccountMetricDaily, ContentMetricDaily, ContentMetricRollup
from xinqiao.analytics.services.datacube import latest_available_day, metrics_sync_wechat
from xinqiao.analytics.services.rollup import content_rollup_differences
from xinqiao.channels.models import Publication
from xinqiao.channels.platforms.wechat_oa.client import BEIJING
from xinqiao.channels.platforms.wechat_oa.sandbox import DatacubeHistory
from xinqiao.channels.tests.conftest import WECHAT_APP_ID
from xinqiao.channels.tests.fixtures import wechat_account
from xinqiao.core.exceptions import ApplicationError

pytestmark = pytest.mark.usefixtures("fast_wechat")


@pytest.fixture(autouse=True)
def english_ui(settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def days(wechat_oa_sandbox):
    today = wechat_oa_sandbox.beijing_now().date()
    return today - dt.timedelta(days=5), today - dt.timedelta(days=3)


@pytest.fixture
def history(wechat_oa_sandbox):
    return DatacubeHistory(seed=wechat_oa_sandbox.config["seed"], appid=WECHAT_APP_ID)


def datacube_calls(sandbox) -> list[str]:
    return [entry["path"] for entry in sandbox.requests() if entry["path"].startswith("/datacube/")]


def each_day(begin, end):
    return [begin + dt.timedelta(days=offset) for offset in range((end - begin).days + 1)]


def test_sync_writes_account_and_article_days_exactly_as_the_platform_reports(world, wechat_oa_sandbox, days, history):
    account = wechat_account(world, wechat_oa_sandbox.base_url)
    begin, end = days
    result = metrics_sync_wechat(account=account, begin=begin, end=end)

    # 1 getusersummary + 1 getusercumulate (7-day slices) + 9 getarticletotal (send days begin-6..end) + 3 summaries
    assert result.requests == 14
    calls = datacube_calls(wechat_oa_sandbox)
    assert calls.count("/datacube/getarticletotal") == 9
    assert calls.count("/datacube/getarticlesummary") == 3
    expected_days = []
    for day in each_day(begin, end):
        summary = history.user_summary(day)
        new = sum(row["new_user"] for row in summary)
        lost = sum(row["cancel_user"] for row in summary)
        expected_days.append((day, history.cumulate(day), new, lost, new - lost, "api"))
    stored = list(
        AccountMetricDaily.objects.filter(account=account)
        .order_by("stat_date")
        .values_list("stat_date", "followers", "new_followers", "lost_followers", "net_followers", "source")
    )
    assert stored == expected_days
    # cumulative followers add up with the daily net change (the sandbox's own invariant)
    assert stored[1][1] - stored[0][1] == stored[1][4]

    expected_articles = sorted(
        (row["msgid"], day, row["int_page_read_count"], row["int_page_read_user"], row["share_count"])
        for day in each_day(begin, end)
        for row in history.article_summary(day)
    )
    stored_articles = sorted(
        ContentMetricDaily.objects.filter(account=account).values_list(
            "content_key", "stat_date", "views", "viewers", "shares"
        )
    )
    assert stored_articles == expected_articles
    assert (result.content_created, result.account_created) == (len(expected_articles), 3)
    assert set(ContentMetricDaily.objects.values_list("source", "platform", "content_format")) == {
        ("api", "wechat_oa", "article")
    }
    # the dashboards' daily sums of those days were written with them
    rollup = ContentMetricRollup.objects.filter(account=account)
    assert sum(rollup.values_list("fact_rows", flat=True)) == len(expected_articles)
    assert sum(rollup.values_list("views", flat=True)) == sum(article[2] for article in expected_articles)
    assert content_rollup_differences(hospital=world.hospital) == (0, [])


def test_a_second_sync_changes_nothing(world, wechat_oa_sandbox, days):
    account = wechat_account(world, wechat_oa_sandbox.base_url)
    first = metrics_sync_wechat(account=account, begin=days[0], end=days[1])
    stamps = dict(ContentMetricDaily.objects.values_list("pk", "updated_at"))
    second = metrics_sync_wechat(account=account, begin=days[0], end=days[1])
    assert (second.content_created, second.content_updated, second.content_unchanged) == (
        0,
        0,
        first.content_created,
    )
    assert (second.account_created, second.account_updated, second.account_unchanged) == (0, 0, 3)
    assert dict(ContentMetricDaily.objects.values_list("pk", "updated_at")) == stamps


def test_articles_are_linked_to_the_publication_sent_that_day(world, wechat_oa_sandbox, days, history):
    from xinqiao.content.tests.helpers import make_item, writer

    account = wechat_account(world, wechat_oa_sandbox.base_url)
    begin, end = days
    sent_day = next(day for day in each_day(begin, end) if history.articles_sent(day))
    record = history.articles_sent(sent_day)[0]
    item = make_item(world, writer(world), title=record.title)
    publication = Publication.objects.create(
        hospital=world.hospital,
        item=item,
        revision=item.current_revision,
        account=account,
        status=Publication.Status.PUBLISHED,
        published_at=dt.datetime.combine(sent_day, dt.time(10, 0), tzinfo=BEIJING),
    )
    metrics_sync_wechat(account=account, begin=begin, end=end)
    rows = ContentMetricDaily.objects.filter(account=account, content_key=record.msgid)
    assert rows.count() >= 1
    assert set(rows.values_list("publication_id", "title")) == {(publication.pk, record.title)}
    assert set(rows.values_list("extra__send_date", flat=True)) == {sent_day.isoformat()}


def test_a_range_over_the_sync_limit_is_refused_before_any_request(world, wechat_oa_sandbox, days):
    account = wechat_account(world, wechat_oa_sandbox.base_url)
    end = days[1]
    with pytest.raises(ApplicationError) as error:
        metrics_sync_wechat(account=account, begin=end - dt.timedelta(days=92), end=end)
    assert error.value.code == "date_span"
    assert error.value.message == (
        f"One sync covers at most 92 days; 93 days ({end - dt.timedelta(days=92)} to {end}) were asked for."
    )
    assert datacube_calls(wechat_oa_sandbox) == []


def test_the_platforms_61501_surfaces_as_a_clear_error_and_nothing_is_written(
    world, wechat_oa_sandbox, make_wechat_client
):
    account = wechat_account(world, wechat_oa_sandbox.base_url)
    # A client whose clock runs three days ahead asks for days the platform does not have yet.
    client = make_wechat_client(clock=lambda: wechat_oa_sandbox.now() + 3 * 86_400)
    today = wechat_oa_sandbox.beijing_now().date()
    with pytest.raises(ApplicationError) as error:
        metrics_sync_wechat(account=account, begin=today, end=today, client=client)
    assert error.value.code == "datacube_61501"
    assert error.value.message.startswith("WeChat rejected the date range (error 61501)")
    assert [entry["errcode"] for entry in wechat_oa_sandbox.requests() if entry["path"].startswith("/datacube/")] == [
        61501
    ]
    assert (AccountMetricDaily.objects.count(), ContentMetricDaily.objects.count()) == (0, 0)


def test_yesterday_before_eight_is_refused_by_the_client(world, wechat_oa_sandbox, make_wechat_client):
    account = wechat_account(world, wechat_oa_sandbox.base_url)
    today = wechat_oa_sandbox.beijing_now().date()
    seven = dt.datetime.combine(today, dt.time(7, 0), tzinfo=BEIJING).timestamp()
    client = make_wechat_client(clock=lambda: seven)
    yesterday = today - dt.timedelta(days=1)
    with pytest.raises(ApplicationError) as error:
        metrics_sync_wechat(account=account, begin=yesterday, end=yesterday, client=client)
    assert error.value.message == "Yesterday's statistics are available after 08:00 Beijing time."
    assert datacube_calls(wechat_oa_sandbox) == []


def test_latest_available_day_waits_for_eight_beijing_time():
    assert latest_available_day(dt.datetime(2025, 3, 10, 7, 59, tzinfo=BEIJING)) == dt.date(2025, 3, 8)
    assert latest_available_day(dt.datetime(2025, 3, 10, 8, 0, tzinfo=BEIJING)) == dt.date(2025, 3, 9)


def test_the_periodic_task_syncs_every_connected_account(world, wechat_oa_sandbox, history):
    from xinqiao.analytics.tasks import sync_wechat_metrics

    account = wechat_account(world, wechat_oa_sandbox.base_url)
    assert account.connection == "connected"
    sync_wechat_metrics.enqueue()
    day = latest_available_day()
    stored = AccountMetricDaily.objects.get(account=account)
    assert (stored.stat_date, stored.followers) == (day, history.cumulate(day))


def test_sync_channel_metrics_command(world, wechat_oa_sandbox, days, history):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    account = wechat_account(world, wechat_oa_sandbox.base_url)
    out = io.StringIO()
    end = days[1]
    call_command("sync_channel_metrics", "--account", str(account.pk), "--days", "2", "--end", str(end), stdout=out)
    articles = sum(len(history.article_summary(end - dt.timedelta(days=back))) for back in (0, 1))
    assert out.getvalue().strip() == (
        f"一院公众号 {end - dt.timedelta(days=1)}..{end}: 12 requests; content created {articles}, updated 0, "
        "unchanged 0; account days created 2, updated 0, unchanged 0."
    )
    assert AccountMetricDaily.objects.filter(account=account).count() == 2
    with pytest.raises(CommandError) as error:
        call_command("sync_channel_metrics", "--account", str(account.pk), "--days", "0")
    assert str(error.value) == "--days must be between 1 and 92."
