from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from xinqiao.channels.models import PlatformAccount
from xinqiao.content.models import ContentItem, ReviewPolicyStep, ReviewStep
from xinqiao.content.services import DEIDENTIFICATION_CHECKS, ItemInput
from xinqiao.core.widgets import DatePicker

SPLIT = re.compile(r"[,，、;；\n]+")


class ItemForm(forms.Form):
    title = forms.CharField(label=pgettext_lazy("content", "Title"), max_length=120)
    content_type = forms.ChoiceField(label=_("Content type"), choices=ContentItem.ContentType.choices)
    pillar = forms.ChoiceField(label=_("Pillar"), choices=ContentItem.Pillar.choices)
    disease_topics = forms.CharField(label=_("Disease topics"), max_length=300, required=False,
                                     help_text=_("Separate with commas."))  # fmt: skip
    department = forms.TypedChoiceField(label=_("Department"), coerce=int, required=False, empty_value=None)
    accounts = forms.TypedMultipleChoiceField(
        label=_("Target accounts"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    doctor = forms.TypedChoiceField(label=_("Linked doctor"), coerce=int, required=False, empty_value=None)
    references = forms.CharField(label=_("References"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                 help_text=_("One per line."))  # fmt: skip
    body_html = forms.CharField(
        label=_("Body (HTML)"), required=False, max_length=200_000, widget=forms.Textarea(attrs={"rows": 14})
    )
    cover = forms.FileField(label=_("Cover image (JPEG, PNG or WebP)"), required=False)
    image = forms.FileField(label=_("Add an image (JPEG, PNG or WebP)"), required=False)
    scheduled_at = forms.DateTimeField(
        label=_("Planned publishing time"), required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )  # fmt: skip
    is_patient_story = forms.BooleanField(label=_("Patient story"), required=False)
    story_patient = forms.IntegerField(label=_("Patient record number"), required=False, min_value=1)
    deidentification = forms.MultipleChoiceField(
        label=_("De-identification checklist"), required=False, widget=forms.CheckboxSelectMultiple,
        choices=list(DEIDENTIFICATION_CHECKS.items()),
    )  # fmt: skip
    is_ad = forms.BooleanField(label=_("Advertisement"), required=False)
    ad_certificate_number = forms.CharField(label=_("Medical ad review certificate number"), max_length=60,
                                            required=False)  # fmt: skip
    ad_certificate_valid_until = forms.DateField(
        label=_("Certificate valid until"), required=False, widget=DatePicker()
    )

    def __init__(self, *args, hospital, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].choices = [("", "—")] + [(d.pk, d.name) for d in hospital.departments.all()]
        self.fields["doctor"].choices = [("", "—")] + [(d.pk, d.name) for d in hospital.doctors.all()]
        self.fields["accounts"].choices = [
            (a.pk, str(a)) for a in PlatformAccount.objects.filter(hospital=hospital, is_active=True).order_by("pk")
        ]

    @staticmethod
    def initial_from(item: ContentItem) -> dict:
        return {
            "title": item.title,
            "content_type": item.content_type,
            "pillar": item.pillar,
            "disease_topics": ", ".join(item.disease_topics),
            "department": item.department_id,
            "accounts": list(item.target_accounts.values_list("pk", flat=True)),
            "doctor": item.doctor_id,
            "references": "\n".join(item.references),
            "body_html": item.body_html,
            "scheduled_at": item.scheduled_at,
            "is_patient_story": item.is_patient_story,
            "story_patient": item.story_patient_id,
            "deidentification": item.deidentification,
            "is_ad": item.is_ad,
            "ad_certificate_number": item.ad_certificate_number,
            "ad_certificate_valid_until": item.ad_certificate_valid_until,
        }

    def to_input(self, *, cover_id: int | None) -> ItemInput:
        data = self.cleaned_data
        return ItemInput(
            title=data["title"],
            content_type=data["content_type"],
            pillar=data["pillar"],
            body_html=data["body_html"],
            disease_topics=[t for t in SPLIT.split(data["disease_topics"]) if t.strip()],
            department_id=data["department"],
            account_ids=list(data["accounts"]),
            doctor_id=data["doctor"],
            references=[line for line in data["references"].splitlines() if line.strip()],
            cover_id=cover_id,
            is_patient_story=data["is_patient_story"],
            story_patient_id=data["story_patient"],
            deidentification=list(data["deidentification"]),
            is_ad=data["is_ad"],
            ad_certificate_number=data["ad_certificate_number"],
            ad_certificate_valid_until=data["ad_certificate_valid_until"],
            scheduled_at=data["scheduled_at"],
        )


class ItemFilterForm(forms.Form):
    q = forms.CharField(label=_("Title contains"), max_length=60, required=False)
    state = forms.ChoiceField(label=_("State"), choices=[("", _("All"))] + ContentItem.State.choices, required=False)
    content_type = forms.ChoiceField(
        label=_("Content type"), choices=[("", _("All"))] + ContentItem.ContentType.choices, required=False
    )
    pillar = forms.ChoiceField(label=_("Pillar"), choices=[("", _("All"))] + ContentItem.Pillar.choices, required=False)


class ReviewForm(forms.Form):
    step = forms.ChoiceField(choices=ReviewStep.choices, widget=forms.HiddenInput)
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[("approve", _("Approve")), ("return", _("Return for changes")), ("reject", _("Reject"))],
    )
    comment = forms.CharField(
        label=_("Comment"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    warn_reason = forms.CharField(
        label=_("Reason for approving despite the warnings"), required=False, max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip


class ScheduleForm(forms.Form):
    scheduled_at = forms.DateTimeField(
        label=_("Publishing time"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


class RuleAdditionForm(forms.Form):
    rule_id = forms.CharField(label=_("Rule ID"), max_length=20)
    phrases = forms.CharField(label=_("Extra phrases"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                              help_text=_("One per line; they are flagged like the rule's own phrases."))  # fmt: skip
    exceptions = forms.CharField(label=_("Exceptions"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                 help_text=_("One pattern per line; a hit inside a matching text is not flagged."))  # fmt: skip
    note = forms.CharField(label=pgettext_lazy("remark", "Note"), max_length=200, required=False)


class PolicyForm(forms.Form):
    content_type = forms.ChoiceField(label=_("Content type"), choices=ContentItem.ContentType.choices)

    def __init__(self, *args, approver_choices: dict[str, list[tuple[int, str]]], **kwargs):
        super().__init__(*args, **kwargs)
        for step, label in ReviewStep.choices:
            self.fields[f"{step}_enabled"] = forms.BooleanField(label=label, required=False, initial=True)
            self.fields[f"{step}_mode"] = forms.ChoiceField(
                label=_("Approval"), choices=ReviewPolicyStep.Mode.choices, initial=ReviewPolicyStep.Mode.ANY
            )
            self.fields[f"{step}_approvers"] = forms.TypedMultipleChoiceField(
                label=_("Named approvers"), coerce=int, required=False, choices=approver_choices[step],
                widget=forms.CheckboxSelectMultiple,
            )  # fmt: skip


class RescheduleForm(forms.Form):
    item = forms.IntegerField(min_value=1)
    day = forms.DateField()
    time = forms.TimeField(required=False)


class CalendarForm(forms.Form):
    """What the calendar shows: month or week, around which day, and how many days ahead topics are proposed."""

    view = forms.ChoiceField(label=_("View"), required=False, choices=[("month", _("Month")), ("week", _("Week"))])
    date = forms.DateField(label=_("Date"), required=False, widget=DatePicker())
    lead = forms.IntegerField(label=_("Propose topics (days ahead)"), required=False, min_value=1, max_value=120)

    def clean_date(self):
        from xinqiao.content.observances import FIRST_YEAR, LAST_YEAR

        value = self.cleaned_data.get("date")
        if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise forms.ValidationError(
                _("The calendar covers the years %(first)d to %(last)d."),
                params={"first": FIRST_YEAR, "last": LAST_YEAR},
            )
        return value
