"""Form widgets shared by every app."""

from __future__ import annotations

from django import forms


class DatePicker(forms.DateInput):
    """``<input type="date">`` with its value in ISO form (2026-10-25), the only form browsers read and send for a
    date input whatever the page's language. Django's ``DateInput`` renders a date in the active language's first
    input format instead (2026/10/25 in Chinese), which a date input shows as empty: an edit form would lose the
    stored date on saving."""

    input_type = "date"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%d")
