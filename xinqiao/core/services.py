"""Writes of the core domain: patients and their PII, consents, visits, roles, API keys, logins."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models.functions import TruncYear
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.core import vault
from xinqiao.core.access import Action, Principal
from xinqiao.core.audit import audit_record
from xinqiao.core.exceptions import ApplicationError, ConflictError
from xinqiao.core.models import (
    ApiKey,
    AuditEvent,
    Consent,
    Department,
    Hospital,
    LoginThrottle,
    Membership,
    Patient,
    Visit,
)
from xinqiao.core.selectors import hospital_department, hospital_doctor
from xinqiao.lib.identity import (
    IdentifierError,
    mask_id_number,
    mask_mobile,
    mask_name,
    normalise_mobile,
    parse_resident_id,
)

User = get_user_model()

PII_FIELDS = ("name", "mobile", "id_number")


class RevealPurpose:
    """The fixed list of REQ-ACC-002."""

    FOLLOW_UP = "follow_up"
    VERIFY_IDENTITY = "verify_identity"
    COMPLAINT = "complaint"
    LEGAL = "legal"

    @staticmethod
    def choices() -> list[tuple[str, str]]:
        return [
            (RevealPurpose.FOLLOW_UP, _("Follow-up or appointment (回访预约)")),
            (RevealPurpose.VERIFY_IDENTITY, _("Verify identity (核实身份)")),
            (RevealPurpose.COMPLAINT, _("Handle a complaint (处理投诉)")),
            (RevealPurpose.LEGAL, _("Legal requirement (法定要求)")),
        ]

    @staticmethod
    def values() -> frozenset[str]:
        return frozenset(value for value, _label in RevealPurpose.choices())


class ExportPurpose:
    SUBJECT_ACCESS = "subject_access"
    PORTABILITY = "portability"
    LEGAL = "legal"

    @staticmethod
    def choices() -> list[tuple[str, str]]:
        return [
            (ExportPurpose.SUBJECT_ACCESS, _("Patient's access request (PIPL art. 45)")),
            (ExportPurpose.PORTABILITY, _("Transfer to another processor (PIPL art. 45)")),
            (ExportPurpose.LEGAL, _("Legal requirement")),
        ]


IDENTIFIER_MESSAGES = {
    "id_format": lambda: _("The ID number must be 17 digits followed by a digit or X."),
    "id_region": lambda: _("The ID number does not start with a valid region code."),
    "id_birth_date": lambda: _("The ID number holds an impossible birth date."),
    "id_checksum": lambda: _("The ID number's check character is wrong; please check for a typo."),
    "mobile_format": lambda: _("Enter an 11-digit mainland mobile number, e.g. 13800000000."),
}


def identifier_error(exc: IdentifierError, field: str) -> ApplicationError:
    code = exc.code if exc.code.startswith(("id_", "mobile_")) else "invalid"
    return ApplicationError(IDENTIFIER_MESSAGES[exc.code](), code=f"invalid_{code}", field=field)


# --- sealing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealedIdentity:
    values: dict[str, str]


def seal_patient_pii(
    *, hospital_id: int, name: str, mobile: str, id_number: str, version: int | None = None
) -> dict[str, Any]:
    """Field values for a patient row: ciphertexts, masks and blind indexes. Inputs are already valid."""
    version = version or vault.active_key_version()

    def seal(field: str, value: str) -> str:
        return vault.encrypt(value, context=vault.field_context(field, hospital_id), version=version)

    values: dict[str, Any] = {
        "name_sealed": seal("name", name),
        "name_masked": mask_name(name),
        "name_bidx": vault.blind_index(name, kind="name", hospital_id=hospital_id),
        "mobile_sealed": seal("mobile", mobile),
        "mobile_masked": mask_mobile(mobile),
        "mobile_bidx": vault.blind_index(mobile, kind="mobile", hospital_id=hospital_id),
        "id_number_sealed": seal("id_number", id_number) if id_number else "",
        "id_number_masked": mask_id_number(id_number) if id_number else "",
        "id_number_bidx": vault.blind_index(id_number, kind="id_number", hospital_id=hospital_id)
        if id_number
        else None,
        "pii_key_version": version,
    }
    return values


def patient_unseal(patient: Patient, field: str) -> str:
    """Decrypt one field. Internal: callers audit (reveal/export) before anything leaves the server."""
    if field not in PII_FIELDS:
        raise ApplicationError(_("Unknown field."), code="unknown_field", field="field")
    token = getattr(patient, f"{field}_sealed")
    if not token:
        return ""
    return vault.decrypt(token, context=vault.field_context(field, patient.hospital_id))


# --- patients ----------------------------------------------------------------------------------


@dataclass
class PatientInput:
    name: str
    mobile: str
    sex: str = Patient.Sex.UNKNOWN
    birth_date: dt.date | None = None
    id_number: str = ""
    source_channel: str = Patient.SourceChannel.WALK_IN
    first_department_id: int | None = None


def _validate_patient_input(hospital: Hospital, data: PatientInput) -> dict[str, Any]:
    name = (data.name or "").strip()
    if not name or len(name) > 40:
        raise ApplicationError(
            _("Enter the patient's name (at most 40 characters)."), code="invalid_name", field="name"
        )
    try:
        mobile = normalise_mobile(data.mobile or "")
    except IdentifierError as exc:
        raise identifier_error(exc, "mobile") from exc
    sex = data.sex or Patient.Sex.UNKNOWN
    if sex not in Patient.Sex.values:
        raise ApplicationError(_("Unknown sex."), code="invalid_sex", field="sex")
    birth_date = data.birth_date
    id_number = ""
    if data.id_number and data.id_number.strip():
        try:
            parsed = parse_resident_id(data.id_number, today=timezone.localdate())
        except IdentifierError as exc:
            raise identifier_error(exc, "id_number") from exc
        id_number = parsed.number
        if birth_date is not None and birth_date != parsed.birth_date:
            raise ApplicationError(
                _("The birth date does not match the ID number."), code="birth_date_mismatch", field="birth_date"
            )
        if sex != Patient.Sex.UNKNOWN and sex != parsed.sex:
            raise ApplicationError(_("The sex does not match the ID number."), code="sex_mismatch", field="sex")
        birth_date, sex = parsed.birth_date, parsed.sex
    if birth_date is not None and (birth_date > timezone.localdate() or birth_date.year < 1890):
        raise ApplicationError(_("The birth date is impossible."), code="invalid_birth_date", field="birth_date")
    if data.source_channel not in Patient.SourceChannel.values:
        raise ApplicationError(_("Unknown source channel."), code="invalid_source_channel", field="source_channel")
    department = hospital_department(hospital, data.first_department_id, field="first_department")
    return {
        "name": name,
        "mobile": mobile,
        "id_number": id_number,
        "sex": sex,
        "birth_date": birth_date,
        "source_channel": data.source_channel,
        "first_department": department,
    }


@transaction.atomic
def patient_create(*, principal: Principal, data: PatientInput, request: HttpRequest | None = None) -> Patient:
    principal.require(Action.PATIENT_WRITE)
    hospital = principal.hospital
    clean = _validate_patient_input(hospital, data)
    departments = principal.department_ids_for(Action.PATIENT_WRITE)
    if departments is not None and (
        clean["first_department"] is None or clean["first_department"].pk not in departments
    ):
        raise ApplicationError(
            _("You can only register patients of your own departments."),
            code="department_out_of_scope",
            field="first_department",
        )
    sealed = seal_patient_pii(
        hospital_id=hospital.pk, name=clean["name"], mobile=clean["mobile"], id_number=clean["id_number"]
    )
    if (
        sealed["id_number_bidx"]
        and Patient.objects.filter(hospital=hospital, id_number_bidx=sealed["id_number_bidx"]).exists()
    ):
        raise ConflictError(
            _("A patient with this ID number is already registered."), code="duplicate_id_number", field="id_number"
        )
    patient = Patient(
        hospital=hospital,
        sex=clean["sex"],
        birth_date=clean["birth_date"],
        source_channel=clean["source_channel"],
        first_department=clean["first_department"],
        **sealed,
    )
    try:
        with transaction.atomic():
            patient.save(force_insert=True)
    except IntegrityError as exc:
        raise ConflictError(
            _("A patient with this ID number is already registered."), code="duplicate_id_number", field="id_number"
        ) from exc
    audit_record(
        action=AuditEvent.Action.PATIENT_CREATE,
        principal=principal,
        request=request,
        object_type="patient",
        object_id=patient.pk,
    )
    return patient


@transaction.atomic
def patient_update(
    *, principal: Principal, patient: Patient, data: PatientInput, request: HttpRequest | None = None
) -> Patient:
    principal.require(Action.PATIENT_WRITE)
    clean = _validate_patient_input(principal.hospital, data)
    changed: list[str] = []
    for field in PII_FIELDS:
        if clean[field] != patient_unseal(patient, field):
            changed.append(field)
    for field in ("sex", "birth_date", "source_channel", "first_department"):
        if clean[field] != getattr(patient, field):
            changed.append(field)
    if not changed:
        return patient
    sealed = seal_patient_pii(
        hospital_id=patient.hospital_id, name=clean["name"], mobile=clean["mobile"], id_number=clean["id_number"]
    )
    if (
        sealed["id_number_bidx"]
        and Patient.objects.filter(hospital_id=patient.hospital_id, id_number_bidx=sealed["id_number_bidx"])
        .exclude(pk=patient.pk)
        .exists()
    ):
        raise ConflictError(
            _("A patient with this ID number is already registered."), code="duplicate_id_number", field="id_number"
        )
    for key, value in sealed.items():
        setattr(patient, key, value)
    patient.sex, patient.birth_date = clean["sex"], clean["birth_date"]
    patient.source_channel, patient.first_department = clean["source_channel"], clean["first_department"]
    patient.updated_at = timezone.now()
    patient.save()
    audit_record(
        action=AuditEvent.Action.PATIENT_UPDATE,
        principal=principal,
        request=request,
        object_type="patient",
        object_id=patient.pk,
        fields=changed,
    )
    return patient


def patient_reveal(
    *, principal: Principal, patient: Patient, field: str, purpose: str, request: HttpRequest | None = None
) -> str:
    """Return one field in clear for a stated purpose; every attempt is audited (REQ-ACC-002)."""
    if field not in PII_FIELDS:
        raise ApplicationError(_("Unknown field."), code="unknown_field", field="field")
    if purpose not in RevealPurpose.values():
        audit_record(
            action=AuditEvent.Action.REVEAL,
            principal=principal,
            request=request,
            object_type="patient",
            object_id=patient.pk,
            fields=[field],
            result=AuditEvent.Result.DENIED,
            detail={"reason": "no purpose"},
        )
        raise ApplicationError(_("Choose why you need to see this value."), code="purpose_required", field="purpose")
    if not principal.allows(Action.PATIENT_REVEAL):
        audit_record(
            action=AuditEvent.Action.REVEAL,
            principal=principal,
            request=request,
            object_type="patient",
            object_id=patient.pk,
            fields=[field],
            purpose=purpose,
            result=AuditEvent.Result.DENIED,
        )
        principal.require(Action.PATIENT_REVEAL)
    value = patient_unseal(patient, field)
    audit_record(
        action=AuditEvent.Action.REVEAL,
        principal=principal,
        request=request,
        object_type="patient",
        object_id=patient.pk,
        fields=[field],
        purpose=purpose,
    )
    return value


def patient_export(
    *, principal: Principal, patient: Patient, purpose: str, request: HttpRequest | None = None
) -> dict[str, Any]:
    """Everything XinQiao holds about one patient, in clear, for a PIPL access/portability request."""
    principal.require(Action.PATIENT_EXPORT)
    if purpose not in {value for value, _label in ExportPurpose.choices()}:
        raise ApplicationError(_("Choose the purpose of the export."), code="purpose_required", field="purpose")
    from xinqiao.core.selectors import patient_access_log

    data = {
        "format": "xinqiao.patient-export/1",
        "exported_at": timezone.now().isoformat(),
        "hospital": {"code": patient.hospital.code, "name": patient.hospital.name},
        "patient": {
            "id": patient.pk,
            "name": patient_unseal(patient, "name"),
            "sex": patient.sex,
            "birth_date": patient.birth_date.isoformat() if patient.birth_date else None,
            "mobile": patient_unseal(patient, "mobile"),
            "id_number": patient_unseal(patient, "id_number") or None,
            "source_channel": patient.source_channel,
            "first_department": patient.first_department.name if patient.first_department else None,
            "created_at": patient.created_at.isoformat(),
        },
        "consents": [
            {
                "purpose": c.purpose,
                "action": c.action,
                "channel": c.channel,
                "notice_version": c.notice_version,
                "scope": c.scope,
                "valid_until": c.valid_until.isoformat() if c.valid_until else None,
                "recorded_at": c.recorded_at.isoformat(),
            }
            for c in patient.consents.order_by("recorded_at", "pk")
        ],
        "visits": [
            {
                "kind": v.kind,
                "date": v.occurred_on.isoformat(),
                "department": v.department.name,
                "doctor": v.doctor.name if v.doctor else None,
                "channel": v.channel,
                "revenue_fen": v.revenue_fen,
            }
            for v in patient.visits.select_related("department", "doctor").order_by("occurred_on", "pk")
        ],
        "access_log": patient_access_log(patient),
    }
    audit_record(
        action=AuditEvent.Action.EXPORT,
        principal=principal,
        request=request,
        object_type="patient",
        object_id=patient.pk,
        fields=list(PII_FIELDS),
        purpose=purpose,
    )
    return data


@transaction.atomic
def patient_erase(*, principal: Principal, patient: Patient, reason: str, request: HttpRequest | None = None) -> None:
    """Erase a patient's identity (PIPL art. 47): PII destroyed, consents withdrawn, visits kept anonymous."""
    principal.require(Action.PATIENT_ERASE)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(_("State the reason for the erasure."), code="reason_required", field="reason")
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient.erased_at is not None:
        return
    erase_identity(patient, now=timezone.now(), recorded_by=principal.user, notice_version="erasure")
    audit_record(
        action=AuditEvent.Action.ERASE,
        principal=principal,
        request=request,
        object_type="patient",
        object_id=patient.pk,
        fields=list(PII_FIELDS),
        purpose="erasure",
        detail={"reason": reason[:200]},
    )


