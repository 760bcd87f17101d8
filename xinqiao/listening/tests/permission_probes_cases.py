"""Permission-matrix probes for crisis cases (called by xinqiao/core/tests/test_permission_matrix.py).

``case.manage``: open a case by hand. ``case.sign_off``: sign off a reply that a brand editor drafted and submitted
(prepared here through the services, so the probe case is excluded from the snapshot).
"""

from __future__ import annotations

from xinqiao.core.models import AuditEvent
from xinqiao.listening.models import CaseEvent, CrisisCase, ReplyDraft

PROBE_TITLE = "权限探针：待签发口径"
REPLY = "关于网传我院心内科医患纠纷一事，我院高度重视，已成立专项调查组，调查结果将及时向社会公布。"


def perform(action: str, client, world):
    if action == "case.manage":
        return client.post("/listening/cases/new/", {"title": "电话投诉：儿科候诊时间长", "severity": "2"})
    if action == "case.sign_off":
        from xinqiao.listening.services import cases as services

        brand = world.principal("brand")
        case = services.case_open(principal=brand, title=PROBE_TITLE)
        draft = services.reply_draft_create(principal=brand, case=case, text=REPLY)
        services.reply_submit(principal=brand, draft=draft)
        return client.post(f"/listening/replies/{draft.pk}/sign-off/", {"comment": "同意"})
    return None


def snapshot() -> tuple:
    """What a denied request must leave unchanged (the sign-off probe's own case and its events excluded)."""
    return (
        CrisisCase.objects.exclude(title=PROBE_TITLE).count(),
        CaseEvent.objects.exclude(case__title=PROBE_TITLE).count(),
        ReplyDraft.objects.exclude(status__in=[ReplyDraft.Status.DRAFT, ReplyDraft.Status.SUBMITTED]).count(),
        AuditEvent.objects.filter(action=AuditEvent.Action.REPLY_SIGN_OFF).count(),
    )
