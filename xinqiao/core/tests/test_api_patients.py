from __future__ import annotations

import json

import pytest

from xinqiao.core.models import AuditEvent, Patient
from xinqiao.core.services import api_key_create, api_key_revoke


def make_key(world, *scopes: str) -> str:
    _key, plaintext = api_key_create(principal=world.principal("admin"), name="integration", scopes=list(scopes))
    return plaintext


@pytest.fixture
def read_key(world) -> str:
    return make_key(world, "patients:read")


def get(client, url, key, **params):
    return client.get(url, params, HTTP_X_API_KEY=key)


def post(client, url, key, body, **extra):
    return client.post(url, json.dumps(body), content_type="application/json", HTTP_X_API_KEY=key, **extra)


def test_list_is_masked_and_scoped_to_the_keys_hospital(client, world, read_key):
    response = get(client, "/api/patients", read_key)
    assert response.status_code == 200
    data = response.json()
    assert [item["id"] for item in data["items"]] == sorted((p.pk for p in world.patients), reverse=True)
    assert {item["mobile_masked"] for item in data["items"]} == {"138****8000", "139****5678", "150****2222"}
    assert {item["name_masked"] for item in data["items"]} == {"张*", "李*", "欧阳*"}
    body = response.content.decode()
    for pii in world.pii.values():
        assert pii["mobile"] not in body
        assert pii.get("id_number", "none") not in body
    assert data["next_cursor"] is None


def test_keyset_pagination_walks_every_row_once(client, world, read_key):
    first = get(client, "/api/patients", read_key, limit=2).json()
    assert len(first["items"]) == 2
    second = get(client, "/api/patients", read_key, limit=2, cursor=first["next_cursor"]).json()
    assert len(second["items"]) == 1
    assert second["next_cursor"] is None
    seen = [item["id"] for item in first["items"] + second["items"]]
    assert sorted(seen) == sorted(p.pk for p in world.patients)


def search(client, key, q, **filters):
    return post(client, "/api/patients/search", key, {"q": q, **filters})


def test_filters_and_blind_index_lookup(client, world, read_key):
    by_mobile = search(client, read_key, "138 0013 8000").json()["items"]
    assert [item["id"] for item in by_mobile] == [world.patients[0].pk]
    by_id = search(client, read_key, world.pii[world.patients[1].pk]["id_number"]).json()["items"]
    assert [item["id"] for item in by_id] == [world.patients[1].pk]
    by_name = search(client, read_key, "欧阳娜娜").json()["items"]
    assert [item["id"] for item in by_name] == [world.patients[2].pk]
    assert search(client, read_key, "欧阳娜娜", department_id=world.departments["cardiology"].pk).json()["items"] == []
    department = world.departments["pediatrics"].pk
    by_department = get(client, "/api/patients", read_key, department_id=department).json()["items"]
    assert [item["id"] for item in by_department] == [world.patients[1].pk]
    # The other hospital's mobile is not found through this hospital's key.
    assert search(client, read_key, "13700001111").json()["items"] == []


def test_detail_and_cross_hospital_404(client, world, read_key):
    patient = world.patients[0]
    response = get(client, f"/api/patients/{patient.pk}", read_key)
    assert response.status_code == 200
    assert response.json()["mobile_masked"] == "138****8000"
    assert response.json()["visit_count"] == 0
    missing = get(client, f"/api/patients/{world.other_patient.pk}", read_key)
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert get(client, "/api/patients/999999999", read_key).status_code == 404


def test_authentication_failures(client, world, read_key):
    assert client.get("/api/patients").status_code == 401
    assert client.get("/api/patients").json()["code"] == "unauthenticated"
    assert get(client, "/api/patients", "xq_deadbeef_wrong").status_code == 401
    assert get(client, "/api/patients", read_key[:-1] + ("A" if read_key[-1] != "A" else "B")).status_code == 401
    from xinqiao.core.models import ApiKey

    api_key_revoke(principal=world.principal("admin"), api_key=ApiKey.objects.get())
    assert get(client, "/api/patients", read_key).status_code == 401


