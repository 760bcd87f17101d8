from __future__ import annotations

import datetime as dt
from typing import Literal

from ninja import Schema
from pydantic import Field

from xinqiao.core.models import Consent, Patient

MAX_PK = 2**62

SexCode = Literal["M", "F", "U"]
ChannelCode = Literal[tuple(Patient.SourceChannel.values)]  # type: ignore[valid-type]
PurposeCode = Literal[tuple(Consent.Purpose.values)]  # type: ignore[valid-type]
PiiField = Literal["name", "mobile", "id_number"]
RevealPurposeCode = Literal["follow_up", "verify_identity", "complaint", "legal"]


class DepartmentOut(Schema):
    id: int
    name: str


class PatientOut(Schema):
    id: int
    name_masked: str
    sex: SexCode
    birth_year: int | None
    mobile_masked: str
    id_number_masked: str
    source_channel: str
    first_department: DepartmentOut | None
    created_at: dt.datetime


class ConsentOut(Schema):
    purpose: str
    action: str
    channel: str
    notice_version: str
    recorded_at: dt.datetime


class PatientDetailOut(PatientOut):
    consents: list[ConsentOut]
    visit_count: int


class PatientPage(Schema):
    items: list[PatientOut]
    next_cursor: int | None


class PatientIn(Schema):
    name: str = Field(min_length=1, max_length=40)
    mobile: str = Field(min_length=1, max_length=20)
    sex: SexCode = "U"
    birth_date: dt.date | None = None
    id_number: str = Field(default="", max_length=20)
    source_channel: ChannelCode = "walk_in"
    first_department_id: int | None = Field(default=None, ge=1, le=MAX_PK)


class RevealIn(Schema):
    field: PiiField
    purpose: RevealPurposeCode


class RevealOut(Schema):
    field: str
    value: str
    expires_in_seconds: int


class ErrorOut(Schema):
    code: str
    message: str
