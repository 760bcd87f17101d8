"""report_build: one stored file per hospital, period and format; rebuilt only when asked or still running."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage

from xinqiao.analytics.models import Report
from xinqiao.analytics.services.reports import report_build, report_open
from xinqiao.analytics.tests.reports_support import SHANGHAI, build_metrics
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)
OCTOBER = dt.date(2026, 10, 1)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def _read(report: Report) -> bytes:
    with default_storage.open(report.stored_path, "rb") as handle:
        return handle.read()


def test_build_stores_a_file_under_a_random_path_with_its_hash(world, clock):
    build_metrics(world.hospital)

    report = report_build(hospital=world.hospital, period="month", period_start=OCTOBER, fmt="xlsx")

    content = _read(report)
    assert (report.period_end, report.size_bytes, report.sha256) == (
        dt.date(2026, 10, 31), len(content), hashlib.sha256(content).hexdigest(),
    )  # fmt: skip
    parts = report.stored_path.split("/")
    assert (parts[0], parts[1], parts[3]) == (
        "reports",
        str(world.hospital.pk),
        "xinqiao-report-test-first-2026-10.xlsx",
    )
    assert len(parts[2]) == 32  # 24 random bytes, URL-safe: not guessable from the period or the hospital
    assert zipfile.ZipFile(io.BytesIO(content)).testzip() is None
    assert report.created_by is None


def test_building_again_returns_the_stored_report(world, clock):
    first = report_build(hospital=world.hospital, period="month", period_start=OCTOBER, fmt="pdf")

    again = report_build(hospital=world.hospital, period="month", period_start=OCTOBER, fmt="pdf")

    assert (again.pk, again.stored_path, again.sha256) == (first.pk, first.stored_path, first.sha256)
    assert Report.objects.count() == 1
    assert _read(again)[:5] == b"%PDF-"


def test_regenerate_replaces_the_file(world, clock, django_capture_on_commit_callbacks):
    first = report_build(hospital=world.hospital, period="month", period_start=OCTOBER, fmt="xlsx")
    old_path = first.stored_path

    with django_capture_on_commit_callbacks(execute=True):
        again = report_build(hospital=world.hospital, period="month", period_start=OCTOBER, fmt="xlsx", regenerate=True)

    assert again.pk == first.pk
    assert again.stored_path != old_path
    assert default_storage.exists(again.stored_path)
    assert not default_storage.exists(old_path)
    assert Report.objects.count() == 1


def test_a_running_period_is_built_again_each_time(world, clock):
    first = report_build(hospital=world.hospital, period="month", period_start=dt.date(2026, 11, 1), fmt="xlsx")
    again = report_build(hospital=world.hospital, period="month", period_start=dt.date(2026, 11, 1), fmt="xlsx")

    assert again.pk == first.pk
    assert again.stored_path != first.stored_path


def test_formats_and_hospitals_are_separate_reports(world, clock):
    pdf = report_build(hospital=world.hospital, period="month", period_start=OCTOBER, fmt="pdf")
    xlsx = report_build(hospital=world.hospital, period="month", period_start=OCTOBER, fmt="xlsx")
    other = report_build(hospital=world.other_hospital, period="month", period_start=OCTOBER, fmt="pdf")

    assert len({pdf.pk, xlsx.pk, other.pk}) == 3
    assert other.stored_path.split("/")[1] == str(world.other_hospital.pk)


@pytest.mark.parametrize(
    ("period", "start", "fmt", "code"),
    [
        ("month", dt.date(2026, 10, 2), "pdf", "report_period"),
        ("week", dt.date(2026, 10, 20), "pdf", "report_period"),  # a Tuesday
        ("year", dt.date(2026, 1, 1), "pdf", "report_period"),
        ("month", OCTOBER, "docx", "report_format"),
        ("month", dt.date(2026, 12, 1), "pdf", "report_future"),
    ],
)
def test_bad_requests_change_nothing(world, clock, period, start, fmt, code):
    with pytest.raises(ApplicationError) as caught:
        report_build(hospital=world.hospital, period=period, period_start=start, fmt=fmt)

    assert caught.value.code == code
    assert Report.objects.count() == 0


def test_principal_of_another_hospital_or_without_the_action_is_refused(world, clock):
    with pytest.raises(ApplicationError):
        report_build(hospital=world.hospital, period="month", period_start=OCTOBER, fmt="pdf",
                     principal=world.principal("outsider"))  # fmt: skip
    with pytest.raises(PermissionDenied):
        report_build(hospital=world.hospital, period="month", period_start=OCTOBER, fmt="pdf",
                     principal=world.principal("service"))  # fmt: skip
    assert Report.objects.count() == 0


def test_opening_a_report_is_audited(world, clock):
    principal = world.principal("leadership")
    report = report_build(
        hospital=world.hospital, period="month", period_start=OCTOBER, fmt="xlsx", principal=principal
    )

    with report_open(principal=principal, report=report) as handle:
        assert handle.read() == _read(report)

    event = AuditEvent.objects.get(action=AuditEvent.Action.REPORT_EXPORT)
    assert (event.actor_id, event.object_type, event.object_id) == (
        world.users["leadership"].pk, "analytics.report", str(report.pk),
    )  # fmt: skip
    assert event.detail == {"period": "month", "period_start": "2026-10-01", "format": "xlsx"}
    assert report.created_by == world.users["leadership"]
