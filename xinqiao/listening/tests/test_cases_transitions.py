"""Case status moves only forward (监测中 → 响应中 → 已回应 → 已关闭); every change is on the timeline."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied

from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent
from xinqiao.listening.models import CaseEvent, CrisisCase
from xinqiao.listening.services import cases as services
from xinqiao.listening.tests.cases_helpers import CLEAN_REPLY

T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)
Status = CrisisCase.Status


@pytest.fixture
def case(world):
    return services.case_open(principal=world.principal("brand"), title="心内科医患纠纷", now=T0)


def kinds(case) -> list[str]:
    return list(CaseEvent.objects.filter(case=case).order_by("created_at", "pk").values_list("kind", flat=True))


def test_monitoring_to_responding(world, case):
    services.case_set_status(principal=world.principal("brand"), case=case, status=Status.RESPONDING, note="开始处置")
    case.refresh_from_db()
    assert case.status == Status.RESPONDING
    assert kinds(case) == ["opened", "status"]
    assert CaseEvent.objects.get(case=case, kind="status").text == "Monitoring → Responding. 开始处置"


@pytest.mark.parametrize(
    ("start", "target", "code"),
    [
        (Status.MONITORING, Status.RESPONDED, "invalid_transition"),
        (Status.RESPONDING, Status.MONITORING, "invalid_transition"),
        (Status.RESPONDING, Status.RESPONDED, "no_response_yet"),
        (Status.MONITORING, Status.CLOSED, "close_needs_lessons"),
        (Status.MONITORING, "archived", "invalid_status"),
    ],
)
def test_invalid_moves_change_nothing(world, case, start, target, code):
    CrisisCase.objects.filter(pk=case.pk).update(status=start)
    case.refresh_from_db()
    with pytest.raises(ApplicationError) as error:
        services.case_set_status(principal=world.principal("brand"), case=case, status=target)
    assert error.value.code == code
    case.refresh_from_db()
    assert case.status == start
    assert kinds(case) == ["opened"]


def test_responding_to_responded_once_a_reply_is_out(world, case):
    CrisisCase.objects.filter(pk=case.pk).update(status=Status.RESPONDING, first_responded_at=T0)
    case.refresh_from_db()
    services.case_set_status(principal=world.principal("brand"), case=case, status=Status.RESPONDED)
    case.refresh_from_db()
    assert case.status == Status.RESPONDED


def test_close_needs_lessons_and_a_closable_status(world, case):
    brand = world.principal("brand")
    with pytest.raises(ApplicationError) as error:
        services.case_close(principal=brand, case=case, lessons="  ")
    assert error.value.code == "lessons_required"
    services.case_set_status(principal=brand, case=case, status=Status.RESPONDING)
    with pytest.raises(ApplicationError) as error:
        services.case_close(principal=brand, case=case, lessons="误报")
    assert error.value.code == "invalid_transition"
    case.refresh_from_db()
    assert case.status == Status.RESPONDING
    assert case.closed_at is None
    assert case.review == {}


def test_close_from_monitoring_freezes_a_review_and_locks_the_case(world, case):
    brand = world.principal("brand")
    closed_at = T0 + dt.timedelta(hours=6)
    services.case_close(principal=brand, case=case, lessons="经核实为误报，无需公开回应。", now=closed_at)
    case.refresh_from_db()
    assert case.status == Status.CLOSED
    assert case.closed_at == closed_at
    assert case.review["pivot_kind"] == "opened"
    assert case.review["after"]["hours"] == 6.0
    assert kinds(case) == ["opened", "status", "closed"]
    with pytest.raises(ApplicationError) as error:
        services.case_update(principal=brand, case=case, title="新标题")
    assert error.value.code == "case_closed"
    with pytest.raises(ApplicationError) as error:
        services.reply_draft_create(principal=brand, case=case, text=CLEAN_REPLY)
    assert error.value.code == "case_closed"


def test_update_records_what_changed(world, case, password):
    from xinqiao.core.models import Membership
    from xinqiao.core.tests.factories import make_user

    lead = make_user("brand_lead", password, world.hospital, Membership.Role.BRAND)
    lead.first_name = "陈思远"
    lead.save()
    services.case_update(principal=world.principal("brand"), case=case, owner=lead, severity=4, summary="已联系家属")
    case.refresh_from_db()
    assert case.owner == lead
    assert case.severity == 4
    assert case.summary == "已联系家属"
    assert CaseEvent.objects.get(case=case, kind="updated").text == (
        "owner → 陈思远; severity → Critical; summary changed"
    )
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CASE_CHANGE, object_id=str(case.pk)).count() == 2
    services.case_update(principal=world.principal("brand"), case=case, owner=lead, severity=4)
    assert CaseEvent.objects.filter(case=case, kind="updated").count() == 1


def test_update_rejects_bad_values(world, case):
    with pytest.raises(ApplicationError) as error:
        services.case_update(principal=world.principal("brand"), case=case, severity=9)
    assert error.value.code == "invalid_severity"
    with pytest.raises(ApplicationError) as error:
        services.case_update(principal=world.principal("brand"), case=case, owner=world.users["leadership"])
    assert error.value.code == "invalid_owner"
    with pytest.raises(PermissionDenied):
        services.case_update(principal=world.principal("leadership"), case=case, severity=1)
    case.refresh_from_db()
    assert (case.severity, case.owner_id) == (CrisisCase.Severity.MEDIUM, world.users["brand"].pk)


@pytest.fixture(autouse=True)
def english(settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
