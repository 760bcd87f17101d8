"""Permission-matrix probe for ``analytics.manage`` through the metric import upload (called by
xinqiao/core/tests/test_permission_matrix.py).

The upload needs a Douyin account of the hospital. The matrix counts accounts in its snapshot, so an account this
probe had to create for a request that was then refused is removed again (it holds nothing: the request was refused
before the form was read).
"""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from xinqiao.analytics.models import ContentMetricDaily, MetricImport
from xinqiao.channels.models import PlatformAccount

CSV = ("作品名称,发布时间,播放量,完播率,点赞量\r\n高血压的日常管理,2025-03-02 09:30,1.2万,35.5%,800\r\n").encode(
    "utf-8-sig"
)


def perform(action: str, client, world):
    if action != "analytics.manage":
        return None
    account, created = PlatformAccount.objects.get_or_create(
        hospital=world.hospital,
        platform="douyin",
        name="权限探针抖音号",
        defaults={"account_type": PlatformAccount.AccountType.HOSPITAL_OFFICIAL},
    )
    response = client.post(
        "/analytics/imports/new/",
        {
            "platform": "douyin",
            "account": account.pk,
            "uploaded_file": SimpleUploadedFile("works.csv", CSV, content_type="text/csv"),
        },
    )
    if created and response.status_code in (403, 404):
        account.delete()
    return response


def snapshot() -> tuple:
    return (MetricImport.objects.count(), ContentMetricDaily.objects.count())