def erase_identity(patient: Patient, *, now: dt.datetime, recorded_by, notice_version: str) -> None:
    """Destroy the identity of a patient row locked by the caller (``erase_identities`` of one)."""
    erase_identities([patient.pk], now=now, recorded_by=recorded_by, notice_version=notice_version)


def erase_identities(patient_ids: list[int], *, now: dt.datetime, recorded_by, notice_version: str) -> None:
    """Destroy the identity of the patient rows ``patient_ids``, locked by the caller and not erased yet: every
    active consent withdrawn (recorded with ``notice_version``: "erasure" or "retention"), name, mobile and ID
    number removed with their blind indexes, the birth date cut to the year; the rows stay, anonymous, under their
    visits, touches and consultations. A few statements for any number of patients (the retention sweep erases
    them a thousand at a time)."""
    latest: dict[tuple[int, str], tuple[int, str]] = {}  # (patient, purpose) -> (hospital, action of the last event)
    events = Consent.objects.filter(patient_id__in=patient_ids).order_by("recorded_at", "pk")
    for patient_id, hospital_id, purpose, action in events.values_list(
        "patient_id", "hospital_id", "purpose", "action"
    ):
        latest[(patient_id, purpose)] = (hospital_id, action)
    Consent.objects.bulk_create(
        Consent(
            hospital_id=hospital_id,
            patient_id=patient_id,
            purpose=purpose,
            action=Consent.Action.WITHDRAW,
            channel=Consent.Channel.IN_PERSON,
            notice_version=notice_version,
            recorded_at=now,
            recorded_by=recorded_by,
        )
        for (patient_id, purpose), (hospital_id, action) in sorted(latest.items())
        if action == Consent.Action.GRANT
    )
    erased = _("(erased)")
    Patient.objects.filter(pk__in=patient_ids).update(
        name_sealed="",
        name_masked=erased,
        name_bidx="",
        mobile_sealed="",
        mobile_masked=erased,
        mobile_bidx="",
        id_number_sealed="",
        id_number_masked="",
        id_number_bidx=None,
        birth_date=TruncYear("birth_date"),
        erased_at=now,
        updated_at=now,
    )


