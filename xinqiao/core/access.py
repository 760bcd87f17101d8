"""Every permission decision in XinQiao goes through this module.

Rules, one per line where possible:
- somebody without a membership in the object's hospital gets 404 (existence is not leaked);
- a member whose roles do not grant the action gets 403 (``PermissionDenied``);
- department-scoped memberships see only rows of their departments, others are 404;
- API keys act for one hospital with the actions their scopes grant.

The role × action matrix below is mirrored in docs/permissions.md and tested cell by cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404

from xinqiao.core.models import ApiKey, Hospital, Membership, Patient

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

Role = Membership.Role


class Action:
    DASHBOARD_VIEW = "dashboard.view"
    ORG_VIEW = "org.view"
    ORG_MANAGE = "org.manage"
    PATIENT_VIEW = "patient.view"
    PATIENT_WRITE = "patient.write"
    PATIENT_REVEAL = "patient.reveal"
    PATIENT_EXPORT = "patient.export"
    PATIENT_ERASE = "patient.erase"
    AUDIT_VIEW = "audit.view"
    MEMBERSHIP_MANAGE = "membership.manage"
    APIKEY_MANAGE = "apikey.manage"
    CHANNEL_VIEW = "channel.view"
    CHANNEL_MANAGE = "channel.manage"
    CONTENT_VIEW = "content.view"
    CONTENT_WRITE = "content.write"
    CONTENT_REVIEW_DEPARTMENT = "content.review_department"
    CONTENT_REVIEW_MEDICAL = "content.review_medical"
    CONTENT_REVIEW_FINAL = "content.review_final"
    CONTENT_PUBLISH = "content.publish"
    CONTENT_POLICY_MANAGE = "content.policy_manage"
    LISTENING_VIEW = "listening.view"
    LISTENING_MANAGE = "listening.manage"
    CASE_MANAGE = "case.manage"
    CASE_SIGN_OFF = "case.sign_off"
    ANALYTICS_VIEW = "analytics.view"
    ANALYTICS_MANAGE = "analytics.manage"
    REPORT_VIEW = "report.view"
    INTEGRATION_MANAGE = "integration.manage"
    RETENTION_MANAGE = "retention.manage"
    SYSTEM_VIEW = "system.view"


ALL_ROLES = frozenset(Role.values)

# action -> roles that may perform it
PERMISSIONS: dict[str, frozenset[str]] = {
    Action.DASHBOARD_VIEW: ALL_ROLES,
    Action.ORG_VIEW: ALL_ROLES,
    Action.ORG_MANAGE: frozenset({Role.ADMIN}),
    Action.PATIENT_VIEW: frozenset({Role.ADMIN, Role.BRAND, Role.MEDICAL_AFFAIRS, Role.SERVICE, Role.HEALTH_MANAGER}),
    Action.PATIENT_WRITE: frozenset({Role.ADMIN, Role.SERVICE, Role.HEALTH_MANAGER}),
    Action.PATIENT_REVEAL: frozenset({Role.ADMIN, Role.SERVICE, Role.HEALTH_MANAGER}),
    Action.PATIENT_EXPORT: frozenset({Role.ADMIN}),
    Action.PATIENT_ERASE: frozenset({Role.ADMIN}),
    Action.AUDIT_VIEW: frozenset({Role.ADMIN}),
    Action.MEMBERSHIP_MANAGE: frozenset({Role.ADMIN}),
    Action.APIKEY_MANAGE: frozenset({Role.ADMIN}),
    Action.CHANNEL_VIEW: frozenset({Role.ADMIN, Role.BRAND, Role.LEADERSHIP}),
    Action.CHANNEL_MANAGE: frozenset({Role.ADMIN, Role.BRAND}),
    Action.CONTENT_VIEW: frozenset({Role.ADMIN, Role.BRAND, Role.DEPT_REVIEWER, Role.MEDICAL_AFFAIRS, Role.LEADERSHIP}),
    Action.CONTENT_WRITE: frozenset({Role.BRAND}),
    Action.CONTENT_REVIEW_DEPARTMENT: frozenset({Role.DEPT_REVIEWER}),
    Action.CONTENT_REVIEW_MEDICAL: frozenset({Role.MEDICAL_AFFAIRS}),
    Action.CONTENT_REVIEW_FINAL: frozenset({Role.BRAND}),
    Action.CONTENT_PUBLISH: frozenset({Role.BRAND}),
    Action.CONTENT_POLICY_MANAGE: frozenset({Role.ADMIN}),
    Action.LISTENING_VIEW: frozenset({Role.ADMIN, Role.BRAND, Role.MEDICAL_AFFAIRS, Role.LEADERSHIP}),
    Action.LISTENING_MANAGE: frozenset({Role.ADMIN, Role.BRAND}),
    Action.CASE_MANAGE: frozenset({Role.BRAND}),
    Action.CASE_SIGN_OFF: frozenset({Role.MEDICAL_AFFAIRS}),
    Action.ANALYTICS_VIEW: frozenset({Role.ADMIN, Role.BRAND, Role.DEPT_REVIEWER, Role.LEADERSHIP}),
    Action.ANALYTICS_MANAGE: frozenset({Role.ADMIN, Role.BRAND}),
    Action.REPORT_VIEW: frozenset({Role.ADMIN, Role.BRAND, Role.LEADERSHIP}),
    Action.INTEGRATION_MANAGE: frozenset({Role.ADMIN}),
    Action.RETENTION_MANAGE: frozenset({Role.ADMIN}),
    Action.SYSTEM_VIEW: frozenset({Role.ADMIN}),
}

# API key scope -> actions it grants
SCOPE_ACTIONS: dict[str, frozenset[str]] = {
    ApiKey.Scope.PATIENTS_READ: frozenset({Action.PATIENT_VIEW}),
    ApiKey.Scope.PATIENTS_WRITE: frozenset({Action.PATIENT_VIEW, Action.PATIENT_WRITE}),
    ApiKey.Scope.PATIENTS_REVEAL: frozenset({Action.PATIENT_VIEW, Action.PATIENT_REVEAL}),
    ApiKey.Scope.MENTIONS_WRITE: frozenset({Action.LISTENING_MANAGE}),
}

# Roles whose membership must name departments and is limited to them.
DEPARTMENT_ROLES = frozenset({Role.DEPT_REVIEWER})


@dataclass(frozen=True)
class Principal:
    """Who acts, for which hospital, with which roles (or API scopes)."""

    hospital: Hospital
    user: AbstractBaseUser | None = None
    api_key: ApiKey | None = None
    roles: frozenset[str] = frozenset()
    # role -> department ids it is limited to; a role missing here acts on the whole hospital
    department_limits: dict[str, frozenset[int]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.api_key is not None:
            return f"api-key:{self.api_key.prefix}"
        return self.user.get_username() if self.user is not None else ""

    def granting_roles(self, action: str) -> frozenset[str]:
        return self.roles & PERMISSIONS.get(action, frozenset())

    def allows(self, action: str) -> bool:
        if self.api_key is not None:
            return any(action in SCOPE_ACTIONS.get(scope, frozenset()) for scope in self.api_key.scopes)
        return bool(self.granting_roles(action))

    def department_ids_for(self, action: str) -> frozenset[int] | None:
        """Departments the action is limited to, or None when it covers the whole hospital."""
        if self.api_key is not None:
            return None
        granting = self.granting_roles(action)
        if any(role not in self.department_limits for role in granting):
            return None
        limited: set[int] = set()
        for role in granting:
            limited |= self.department_limits[role]
        return frozenset(limited)

    def require(self, action: str) -> None:
        if not self.allows(action):
            raise PermissionDenied(action)


def memberships_of(user: AbstractBaseUser | AnonymousUser) -> list[Membership]:
    if not user.is_authenticated or not user.is_active:
        return []
    return list(
        Membership.objects.filter(user=user, hospital__is_active=True)
        .select_related("hospital")
        .prefetch_related("departments")
        .order_by("hospital_id", "role")
    )


def hospitals_from(memberships: list[Membership]) -> list[Hospital]:
    seen: dict[int, Hospital] = {}
    for membership in memberships:
        seen.setdefault(membership.hospital_id, membership.hospital)
    return list(seen.values())


def principal_for_user(user: AbstractBaseUser | AnonymousUser, hospital: Hospital) -> Principal | None:
    """The user's standing in one hospital, or None when they are not a member (→ 404)."""
    return principal_from(user, hospital, memberships_of(user))


