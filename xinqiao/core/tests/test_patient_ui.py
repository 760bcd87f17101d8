from __future__ import annotations

import json

import pytest
from django.utils import timezone

from xinqiao.core.models import AuditEvent, Consent, Patient, Visit
from xinqiao.core.services import patient_unseal
from xinqiao.core.views import SUDO_SESSION_KEY


def sudo(client):
    session = client.session
    session[SUDO_SESSION_KEY] = timezone.now().timestamp() + 600
    session.save()


@pytest.fixture
def service(client, world):
    client.force_login(world.users["service"])
    return client


def test_register_patient_through_the_form(service, world):
    response = service.post(
        "/patients/new/",
        {
            "name": "孙丽",
            "mobile": "136 0013 6000",
            "id_number": "",
            "sex": "F",
            "source_channel": "douyin",
            "first_department": world.departments["pediatrics"].pk,
        },
    )
    assert response.status_code == 302
    patient = Patient.objects.latest("pk")
    assert response["Location"] == f"/patients/{patient.pk}/"
    assert (patient.mobile_masked, patient.name_masked, patient.source_channel) == ("136****6000", "孙*", "douyin")
    assert patient_unseal(patient, "mobile") == "13600136000"


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("id_number", "110105196003140010", "check character"),
        ("mobile", "1380013", "11-digit"),
        ("first_department", "999999", "valid choice"),
        ("birth_date", "2999-01-01", "impossible"),
    ],
)
def test_form_rejects_bad_input_and_changes_nothing(service, world, field, value, fragment):
    data = {"name": "孙丽", "mobile": "13600136000", "sex": "U", "source_channel": "walk_in", field: value}
    before = Patient.objects.count()
    service.cookies["django_language"] = "en"
    response = service.post("/patients/new/", data)
    assert response.status_code == 400
    assert fragment in response.content.decode()
    assert Patient.objects.count() == before


def test_other_hospitals_department_is_not_a_choice(service, world):
    other_department = world.other_hospital.departments.get()
    before = Patient.objects.count()
    response = service.post(
        "/patients/new/",
        {
            "name": "孙丽",
            "mobile": "13600136000",
            "sex": "U",
            "source_channel": "walk_in",
            "first_department": other_department.pk,
        },
    )
    assert response.status_code == 400
    assert Patient.objects.count() == before