# --- consents and visits -----------------------------------------------------------------------


def consent_active_purposes(patient: Patient) -> list[str]:
    latest: dict[str, str] = {}
    for purpose, action in patient.consents.order_by("recorded_at", "pk").values_list("purpose", "action"):
        latest[purpose] = action
    return [purpose for purpose, action in latest.items() if action == Consent.Action.GRANT]


STORY_SCOPE_KEYS = ("allow_face", "allow_voice", "allow_real_name")


@transaction.atomic
def consent_record(
    *,
    principal: Principal,
    patient: Patient,
    purpose: str,
    action: str,
    channel: str,
    notice_version: str,
    scope: dict[str, Any] | None = None,
    valid_until: dt.date | None = None,
    request: HttpRequest | None = None,
) -> Consent:
    principal.require(Action.PATIENT_WRITE)
    if purpose not in Consent.Purpose.values:
        raise ApplicationError(_("Unknown consent purpose."), code="invalid_purpose", field="purpose")
    if action not in Consent.Action.values:
        raise ApplicationError(_("Unknown consent action."), code="invalid_action", field="action")
    if channel not in Consent.Channel.values:
        raise ApplicationError(_("Unknown consent channel."), code="invalid_channel", field="channel")
    notice_version = (notice_version or "").strip()
    if action == Consent.Action.GRANT and not notice_version:
        raise ApplicationError(
            _("Record which version of the notice the patient saw."),
            code="notice_version_required",
            field="notice_version",
        )
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    active = purpose in consent_active_purposes(patient)
    if action == Consent.Action.WITHDRAW and not active:
        raise ApplicationError(
            _("There is no active consent for this purpose to withdraw."), code="consent_not_active", field="action"
        )
    if valid_until is not None and valid_until < timezone.localdate():
        raise ApplicationError(_("The validity date is in the past."), code="invalid_valid_until", field="valid_until")
    clean_scope: dict[str, Any] = {}
    if purpose == Consent.Purpose.STORY_PUBLICATION and action == Consent.Action.GRANT:
        clean_scope = {key: bool((scope or {}).get(key, False)) for key in STORY_SCOPE_KEYS}
    consent = Consent(
        hospital_id=patient.hospital_id,
        patient=patient,
        purpose=purpose,
        action=action,
        channel=channel,
        notice_version=notice_version or "-",
        scope=clean_scope,
        valid_until=valid_until,
        recorded_by=principal.user if principal.user is not None else None,
    )
    consent.save(force_insert=True)
    audit_record(
        action=AuditEvent.Action.CONSENT,
        principal=principal,
        request=request,
        object_type="patient",
        object_id=patient.pk,
        purpose=purpose,
        detail={"action": action, "channel": channel},
    )
    return consent