def principal_from(user, hospital: Hospital, all_memberships: list[Membership]) -> Principal | None:
    memberships = [m for m in all_memberships if m.hospital_id == hospital.pk]
    if not memberships:
        return None
    limits: dict[str, frozenset[int]] = {}
    for membership in memberships:
        if membership.role in DEPARTMENT_ROLES:
            limits[membership.role] = frozenset(d.pk for d in membership.departments.all())
    return Principal(
        hospital=hospital, user=user, roles=frozenset(m.role for m in memberships), department_limits=limits
    )


def principal_for_api_key(api_key: ApiKey) -> Principal:
    return Principal(hospital=api_key.hospital, api_key=api_key)


def require_member(principal: Principal | None) -> Principal:
    if principal is None:
        raise Http404
    return principal


MAX_PK = 2**62


def parse_pk(pk: object) -> int:
    """A primary key from a URL or payload; anything else is simply not found."""
    try:
        value = int(str(pk))
    except ValueError as exc:
        raise Http404 from exc
    if not 1 <= value <= MAX_PK:
        raise Http404
    return value


def patient_scope(principal: Principal, action: str = Action.PATIENT_VIEW) -> Q:
    """Filter for the patients this principal may act on; raises 403 when the action is not granted."""
    principal.require(action)
    scope = Q(hospital=principal.hospital, erased_at__isnull=True)
    departments = principal.department_ids_for(action)
    if departments is not None:
        scope &= Q(first_department_id__in=departments)
    return scope


def access_patient(principal: Principal | None, pk: object, action: str = Action.PATIENT_VIEW) -> Patient:
    """Fetch one patient for an action: 404 when invisible, 403 when visible but not allowed."""
    principal = require_member(principal)
    pk_int = parse_pk(pk)
    departments_view = (
        principal.department_ids_for(Action.PATIENT_VIEW) if principal.allows(Action.PATIENT_VIEW) else None
    )
    patient = (
        Patient.objects.filter(pk=pk_int, hospital=principal.hospital, erased_at__isnull=True)
        .select_related("hospital", "first_department")
        .first()
    )
    if patient is None:
        raise Http404
    if departments_view is not None and patient.first_department_id not in departments_view:
        raise Http404
    principal.require(action)
    departments = principal.department_ids_for(action)
    if departments is not None and patient.first_department_id not in departments:
        raise PermissionDenied(action)
    return patient


def access_hospital_object(principal: Principal | None, model, pk: object, action: str):
    """Fetch any hospital-owned row (department, doctor, membership, API key) for an action."""
    principal = require_member(principal)
    pk_int = parse_pk(pk)
    obj = model.objects.filter(pk=pk_int, hospital=principal.hospital).first()
    if obj is None:
        raise Http404
    principal.require(action)
    return obj
