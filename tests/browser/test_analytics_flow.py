"""The analytics flow in a real browser: a brand editor imports a sample back-end export of each of the eight
platforms (upload → preview → commit), sees the overview dashboard count them, then generates the monthly PDF
and Excel reports and downloads both."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from django.utils import timezone, translation
from openpyxl import load_workbook

from xinqiao.analytics.models import ContentMetricDaily, MetricImport, Report
from xinqiao.analytics.reports.excel import sheet_titles
from xinqiao.analytics.reports.periods import period_for
from xinqiao.analytics.samples import make_sample
from xinqiao.channels.models import Notification, PlatformAccount

pytestmark = pytest.mark.browser

# one content export per platform, and the demo account (content demo names) it belongs to
EXPORTS = {
    "wechat_oa": ("wechat_oa.article_detail", "一院公众号"),
    "wechat_channels": ("wechat_channels.videos", "一院视频号"),
    "weibo": ("weibo.posts", "一院官方微博"),
    "douyin": ("douyin.works", "一院抖音"),
    "kuaishou": ("kuaishou.works", "一院快手"),
    "xiaohongshu": ("xiaohongshu.notes", "一院小红书"),
    "bilibili": ("bilibili.videos", "一院B站"),
    "zhihu": ("zhihu.content", "一院知乎"),
}


@pytest.fixture
def matrix(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return {
        platform: PlatformAccount.objects.create(
            hospital=world.hospital, platform=platform, name=name, account_type="hospital_official"
        )
        for platform, (_code, name) in EXPORTS.items()
    }


def _views(sample) -> int:
    # video platforms report plays, the others reads: both are the "views" KPI
    return sum((row.get("views") or row.get("play_count") or 0) for row in sample.expected)


def test_import_every_platform_then_download_the_monthly_reports(page, login, world, matrix, tmp_path):
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    login(page, "brand")
    expected_views = 0
    for platform, (code, name) in EXPORTS.items():
        sample = make_sample(code, account_name=name, start=yesterday - dt.timedelta(days=6), end=yesterday)
        expected_views += _views(sample)
        page.goto("/analytics/imports/new/")
        page.select_option("#id_platform", platform)
        page.select_option("#id_account", str(matrix[platform].pk))
        page.set_input_files(
            "#id_uploaded_file", files=[{"name": sample.filename, "mimeType": "application/octet-stream",
                                         "buffer": sample.content}]
        )  # fmt: skip
        with page.expect_navigation():
            page.get_by_test_id("import-preview-button").click()
        assert page.get_by_test_id("rows-total").inner_text() == str(len(sample.expected))
        assert page.get_by_test_id("import-error").count() == 0
        with page.expect_navigation():
            page.get_by_test_id("import-commit-button").click()
        assert page.get_by_test_id("import-counts").is_visible()
        assert MetricImport.objects.get(account=matrix[platform]).status == MetricImport.Status.COMMITTED

    assert sum(ContentMetricDaily.objects.values_list("views", flat=True)) == expected_views
    page.goto("/analytics/")
    assert page.get_by_test_id("value-views").inner_text() == f"{expected_views:,}"

    month = period_for("month", yesterday)
    downloads = {}
    for fmt in ("pdf", "xlsx"):
        page.goto("/analytics/reports/")
        form = page.get_by_test_id("report-form")
        form.locator("select[name=period_type]").select_option("month")
        form.locator("input[name=period]").fill(month.label)
        form.locator("select[name=format]").select_option(fmt)
        with page.expect_navigation():
            page.get_by_test_id("report-generate").click()
        row = page.locator(f"[data-testid=report-row][data-period='{month.label}'][data-format='{fmt}']")
        assert row.count() == 1
        with page.expect_download() as download_info:
            row.get_by_test_id("report-download").click()
        download = download_info.value
        assert download.suggested_filename == f"xinqiao-report-{world.hospital.code}-{month.label}.{fmt}"
        target = tmp_path / download.suggested_filename
        download.save_as(target)
        downloads[fmt] = target.read_bytes()

    assert downloads["pdf"][:5] == b"%PDF-"
    assert zipfile.ZipFile(io.BytesIO(downloads["xlsx"])).testzip() is None
    with translation.override("zh-hans"):
        expected_sheets = sheet_titles(with_sentiment=False)
    assert load_workbook(io.BytesIO(downloads["xlsx"])).sheetnames == expected_sheets
    assert sorted(Report.objects.values_list("format", flat=True)) == ["pdf", "xlsx"]


def test_a_dashboard_shows_it_is_working_while_a_period_is_computed(page, login, world):
    """A year at scale takes seconds: while the filtered figures are computed the Apply button is disabled (no
    second request by impatient clicks), a note says so and the results are marked busy; all three clear after."""
    from playwright.sync_api import expect

    login(page, "brand")
    page.goto("/analytics/")
    held = []

    def hold(route) -> None:  # the filtered request waits until the test releases it
        held.append(route)

    page.route(lambda url: "/analytics/?" in url, hold)
    form = page.get_by_test_id("dashboard-filters")
    apply_button = form.locator("button[type=submit]")
    indicator = page.get_by_test_id("dashboard-loading")
    expect(indicator).to_be_hidden()
    apply_button.click()
    expect(apply_button).to_be_disabled()
    expect(indicator).to_be_visible()
    expect(page.locator("#results")).to_have_attribute("aria-busy", "true")
    assert len(held) == 1
    assert held[0].request.headers.get("hx-request") == "true"
    held[0].continue_()
    expect(apply_button).to_be_enabled()
    expect(indicator).to_be_hidden()
    expect(page.locator("#results")).not_to_have_attribute("aria-busy", "true")
    assert page.get_by_test_id("value-views").is_visible()


def _upload(page, account, sample) -> None:
    """Upload a sample export for ``account`` from the upload page and wait for the import's page."""
    page.goto("/analytics/imports/new/")
    page.select_option("#id_platform", account.platform)
    page.select_option("#id_account", str(account.pk))
    page.set_input_files(
        "#id_uploaded_file", files=[{"name": sample.filename, "mimeType": "text/csv", "buffer": sample.content}]
    )
    with page.expect_navigation():
        page.get_by_test_id("import-preview-button").click()


