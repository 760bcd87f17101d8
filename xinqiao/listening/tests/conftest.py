"""Fixtures shared by the listening tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _english(english_ui):
    """These tests assert English msgids (``english_ui`` in the root conftest)."""
