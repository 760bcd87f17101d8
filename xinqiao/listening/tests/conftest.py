"""Fixtures shared by the listening tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def english_ui(settings):
    """These tests assert English msgids; the product's default language is zh-hans (a test that checks the Chinese
    UI switches with ``translation.override("zh-hans")`` itself)."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
