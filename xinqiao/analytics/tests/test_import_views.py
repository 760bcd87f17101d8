from __future__ import annotations

import pytest
from django.urls import reverse

from xinqiao.analytics.models import ContentMetricDaily, MetricImport
from xinqiao.analytics.tests.imports_support import csv_bytes, douyin_lines, make_account, upload


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def brand(client, world):
    client.force_login(world.users["brand"])
    return client


def post_upload(client, account, content: bytes, name="works.csv", platform="douyin"):
    return client.post(
        reverse("analytics:import_upload"),
        {"platform": platform, "account": account.pk, "uploaded_file": upload(name, content)},
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_upload_preview_commit_flow(brand, world):
    account = make_account(world)
    page = brand.get(reverse("analytics:import_upload"), HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert "一院抖音号" in page.content.decode()
    response = post_upload(brand, account, csv_bytes(douyin_lines(), "gbk"))
    metric_import = MetricImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("analytics:import_detail", args=[metric_import.pk])
    detail = brand.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Douyin: works list (作品列表)" in detail
    assert 'data-testid="header-row">3<' in detail
    assert detail.count('data-testid="unknown-column"') == 1
    assert "1.2万" in detail
    assert 'data-testid="import-commit-button"' in detail
    assert ContentMetricDaily.objects.count() == 0
    committed = brand.post(reverse("analytics:import_commit", args=[metric_import.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert committed.status_code == 302
    assert ContentMetricDaily.objects.count() == 2
    detail = brand.get(committed["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "2 created, 0 updated, 0 unchanged" in detail
    listing = brand.get(reverse("analytics:import_list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "works.csv" in listing
    assert "2025-03-07 – 2025-03-07" in listing


def test_preview_lists_every_row_error_and_offers_no_commit(brand, world):
    account = make_account(world)
    lines = douyin_lines()
    lines[3][2] = "很多"
    lines.append(lines[4])
    post_upload(brand, account, csv_bytes(lines))
    metric_import = MetricImport.objects.get()
    detail = brand.get(reverse("analytics:import_detail", args=[metric_import.pk]), HTTP_ACCEPT_LANGUAGE="en")
    html = detail.content.decode()
    assert html.count('data-testid="import-error"') == 2
    assert "“很多” is not a number." in html
    assert "Duplicate row: the same 作品名称、发布时间 as row 5." in html
    assert 'data-testid="import-commit-button"' not in html
    response = brand.post(reverse("analytics:import_commit", args=[metric_import.pk]))
    assert response.status_code == 302
    assert ContentMetricDaily.objects.count() == 0


def test_reimport_notice_and_unchanged_counts(brand, world):
    account = make_account(world)
    for _round in range(2):
        post_upload(brand, account, csv_bytes(douyin_lines()))
        latest = MetricImport.objects.order_by("-pk").first()
        if _round == 1:
            html = brand.get(reverse("analytics:import_detail", args=[latest.pk])).content.decode()
            assert 'data-testid="already-imported"' in html
        brand.post(reverse("analytics:import_commit", args=[latest.pk]))
    latest.refresh_from_db()
    assert (latest.rows_created, latest.rows_updated, latest.rows_unchanged) == (0, 0, 2)


def test_upload_with_an_account_of_another_platform_shows_the_error(brand, world):
    account = make_account(world)
    response = post_upload(brand, account, csv_bytes(douyin_lines()), platform="kuaishou")
    assert response.status_code == 400
    assert "The account 一院抖音号 is on Douyin, not on the chosen platform." in response.content.decode()
    assert MetricImport.objects.count() == 0


def test_viewers_list_but_cannot_upload_or_commit(client, world):
    account = make_account(world)
    client.force_login(world.users["brand"])
    post_upload(client, account, csv_bytes(douyin_lines()))
    metric_import = MetricImport.objects.get()
    client.force_login(world.users["leadership"])
    assert client.get(reverse("analytics:import_list")).status_code == 200
    assert client.get(reverse("analytics:import_detail", args=[metric_import.pk])).status_code == 200
    assert client.get(reverse("analytics:import_upload")).status_code == 403
    assert client.post(reverse("analytics:import_commit", args=[metric_import.pk])).status_code == 403
    client.force_login(world.users["service"])
    assert client.get(reverse("analytics:import_list")).status_code == 403
    assert ContentMetricDaily.objects.count() == 0


def test_other_hospitals_imports_are_not_found(client, world):
    account = make_account(world)
    client.force_login(world.users["brand"])
    post_upload(client, account, csv_bytes(douyin_lines()))
    metric_import = MetricImport.objects.get()
    client.force_login(world.users["outsider"])
    assert client.get(reverse("analytics:import_detail", args=[metric_import.pk])).status_code == 404
    assert client.post(reverse("analytics:import_commit", args=[metric_import.pk])).status_code == 404
    assert ContentMetricDaily.objects.count() == 0


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_downloaded_sample_of_every_type_imports_for_its_account(brand, world, fmt, time_machine):
    from xinqiao.analytics.importers.headers import EXPORT_TYPES

    time_machine.move_to("2026-11-24T10:00:00+08:00", tick=False)
    page = brand.get(reverse("analytics:import_upload")).content.decode()
    for export_type in EXPORT_TYPES:
        link = reverse("analytics:import_sample", args=[export_type.code, fmt])
        assert f'href="{link}"' in page
        account = make_account(world, platform=export_type.platform, name=f"{export_type.code} 号")

        sample = brand.get(link)

        assert sample.status_code == 200
        assert sample["Content-Disposition"].startswith("attachment; filename=")
        assert "_20261117_20261123." in sample["Content-Disposition"]  # the seven days up to yesterday
        response = post_upload(brand, account, sample.content, name=f"sample.{fmt}", platform=export_type.platform)
        assert response.status_code == 302, export_type.code
        metric_import = MetricImport.objects.latest("pk")
        assert (metric_import.export_type, metric_import.errors_total) == (export_type.code, 0)
        assert metric_import.account == account


def test_samples_are_for_those_who_may_import(client, world):
    client.force_login(world.users["leadership"])
    assert client.get(reverse("analytics:import_sample", args=["douyin.works", "csv"])).status_code == 403
    client.force_login(world.users["brand"])
    assert client.get(reverse("analytics:import_sample", args=["douyin.works", "pdf"])).status_code == 404
    assert client.get(reverse("analytics:import_sample", args=["nope.works", "csv"])).status_code == 404
