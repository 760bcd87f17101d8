"""Shared fixtures: two hospitals and one persona per role (STYLE.md: persona fixtures)."""

from __future__ import annotations

import os

os.environ["XINQIAO_ENV"] = "test"

import pytest  # noqa: E402

from xinqiao.core.tests.factories import (  # noqa: E402
    HospitalWorld,
    build_world,
)

PASSWORD = "correct-horse-battery-staple"  # noqa: S105


@pytest.fixture
def world(db) -> HospitalWorld:
    """Hospital A with departments, doctors, a user per role and a few patients; hospital B with an outsider."""
    return build_world(password=PASSWORD)


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def english_ui(settings):
    """English UI for tests that assert English msgids (the product's default language is zh-hans). Test packages
    that assert English everywhere use it autouse from their conftest; a test that checks the Chinese UI switches
    with ``translation.override("zh-hans")`` itself."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
