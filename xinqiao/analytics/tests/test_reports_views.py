"""Report pages over HTTP: generate on demand, list, download (audited, 404 across hospitals), schedules."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
import time_machine
from django.urls import reverse

from xinqiao.analytics.models import Report, ReportSchedule
from xinqiao.analytics.services.reports import report_build
from xinqiao.analytics.tests.reports_support import SHANGHAI, build_metrics
from xinqiao.core.models import AuditEvent
from xinqiao.integrations.models import NotificationRoute

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def setup(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LANGUAGE_CODE = "en"
    with time_machine.travel(NOW, tick=False):
        yield


def _client(client, world, persona):
    client.force_login(world.users[persona])
    return client


def test_list_offers_the_last_closed_month(client, world):
    response = _client(client, world, "leadership").get(reverse("analytics:report_list"))

    assert response.status_code == 200
    form = response.context["form"]
    assert (form["period_type"].value(), form["period"].value(), form["format"].value()) == ("month", "2026-10", None)
    assert response.context["rows"] == []
    assert b"schedules-link" not in response.content  # leadership reads, does not manage


def test_generate_then_download_pdf_and_excel(client, world):
    build_metrics(world.hospital)
    client = _client(client, world, "brand")

    for fmt in ("pdf", "xlsx"):
        response = client.post(
            reverse("analytics:report_list"), {"period_type": "month", "period": "2026-10", "format": fmt}
        )
        assert response.status_code == 302
    page = client.get(reverse("analytics:report_list"))
    assert [(row["label"], row["report"].format) for row in page.context["rows"]] == [
        ("2026-10", "xlsx"), ("2026-10", "pdf"),
    ]  # fmt: skip
    reports = {report.format: report for report in Report.objects.all()}
    pdf = client.get(reverse("analytics:report_download", args=[reports["pdf"].pk]))
    xlsx = client.get(reverse("analytics:report_download", args=[reports["xlsx"].pk]))

    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == 'attachment; filename="xinqiao-report-test-first-2026-10.pdf"'
    assert b"".join(pdf.streaming_content)[:5] == b"%PDF-"
    assert "sheet" in xlsx["Content-Type"]
    assert "xl/workbook.xml" in zipfile.ZipFile(io.BytesIO(b"".join(xlsx.streaming_content))).namelist()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.REPORT_EXPORT).count() == 2
    assert {r.created_by_id for r in reports.values()} == {world.users["brand"].pk}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"period_type": "month", "period": "2026-W43", "format": "pdf"}, "A monthly report needs a month"),
        ({"period_type": "week", "period": "2026-13", "format": "pdf"}, "is not a report period"),
        ({"period_type": "month", "period": "2027-01", "format": "pdf"}, "has not started yet"),
        ({"period_type": "month", "period": "2026-10", "format": "doc"}, "Select a valid choice"),
    ],
)
def test_bad_requests_show_the_reason_and_build_nothing(client, world, data, message):
    response = _client(client, world, "brand").post(reverse("analytics:report_list"), data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert Report.objects.count() == 0


@pytest.mark.parametrize("persona", ["dept_reviewer", "service", "medical_affairs"])
def test_members_without_hospital_wide_analytics_get_403(client, world, persona):
    report = report_build(hospital=world.hospital, period="month", period_start=dt.date(2026, 10, 1), fmt="xlsx")
    client = _client(client, world, persona)

    assert client.get(reverse("analytics:report_list")).status_code == 403
    assert (
        client.post(
            reverse("analytics:report_list"), {"period_type": "month", "period": "2026-09", "format": "pdf"}
        ).status_code
        == 403
    )
    assert client.get(reverse("analytics:report_download", args=[report.pk])).status_code == 403
    assert Report.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.REPORT_EXPORT).count() == 0


def test_reports_of_another_hospital_are_404(client, world):
    report = report_build(hospital=world.other_hospital, period="month", period_start=dt.date(2026, 10, 1), fmt="pdf")
    client = _client(client, world, "brand")

    assert client.get(reverse("analytics:report_download", args=[report.pk])).status_code == 404
    assert client.get(reverse("analytics:report_download", args=["abc"])).status_code == 404
    assert AuditEvent.objects.filter(action=AuditEvent.Action.REPORT_EXPORT).count() == 0


def _routes(world):
    email = NotificationRoute.objects.create(hospital=world.hospital, name="品牌部邮箱", kind="email",
                                             emails=["brand@example.com"], purposes=["reports"])  # fmt: skip
    other = NotificationRoute.objects.create(hospital=world.other_hospital, name="二院邮箱", kind="email",
                                             emails=["x@example.com"], purposes=["reports"])  # fmt: skip
    return email, other


def test_brand_saves_a_schedule(client, world):
    email, _other = _routes(world)
    client = _client(client, world, "brand")

    response = client.post(reverse("analytics:report_schedules"), {
        "period": "month", "month-is_active": "on", "month-formats": ["pdf", "xlsx"], "month-routes": [str(email.pk)],
    })  # fmt: skip

    assert response.status_code == 302
    schedule = ReportSchedule.objects.get()
    assert (schedule.period, schedule.formats, schedule.is_active) == ("month", ["pdf", "xlsx"], True)
    assert list(schedule.routes.all()) == [email]
    page = client.get(reverse("analytics:report_schedules"))
    assert page.context["sections"][1]["form"]["routes"].value() == [str(email.pk)]
    assert AuditEvent.objects.filter(object_type="analytics.report_schedule").count() == 1


def test_schedule_with_a_route_of_another_hospital_is_refused(client, world):
    _email, other = _routes(world)

    response = _client(client, world, "brand").post(reverse("analytics:report_schedules"), {
        "period": "week", "week-is_active": "on", "week-formats": ["pdf"], "week-routes": [str(other.pk)],
    })  # fmt: skip

    assert response.status_code == 400
    assert ReportSchedule.objects.count() == 0


def test_active_schedule_needs_a_destination_and_a_format(client, world):
    client = _client(client, world, "brand")

    no_route = client.post(
        reverse("analytics:report_schedules"), {"period": "week", "week-is_active": "on", "week-formats": ["pdf"]}
    )
    no_format = client.post(reverse("analytics:report_schedules"), {"period": "week", "week-is_active": "on"})

    assert (no_route.status_code, no_format.status_code) == (400, 400)
    assert "Choose at least one destination" in no_route.content.decode()
    assert ReportSchedule.objects.count() == 0


@pytest.mark.parametrize("persona", ["leadership", "dept_reviewer", "service"])
def test_schedules_need_analytics_manage(client, world, persona):
    client = _client(client, world, persona)

    assert client.get(reverse("analytics:report_schedules")).status_code == 403
    assert (
        client.post(reverse("analytics:report_schedules"), {"period": "week", "week-formats": ["pdf"]}).status_code
        == 403
    )
    assert ReportSchedule.objects.count() == 0