@transaction.atomic
def visit_create(
    *,
    principal: Principal,
    patient: Patient,
    kind: str,
    occurred_on: dt.date,
    department_id: int,
    doctor_id: int | None,
    channel: str,
    revenue_fen: int,
) -> Visit:
    principal.require(Action.PATIENT_WRITE)
    department = hospital_department(principal.hospital, department_id)
    doctor = hospital_doctor(principal.hospital, doctor_id)
    if kind not in Visit.Kind.values:
        raise ApplicationError(_("Unknown visit kind."), code="invalid_kind", field="kind")
    if channel not in Patient.SourceChannel.values:
        raise ApplicationError(_("Unknown channel."), code="invalid_channel", field="channel")
    if revenue_fen < 0:
        raise ApplicationError(_("Revenue cannot be negative."), code="invalid_revenue", field="revenue_fen")
    if kind == Visit.Kind.VISIT and occurred_on > timezone.localdate():
        raise ApplicationError(_("A visit cannot be in the future."), code="invalid_date", field="occurred_on")
    visit = Visit(
        hospital=principal.hospital,
        patient=patient,
        department=department,
        doctor=doctor,
        kind=kind,
        occurred_on=occurred_on,
        channel=channel,
        revenue_fen=revenue_fen,
    )
    visit.save(force_insert=True)
    return visit


