"""manage.py build_report: writes the month's or week's PDF or Excel; clear errors for bad input."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
import time_machine
from django.core.management import CommandError, call_command

from xinqiao.analytics.models import Report
from xinqiao.analytics.tests.reports_support import SHANGHAI, build_metrics

pytestmark = pytest.mark.django_db
SYNTAX = "is not a report period: use a month like 2026-10 or an ISO week like 2026-W43."


@pytest.fixture(autouse=True)
def setup(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LANGUAGE_CODE = "en"
    with time_machine.travel(dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI), tick=False):
        yield


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("build_report", *args, stdout=out)
    return out.getvalue()


def test_monthly_pdf_and_weekly_excel(world, tmp_path):
    build_metrics(world.hospital)

    pdf_text = _run(
        "--period", "2026-10", "--format", "pdf", "--output", str(tmp_path / "m.pdf"), "--hospital", "test-first"
    )
    _run("--period", "2026-W43", "--format", "xlsx", "--output", str(tmp_path / "w.xlsx"), "--hospital", "test-first")

    pdf = (tmp_path / "m.pdf").read_bytes()
    assert pdf[:5] == b"%PDF-"
    report = Report.objects.get(format="pdf")
    assert pdf_text.strip() == f"Wrote {tmp_path / 'm.pdf'} ({len(pdf)} bytes, sha256 {report.sha256})."
    assert "xl/workbook.xml" in zipfile.ZipFile(tmp_path / "w.xlsx").namelist()
    weekly = Report.objects.get(format="xlsx")
    assert (weekly.period, weekly.period_start, weekly.period_end) == (
        "week",
        dt.date(2026, 10, 19),
        dt.date(2026, 10, 25),
    )


def test_the_stored_file_is_reused_unless_regenerated(world, tmp_path):
    args = ("--period", "2026-10", "--format", "xlsx", "--hospital", "test-first")
    _run(*args, "--output", str(tmp_path / "a.xlsx"))
    first = Report.objects.get().stored_path
    _run(*args, "--output", str(tmp_path / "b.xlsx"))
    assert Report.objects.get().stored_path == first
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()

    _run(*args, "--output", str(tmp_path / "c.xlsx"), "--regenerate")

    assert Report.objects.get().stored_path != first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--period", "2026-13", "--format", "pdf"), f"“2026-13” {SYNTAX}"),
        (("--period", "2026-W60", "--format", "pdf"), f"“2026-W60” {SYNTAX}"),
        (("--period", "2026-10", "--format", "docx"), "Unknown format docx: use pdf or xlsx."),
        (("--period", "2027-02", "--format", "pdf"), "The period 2027-02 has not started yet."),
    ],
)
def test_bad_period_or_format(world, tmp_path, args, message):
    with pytest.raises(CommandError) as caught:
        _run(*args, "--output", str(tmp_path / "x"), "--hospital", "test-first")

    assert str(caught.value) == message
    assert Report.objects.count() == 0
    assert not (tmp_path / "x").exists()


def test_unwritable_output(world, tmp_path):
    with pytest.raises(CommandError) as missing:
        _run(
            "--period",
            "2026-10",
            "--format",
            "pdf",
            "--output",
            str(tmp_path / "no" / "x.pdf"),
            "--hospital",
            "test-first",
        )
    with pytest.raises(CommandError) as directory:
        _run("--period", "2026-10", "--format", "pdf", "--output", str(tmp_path), "--hospital", "test-first")
    # /proc exists and takes no new files, not even from root
    with pytest.raises(CommandError) as unwritable:
        _run(
            "--period", "2026-10", "--format", "pdf", "--output", "/proc/xinqiao-report.pdf", "--hospital", "test-first"
        )

    assert str(missing.value) == f"The folder {tmp_path / 'no'} does not exist."
    assert str(directory.value) == f"{tmp_path} is a directory: give a file name."
    assert str(unwritable.value) == "Cannot write /proc/xinqiao-report.pdf: No such file or directory"


def test_hospital_must_be_named_when_there_are_several(world, tmp_path):
    with pytest.raises(CommandError) as caught:
        _run("--period", "2026-10", "--format", "pdf", "--output", str(tmp_path / "x.pdf"))
    with pytest.raises(CommandError) as unknown:
        _run("--period", "2026-10", "--format", "pdf", "--output", str(tmp_path / "x.pdf"), "--hospital", "nope")

    assert str(caught.value) == "Name the hospital with --hospital CODE."
    assert str(unknown.value) == "No hospital with code nope."
