"""Thin HTML views of the core domain: parse, call one service or selector, render."""

from __future__ import annotations

import datetime as dt
import functools
import json
import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, get_user_model, login, logout
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe

from xinqiao.core import access, health, retention, selectors, services
from xinqiao.core.access import Action
from xinqiao.core.audit import audit_verify_chain
from xinqiao.core.backup import BACKUP_STALE_AFTER
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.forms import (
    ApiKeyForm,
    AuditFilterForm,
    ConsentForm,
    DepartmentForm,
    EraseForm,
    ExportForm,
    LegalHoldForm,
    LegalHoldReleaseForm,
    LoginForm,
    MembershipForm,
    NewMemberForm,
    PatientFilterForm,
    PatientForm,
    RevealForm,
    SudoForm,
    VisitForm,
)
from xinqiao.core.middleware import SESSION_HOSPITAL_KEY
from xinqiao.core.models import (
    ApiKey,
    AuditEvent,
    BackupRecord,
    Department,
    Doctor,
    LegalHold,
    Membership,
    Patient,
    Visit,
)
from xinqiao.core.periodic import PERIODIC_JOBS

User = get_user_model()
SUDO_SESSION_KEY = "xinqiao_sudo_until"


# --- decorators --------------------------------------------------------------------------------


def member_required(view):
    """Signed in and a member of an active hospital; views then use ``request.principal``."""

    @functools.wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args, **kwargs):
        if request.principal is None:
            return render(request, "core/no_hospital.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def require_sudo_mode(action: str):
    """Sensitive actions (role changes, exports, erasure) need the password re-entered recently.

    The permission is checked first, so somebody who may not act gets 403, not a password prompt.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            request.principal.require(action)
            if not sudo_mode_active(request):
                target = request.get_full_path() if request.method == "GET" else request.headers.get("Referer", "")
                if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
                    target = reverse("core:home")
                location = f"{reverse('core:sudo')}?{urlencode({'next': target})}"
                if request.headers.get("HX-Request"):
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = location
                    return response
                return redirect(location)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def sudo_mode_active(request: HttpRequest) -> bool:
    return request.session.get(SUDO_SESSION_KEY, 0) >= timezone.now().timestamp()


def _apply_error(form, error: ApplicationError) -> None:
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


# --- session -----------------------------------------------------------------------------------


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("core:home")
    form = LoginForm(request, data=request.POST or None)
    locked_message = None
    if request.method == "POST":
        username = request.POST.get("username", "")[:150]
        locked_until = services.login_locked_until(username)
        if locked_until is not None:
            locked_message = _("Too many failed attempts. Try again after %(time)s.") % {
                "time": timezone.localtime(locked_until).strftime("%H:%M")
            }
            services.login_register_failure(username, request)
        elif form.is_valid():
            user = form.get_user()
            login(request, user)
            services.login_register_success(user, request)
            target = request.GET.get("next", "")
            if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
                target = reverse("core:home")
            return redirect(target)
        else:
            locked = services.login_register_failure(username, request)
            if locked is not None:
                locked_message = _("Too many failed attempts. Try again after %(time)s.") % {
                    "time": timezone.localtime(locked).strftime("%H:%M")
                }
    return render(request, "core/login.html", {"form": form, "locked_message": locked_message})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("login")


@sensitive_post_parameters("password")
@never_cache
@member_required
@require_http_methods(["GET", "POST"])
def sudo_view(request: HttpRequest) -> HttpResponse:
    form = SudoForm(request.POST or None)
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
        target = reverse("core:home")
    if request.method == "POST" and form.is_valid():
        user = authenticate(request, username=request.user.get_username(), password=form.cleaned_data["password"])
        if user is not None and user.pk == request.user.pk:
            request.session[SUDO_SESSION_KEY] = timezone.now().timestamp() + settings.XINQIAO_SUDO_SECONDS
            return redirect(target)
        locked = services.login_register_failure(request.user.get_username(), request)
        if locked is not None:
            logout(request)
            return redirect("login")
        form.add_error("password", _("Wrong password."))
    return render(request, "core/sudo.html", {"form": form, "next": target})


@member_required
@require_POST
def switch_hospital(request: HttpRequest) -> HttpResponse:
    try:
        wanted = int(request.POST.get("hospital", ""))
    except ValueError as exc:
        raise Http404 from exc
    if wanted not in {h.pk for h in request.hospitals}:
        raise Http404
    request.session[SESSION_HOSPITAL_KEY] = wanted
    request.session.pop(SUDO_SESSION_KEY, None)
    return redirect("core:home")


# --- workbench ---------------------------------------------------------------------------------


@member_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    context: dict = {"roles": [Membership.Role(r).label for r in sorted(principal.roles)]}
    if principal.allows(Action.PATIENT_VIEW) or principal.roles & {Membership.Role.LEADERSHIP}:
        today = timezone.localdate()
        start = today.replace(day=1) - dt.timedelta(days=335)
        start = start.replace(day=1)
        monthly = (
            Visit.objects.filter(hospital=principal.hospital, occurred_on__gte=start, kind=Visit.Kind.VISIT)
            .annotate(month=TruncMonth("occurred_on"))
            .values("month")
            .annotate(visits=Count("pk"), revenue=Sum("revenue_fen"))
            .order_by("month")
        )
        rows = [
            {
                "month": row["month"].strftime("%Y-%m"),
                "visits": row["visits"],
                "revenue_yuan": round((row["revenue"] or 0) / 100),
            }
            for row in monthly
        ]
        by_channel = (
            Visit.objects.filter(hospital=principal.hospital, occurred_on__gte=start, kind=Visit.Kind.VISIT)
            .values("channel")
            .annotate(visits=Count("pk"))
            .order_by("-visits")
        )
        channel_labels = dict(Patient.SourceChannel.choices)
        context["visit_rows"] = rows
        context["channel_rows"] = [
            {"channel": str(channel_labels.get(r["channel"], r["channel"])), "visits": r["visits"]} for r in by_channel
        ]
        context["chart_json"] = json.dumps(
            {"months": [r["month"] for r in rows], "visits": [r["visits"] for r in rows]}, ensure_ascii=False
        )
    return render(request, "core/home.html", context)


# --- patients ----------------------------------------------------------------------------------


SEARCH_SESSION_KEY = "xinqiao_patient_searches"
LIST_FILTER_FIELDS = ("department", "source_channel", "sex", "age_min", "age_max", "consent")


def _remember_search(request: HttpRequest, lookup: tuple[str, str]) -> str:
    """Keep a search's blind-index lookup in the session under a random token for the page links.

    The identifier typed into the search box never appears in a URL (REQ-SEC-003).
    """
    searches = request.session.get(SEARCH_SESSION_KEY, {})
    token = secrets.token_urlsafe(9)
    searches[token] = list(lookup)
    request.session[SEARCH_SESSION_KEY] = dict(list(searches.items())[-20:])
    return token


def _recall_search(request: HttpRequest, token: str) -> tuple[str, str] | None:
    stored = request.session.get(SEARCH_SESSION_KEY, {}).get(token)
    return (stored[0], stored[1]) if stored else None


@sensitive_post_parameters("q")
@sensitive_variables("data", "form")
@member_required
@require_http_methods(["GET", "POST"])
def patient_list(request: HttpRequest) -> HttpResponse:
    """Filters arrive by GET (shareable); an identifier search arrives by POST and is never put in a URL."""
    principal = request.principal
    principal.require(Action.PATIENT_VIEW)
    source = request.POST if request.method == "POST" else request.GET
    form = PatientFilterForm(source or None, hospital=principal.hospital)
    page = None
    query: dict[str, object] = {}
    search_expired = False
    if not source or form.is_valid():
        data = form.cleaned_data if source else {}
        lookup = None
        if data.get("q"):
            lookup = selectors.search_lookup(principal.hospital.pk, data["q"])
            query["search"] = _remember_search(request, lookup)
        elif data.get("search"):
            lookup = _recall_search(request, data["search"])
            if lookup is None:
                search_expired = True
            else:
                query["search"] = data["search"]
        if not search_expired:
            filters = selectors.PatientFilters(
                lookup=lookup,
                department_id=data.get("department"),
                source_channel=data.get("source_channel", ""),
                sex=data.get("sex", ""),
                age_min=data.get("age_min"),
                age_max=data.get("age_max"),
                consent=data.get("consent", ""),
            )
            page = selectors.patient_list(principal, filters, cursor=data.get("cursor"))
            query.update({name: data[name] for name in LIST_FILTER_FIELDS if data.get(name) not in (None, "")})
    template = "core/patient_list.html#results" if request.headers.get("HX-Request") else "core/patient_list.html"
    return render(
        request,
        template,
        {
            "form": form,
            "page": page,
            "query": urlencode(query),
            "search_expired": search_expired,
            "can_write": principal.allows(Action.PATIENT_WRITE),
        },
    )


@sensitive_post_parameters("name", "mobile", "id_number")
@sensitive_variables("form", "data")
@member_required
@require_http_methods(["GET", "POST"])
def patient_create(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.PATIENT_WRITE)
    form = PatientForm(request.POST or None, hospital=principal.hospital)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            patient = services.patient_create(
                principal=principal,
                data=services.PatientInput(
                    name=data["name"],
                    mobile=data["mobile"],
                    sex=data["sex"],
                    birth_date=data["birth_date"],
                    id_number=data["id_number"],
                    source_channel=data["source_channel"],
                    first_department_id=data["first_department"],
                ),
                request=request,
            )
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("Patient registered."))
            return redirect(patient)
    return render(request, "core/patient_form.html", {"form": form}, status=400 if form.errors else 200)


@member_required
@require_GET
def patient_detail(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    patient = access.access_patient(principal, pk, Action.PATIENT_VIEW)
    consent_state = selectors.patient_consent_state(patient)
    return render(
        request,
        "core/patient_detail.html",
        {
            "patient": patient,
            "age": patient.age_on(timezone.localdate()),
            "consent_state": [(label, consent_state[value]) for value, label in _consent_choices()],
            "consents": patient.consents.select_related("recorded_by").order_by("-recorded_at", "-pk"),
            "visits": patient.visits.select_related("department", "doctor").order_by("-occurred_on", "-pk")[:50],
            "reveal_form": RevealForm(),
            "consent_form": ConsentForm(),
            "visit_form": VisitForm(hospital=principal.hospital),
            "export_form": ExportForm(),
            "erase_form": EraseForm(),
            "can_reveal": principal.allows(Action.PATIENT_REVEAL),
            "can_write": principal.allows(Action.PATIENT_WRITE),
            "can_export": principal.allows(Action.PATIENT_EXPORT),
            "can_erase": principal.allows(Action.PATIENT_ERASE),
            "pii_fields": [("name", _("Name")), ("mobile", _("Mobile")), ("id_number", _("ID number"))],
        },
    )


def _consent_choices():
    from xinqiao.core.models import Consent

    return Consent.Purpose.choices


@sensitive_post_parameters("name", "mobile", "id_number")
@sensitive_variables("form", "data", "initial")
@member_required
@require_http_methods(["GET", "POST"])
def patient_edit(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    patient = access.access_patient(principal, pk, Action.PATIENT_WRITE)
    if request.method == "POST":
        form = PatientForm(request.POST, hospital=principal.hospital)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.patient_update(
                    principal=principal,
                    patient=patient,
                    request=request,
                    data=services.PatientInput(
                        name=data["name"],
                        mobile=data["mobile"],
                        sex=data["sex"],
                        birth_date=data["birth_date"],
                        id_number=data["id_number"],
                        source_channel=data["source_channel"],
                        first_department_id=data["first_department"],
                    ),
                )
            except ApplicationError as error:
                _apply_error(form, error)
            else:
                messages.success(request, _("Patient updated."))
                return redirect(patient)
        return render(request, "core/patient_form.html", {"form": form, "patient": patient}, status=400)
    # Editing shows the identifiers in clear, so opening the form is an audited reveal of all three.
    purpose = request.GET.get("purpose", "")
    if purpose not in services.RevealPurpose.values():
        return render(request, "core/patient_edit_purpose.html", {"patient": patient, "form": RevealForm()})
    initial = {
        "name": services.patient_reveal(
            principal=principal, patient=patient, field="name", purpose=purpose, request=request
        ),
        "mobile": services.patient_reveal(
            principal=principal, patient=patient, field="mobile", purpose=purpose, request=request
        ),
        "id_number": services.patient_reveal(
            principal=principal, patient=patient, field="id_number", purpose=purpose, request=request
        ),
        "sex": patient.sex,
        "birth_date": patient.birth_date,
        "source_channel": patient.source_channel,
        "first_department": patient.first_department_id,
    }
    form = PatientForm(initial=initial, hospital=principal.hospital)
    response = render(request, "core/patient_form.html", {"form": form, "patient": patient})
    response["Cache-Control"] = "no-store"
    return response


@member_required
@require_POST
def patient_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    patient = access.access_patient(principal, pk, Action.PATIENT_VIEW)
    form = RevealForm(request.POST)
    field = request.POST.get("field", "")
    context = {"patient": patient, "field": field, "reveal_form": RevealForm(initial={"field": field})}
    if not form.is_valid():
        if field in services.PII_FIELDS and "purpose" in form.errors:
            # Record the refused attempt, then ask again.
            try:
                services.patient_reveal(principal=principal, patient=patient, field=field, purpose="", request=request)
            except ApplicationError as error:
                context["error"] = error.message
            return render(request, "core/_reveal.html#ask", context, status=400)
        raise Http404
    value = services.patient_reveal(
        principal=principal,
        patient=patient,
        field=form.cleaned_data["field"],
        purpose=form.cleaned_data["purpose"],
        request=request,
    )
    context.update({"value": value, "seconds": settings.XINQIAO_REVEAL_SECONDS})
    response = render(request, "core/_reveal.html#revealed", context)
    response["Cache-Control"] = "no-store"
    return response


@member_required
@require_GET
def patient_masked_field(request: HttpRequest, pk: int, field: str) -> HttpResponse:
    patient = access.access_patient(request.principal, pk, Action.PATIENT_VIEW)
    if field not in services.PII_FIELDS:
        raise Http404
    return render(
        request,
        "core/_reveal.html#masked",
        {
            "patient": patient,
            "field": field,
            "reveal_form": RevealForm(initial={"field": field}),
            "can_reveal": request.principal.allows(Action.PATIENT_REVEAL),
        },
    )


@member_required
@require_POST
def patient_consent(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    patient = access.access_patient(principal, pk, Action.PATIENT_WRITE)
    form = ConsentForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.consent_record(
                principal=principal,
                patient=patient,
                purpose=data["purpose"],
                action=data["action"],
                channel=data["channel"],
                notice_version=data["notice_version"],
                valid_until=data["valid_until"],
                scope={k: data[k] for k in services.STORY_SCOPE_KEYS},
                request=request,
            )
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Consent recorded."))
    else:
        messages.error(request, _("The consent form is incomplete."))
    return redirect(patient)


@member_required
@require_POST
def patient_visit(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    patient = access.access_patient(principal, pk, Action.PATIENT_WRITE)
    form = VisitForm(request.POST, hospital=principal.hospital)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.visit_create(
                principal=principal,
                patient=patient,
                kind=data["kind"],
                occurred_on=data["occurred_on"],
                department_id=data["department"],
                doctor_id=data["doctor"],
                channel=data["channel"],
                revenue_fen=int(data["revenue_yuan"] * Decimal(100)),
            )
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Visit recorded."))
    else:
        messages.error(request, _("The visit form is incomplete."))
    return redirect(patient)


@member_required
@require_sudo_mode(Action.PATIENT_EXPORT)
@require_POST
def patient_export(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    patient = access.access_patient(principal, pk, Action.PATIENT_EXPORT)
    form = ExportForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose the purpose of the export."))
        return redirect(patient)
    data = services.patient_export(
        principal=principal, patient=patient, purpose=form.cleaned_data["purpose"], request=request
    )
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="patient-{patient.pk}-export.json"'
    response["Cache-Control"] = "no-store"
    return response


@member_required
@require_sudo_mode(Action.PATIENT_ERASE)
@require_POST
def patient_erase(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    patient = access.access_patient(principal, pk, Action.PATIENT_ERASE)
    form = EraseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give a reason and confirm the erasure."))
        return redirect(patient)
    services.patient_erase(principal=principal, patient=patient, reason=form.cleaned_data["reason"], request=request)
    messages.success(request, _("The patient's personal information was erased."))
    return redirect("core:patient_list")


# --- organisation ------------------------------------------------------------------------------


@member_required
@require_http_methods(["GET", "POST"])
def organisation(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.ORG_VIEW)
    form = DepartmentForm(request.POST or None)
    if request.method == "POST":
        principal.require(Action.ORG_MANAGE)
        if form.is_valid():
            name, code = form.cleaned_data["name"].strip(), form.cleaned_data["code"]
            if (
                Department.objects.filter(hospital=principal.hospital, code=code).exists()
                or Department.objects.filter(hospital=principal.hospital, name=name).exists()
            ):
                form.add_error(None, _("A department with this name or code exists."))
            else:
                Department.objects.create(hospital=principal.hospital, name=name, code=code)
                messages.success(request, _("Department added."))
                return redirect("core:organisation")
    departments = (
        Department.objects.filter(hospital=principal.hospital).annotate(doctor_count=Count("doctors")).order_by("pk")
    )
    doctors = Doctor.objects.filter(hospital=principal.hospital).prefetch_related("departments").order_by("pk")
    return render(
        request,
        "core/organisation.html",
        {
            "departments": departments,
            "doctors": doctors,
            "form": form,
            "can_manage": principal.allows(Action.ORG_MANAGE),
        },
        status=400 if form.errors else 200,
    )


# --- members -----------------------------------------------------------------------------------


@member_required
@require_GET
def member_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.MEMBERSHIP_MANAGE)
    memberships = (
        Membership.objects.filter(hospital=principal.hospital)
        .select_related("user")
        .prefetch_related("departments")
        .order_by("user__username", "role")
    )
    members: dict[int, dict] = {}
    for membership in memberships:
        entry = members.setdefault(membership.user_id, {"user": membership.user, "roles": [], "departments": []})
        entry["roles"].append(membership.get_role_display())
        entry["departments"].extend(d.name for d in membership.departments.all())
    return render(request, "core/member_list.html", {"members": members.values()})


@sensitive_post_parameters("password")
@member_required
@require_sudo_mode(Action.MEMBERSHIP_MANAGE)
@require_http_methods(["GET", "POST"])
def member_create(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.MEMBERSHIP_MANAGE)
    form = NewMemberForm(request.POST or None, hospital=principal.hospital)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            from django.db import transaction

            with transaction.atomic():
                user = services.staff_user_create(
                    principal=principal,
                    username=data["username"],
                    full_name=data["full_name"],
                    password=data["password"],
                    request=request,
                )
                services.membership_set_roles(
                    principal=principal,
                    user=user,
                    roles=data["roles"],
                    department_ids=data["departments"],
                    request=request,
                )
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("Member added."))
            return redirect("core:member_list")
    return render(request, "core/member_form.html", {"form": form}, status=400 if form.errors else 200)


@member_required
@require_sudo_mode(Action.MEMBERSHIP_MANAGE)
@require_http_methods(["GET", "POST"])
def member_edit(request: HttpRequest, user_id: int) -> HttpResponse:
    principal = request.principal
    principal.require(Action.MEMBERSHIP_MANAGE)
    user_pk = access.parse_pk(user_id)
    current = list(
        Membership.objects.filter(hospital=principal.hospital, user_id=user_pk).prefetch_related("departments")
    )
    if not current:
        raise Http404
    member = current[0].user
    initial = {
        "roles": [m.role for m in current],
        "departments": sorted({d.pk for m in current for d in m.departments.all()}),
    }
    form = MembershipForm(request.POST or None, initial=initial, hospital=principal.hospital)
    if request.method == "POST":
        roles = request.POST.getlist("roles")
        unknown = sorted(set(roles) - set(Membership.Role.values))
        if unknown:
            form.is_valid()
            form.add_error("roles", _("Unknown role: %(roles)s") % {"roles": ", ".join(unknown)})
        elif form.is_valid():
            try:
                services.membership_set_roles(
                    principal=principal,
                    user=member,
                    roles=form.cleaned_data["roles"],
                    department_ids=form.cleaned_data["departments"],
                    request=request,
                )
            except ApplicationError as error:
                _apply_error(form, error)
            else:
                messages.success(request, _("Roles updated."))
                return redirect("core:member_list")
    return render(
        request, "core/member_form.html", {"form": form, "member": member}, status=400 if form.errors else 200
    )


# --- API keys ----------------------------------------------------------------------------------


@member_required
@require_http_methods(["GET", "POST"])
def api_key_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.APIKEY_MANAGE)
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            _key, new_key = services.api_key_create(
                principal=principal,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                request=request,
            )
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            form = ApiKeyForm()
    keys = ApiKey.objects.filter(hospital=principal.hospital).select_related("created_by")
    response = render(
        request,
        "core/api_keys.html",
        {"form": form, "keys": keys, "new_key": new_key},
        status=400 if form.errors else 200,
    )
    response["Cache-Control"] = "no-store"
    return response


@member_required
@require_POST
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    key = access.access_hospital_object(principal, ApiKey, pk, Action.APIKEY_MANAGE)
    services.api_key_revoke(principal=principal, api_key=key, request=request)
    messages.success(request, _("API key revoked."))
    return redirect("core:api_key_list")


# --- retention and legal holds -----------------------------------------------------------------


@member_required
@require_http_methods(["GET", "POST"])
def retention_page(request: HttpRequest) -> HttpResponse:
    """The retention rules and what the daily sweep did, and the legal holds that suspend it (REQ-RET-001/002)."""
    principal = request.principal
    principal.require(Action.RETENTION_MANAGE)
    form = LegalHoldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            retention.legal_hold_place(principal=principal, request=request, **form.cleaned_data)
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("Legal hold placed: the retention sweep leaves this record alone."))
            return redirect("core:retention")
    holds = LegalHold.objects.filter(hospital=principal.hospital).select_related("placed_by", "released_by")
    sweeps = [
        (event.created_at, retention.labelled_counts(event.detail.get("counts", {})))
        for event in AuditEvent.objects.filter(
            hospital=principal.hospital, action=AuditEvent.Action.RETENTION
        ).order_by("-pk")[:10]
    ]
    return render(
        request,
        "core/retention.html",
        {
            "form": form,
            "release_form": LegalHoldReleaseForm(),
            "holds": holds,
            "sweeps": sweeps,
            "rules": retention.rule_rows(),
        },
        status=400 if form.errors else 200,
    )


@member_required
@require_POST
@require_sudo_mode(Action.RETENTION_MANAGE)
def legal_hold_release(request: HttpRequest, pk: int) -> HttpResponse:
    principal = request.principal
    hold = access.access_hospital_object(principal, LegalHold, pk, Action.RETENTION_MANAGE)
    form = LegalHoldReleaseForm(request.POST)
    try:
        retention.legal_hold_release(
            principal=principal, hold=hold, reason=form.cleaned_data["reason"] if form.is_valid() else "",
            request=request,
        )  # fmt: skip
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("core:retention")
    messages.success(request, _("Legal hold released: the next sweep applies the retention rules again."))
    return redirect("core:retention")


# --- audit -------------------------------------------------------------------------------------


@member_required
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.AUDIT_VIEW)
    form = AuditFilterForm(request.GET or None)
    page = None
    if not request.GET or form.is_valid():
        data = form.cleaned_data if request.GET else {}
        filters = selectors.AuditFilters(
            action=data.get("action", ""),
            actor=data.get("actor", ""),
            object_id=data.get("object_id", ""),
            result=data.get("result", ""),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )
        page = selectors.audit_list(principal, filters, cursor=data.get("cursor"))
    query = request.GET.copy()
    query.pop("cursor", None)
    chain = audit_verify_chain() if request.GET.get("verify") == "1" else None
    return render(
        request,
        "core/audit_list.html",
        {"form": form, "page": page, "query": query.urlencode(), "chain": chain, "actions": AuditEvent.Action},
    )


# --- system status and health --------------------------------------------------------------------


@member_required
@require_GET
def system_status(request: HttpRequest) -> HttpResponse:
    """For administrators: is the deployment's background work happening (the scheduler, the task workers, the
    last day's failed tasks), and is the database ready. Deployment-wide figures; no hospital's data."""
    request.principal.require(Action.SYSTEM_VIEW)
    now = timezone.now()
    instances = health.scheduler_instances(now)
    queue = health.queue_state(now)
    checks = [*health.ready_checks(), health.check_scheduler(now, instances), health.check_queue(now, queue)]
    last_backup = BackupRecord.objects.first()
    return render(
        request,
        "core/system_status.html",
        {
            "checks": {check.name: check for check in checks},
            "instances": instances,
            "queue": queue,
            "failures": health.recent_failures(now),
            "now": now,
            "oldest_since": None if queue.oldest_wait is None else now - queue.oldest_wait,
            "oldest_task": queue.oldest_task.rsplit(".", 1)[-1],
            "jobs": [(job.name, _every(job.every)) for job in PERIODIC_JOBS],
            "stall_minutes": int(health.QUEUE_STALL_AFTER.total_seconds() // 60),
            "last_backup": last_backup,
            "backup_stale": last_backup is not None and now - last_backup.created_at > BACKUP_STALE_AFTER,
            "backup_stale_hours": int(BACKUP_STALE_AFTER.total_seconds() // 3600),
        },
    )


def _every(interval: dt.timedelta) -> str:
    minutes = int(interval.total_seconds() // 60)
    if minutes % 1440 == 0:
        days = minutes // 1440
        return _("every day") if days == 1 else ngettext("every %(n)d day", "every %(n)d days", days) % {"n": days}
    if minutes % 60 == 0:
        hours = minutes // 60
        return (
            _("every hour") if hours == 1 else ngettext("every %(n)d hour", "every %(n)d hours", hours) % {"n": hours}
        )
    if minutes == 1:
        return _("every minute")
    return ngettext("every %(n)d minute", "every %(n)d minutes", minutes) % {"n": minutes}


def _health_response(checks: list[health.Check]) -> JsonResponse:
    ok = all(check.ok for check in checks)
    response = JsonResponse(
        {"status": "ok" if ok else "fail", "checks": {check.name: check.as_json() for check in checks}},
        status=200 if ok else 503,
    )
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def health_live(request: HttpRequest) -> JsonResponse:
    """Liveness: this process answers (no database)."""
    return _health_response([])


@require_safe
def health_ready(request: HttpRequest) -> JsonResponse:
    """Readiness, for the load balancer: the database answers and every migration is applied (503 otherwise)."""
    return _health_response(health.ready_checks())


@require_safe
def health_background(request: HttpRequest) -> JsonResponse:
    """For the monitoring system: a scheduler ticked lately for every periodic job and the workers take the queued
    tasks (503 otherwise)."""
    return _health_response(health.background_checks(timezone.now()))


@require_safe
def health_backup(request: HttpRequest) -> JsonResponse:
    """For the monitoring system: the newest backup is younger than 26 hours and was not found damaged (503
    otherwise, also when no backup was ever made)."""
    return _health_response(health.backup_checks(timezone.now()))


# --- errors ------------------------------------------------------------------------------------


def _error_page(request: HttpRequest, status: int, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        from django.http import JsonResponse

        codes = {400: "bad_request", 403: "forbidden", 404: "not_found", 413: "request_too_large", 500: "server_error"}
        return JsonResponse({"code": codes.get(status, "error"), "message": message}, status=status)
    return render(request, "error.html", {"status": status, "message": message}, status=status)


def error_400(request: HttpRequest, exception=None) -> HttpResponse:
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent

    if isinstance(exception, RequestDataTooBig | TooManyFieldsSent):
        return _error_page(
            request,
            413,
            _("The request is too large or malformed (limit %(limit)s bytes).")
            % {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
        )
    return _error_page(request, 400, _("The request could not be understood."))


def error_403(request: HttpRequest, exception=None) -> HttpResponse:
    return _error_page(request, 403, _("You do not have permission to do this."))


def error_404(request: HttpRequest, exception=None) -> HttpResponse:
    return _error_page(request, 404, _("This page does not exist, or you cannot see it."))


def error_500(request: HttpRequest) -> HttpResponse:
    return _error_page(request, 500, _("Something went wrong on our side. The error has been logged."))