# --- memberships -------------------------------------------------------------------------------


@transaction.atomic
def membership_set_roles(
    *,
    principal: Principal,
    user,
    roles: list[str],
    department_ids: list[int],
    request: HttpRequest | None = None,
) -> list[Membership]:
    """Replace a user's roles in the principal's hospital. Callers must have re-confirmed the password."""
    principal.require(Action.MEMBERSHIP_MANAGE)
    hospital = principal.hospital
    unknown = sorted(set(roles) - set(Membership.Role.values))
    if unknown:
        raise ApplicationError(
            _("Unknown role: %(roles)s") % {"roles": ", ".join(unknown)}, code="unknown_role", field="roles"
        )
    departments = list(Department.objects.filter(hospital=hospital, pk__in=department_ids))
    if len(departments) != len(set(department_ids)):
        raise ApplicationError(_("Unknown department."), code="unknown_department", field="departments")
    if Membership.Role.DEPT_REVIEWER in roles and not departments:
        raise ApplicationError(
            _("A department reviewer needs at least one department."),
            code="departments_required",
            field="departments",
        )
    before = sorted(Membership.objects.filter(user=user, hospital=hospital).values_list("role", flat=True))
    if Membership.Role.ADMIN in before and Membership.Role.ADMIN not in roles:
        other_admins = (
            Membership.objects.select_for_update()
            .filter(hospital=hospital, role=Membership.Role.ADMIN, user__is_active=True)
            .exclude(user=user)
        )
        if not other_admins.exists():
            raise ApplicationError(
                _("The hospital's last administrator cannot lose the administrator role."),
                code="last_admin",
                field="roles",
            )
    Membership.objects.filter(user=user, hospital=hospital).exclude(role__in=roles).delete()
    memberships = []
    for role in sorted(set(roles)):
        membership, _created = Membership.objects.get_or_create(user=user, hospital=hospital, role=role)
        if role == Membership.Role.DEPT_REVIEWER:
            membership.departments.set(departments)
        else:
            membership.departments.clear()
        memberships.append(membership)
    audit_record(
        action=AuditEvent.Action.ROLE_CHANGE,
        principal=principal,
        request=request,
        object_type="user",
        object_id=user.pk,
        detail={"before": before, "after": sorted(set(roles)), "departments": sorted(d.pk for d in departments)},
    )
    return memberships


