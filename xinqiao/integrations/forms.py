"""Forms of the notification route pages (validation of business rules lives in the services)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from xinqiao.integrations.models import NotificationRoute
from xinqiao.integrations.services import RouteInput


class RouteForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=60)
    kind = forms.ChoiceField(label=_("Kind"), choices=NotificationRoute.Kind.choices)
    webhook_url = forms.CharField(
        label=_("Robot webhook address"),
        required=False,
        max_length=400,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Stored encrypted; only the last characters of the key are shown. Leave empty to keep it."),
    )
    emails = forms.CharField(
        label=_("E-mail addresses"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line."),
    )
    purposes = forms.MultipleChoiceField(
        label=_("Purposes"), choices=NotificationRoute.Purpose.choices, widget=forms.CheckboxSelectMultiple
    )
    min_severity = forms.IntegerField(label=_("Minimum alert severity (0–100)"), min_value=0, max_value=100,
                                      initial=0)  # fmt: skip
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, route: NotificationRoute | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if route is not None:
            self.fields["kind"].disabled = True
            self.fields["kind"].required = False

    def to_input(self, route: NotificationRoute | None = None) -> RouteInput:
        data = self.cleaned_data
        return RouteInput(
            name=data["name"],
            kind=route.kind if route is not None else data["kind"],
            webhook_url=data["webhook_url"].strip(),
            emails=[line.strip() for line in data["emails"].replace(",", "\n").splitlines() if line.strip()],
            purposes=list(data["purposes"]),
            min_severity=data["min_severity"],
            is_active=data["is_active"],
        )

    @staticmethod
    def initial_from(route: NotificationRoute) -> dict:
        return {
            "name": route.name,
            "kind": route.kind,
            "emails": "\n".join(route.emails),
            "purposes": route.purposes,
            "min_severity": route.min_severity,
            "is_active": route.is_active,
        }
