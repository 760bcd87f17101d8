from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from xinqiao.analytics.models import AccountMetricDaily, ContentMetricDaily, MetricImport
from xinqiao.analytics.samples import make_sample
from xinqiao.analytics.tests.imports_support import csv_bytes, douyin_lines, make_account


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    from django.utils import translation

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_metrics", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_imports_a_file_and_a_second_run_changes_nothing(world, tmp_path):
    make_account(world)
    path = tmp_path / "works.csv"
    path.write_bytes(csv_bytes(douyin_lines(), "gbk"))
    out, _err = run("--platform", "douyin", "--file", str(path), "--hospital", world.hospital.code)
    assert out.strip() == (
        "works.csv: douyin.works, header row 3, 2 rows; created 2, updated 0, unchanged 0. "
        "Unknown columns kept: 作品链接."
    )
    out, _err = run("--platform", "douyin", "--file", str(path), "--hospital", world.hospital.code)
    assert "created 0, updated 0, unchanged 2." in out
    assert ContentMetricDaily.objects.count() == 2
    assert MetricImport.objects.filter(status="committed", created_by__isnull=True).count() == 2


def test_errors_exit_non_zero_with_row_and_column(world, tmp_path):
    make_account(world)
    lines = douyin_lines()
    lines[4][3] = "12"  # bare among percentages
    path = tmp_path / "works.csv"
    path.write_bytes(csv_bytes(lines))
    with pytest.raises(CommandError) as error:
        run("--platform", "douyin", "--file", str(path), "--hospital", world.hospital.code)
    assert str(error.value) == "The file has 1 error(s); nothing was imported."
    assert ContentMetricDaily.objects.count() == 0
    assert MetricImport.objects.get().status == "rejected"


def test_error_lines_are_printed(world, tmp_path):
    make_account(world)
    path = tmp_path / "works.csv"
    path.write_bytes(csv_bytes(douyin_lines()))
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_metrics", "--platform", "kuaishou", "--file", str(path), stderr=err, stdout=io.StringIO())
    # no kuaishou account in the first hospital
    assert err.getvalue() == ""
    make_account(world, platform="kuaishou", name="一院快手")
    with pytest.raises(CommandError):
        call_command(
            "import_metrics", "--platform", "kuaishou", "--file", str(path), "--hospital", world.hospital.code,
            stderr=err, stdout=io.StringIO(),
        )  # fmt: skip
    assert err.getvalue().startswith("row 3: This file looks like a Douyin export (Douyin: works list (作品列表))")


def test_dry_run_writes_no_facts(world, tmp_path):
    make_account(world, platform="wechat_oa", name="一院公众号")
    sample = make_sample("wechat_oa.user_growth", fmt="xlsx")
    path = tmp_path / sample.filename
    path.write_bytes(sample.content)
    out, _err = run("--platform", "wechat_oa", "--file", str(path), "--hospital", world.hospital.code, "--dry-run")
    assert out.strip().endswith("Dry run: nothing was written (7 records found). Unknown columns kept: 备注.")
    assert AccountMetricDaily.objects.count() == 0


def test_account_option_and_unknown_hospital(world, tmp_path):
    account = make_account(world)
    make_account(world, name="一院抖音号2")
    path = tmp_path / "works.csv"
    path.write_bytes(csv_bytes(douyin_lines()))
    with pytest.raises(CommandError) as error:
        run("--platform", "douyin", "--file", str(path), "--hospital", world.hospital.code)
    assert str(error.value) == "Hospital test-first has several douyin accounts: name one with --account."
    run("--platform", "douyin", "--file", str(path), "--hospital", world.hospital.code, "--account", str(account.pk))
    assert set(ContentMetricDaily.objects.values_list("account_id", flat=True)) == {account.pk}
    with pytest.raises(CommandError) as error:
        run("--platform", "douyin", "--file", str(path), "--hospital", "nope")
    assert str(error.value) == "No hospital with the code nope."


def test_imports_with_debug_on(world, tmp_path, settings):
    # development runs with DEBUG=True, where Django's debug cursor logs every statement
    settings.DEBUG = True
    make_account(world)
    path = tmp_path / "works.csv"
    path.write_bytes(csv_bytes(douyin_lines(), "gbk"))
    out, _err = run("--platform", "douyin", "--file", str(path), "--hospital", world.hospital.code)
    assert "created 2, updated 0, unchanged 0." in out
    assert ContentMetricDaily.objects.filter(hospital=world.hospital).count() == 2