def test_id_number_must_agree_with_sex_and_birth_date(service, world):
    id_number = world.pii[world.patients[0].pk]["id_number"]  # a man born 1960-03-14
    service.cookies["django_language"] = "en"
    response = service.post(
        "/patients/new/",
        {"name": "钱多", "mobile": "13600136000", "sex": "F", "id_number": id_number, "source_channel": "walk_in"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert "does not match" in response.content.decode()


def test_detail_is_masked_until_a_purposeful_reveal(service, world):
    patient = world.patients[0]
    page = service.get(f"/patients/{patient.pk}/").content.decode()
    assert "138****8000" in page
    assert "13800138000" not in page
    assert world.pii[patient.pk]["id_number"] not in page
    refused = service.post(f"/patients/{patient.pk}/reveal/", {"field": "mobile", "purpose": ""})
    assert refused.status_code == 400
    assert "13800138000" not in refused.content.decode()
    shown = service.post(f"/patients/{patient.pk}/reveal/", {"field": "mobile", "purpose": "follow_up"})
    assert shown.status_code == 200
    assert "13800138000" in shown.content.decode()
    assert 'hx-trigger="load delay:300s"' in shown.content.decode()
    assert shown["Cache-Control"] == "no-store"
    events = list(AuditEvent.objects.filter(action="reveal").order_by("pk").values_list("result", "purpose", "fields"))
    assert events == [("denied", "", ["mobile"]), ("ok", "follow_up", ["mobile"])]
    remasked = service.get(f"/patients/{patient.pk}/masked/mobile/").content.decode()
    assert "138****8000" in remasked
    assert "13800138000" not in remasked


def test_edit_reveals_with_purpose_and_updates(service, world):
    patient = world.patients[0]
    ask = service.get(f"/patients/{patient.pk}/edit/")
    assert "13800138000" not in ask.content.decode()
    form = service.get(f"/patients/{patient.pk}/edit/", {"purpose": "verify_identity"})
    assert "13800138000" in form.content.decode()
    assert AuditEvent.objects.filter(action="reveal", purpose="verify_identity").count() == 3
    data = {
        "name": "张伟",
        "mobile": "13800138001",
        "id_number": world.pii[patient.pk]["id_number"],
        "sex": "M",
        "source_channel": "wechat_oa",
        "first_department": world.departments["cardiology"].pk,
    }
    assert service.post(f"/patients/{patient.pk}/edit/", data).status_code == 302
    patient.refresh_from_db()
    assert patient.mobile_masked == "138****8001"
    assert AuditEvent.objects.get(action="patient_update").fields == ["mobile"]


def test_consent_grant_and_withdraw(service, world):
    patient = world.patients[1]
    url = f"/patients/{patient.pk}/consents/"
    service.post(
        url, {"purpose": "marketing_contact", "action": "grant", "channel": "wechat", "notice_version": "2026.1"}
    )
    service.post(url, {"purpose": "marketing_contact", "action": "withdraw", "channel": "sms"})
    actions = list(Consent.objects.filter(patient=patient).values_list("purpose", "action"))
    assert actions == [("marketing_contact", "grant"), ("marketing_contact", "withdraw")]
    # Withdrawing again: nothing active, nothing written.
    service.post(url, {"purpose": "marketing_contact", "action": "withdraw", "channel": "sms"})
    assert Consent.objects.filter(patient=patient).count() == 2
    # Granting needs the notice version.
    service.post(url, {"purpose": "health_management", "action": "grant", "channel": "paper"})
    assert Consent.objects.filter(patient=patient).count() == 2


def test_story_consent_keeps_its_scope(service, world):
    patient = world.patients[1]
    service.post(
        f"/patients/{patient.pk}/consents/",
        {
            "purpose": "story_publication",
            "action": "grant",
            "channel": "paper",
            "notice_version": "story-v3",
            "allow_face": "on",
        },
    )
    consent = Consent.objects.get(patient=patient)
    assert consent.scope == {"allow_face": True, "allow_voice": False, "allow_real_name": False}


def test_consent_filter_in_list(service, world):
    patient = world.patients[2]
    service.post(
        f"/patients/{patient.pk}/consents/",
        {"purpose": "health_management", "action": "grant", "channel": "wechat", "notice_version": "v1"},
    )
    page = service.get("/patients/", {"consent": "health_management"})
    assert [p.pk for p in page.context["page"].rows] == [patient.pk]


def test_record_a_visit(service, world):
    patient = world.patients[0]
    response = service.post(
        f"/patients/{patient.pk}/visits/",
        {
            "kind": "visit",
            "occurred_on": "2026-01-05",
            "department": world.departments["cardiology"].pk,
            "doctor": world.doctors[0].pk,
            "channel": "wechat_oa",
            "revenue_yuan": "356.50",
        },
    )
    assert response.status_code == 302
    visit = Visit.objects.get(patient=patient)
    assert (visit.revenue_fen, visit.doctor_id) == (35650, world.doctors[0].pk)


def test_export_contains_everything_and_is_audited(client, world):
    client.force_login(world.users["admin"])
    sudo(client)
    patient = world.patients[0]
    response = client.post(f"/patients/{patient.pk}/export/", {"purpose": "subject_access"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="patient-{patient.pk}-export.json"'
    data = json.loads(response.content)
    assert data["patient"]["mobile"] == "13800138000"
    assert data["patient"]["name"] == "张伟"
    assert data["access_log"][0]["action"] == "patient_create"
    event = AuditEvent.objects.get(action="export")
    assert (event.purpose, event.object_id) == ("subject_access", str(patient.pk))


def test_export_without_sudo_asks_for_password(client, world):
    client.force_login(world.users["admin"])
    response = client.post(f"/patients/{world.patients[0].pk}/export/", {"purpose": "subject_access"})
    assert response.status_code == 302
    assert response["Location"].startswith("/sudo/")
    assert not AuditEvent.objects.filter(action="export").exists()


def test_erase_destroys_identity_and_withdraws_consents(client, world):
    client.force_login(world.users["admin"])
    sudo(client)
    patient = world.patients[1]
    client.post(
        f"/patients/{patient.pk}/consents/",
        {"purpose": "marketing_contact", "action": "grant", "channel": "wechat", "notice_version": "v1"},
    )
    refused = client.post(f"/patients/{patient.pk}/erase/", {"reason": "patient request"})  # no confirmation
    assert refused.status_code == 302
    assert Patient.objects.get(pk=patient.pk).erased_at is None
    response = client.post(f"/patients/{patient.pk}/erase/", {"reason": "patient request", "confirm": "on"})
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.erased_at is not None
    assert (patient.mobile_sealed, patient.name_sealed, patient.id_number_sealed) == ("", "", "")
    assert (patient.birth_date.month, patient.birth_date.day) == (1, 1)
    assert list(Consent.objects.filter(patient=patient).values_list("action", flat=True)) == ["grant", "withdraw"]
    assert client.get(f"/patients/{patient.pk}/").status_code == 404
    assert AuditEvent.objects.get(action="erase").detail == {"reason": "patient request"}


def test_oversized_form_post_is_refused(service, world):
    before = Patient.objects.count()
    response = service.post("/patients/new/", {"name": "孙丽", "mobile": "13600136000", "pad": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 413
    assert Patient.objects.count() == before


def test_filters_reject_nonsense(service, world):
    response = service.get("/patients/", {"age_min": "-5", "cursor": "abc"})
    assert response.status_code == 200
    assert response.context["page"] is None
    assert response.context["form"].errors


def test_the_edit_form_shows_the_stored_birth_date_in_the_chinese_ui(service, world):
    # a date input reads only ISO dates; Django renders 2026/01/01 in Chinese, which the browser shows as empty
    # (and saving the form would then have cleared the date)
    patient = next(patient for patient in world.patients if patient.birth_date is not None)

    body = service.get(f"/patients/{patient.pk}/edit/", {"purpose": "verify_identity"}).content.decode()

    assert 'lang="zh-hans"' in body
    assert f'name="birth_date" value="{patient.birth_date.isoformat()}"' in body
