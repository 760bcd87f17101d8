from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from xinqiao.core.models import ApiKey, AuditEvent, Consent, LegalHold, Membership, Patient, Visit
from xinqiao.core.services import ExportPurpose, RevealPurpose
from xinqiao.core.widgets import DatePicker


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": _("Wrong username or password."),
        "inactive": _("This account is disabled."),
    }


class SudoForm(forms.Form):
    password = forms.CharField(label=_("Your password"), widget=forms.PasswordInput(attrs={"autofocus": True}))


def department_choices(hospital, *, blank: bool = True):
    choices = [("", _("—"))] if blank else []
    return choices + [(d.pk, d.name) for d in hospital.departments.all()]


class PatientForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=40)
    mobile = forms.CharField(label=_("Mobile"), max_length=20)
    id_number = forms.CharField(label=_("Resident ID number"), max_length=20, required=False)
    sex = forms.ChoiceField(label=_("Sex"), choices=Patient.Sex.choices, initial=Patient.Sex.UNKNOWN)
    birth_date = forms.DateField(label=_("Birth date"), required=False, widget=DatePicker())
    source_channel = forms.ChoiceField(label=_("Source channel"), choices=Patient.SourceChannel.choices)
    first_department = forms.TypedChoiceField(
        label=_("Department of first visit"), coerce=int, required=False, empty_value=None
    )

    def __init__(self, *args, hospital, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["first_department"].choices = department_choices(hospital)


class PatientFilterForm(forms.Form):
    q = forms.CharField(label=_("Mobile, ID number or full name"), max_length=40, required=False)
    department = forms.TypedChoiceField(label=_("Department"), coerce=int, required=False, empty_value=None)
    source_channel = forms.ChoiceField(
        label=_("Source channel"), choices=[("", _("All channels")), *Patient.SourceChannel.choices], required=False
    )
    sex = forms.ChoiceField(label=_("Sex"), choices=[("", _("All")), *Patient.Sex.choices], required=False)
    age_min = forms.IntegerField(label=_("Age from"), min_value=0, max_value=150, required=False)
    age_max = forms.IntegerField(label=_("Age to"), min_value=0, max_value=150, required=False)
    consent = forms.ChoiceField(
        label=_("Active consent"), choices=[("", _("Any")), *Consent.Purpose.choices], required=False
    )
    cursor = forms.IntegerField(min_value=1, max_value=2**62, required=False, widget=forms.HiddenInput)
    search = forms.CharField(max_length=24, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, hospital, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].choices = [("", _("All departments"))] + department_choices(hospital, blank=False)


class RevealForm(forms.Form):
    field = forms.ChoiceField(choices=[("name", _("Name")), ("mobile", _("Mobile")), ("id_number", _("ID number"))])
    purpose = forms.ChoiceField(label=_("Purpose"), choices=RevealPurpose.choices)


class ConsentForm(forms.Form):
    purpose = forms.ChoiceField(label=_("Purpose"), choices=Consent.Purpose.choices)
    action = forms.ChoiceField(label=_("Action"), choices=Consent.Action.choices)
    channel = forms.ChoiceField(label=_("Channel"), choices=Consent.Channel.choices)
    notice_version = forms.CharField(label=_("Notice version"), max_length=20, required=False)
    valid_until = forms.DateField(label=_("Valid until"), required=False, widget=DatePicker())
    allow_face = forms.BooleanField(label=_("Face may be shown"), required=False)
    allow_voice = forms.BooleanField(label=_("Voice may be used"), required=False)
    allow_real_name = forms.BooleanField(label=_("Real name may be used"), required=False)


class VisitForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=Visit.Kind.choices)
    occurred_on = forms.DateField(label=_("Date"), initial=timezone.localdate, widget=DatePicker())
    department = forms.TypedChoiceField(label=_("Department"), coerce=int)
    doctor = forms.TypedChoiceField(label=_("Doctor"), coerce=int, required=False, empty_value=None)
    channel = forms.ChoiceField(label=_("Channel"), choices=Patient.SourceChannel.choices)
    revenue_yuan = forms.DecimalField(
        label=_("Revenue (yuan)"), min_value=0, max_digits=12, decimal_places=2, initial=0
    )

    def __init__(self, *args, hospital, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].choices = department_choices(hospital, blank=False)
        self.fields["doctor"].choices = [("", _("—"))] + [(d.pk, d.name) for d in hospital.doctors.all()]


class ExportForm(forms.Form):
    purpose = forms.ChoiceField(label=_("Purpose"), choices=ExportPurpose.choices)


class EraseForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200, widget=forms.Textarea(attrs={"rows": 2}))
    confirm = forms.BooleanField(label=_("I understand that the patient's identity is destroyed for good"))


class MembershipForm(forms.Form):
    roles = forms.MultipleChoiceField(
        label=_("Roles"), choices=Membership.Role.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    departments = forms.TypedMultipleChoiceField(
        label=_("Departments (for department reviewers)"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, hospital, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["departments"].choices = department_choices(hospital, blank=False)


class NewMemberForm(MembershipForm):
    username = forms.CharField(label=_("Username"), max_length=150)
    full_name = forms.CharField(label=_("Full name"), max_length=150, required=False)
    password = forms.CharField(label=_("Initial password"), widget=forms.PasswordInput, min_length=10)

    field_order = ["username", "full_name", "password", "roles", "departments"]


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=80)
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"), choices=ApiKey.Scope.choices, widget=forms.CheckboxSelectMultiple
    )


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(label=_("Action"), choices=[("", _("All")), *AuditEvent.Action.choices], required=False)
    actor = forms.CharField(label=_("User"), max_length=150, required=False)
    object_id = forms.CharField(label=_("Object id"), max_length=40, required=False)
    result = forms.ChoiceField(label=_("Result"), choices=[("", _("All")), *AuditEvent.Result.choices], required=False)
    date_from = forms.DateField(label=_("From"), required=False, widget=DatePicker())
    date_to = forms.DateField(label=_("To"), required=False, widget=DatePicker())
    cursor = forms.IntegerField(min_value=1, max_value=2**62, required=False, widget=forms.HiddenInput)


class DepartmentForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=50)
    code = forms.SlugField(label=_("Code"), max_length=40)


class LegalHoldForm(forms.Form):
    subject_type = forms.ChoiceField(label=_("Subject"), choices=LegalHold.Subject.choices)
    subject_id = forms.IntegerField(label=_("Record ID"), min_value=1)
    reason = forms.CharField(label=_("Reason"), max_length=300)
    approved_by = forms.CharField(
        label=_("Approved by"), max_length=120, help_text=_("Who approved the hold, e.g. legal counsel or a regulator.")
    )
    reference = forms.CharField(label=_("Reference"), max_length=120, required=False)


class LegalHoldReleaseForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)