def test_create_with_write_scope(client, world):
    key = make_key(world, "patients:write")
    body = {
        "name": "孙丽",
        "mobile": "+86 136-0013-6000",
        "sex": "F",
        "source_channel": "douyin",
        "first_department_id": world.departments["pediatrics"].pk,
    }
    response = post(client, "/api/patients", key, body)
    assert response.status_code == 201, response.content
    created = Patient.objects.get(pk=response.json()["id"])
    assert created.mobile_masked == "136****6000"
    assert (
        AuditEvent.objects.filter(
            action="patient_create", object_id=str(created.pk), actor_label__startswith="api-key:"
        ).count()
        == 1
    )


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"id_number": "110105196003140010"}, 400, "invalid_id_checksum"),
        ({"id_number": "11010519600314001"}, 400, "invalid_id_format"),
        ({"id_number": "990105196003140012"}, 400, "invalid_id_region"),
        ({"id_number": "110105196013400012"}, 400, "invalid_id_birth_date"),
        ({"mobile": "12345"}, 400, "invalid_mobile_format"),
        ({"mobile": "23800138000"}, 400, "invalid_mobile_format"),
        ({"source_channel": "fax"}, 422, "invalid_request"),
        ({"sex": "X"}, 422, "invalid_request"),
        ({"name": ""}, 422, "invalid_request"),
        ({"birth_date": "2999-01-01"}, 400, "invalid_birth_date"),
    ],
)
def test_create_rejects_bad_input_and_changes_nothing(client, world, change, status, code):
    key = make_key(world, "patients:write")
    body = {"name": "孙丽", "mobile": "13600136000", "source_channel": "walk_in", **change}
    before = Patient.objects.count()
    response = post(client, "/api/patients", key, body)
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert response.json()["message"]
    assert Patient.objects.count() == before


def test_create_rejects_other_hospitals_department(client, world):
    key = make_key(world, "patients:write")
    other_department = world.other_hospital.departments.get()
    before = Patient.objects.count()
    response = post(
        client,
        "/api/patients",
        key,
        {"name": "孙丽", "mobile": "13600136000", "first_department_id": other_department.pk},
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "unknown_department",
        "message": response.json()["message"],
        "field": "first_department",
    }
    assert Patient.objects.count() == before


def test_create_duplicate_id_number_conflicts(client, world):
    key = make_key(world, "patients:write")
    existing = world.pii[world.patients[0].pk]["id_number"]
    response = post(client, "/api/patients", key, {"name": "张伟", "mobile": "13600136000", "id_number": existing})
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_id_number"


def test_read_key_cannot_create_or_reveal(client, world, read_key):
    before = (Patient.objects.count(), AuditEvent.objects.filter(action="reveal", result="ok").count())
    assert post(client, "/api/patients", read_key, {"name": "孙丽", "mobile": "13600136000"}).status_code == 403
    patient = world.patients[0]
    response = post(client, f"/api/patients/{patient.pk}/reveal", read_key, {"field": "mobile", "purpose": "follow_up"})
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert (Patient.objects.count(), AuditEvent.objects.filter(action="reveal", result="ok").count()) == before
    assert AuditEvent.objects.filter(action="reveal", result="denied", object_id=str(patient.pk)).count() == 1


def test_reveal_with_scope_is_audited(client, world):
    key = make_key(world, "patients:reveal")
    patient = world.patients[0]
    response = post(client, f"/api/patients/{patient.pk}/reveal", key, {"field": "mobile", "purpose": "complaint"})
    assert response.status_code == 200
    assert response.json() == {"field": "mobile", "value": "13800138000", "expires_in_seconds": 300}
    event = AuditEvent.objects.get(action="reveal", result="ok")
    assert (event.object_id, event.fields, event.purpose) == (str(patient.pk), ["mobile"], "complaint")
    assert event.actor_label.startswith("api-key:")
    bad = post(client, f"/api/patients/{patient.pk}/reveal", key, {"field": "mobile", "purpose": "curiosity"})
    assert bad.status_code == 422
    assert AuditEvent.objects.filter(action="reveal", result="ok").count() == 1


def test_malformed_and_oversized_requests(client, world):
    key = make_key(world, "patients:write")
    before = Patient.objects.count()
    response = client.post("/api/patients", "{not json", content_type="application/json", HTTP_X_API_KEY=key)
    assert response.status_code in (400, 422)
    assert response.json()["code"] in ("invalid_request", "bad_request")
    huge = json.dumps({"name": "孙丽", "mobile": "13600136000", "padding": "x" * (3 * 1024 * 1024)})
    response = client.post("/api/patients", huge, content_type="application/json", HTTP_X_API_KEY=key)
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert Patient.objects.count() == before


def test_error_messages_follow_the_callers_language(client, world):
    key = make_key(world, "patients:write")
    body = {"name": "孙丽", "mobile": "12345"}
    english = post(client, "/api/patients", key, body, HTTP_ACCEPT_LANGUAGE="en")
    assert english.json()["message"] == "Enter an 11-digit mainland mobile number, e.g. 13800000000."
    chinese = post(client, "/api/patients", key, body, HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert chinese.json()["message"] == "请输入 11 位中国大陆手机号，例如 13800000000。"


def test_openapi_schema_is_public_and_complete(client):
    schema = client.get("/api/openapi.json").json()
    assert set(schema["paths"]) == {
        "/api/listening/mentions",
        "/api/patients",
        "/api/patients/search",
        "/api/patients/{patient_id}",
        "/api/patients/{patient_id}/reveal",
    }
    assert "X-API-Key" in json.dumps(schema["components"]["securitySchemes"])
