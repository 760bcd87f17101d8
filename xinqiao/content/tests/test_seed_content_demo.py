from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from xinqiao.channels.models import PlatformAccount
from xinqiao.content.models import ContentItem


def test_seeds_once_after_seed_demo(db, settings, capsys):
    settings.XINQIAO_WECHAT_OA_SANDBOX_URL = "http://127.0.0.1:8701"
    call_command("seed_demo", seed=3, patients=60, core_only=True, verbosity=0)
    call_command("seed_content_demo", seed=3)
    items = ContentItem.objects.filter(hospital__code="demo").count()
    accounts = PlatformAccount.objects.filter(hospital__code="demo").count()
    assert items >= 30
    wechat = PlatformAccount.objects.get(hospital__code="demo", platform="wechat_oa", account_type="hospital_official")
    assert wechat.api_base_url == "http://127.0.0.1:8701"
    call_command("seed_content_demo", seed=3)
    assert ContentItem.objects.filter(hospital__code="demo").count() == items
    assert PlatformAccount.objects.filter(hospital__code="demo").count() == accounts


def test_needs_the_hospital(db):
    with pytest.raises(CommandError):
        call_command("seed_content_demo", hospital="nowhere")