@transaction.atomic
def staff_user_create(
    *, principal: Principal, username: str, full_name: str, password: str, request: HttpRequest | None = None
):
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    principal.require(Action.MEMBERSHIP_MANAGE)
    username = (username or "").strip()
    if not username or len(username) > 150:
        raise ApplicationError(_("Enter a username."), code="invalid_username", field="username")
    if User.objects.filter(username__iexact=username).exists():
        raise ConflictError(_("This username is taken."), code="duplicate_username", field="username")
    user = User(username=username, first_name=(full_name or "").strip()[:150])
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ApplicationError(" ".join(exc.messages), code="weak_password", field="password") from exc
    user.set_password(password)
    user.save()
    return user


# --- API keys ----------------------------------------------------------------------------------

API_KEY_PREFIX = "xq"


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@transaction.atomic
def api_key_create(
    *, principal: Principal, name: str, scopes: list[str], request: HttpRequest | None = None
) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned once and never stored."""
    principal.require(Action.APIKEY_MANAGE)
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ApplicationError(_("Give the key a name (at most 80 characters)."), code="invalid_name", field="name")
    unknown = sorted(set(scopes) - set(ApiKey.Scope.values))
    if unknown or not scopes:
        raise ApplicationError(_("Choose at least one known scope."), code="invalid_scopes", field="scopes")
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    plaintext = f"{API_KEY_PREFIX}_{prefix}_{secret}"
    key = ApiKey.objects.create(
        hospital=principal.hospital,
        name=name,
        prefix=prefix,
        key_hash=_hash_secret(plaintext),
        scopes=sorted(set(scopes)),
        created_by=principal.user,
    )
    audit_record(
        action=AuditEvent.Action.API_KEY,
        principal=principal,
        request=request,
        object_type="api_key",
        object_id=key.pk,
        detail={"change": "create", "scopes": key.scopes},
    )
    return key, plaintext


@transaction.atomic
def api_key_revoke(*, principal: Principal, api_key: ApiKey, request: HttpRequest | None = None) -> None:
    principal.require(Action.APIKEY_MANAGE)
    if api_key.revoked_at is not None:
        return
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])
    audit_record(
        action=AuditEvent.Action.API_KEY,
        principal=principal,
        request=request,
        object_type="api_key",
        object_id=api_key.pk,
        detail={"change": "revoke"},
    )


def api_key_authenticate(raw: str) -> ApiKey | None:
    parts = (raw or "").strip().split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    key = ApiKey.objects.select_related("hospital").filter(prefix=parts[1], revoked_at__isnull=True).first()
    if key is None or not key.hospital.is_active:
        return None
    if not hmac.compare_digest(key.key_hash, _hash_secret(raw.strip())):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > dt.timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


# --- login throttling --------------------------------------------------------------------------


def _username_digest(username: str) -> str:
    return hashlib.sha256((username or "").strip().lower().encode("utf-8")).hexdigest()


def login_locked_until(username: str) -> dt.datetime | None:
    row = LoginThrottle.objects.filter(username_digest=_username_digest(username)).first()
    if row is None or row.locked_until is None or row.locked_until <= timezone.now():
        return None
    return row.locked_until


@transaction.atomic
def login_register_failure(username: str, request: HttpRequest | None = None) -> dt.datetime | None:
    """Count one failure; returns the lock expiry when this failure locks the account."""
    now = timezone.now()
    window = dt.timedelta(seconds=settings.XINQIAO_LOGIN_LOCKOUT_SECONDS)
    row, _created = LoginThrottle.objects.select_for_update().get_or_create(
        username_digest=_username_digest(username), defaults={"window_started_at": now}
    )
    if now - row.window_started_at > window:
        row.failures, row.window_started_at = 0, now
    row.failures += 1
    locked = None
    if row.failures >= settings.XINQIAO_LOGIN_MAX_FAILURES:
        row.locked_until = locked = now + window
        row.failures = 0
        row.window_started_at = now
    row.save()
    known = User.objects.filter(username__iexact=(username or "").strip()).first()
    hospital_ids = (
        list(Membership.objects.filter(user=known).values_list("hospital_id", flat=True).distinct())
        if known is not None
        else []
    )
    for hospital_id in hospital_ids or [None]:
        audit_record(
            action=AuditEvent.Action.LOCKOUT if locked else AuditEvent.Action.LOGIN_FAILED,
            request=request,
            hospital=Hospital.objects.get(pk=hospital_id) if hospital_id else None,
            actor_label=(username or "")[:150],
            result=AuditEvent.Result.DENIED,
            object_type="user",
            object_id=known.pk if known is not None else "",
            # a disabled account's attempt is a security signal of its own (docs/security-monitoring.md)
            detail={"reason": "inactive"} if known is not None and not known.is_active else None,
        )
    return locked


def login_register_success(user, request: HttpRequest | None = None) -> None:
    LoginThrottle.objects.filter(username_digest=_username_digest(user.get_username())).delete()
    hospital_ids = list(Membership.objects.filter(user=user).values_list("hospital_id", flat=True).distinct())
    for hospital_id in hospital_ids or [None]:
        audit_record(
            action=AuditEvent.Action.LOGIN,
            user=user,
            request=request,
            object_type="user",
            object_id=user.pk,
            hospital=Hospital.objects.get(pk=hospital_id) if hospital_id else None,
        )
