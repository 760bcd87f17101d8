"""Opening a case from an alert (idempotent) or by hand."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied

from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent
from xinqiao.listening.models import Alert, CaseEvent, CrisisCase
from xinqiao.listening.services import cases as services
from xinqiao.listening.tests.cases_helpers import make_alert, make_cluster, make_mention

T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def alert(world):
    linked = make_cluster(world.hospital, at=T0)
    other = make_cluster(world.hospital, title="转发", at=T0)
    mention = make_mention(world.hospital, at=T0, cluster=other)
    make_cluster(world.hospital, title="无关", at=T0)
    return make_alert(world.hospital, clusters=[linked], mentions=[mention], severity=85.0)


def test_open_from_alert_links_clusters_and_marks_the_alert(world, alert):
    case = services.case_open_from_alert(principal=world.principal("brand"), alert=alert, now=T0)
    alert.refresh_from_db()
    assert alert.status == Alert.Status.CASE_OPENED
    assert alert.case_id == case.pk
    assert sorted(case.clusters.values_list("title", flat=True)) == ["心内科医患纠纷", "转发"]
    assert case.owner == world.users["brand"]
    assert case.opened_by == world.users["brand"]
    assert case.severity == CrisisCase.Severity.CRITICAL
    assert case.status == CrisisCase.Status.MONITORING
    assert case.title == "红线：心内科医患纠纷"
    assert case.first_response_due_at == T0 + dt.timedelta(hours=24)
    assert list(CaseEvent.objects.filter(case=case).values_list("kind", flat=True)) == ["opened"]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CASE_CHANGE, object_id=str(case.pk)).count() == 1


def test_open_from_alert_is_idempotent(world, alert):
    first = services.case_open_from_alert(principal=world.principal("brand"), alert=alert)
    second = services.case_open_from_alert(principal=world.principal("brand"), alert=alert, severity=1)
    assert second.pk == first.pk
    assert second.severity == CrisisCase.Severity.CRITICAL
    assert CrisisCase.objects.count() == 1
    assert CaseEvent.objects.count() == 1


@pytest.mark.parametrize(("score", "expected"), [(80.0, 4), (79.9, 3), (60.0, 3), (30.0, 2), (29.9, 1), (0.0, 1)])
def test_severity_from_score(score, expected):
    assert services.severity_from_score(score) == expected


def test_only_brand_opens_cases(world, alert):
    with pytest.raises(PermissionDenied):
        services.case_open_from_alert(principal=world.principal("medical_affairs"), alert=alert)
    assert CrisisCase.objects.count() == 0


def test_owner_must_be_in_the_brand_team(world, alert):
    with pytest.raises(ApplicationError) as error:
        services.case_open_from_alert(principal=world.principal("brand"), alert=alert, owner=world.users["service"])
    assert error.value.code == "invalid_owner"
    assert CrisisCase.objects.count() == 0


def test_manual_open_needs_a_title(world):
    with pytest.raises(ApplicationError) as error:
        services.case_open(principal=world.principal("brand"), title="   ")
    assert error.value.code == "title_required"
    assert CrisisCase.objects.count() == 0


def test_manual_open_rejects_other_hospitals_clusters(world):
    foreign = make_cluster(world.other_hospital, at=T0)
    with pytest.raises(ApplicationError) as error:
        services.case_open(principal=world.principal("brand"), title="电话投诉", cluster_ids=[foreign.pk])
    assert error.value.code == "invalid_clusters"
    assert CrisisCase.objects.count() == 0


def test_open_from_alert_over_http(client, world, alert):
    client.force_login(world.users["brand"])
    response = client.post(f"/listening/cases/from-alert/{alert.pk}/")
    case = CrisisCase.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/listening/cases/{case.pk}/"
    again = client.post(f"/listening/cases/from-alert/{alert.pk}/")
    assert again["Location"] == f"/listening/cases/{case.pk}/"
    assert CrisisCase.objects.count() == 1


def test_open_from_alert_over_http_is_403_without_case_manage_and_404_across_hospitals(client, world, alert):
    client.force_login(world.users["medical_affairs"])
    assert client.post(f"/listening/cases/from-alert/{alert.pk}/").status_code == 403
    client.force_login(world.users["outsider"])
    assert client.post(f"/listening/cases/from-alert/{alert.pk}/").status_code == 404
    assert client.get("/listening/cases/from-alert/1/").status_code == 405
    assert CrisisCase.objects.count() == 0
