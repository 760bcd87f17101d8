"""Fixtures for the account and publishing tests (use with ``pytestmark = pytest.mark.usefixtures(...)``)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from xinqiao.channels.models import PlatformAccount
from xinqiao.channels.services import AccountInput, account_create
from xinqiao.channels.tests.conftest import WECHAT_APP_ID, WECHAT_APP_SECRET


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def fast_wechat(settings):
    """No real waiting between publish-status polls and transport retries."""
    settings.XINQIAO_WECHAT_OA_POLL_SECONDS = 0.01
    settings.XINQIAO_WECHAT_OA_BUSY_BACKOFF = 0.0
    settings.XINQIAO_WECHAT_OA_TIMEOUT = 5.0
    # Tokens live in the cache; the sandbox forgets them between tests.
    cache.clear()


def wechat_account(world, base_url: str, *, secret: str = WECHAT_APP_SECRET) -> PlatformAccount:
    return account_create(
        principal=world.principal("brand"),
        data=AccountInput(
            platform="wechat_oa", name="一院公众号", account_type="hospital_official", app_id=WECHAT_APP_ID,
            app_secret=secret, api_base_url=base_url, credential_holder="品牌部 张主管",
        ),
    )  # fmt: skip