def test_a_large_import_is_read_and_written_in_the_background_and_the_page_follows(
    page, login, world, matrix, settings
):
    """A large upload is read by the task worker (the page says so, polls, and shows the preview when it is ready);
    a file with many rows is written by it (the same). The real ``db_worker`` runs here between the steps."""
    from django.core.management import call_command

    def run_worker():
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0", verbosity=0)

    yesterday = timezone.localdate() - dt.timedelta(days=1)
    sample = make_sample("douyin.works", account_name="一院抖音", end=yesterday)
    settings.XINQIAO_IMPORT_BACKGROUND_BYTES = len(sample.content) - 1
    settings.XINQIAO_IMPORT_BACKGROUND_ROWS = len(sample.expected) - 1
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    login(page, "brand")
    _upload(page, matrix["douyin"], sample)
    assert page.get_by_test_id("import-analysing").is_visible()
    assert page.get_by_test_id("import-status").inner_text() == "分析中"

    run_worker()

    page.get_by_test_id("import-commit-button").wait_for(timeout=15_000)  # the next poll reloads the page
    assert page.get_by_test_id("rows-total").inner_text() == str(len(sample.expected))
    assert page.get_by_test_id("import-background-note").is_visible()
    with page.expect_navigation():
        page.get_by_test_id("import-commit-button").click()
    assert page.get_by_test_id("import-queued").is_visible()
    assert page.get_by_test_id("import-status").inner_text() == "导入中"
    assert ContentMetricDaily.objects.count() == 0

    run_worker()

    page.get_by_test_id("import-counts").wait_for(timeout=15_000)
    assert page.get_by_test_id("import-queued").count() == 0
    assert MetricImport.objects.get().status == MetricImport.Status.COMMITTED
    assert ContentMetricDaily.objects.filter(account=matrix["douyin"]).count() == len(sample.expected)
    notices = list(
        Notification.objects.filter(hospital=world.hospital).order_by("pk").values_list("message", flat=True)
    )
    assert len(notices) == 2  # in the language the user works in
    assert notices[1].startswith(f"{sample.filename} 导入完成")


def test_a_user_can_stop_waiting_for_a_background_import(page, login, world, matrix, settings):
    """With no worker running, the user gives up on a large upload from its page."""
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    sample = make_sample("douyin.works", account_name="一院抖音", end=yesterday)
    settings.XINQIAO_IMPORT_BACKGROUND_BYTES = len(sample.content) - 1
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}  # queued, never run here
    login(page, "brand")
    _upload(page, matrix["douyin"], sample)
    assert page.get_by_test_id("import-analysing").is_visible()
    with page.expect_navigation():
        page.get_by_test_id("import-cancel-button").click()
    assert page.get_by_test_id("import-status").inner_text() == "已驳回"
    assert page.get_by_test_id("import-error").inner_text().endswith("文件读取已取消，请重新上传。")
    assert page.get_by_test_id("import-analysing").count() == 0
    assert MetricImport.objects.get().status == MetricImport.Status.REJECTED
