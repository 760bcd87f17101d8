from __future__ import annotations

import random

from xinqiao.channels.models import PlatformAccount, Publication
from xinqiao.content.demo import seed_content_demo
from xinqiao.content.models import ContentItem


def test_seed_content_demo(world, settings):
    settings.XINQIAO_WECHAT_OA_SANDBOX_URL = "http://127.0.0.1:8701"
    counts = seed_content_demo(world.hospital, rng=random.Random(7))
    assert counts == {
        "draft": 5, "department_review": 4, "medical_review": 3, "final_review": 3, "returned": 2, "rejected": 1,
        "approved": 3, "scheduled": 4, "expired_approval": 1, "published": 4,
    }  # fmt: skip
    assert ContentItem.objects.filter(hospital=world.hospital).count() == 30
    platforms = set(PlatformAccount.objects.filter(hospital=world.hospital).values_list("platform", flat=True))
    assert platforms == {"wechat_oa", "wechat_channels", "weibo", "douyin", "xiaohongshu", "bilibili", "zhihu"}
    wechat = PlatformAccount.objects.get(platform="wechat_oa")
    assert (wechat.api_base_url, wechat.connection) == ("http://127.0.0.1:8701", "connected")
    types = sorted(set(PlatformAccount.objects.values_list("account_type", flat=True)))
    assert types == ["department", "doctor_personal", "hospital_official"]
    assert Publication.objects.filter(status="published").count() == 8
