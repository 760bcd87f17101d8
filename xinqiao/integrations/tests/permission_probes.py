"""Permission-matrix probe for ``integration.manage`` (called by xinqiao/core/tests/test_permission_matrix.py)."""

from __future__ import annotations

from xinqiao.integrations.models import NotificationRoute, OutboundMessage


def perform(action: str, client, world):
    if action != "integration.manage":
        return None
    return client.post(
        "/integrations/routes/new/",
        {"name": "值班邮箱", "kind": "email", "emails": "duty@example.com", "purposes": ["alerts"],
         "min_severity": 0, "is_active": "on"},
    )  # fmt: skip


def snapshot() -> tuple:
    return (NotificationRoute.objects.count(), OutboundMessage.objects.count())
