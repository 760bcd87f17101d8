"""Fixtures of the analytics tests: the WeChat OA sandbox served on 127.0.0.1 (shared with the channel tests)."""

from __future__ import annotations

import pytest

from xinqiao.channels.tests.conftest import (  # noqa: F401 - re-exported fixtures
    make_wechat_client,
    sandbox_sleep,
    wechat_oa_sandbox,
    wechat_oa_sandbox_server,
)
from xinqiao.channels.tests.fixtures import fast_wechat  # noqa: F401 - re-exported fixture


@pytest.fixture(autouse=True)
def _english(english_ui):
    """These tests assert English msgids (``english_ui`` in the root conftest)."""
