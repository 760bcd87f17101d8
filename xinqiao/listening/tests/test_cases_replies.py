"""Reply wording: compliance-checked, BLOCK stops submission, WARN needs a reason, 医务部 signs off (never their
own), publishing records the first response."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied

from xinqiao.channels.models import Notification
from xinqiao.core.access import principal_for_user
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent
from xinqiao.listening.models import CaseEvent, CrisisCase, ReplyDraft
from xinqiao.listening.services import cases as services
from xinqiao.listening.tests.cases_helpers import BLOCK_REPLY, CLEAN_REPLY, WARN_REPLY, brand_and_medical_user

T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)
Draft = ReplyDraft.Status


@pytest.fixture
def case(world):
    return services.case_open(principal=world.principal("brand"), title="心内科医患纠纷", now=T0)


def draft_of(world, case, text):
    return services.reply_draft_create(principal=world.principal("brand"), case=case, text=text, now=T0)


def test_draft_is_checked_and_moves_the_case_to_responding(world, case):
    draft = draft_of(world, case, BLOCK_REPLY)
    assert draft.status == Draft.DRAFT
    assert [(f["rule_id"], f["severity"], f["text"]) for f in draft.compliance_report["findings"]] == [
        ("CR-002", "BLOCK", "您上周在我院做的手术")
    ]
    assert draft.compliance_report["content_type"] == "comment_reply"
    assert draft.compliance_report["is_ad"] is False
    case.refresh_from_db()
    assert case.status == CrisisCase.Status.RESPONDING
    assert list(CaseEvent.objects.filter(case=case).values_list("kind", flat=True)) == [
        "opened", "reply_drafted", "status",
    ]  # fmt: skip


def test_block_prevents_submission_until_fixed(world, case):
    draft = draft_of(world, case, BLOCK_REPLY)
    with pytest.raises(ApplicationError) as error:
        services.reply_submit(principal=world.principal("brand"), draft=draft, warn_reason="已核实")
    assert error.value.code == "blocked"
    assert "CR-002" in error.value.message
    draft.refresh_from_db()
    assert draft.status == Draft.DRAFT
    draft = services.reply_draft_update(principal=world.principal("brand"), draft=draft, text=CLEAN_REPLY)
    assert draft.compliance_report["findings"] == []
    services.reply_submit(principal=world.principal("brand"), draft=draft)
    draft.refresh_from_db()
    assert draft.status == Draft.SUBMITTED
    assert draft.acknowledged_warnings == []
    assert Notification.objects.filter(audience_role="medical_affairs").count() == 1


def test_warnings_need_a_reason(world, case):
    draft = draft_of(world, case, WARN_REPLY)
    with pytest.raises(ApplicationError) as error:
        services.reply_submit(principal=world.principal("brand"), draft=draft, warn_reason="  ")
    assert error.value.code == "warn_ack_required"
    draft.refresh_from_db()
    assert draft.status == Draft.DRAFT
    services.reply_submit(principal=world.principal("brand"), draft=draft, warn_reason="引用患者满意度调查原文")
    draft.refresh_from_db()
    assert draft.status == Draft.SUBMITTED
    assert [(w["rule_id"], w["text"], w["reason"], w["by"]) for w in draft.acknowledged_warnings] == [
        ("ABS-002", "最好", "引用患者满意度调查原文", "brand"),
        ("CR-003", "最好", "引用患者满意度调查原文", "brand"),
    ]


def test_sign_off_by_medical_affairs(world, case):
    draft = draft_of(world, case, CLEAN_REPLY)
    services.reply_submit(principal=world.principal("brand"), draft=draft)
    with pytest.raises(PermissionDenied):
        services.reply_sign_off(principal=world.principal("brand"), draft=draft)
    signed = T0 + dt.timedelta(hours=2)
    services.reply_sign_off(principal=world.principal("medical_affairs"), draft=draft, comment="口径准确", now=signed)
    draft.refresh_from_db()
    assert draft.status == Draft.APPROVED
    assert draft.signed_off_by == world.users["medical_affairs"]
    assert draft.signed_off_at == signed
    assert draft.sign_off_comment == "口径准确"
    event = AuditEvent.objects.get(action=AuditEvent.Action.REPLY_SIGN_OFF)
    assert (event.object_type, event.object_id, event.detail["case"]) == ("reply_draft", str(draft.pk), case.pk)
    with pytest.raises(ApplicationError) as error:
        services.reply_sign_off(principal=world.principal("medical_affairs"), draft=draft)
    assert error.value.code == "not_submitted"


def test_nobody_signs_off_their_own_reply(world, case, password):
    user = brand_and_medical_user(world, password)
    both = principal_for_user(user, world.hospital)
    draft = services.reply_draft_create(principal=both, case=case, text=CLEAN_REPLY)
    services.reply_submit(principal=both, draft=draft)
    with pytest.raises(ApplicationError) as error:
        services.reply_sign_off(principal=both, draft=draft)
    assert error.value.code == "own_reply"
    with pytest.raises(ApplicationError) as error:
        services.reply_return(principal=both, draft=draft, comment="改一下")
    assert error.value.code == "own_reply"
    draft.refresh_from_db()
    assert draft.status == Draft.SUBMITTED
    assert AuditEvent.objects.filter(action=AuditEvent.Action.REPLY_SIGN_OFF).count() == 0


def test_return_needs_a_comment_and_the_edit_goes_back_to_draft(world, case):
    draft = draft_of(world, case, CLEAN_REPLY)
    services.reply_submit(principal=world.principal("brand"), draft=draft)
    medical = world.principal("medical_affairs")
    with pytest.raises(ApplicationError) as error:
        services.reply_return(principal=medical, draft=draft, comment=" ")
    assert error.value.code == "comment_required"
    services.reply_return(principal=medical, draft=draft, comment="请删去“专项”二字")
    draft.refresh_from_db()
    assert (draft.status, draft.sign_off_comment) == (Draft.RETURNED, "请删去“专项”二字")
    with pytest.raises(ApplicationError) as error:
        services.reply_submit(principal=world.principal("brand"), draft=draft)
    assert error.value.code == "not_draft"
    draft = services.reply_draft_update(
        principal=world.principal("brand"), draft=draft, text=CLEAN_REPLY.replace("专项", "")
    )
    assert draft.status == Draft.DRAFT


def test_publishing_records_the_first_response_once(world, case):
    brand = world.principal("brand")
    first = draft_of(world, case, CLEAN_REPLY)
    with pytest.raises(ApplicationError) as error:
        services.reply_mark_published(principal=brand, draft=first)
    assert error.value.code == "not_signed_off"
    services.reply_submit(principal=brand, draft=first)
    services.reply_sign_off(principal=world.principal("medical_affairs"), draft=first)
    published = T0 + dt.timedelta(hours=5)
    services.reply_mark_published(principal=brand, draft=first, now=published)
    case.refresh_from_db()
    first.refresh_from_db()
    assert (first.status, first.published_at) == (Draft.PUBLISHED, published)
    assert (case.status, case.first_responded_at) == (CrisisCase.Status.RESPONDED, published)

    second = draft_of(world, case, CLEAN_REPLY + "后续进展将持续通报。")
    services.reply_submit(principal=brand, draft=second)
    services.reply_sign_off(principal=world.principal("medical_affairs"), draft=second)
    services.reply_mark_published(principal=brand, draft=second, now=published + dt.timedelta(hours=3))
    case.refresh_from_db()
    assert case.first_responded_at == published
    assert list(CaseEvent.objects.filter(case=case, kind="reply_published").values_list("text", flat=True)) == [
        f"Reply #{first.pk} published: first response.",
        f"Reply #{second.pk} published.",
    ]


def test_closing_waits_for_pending_sign_off(world, case):
    brand = world.principal("brand")
    first = draft_of(world, case, CLEAN_REPLY)
    services.reply_submit(principal=brand, draft=first)
    services.reply_sign_off(principal=world.principal("medical_affairs"), draft=first)
    services.reply_mark_published(principal=brand, draft=first)
    second = draft_of(world, case, CLEAN_REPLY + "后续进展将持续通报。")
    services.reply_submit(principal=brand, draft=second)
    with pytest.raises(ApplicationError) as error:
        services.case_close(principal=brand, case=case, lessons="及时回应")
    assert error.value.code == "pending_reply"


def test_reply_text_is_validated(world, case):
    with pytest.raises(ApplicationError) as error:
        draft_of(world, case, "")
    assert error.value.code == "text_required"
    with pytest.raises(ApplicationError) as error:
        draft_of(world, case, "好" * 2001)
    assert error.value.code == "text_too_long"
    assert ReplyDraft.objects.count() == 0


@pytest.fixture(autouse=True)
def english(settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
