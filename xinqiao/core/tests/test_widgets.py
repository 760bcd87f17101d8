"""Shared form widgets."""

from __future__ import annotations

import datetime as dt

import pytest
from django import forms
from django.utils import translation

from xinqiao.core.widgets import DatePicker


class _Form(forms.Form):
    day = forms.DateField(required=False, widget=DatePicker())


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_date_picker_renders_and_reads_iso_dates_in_every_language(language):
    with translation.override(language):
        rendered = str(_Form(initial={"day": dt.date(2026, 10, 25)})["day"])
        bound = _Form({"day": "2026-10-25"})

        assert 'type="date"' in rendered
        assert 'value="2026-10-25"' in rendered
        assert bound.is_valid()
        assert bound.cleaned_data["day"] == dt.date(2026, 10, 25)
