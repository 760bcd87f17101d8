"""Review state machine rules, through the services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from xinqiao.content import services, workflow
from xinqiao.content.models import Approval, ContentItem, ReviewStep, Transition, WarnAcknowledgement
from xinqiao.content.tests.helpers import BLOCK_BODY, WARN_BODY, approve_through, make_item, principal_of, writer
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent, Membership
from xinqiao.core.tests.factories import make_user

State = ContentItem.State


@pytest.fixture
def author(world):
    return writer(world)


def test_full_chain_records_every_transition(world, author):
    item = make_item(world, author)
    approve_through(world, item, until=State.APPROVED)
    chain = list(Transition.objects.filter(item=item).order_by("pk").values_list("action", "from_state", "to_state"))
    assert chain == [
        ("created", "draft", "draft"),
        ("submitted", "draft", "department_review"),
        ("approved", "department_review", "medical_review"),
        ("approved", "medical_review", "final_review"),
        ("approved", "final_review", "approved"),
    ]
    actors = list(Transition.objects.filter(item=item).order_by("pk").values_list("actor__username", flat=True))
    assert actors == ["writer", "writer", "dept_reviewer", "medical_affairs", "brand"]
    assert set(Transition.objects.filter(item=item).values_list("revision__number", flat=True)) == {1}


def test_approval_out_of_order_is_refused(world, author):
    item = make_item(world, author)
    workflow.item_submit(principal=principal_of(author, world), item=item)
    with pytest.raises(ApplicationError) as error:
        workflow.item_approve(principal=world.principal("medical_affairs"), item=item, step=ReviewStep.MEDICAL)
    assert error.value.code == "out_of_order"
    item.refresh_from_db()
    assert item.state == State.DEPARTMENT_REVIEW
    assert Approval.objects.filter(item=item).count() == 0


def test_wrong_role_is_denied(world, author):
    item = make_item(world, author)
    workflow.item_submit(principal=principal_of(author, world), item=item)
    with pytest.raises(PermissionDenied):
        workflow.item_approve(principal=world.principal("medical_affairs"), item=item, step=ReviewStep.DEPARTMENT)
    with pytest.raises(PermissionDenied):
        workflow.item_approve(principal=world.principal("leadership"), item=item, step=ReviewStep.DEPARTMENT)
    item.refresh_from_db()
    assert item.state == State.DEPARTMENT_REVIEW


def test_author_cannot_approve_own_item(world):
    item = make_item(world, world.users["brand"], department=None)  # no department: medical, then final
    workflow.item_submit(principal=world.principal("brand"), item=item)
    workflow.item_approve(principal=world.principal("medical_affairs"), item=item, step=ReviewStep.MEDICAL)
    with pytest.raises(ApplicationError) as error:
        workflow.item_approve(principal=world.principal("brand"), item=item, step=ReviewStep.FINAL)
    assert error.value.code == "own_item"
    item.refresh_from_db()
    assert item.state == State.FINAL_REVIEW


def test_department_reviewer_acts_only_on_own_department(world, author):
    item = make_item(world, author, department="pediatrics")
    workflow.item_submit(principal=principal_of(author, world), item=item)
    with pytest.raises(ApplicationError) as error:
        workflow.item_approve(principal=world.principal("dept_reviewer"), item=item, step=ReviewStep.DEPARTMENT)
    assert error.value.code == "department"
    assert Approval.objects.count() == 0


def test_return_and_reject_need_a_comment(world, author):
    item = make_item(world, author)
    workflow.item_submit(principal=principal_of(author, world), item=item)
    with pytest.raises(ApplicationError) as error:
        workflow.item_send_back(
            principal=world.principal("dept_reviewer"), item=item, step="department", decision="return", comment=" "
        )
    assert error.value.code == "comment_required"
    workflow.item_send_back(
        principal=world.principal("dept_reviewer"), item=item, step="department", decision="return",
        comment="请补充参考文献",
    )  # fmt: skip
    item.refresh_from_db()
    assert item.state == State.RETURNED
    assert Transition.objects.filter(item=item, action="returned").get().comment == "请补充参考文献"
    workflow.item_submit(principal=principal_of(author, world), item=item)
    workflow.item_send_back(
        principal=world.principal("dept_reviewer"), item=item, step="department", decision="reject", comment="选题重复"
    )
    item.refresh_from_db()
    assert item.state == State.REJECTED
    with pytest.raises(ApplicationError):
        workflow.item_submit(principal=principal_of(author, world), item=item)


def test_block_findings_stop_approval(world, author):
    item = make_item(world, author, body=BLOCK_BODY)
    workflow.item_submit(principal=principal_of(author, world), item=item)
    with pytest.raises(ApplicationError) as error:
        workflow.item_approve(principal=world.principal("dept_reviewer"), item=item, step="department")
    assert error.value.code == "blocked"
    assert "EFF-001" in error.value.message
    item.refresh_from_db()
    assert item.state == State.DEPARTMENT_REVIEW


def test_warn_findings_need_a_logged_reason(world, author):
    item = make_item(world, author, body=WARN_BODY)
    workflow.item_submit(principal=principal_of(author, world), item=item)
    reviewer = world.principal("dept_reviewer")
    with pytest.raises(ApplicationError) as error:
        workflow.item_approve(principal=reviewer, item=item, step="department")
    assert error.value.code == "warn_ack_required"
    workflow.item_approve(principal=reviewer, item=item, step="department", warn_reason="引用院内质控数据，已核实")
    item.refresh_from_db()
    assert item.state == State.MEDICAL_REVIEW
    ack = WarnAcknowledgement.objects.get(item=item)
    assert (ack.rule_id, ack.finding_text, ack.reason, ack.actor.username) == (
        "ABS-002", "最有效", "引用院内质控数据，已核实", "dept_reviewer",
    )  # fmt: skip
    event = AuditEvent.objects.get(action="compliance_override")
    assert event.object_id == str(item.pk)
    assert event.detail["rules"] == ["ABS-002"]


def test_all_named_approvers_must_approve(world, author):
    second = make_user("medical2", "x-password-123", world.hospital, Membership.Role.MEDICAL_AFFAIRS)
    services.review_policy_save(
        principal=world.principal("admin"),
        content_type="article",
        steps=[
            services.StepInput(step="department", enabled=False),
            services.StepInput(
                step="medical", enabled=True, mode="all", approver_ids=[world.users["medical_affairs"].pk, second.pk]
            ),
            services.StepInput(step="final", enabled=True),
        ],
    )
    item = make_item(world, author)
    workflow.item_submit(principal=principal_of(author, world), item=item)
    item.refresh_from_db()
    assert item.state == State.MEDICAL_REVIEW  # the department step is off
    workflow.item_approve(principal=world.principal("medical_affairs"), item=item, step="medical")
    item.refresh_from_db()
    assert item.state == State.MEDICAL_REVIEW
    with pytest.raises(ApplicationError) as error:
        workflow.item_approve(principal=world.principal("medical_affairs"), item=item, step="medical")
    assert error.value.code == "duplicate"
    workflow.item_approve(principal=principal_of(second, world), item=item, step="medical")
    item.refresh_from_db()
    assert item.state == State.FINAL_REVIEW


def test_named_approvers_exclude_others(world, author):
    other = make_user("medical3", "x-password-123", world.hospital, Membership.Role.MEDICAL_AFFAIRS)
    services.review_policy_save(
        principal=world.principal("admin"),
        content_type="article",
        steps=[services.StepInput(step="medical", enabled=True, mode="any", approver_ids=[other.pk])],
    )
    item = make_item(world, author)
    workflow.item_submit(principal=principal_of(author, world), item=item)
    with pytest.raises(ApplicationError) as error:
        workflow.item_approve(principal=world.principal("medical_affairs"), item=item, step="medical")
    assert error.value.code == "not_approver"
    workflow.item_approve(principal=principal_of(other, world), item=item, step="medical")
    item.refresh_from_db()
    assert item.state == State.APPROVED  # the only step


def test_policy_refuses_approvers_without_the_role(world):
    with pytest.raises(ApplicationError) as error:
        services.review_policy_save(
            principal=world.principal("admin"),
            content_type="note",
            steps=[services.StepInput(step="medical", enabled=True, approver_ids=[world.users["service"].pk])],
        )
    assert error.value.code == "approver"


def test_approval_after_the_scheduled_time_goes_to_expired_queue(world, author):
    start = timezone.now()
    item = make_item(world, author, scheduled_at=start + dt.timedelta(hours=2))
    workflow.item_submit(principal=principal_of(author, world), item=item, now=start)
    workflow.item_approve(principal=world.principal("dept_reviewer"), item=item, step="department", now=start)
    workflow.item_approve(principal=world.principal("medical_affairs"), item=item, step="medical", now=start)
    late = start + dt.timedelta(hours=3)
    workflow.item_approve(principal=world.principal("brand"), item=item, step="final", now=late)
    item.refresh_from_db()
    assert item.state == State.EXPIRED_APPROVAL
    assert workflow.content_publish_due(now=late) == 0
    workflow.item_reschedule(
        principal=world.principal("brand"), item=item, scheduled_at=late + dt.timedelta(days=1), now=late
    )
    item.refresh_from_db()
    assert item.state == State.SCHEDULED


def test_approval_before_the_scheduled_time_schedules(world, author):
    item = make_item(world, author, scheduled_at=timezone.now() + dt.timedelta(days=1))
    approve_through(world, item, until=State.SCHEDULED)
    assert item.state == State.SCHEDULED


def test_editing_an_approved_item_sends_it_back_to_review(world, author):
    item = make_item(world, author)
    approve_through(world, item, until=State.APPROVED)
    data = services.ItemInput(
        title="高血压的日常管理（修订）", content_type="article", pillar="science",
        body_html=item.body_html, department_id=item.department_id,
    )  # fmt: skip
    services.item_update(principal=principal_of(author, world), item=item, data=data)
    item.refresh_from_db()
    assert item.state == State.DEPARTMENT_REVIEW
    assert item.current_revision.number == 2
    assert item.review_round == 2
    last = Transition.objects.filter(item=item).order_by("-pk").first()
    assert (last.action, last.from_state, last.to_state, last.revision.number) == (
        "edited", "approved", "department_review", 2,
    )  # fmt: skip
    # approvals of round 1 do not count for round 2
    workflow.item_approve(principal=world.principal("dept_reviewer"), item=item, step="department")
    item.refresh_from_db()
    assert item.state == State.MEDICAL_REVIEW


def test_items_without_department_skip_the_department_step(world, author):
    item = make_item(world, author, department=None)
    workflow.item_submit(principal=principal_of(author, world), item=item)
    item.refresh_from_db()
    assert item.state == State.MEDICAL_REVIEW
