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
