"""Reads of the core domain."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.core import vault
from xinqiao.core.access import Action, Principal, patient_scope
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent, Consent, Department, Doctor, Patient
from xinqiao.lib.identity import IdentifierError, normalise_mobile, parse_resident_id

PAGE_SIZE = 50


def hospital_department(hospital, pk: int | None, *, field: str = "department", code: str = "unknown_department"):
    """The hospital's department with this id (None for no id); another hospital's id is simply unknown."""
    if pk is None:
        return None
    department = Department.objects.filter(hospital=hospital, pk=pk).first()
    if department is None:
        raise ApplicationError(_("Unknown department."), code=code, field=field)
    return department


def hospital_doctor(hospital, pk: int | None, *, field: str = "doctor", code: str = "unknown_doctor"):
    """The hospital's doctor with this id (None for no id); another hospital's id is simply unknown."""
    if pk is None:
        return None
    doctor = Doctor.objects.filter(hospital=hospital, pk=pk).first()
    if doctor is None:
        raise ApplicationError(_("Unknown doctor."), code=code, field=field)
    return doctor


@dataclass
class PatientFilters:
    lookup: tuple[str, str] | None = None  # (kind, blind index) from search_lookup(); never the clear value
    department_id: int | None = None
    source_channel: str = ""
    sex: str = ""
    age_min: int | None = None
    age_max: int | None = None
    consent: str = ""  # a Consent.Purpose that must be active

    def as_query(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None) and k != "lookup"}


@dataclass
class Page:
    rows: list[Any]
    next_cursor: int | None
    filters: dict[str, Any] = field(default_factory=dict)


def search_lookup(hospital_id: int, text: str) -> tuple[str, str]:
    """Turn a search string (mobile, ID number or full name) into a blind-index equality lookup.

    The clear text is used only here; what travels on (session, page links) is the keyed digest.
    """
    text = text.strip()
    try:
        mobile = normalise_mobile(text)
        return ("mobile", vault.blind_index(mobile, kind="mobile", hospital_id=hospital_id))
    except IdentifierError:
        pass
    try:
        number = parse_resident_id(text).number
        return ("id_number", vault.blind_index(number, kind="id_number", hospital_id=hospital_id))
    except IdentifierError:
        pass
    return ("name", vault.blind_index(text, kind="name", hospital_id=hospital_id))


LOOKUP_FIELDS = {"mobile": "mobile_bidx", "id_number": "id_number_bidx", "name": "name_bidx"}


def _years_ago(today: dt.date, years: int) -> dt.date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def active_consent_q(purpose: str) -> Exists:
    latest_action = (
        Consent.objects.filter(patient=OuterRef("patient"), purpose=purpose)
        .order_by("-recorded_at", "-pk")
        .values("action")[:1]
    )
    return Exists(
        Consent.objects.filter(patient=OuterRef("pk"), purpose=purpose, action=Consent.Action.GRANT)
        .annotate(latest=Subquery(latest_action))
        .filter(latest=Consent.Action.GRANT)
    )


def patient_queryset(principal: Principal, filters: PatientFilters) -> QuerySet[Patient]:
    qs = Patient.objects.filter(patient_scope(principal, Action.PATIENT_VIEW))
    if filters.lookup is not None:
        kind, digest = filters.lookup
        qs = qs.filter(**{LOOKUP_FIELDS[kind]: digest})
    if filters.department_id:
        qs = qs.filter(first_department_id=filters.department_id)
    if filters.source_channel:
        qs = qs.filter(source_channel=filters.source_channel)
    if filters.sex:
        qs = qs.filter(sex=filters.sex)
    today = timezone.localdate()
    if filters.age_min is not None:
        qs = qs.filter(birth_date__lte=_years_ago(today, filters.age_min))
    if filters.age_max is not None:
        qs = qs.filter(birth_date__gt=_years_ago(today, filters.age_max + 1))
    if filters.consent:
        qs = qs.filter(active_consent_q(filters.consent))
    return qs


def patient_list(
    principal: Principal, filters: PatientFilters, *, cursor: int | None = None, limit: int = PAGE_SIZE
) -> Page:
    """Keyset pagination, newest first: ``cursor`` is the last pk of the previous page."""
    qs = patient_queryset(principal, filters).select_related("first_department")
    if cursor is not None:
        qs = qs.filter(pk__lt=cursor)
    rows = list(qs.order_by("-pk")[: limit + 1])
    next_cursor = rows[limit - 1].pk if len(rows) > limit else None
    return Page(rows=rows[:limit], next_cursor=next_cursor, filters=filters.as_query())


def patient_consent_state(patient: Patient) -> dict[str, Consent | None]:
    """The latest event per purpose (a withdrawal counts as the current state)."""
    state: dict[str, Consent | None] = dict.fromkeys(Consent.Purpose.values)
    for consent in patient.consents.select_related("recorded_by").order_by("recorded_at", "pk"):
        state[consent.purpose] = consent
    return state


def patient_access_log(patient: Patient) -> list[dict[str, Any]]:
    """Who touched this patient's data, when and why (REQ-AUD-007)."""
    events = AuditEvent.objects.filter(object_type="patient", object_id=str(patient.pk)).order_by("pk")
    return [
        {
            "at": e.created_at.isoformat(),
            "actor": e.actor_label,
            "roles": e.actor_roles,
            "action": e.action,
            "fields": e.fields,
            "purpose": e.purpose,
            "result": e.result,
        }
        for e in events
    ]


@dataclass
class AuditFilters:
    action: str = ""
    actor: str = ""
    object_id: str = ""
    purpose: str = ""
    result: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def audit_list(principal: Principal, filters: AuditFilters, *, cursor: int | None = None, limit: int = 100) -> Page:
    principal.require(Action.AUDIT_VIEW)
    qs = AuditEvent.objects.filter(hospital=principal.hospital)
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.actor:
        qs = qs.filter(actor_label__iexact=filters.actor.strip())
    if filters.object_id:
        qs = qs.filter(object_id=filters.object_id.strip())
    if filters.purpose:
        qs = qs.filter(purpose=filters.purpose)
    if filters.result:
        qs = qs.filter(result=filters.result)
    tz = timezone.get_current_timezone()
    if filters.date_from:
        qs = qs.filter(created_at__gte=dt.datetime.combine(filters.date_from, dt.time.min, tzinfo=tz))
    if filters.date_to:
        qs = qs.filter(
            created_at__lt=dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        )
    if cursor is not None:
        qs = qs.filter(pk__lt=cursor)
    rows = list(qs.order_by("-pk")[: limit + 1])
    next_cursor = rows[limit - 1].pk if len(rows) > limit else None
    return Page(rows=rows[:limit], next_cursor=next_cursor)
