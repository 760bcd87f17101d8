from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from xinqiao.channels.models import PlatformAccount
from xinqiao.channels.services import AccountInput


class AccountForm(forms.Form):
    platform = forms.ChoiceField(label=_("Platform"), choices=PlatformAccount.Platform.choices)
    name = forms.CharField(label=_("Account name"), max_length=60)
    handle = forms.CharField(label=_("Account ID on the platform"), max_length=80, required=False)
    account_type = forms.ChoiceField(label=_("Account type"), choices=PlatformAccount.AccountType.choices)
    department = forms.TypedChoiceField(label=_("Owner department"), coerce=int, required=False, empty_value=None)
    doctor = forms.TypedChoiceField(label=_("Linked doctor"), coerce=int, required=False, empty_value=None)
    positioning = forms.CharField(label=_("Positioning"), max_length=200, required=False)
    verification = forms.ChoiceField(label=_("Real-name / filing status"), choices=PlatformAccount.Verification.choices)
    filing_number = forms.CharField(label=_("Filing number"), max_length=60, required=False)
    credential_holder = forms.CharField(label=_("Credentials held by"), max_length=60, required=False)
    app_id = forms.CharField(label=_("AppID (WeChat)"), max_length=64, required=False)
    app_secret = forms.CharField(
        label=_("AppSecret (WeChat)"),
        max_length=128,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Stored encrypted. Leave empty to keep the stored secret."),
    )
    api_base_url = forms.URLField(label=_("API base URL"), required=False, assume_scheme="https")
    target_posts_per_week = forms.IntegerField(label=_("Target posts per week"), min_value=0, max_value=100, initial=3)
    dormant_after_days = forms.IntegerField(
        label=_("Dormant after (days without a post)"), min_value=1, max_value=3650, initial=30
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, hospital, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].choices = [("", "—")] + [(d.pk, d.name) for d in hospital.departments.all()]
        self.fields["doctor"].choices = [("", "—")] + [(d.pk, d.name) for d in hospital.doctors.all()]

    @staticmethod
    def initial_from(account: PlatformAccount) -> dict:
        return {
            "platform": account.platform,
            "name": account.name,
            "handle": account.handle,
            "account_type": account.account_type,
            "department": account.department_id,
            "doctor": account.doctor_id,
            "positioning": account.positioning,
            "verification": account.verification,
            "filing_number": account.filing_number,
            "credential_holder": account.credential_holder,
            "app_id": account.app_id,
            "api_base_url": account.api_base_url,
            "target_posts_per_week": account.target_posts_per_week,
            "dormant_after_days": account.dormant_after_days,
            "is_active": account.is_active,
        }

    def to_input(self) -> AccountInput:
        data = self.cleaned_data
        return AccountInput(
            platform=data["platform"],
            name=data["name"],
            handle=data["handle"],
            account_type=data["account_type"],
            department_id=data["department"],
            doctor_id=data["doctor"],
            positioning=data["positioning"],
            verification=data["verification"],
            filing_number=data["filing_number"],
            credential_holder=data["credential_holder"],
            app_id=data["app_id"],
            app_secret=data["app_secret"],
            api_base_url=data["api_base_url"],
            target_posts_per_week=data["target_posts_per_week"],
            dormant_after_days=data["dormant_after_days"],
            is_active=data["is_active"],
        )


class MarkPublishedForm(forms.Form):
    post_url = forms.CharField(label=_("Post URL"), max_length=500)


class TakeDownForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)
    removed_on_platform = forms.BooleanField(label=_("Already removed on the platform"), required=False)
