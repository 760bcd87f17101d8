"""Patients API: the same permissions and masking as the UI."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from xinqiao.core import access, selectors, services
from xinqiao.core.access import Action
from xinqiao.core.schemas import (
    MAX_PK,
    ChannelCode,
    ErrorOut,
    PatientDetailOut,
    PatientIn,
    PatientOut,
    PatientPage,
    PurposeCode,
    RevealIn,
    RevealOut,
    SexCode,
)

router = Router(tags=["patients"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def patient_out(patient) -> dict:
    return {
        "id": patient.pk,
        "name_masked": patient.name_masked,
        "sex": patient.sex,
        "birth_year": patient.birth_date.year if patient.birth_date else None,
        "mobile_masked": patient.mobile_masked,
        "id_number_masked": patient.id_number_masked,
        "source_channel": patient.source_channel,
        "first_department": (
            {"id": patient.first_department.pk, "name": patient.first_department.name}
            if patient.first_department
            else None
        ),
        "created_at": patient.created_at,
    }


class PatientListParams(Schema):
    department_id: int | None = Field(default=None, ge=1, le=MAX_PK)
    source_channel: ChannelCode | None = None
    sex: SexCode | None = None
    age_min: int | None = Field(default=None, ge=0, le=150)
    age_max: int | None = Field(default=None, ge=0, le=150)
    consent: PurposeCode | None = None
    cursor: int | None = Field(default=None, ge=1, le=MAX_PK)
    limit: int = Field(default=50, ge=1, le=200)


class PatientSearchIn(PatientListParams):
    q: str = Field(min_length=1, max_length=40, description="Exact mobile, ID number or full name")


def _page(principal, params: PatientListParams, lookup=None) -> dict:
    filters = selectors.PatientFilters(
        lookup=lookup,
        department_id=params.department_id,
        source_channel=params.source_channel or "",
        sex=params.sex or "",
        age_min=params.age_min,
        age_max=params.age_max,
        consent=params.consent or "",
    )
    page = selectors.patient_list(principal, filters, cursor=params.cursor, limit=params.limit)
    return {"items": [patient_out(p) for p in page.rows], "next_cursor": page.next_cursor}


@router.get("/patients", response={200: PatientPage, **ERRORS}, summary="List patients (masked)")
def list_patients(request: HttpRequest, params: Query[PatientListParams]):
    return _page(request.auth, params)


@router.post(
    "/patients/search",
    response={200: PatientPage, **ERRORS},
    summary="Find patients by mobile, ID number or full name",
    description="The identifier travels in the body, never in a URL; matching uses keyed blind indexes.",
)
def search_patients(request: HttpRequest, payload: PatientSearchIn):
    lookup = selectors.search_lookup(request.auth.hospital.pk, payload.q)
    return _page(request.auth, payload, lookup)


@router.get("/patients/{patient_id}", response={200: PatientDetailOut, **ERRORS}, summary="One patient (masked)")
def get_patient(request: HttpRequest, patient_id: int):
    patient = access.access_patient(request.auth, patient_id, Action.PATIENT_VIEW)
    data = patient_out(patient)
    data["consents"] = list(patient.consents.order_by("recorded_at", "pk"))
    data["visit_count"] = patient.visits.count()
    return data


@router.post("/patients", response={201: PatientOut, **ERRORS}, summary="Register a patient")
def create_patient(request: HttpRequest, payload: PatientIn):
    patient = services.patient_create(
        principal=request.auth,
        data=services.PatientInput(**payload.dict()),
        request=request,
    )
    return Status(201, patient_out(patient))


@router.post("/patients/{patient_id}/reveal", response={200: RevealOut, **ERRORS}, summary="Reveal one field (audited)")
def reveal_patient_field(request: HttpRequest, patient_id: int, payload: RevealIn):
    patient = access.access_patient(request.auth, patient_id, Action.PATIENT_VIEW)
    value = services.patient_reveal(
        principal=request.auth, patient=patient, field=payload.field, purpose=payload.purpose, request=request
    )
    return {"field": payload.field, "value": value, "expires_in_seconds": settings.XINQIAO_REVEAL_SECONDS}
