"""Every cell of the role × action matrix in docs/permissions.md, exercised over HTTP.

The expected matrix is written out here literally (not derived from access.py), so a change to
the rules has to change this table, the docs and the code together.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from xinqiao.channels.models import PlatformAccount, Publication
from xinqiao.content.models import Approval, ContentItem, RuleAddition, Transition
from xinqiao.core.models import ApiKey, AuditEvent, Department, LegalHold, Membership, Patient
from xinqiao.core.views import SUDO_SESSION_KEY

ROLES = ["admin", "brand", "dept_reviewer", "medical_affairs", "service", "health_manager", "leadership"]

# action -> roles allowed
EXPECTED: dict[str, set[str]] = {
    "dashboard.view": set(ROLES),
    "org.view": set(ROLES),
    "org.manage": {"admin"},
    "patient.view": {"admin", "brand", "medical_affairs", "service", "health_manager"},
    "patient.write": {"admin", "service", "health_manager"},
    "patient.reveal": {"admin", "service", "health_manager"},
    "patient.export": {"admin"},
    "patient.erase": {"admin"},
    "audit.view": {"admin"},
    "membership.manage": {"admin"},
    "apikey.manage": {"admin"},
    "channel.view": {"admin", "brand", "leadership"},
    "channel.manage": {"admin", "brand"},
    "content.view": {"admin", "brand", "dept_reviewer", "medical_affairs", "leadership"},
    "content.write": {"brand"},
    "content.review_department": {"dept_reviewer"},
    "content.review_medical": {"medical_affairs"},
    "content.review_final": {"brand"},
    "content.publish": {"brand"},
    "content.policy_manage": {"admin"},
    "listening.view": {"admin", "brand", "medical_affairs", "leadership"},
    "listening.manage": {"admin", "brand"},
    "case.manage": {"brand"},
    "case.sign_off": {"medical_affairs"},
    "analytics.view": {"admin", "brand", "dept_reviewer", "leadership"},
    "analytics.manage": {"admin", "brand"},
    "report.view": {"admin", "brand", "leadership"},
    "integration.manage": {"admin"},
    "retention.manage": {"admin"},
    "system.view": {"admin"},
}

# Apps beyond core and content keep their probes next to their own tests: each module has
# ``perform(action, client, world)`` (a response, or None for actions it does not own) and ``snapshot()``.
PROBE_MODULES = [
    "xinqiao.listening.tests.permission_probes",
    "xinqiao.listening.tests.permission_probes_cases",
    "xinqiao.analytics.tests.permission_probes",
    "xinqiao.analytics.tests.permission_probes_imports",
    "xinqiao.analytics.tests.permission_probes_reports",
    "xinqiao.integrations.tests.permission_probes",
]


def probe_modules():
    return [importlib.import_module(name) for name in PROBE_MODULES]


def snapshot() -> tuple:
    """What a denied request must leave untouched."""
    return (
        Patient.objects.count(),
        Patient.objects.filter(erased_at__isnull=False).count(),
        Department.objects.count(),
        sorted(Membership.objects.values_list("user_id", "role")),
        ApiKey.objects.count(),
        LegalHold.objects.count(),
        AuditEvent.objects.filter(action=AuditEvent.Action.REVEAL, result="ok").count(),
        AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).count(),
        PlatformAccount.objects.count(),
        ContentItem.objects.count(),
        Transition.objects.count(),
        Approval.objects.count(),
        Publication.objects.count(),
        RuleAddition.objects.count(),
        *(part for module in probe_modules() for part in module.snapshot()),
    )


CONTENT_STATES = {
    "content.view": "draft",
    "content.review_department": "department_review",
    "content.review_medical": "medical_review",
    "content.review_final": "final_review",
    "content.publish": "approved",
}


def prepare(action: str, world):
    """Content in the state the action needs, written by a second brand editor (nobody reviews their own)."""
    if action not in CONTENT_STATES:
        return None
    from xinqiao.content.tests.helpers import approve_through, make_item, writer

    weibo = PlatformAccount.objects.create(
        hospital=world.hospital, platform="weibo", name="一院微博", account_type="hospital_official"
    )
    item = make_item(world, writer(world), account_ids=[weibo.pk])
    if CONTENT_STATES[action] != "draft":
        approve_through(world, item, until=CONTENT_STATES[action])
    return item


def perform(action: str, client, world, item=None):
    patient = world.patients[0]  # a cardiology patient
    if action == "dashboard.view":
        return client.get("/")
    if action == "org.view":
        return client.get("/organisation/")
    if action == "org.manage":
        return client.post("/organisation/", {"name": "新科室", "code": "new-dept"})
    if action == "patient.view":
        return client.get(f"/patients/{patient.pk}/")
    if action == "patient.write":
        return client.post(
            "/patients/new/",
            {
                "name": "孙丽",
                "mobile": "13600136000",
                "sex": "F",
                "source_channel": "walk_in",
                "first_department": world.departments["cardiology"].pk,
            },
        )
    if action == "patient.reveal":
        return client.post(f"/patients/{patient.pk}/reveal/", {"field": "mobile", "purpose": "follow_up"})
    if action == "patient.export":
        return client.post(f"/patients/{patient.pk}/export/", {"purpose": "subject_access"})
    if action == "patient.erase":
        return client.post(f"/patients/{patient.pk}/erase/", {"reason": "patient request", "confirm": "on"})
    if action == "audit.view":
        return client.get("/audit/")
    if action == "retention.manage":
        return client.post(
            "/retention/",
            {"subject_type": "patient", "subject_id": patient.pk, "reason": "诉讼", "approved_by": "法务部"},
        )
    if action == "system.view":
        return client.get("/system/")
    if action == "membership.manage":
        return client.post(f"/members/{world.users['brand'].pk}/", {"roles": ["brand", "leadership"]})
    if action == "apikey.manage":
        return client.post("/api-keys/", {"name": "HIS", "scopes": ["patients:read"]})
    if action == "channel.view":
        return client.get("/channels/accounts/")
    if action == "channel.manage":
        return client.post(
            "/channels/accounts/new/",
            {"platform": "zhihu", "name": "一院知乎", "account_type": "hospital_official", "verification": "none",
             "target_posts_per_week": 2, "dormant_after_days": 30, "is_active": "on"},
        )  # fmt: skip
    if action == "content.view":
        return client.get(f"/content/{item.pk}/")
    if action == "content.write":
        return client.post(
            "/content/new/",
            {"title": "流感季防护", "content_type": "note", "pillar": "science",
             "body_html": "<p>勤洗手，戴口罩。以上内容仅供参考，具体诊疗请遵医嘱。</p>"},
        )  # fmt: skip
    if action.startswith("content.review_"):
        step = action.removeprefix("content.review_")
        return client.post(f"/content/{item.pk}/review/", {"step": step, "decision": "approve"})
    if action == "content.publish":
        return client.post(f"/content/{item.pk}/publish/")
    if action == "content.policy_manage":
        return client.post("/content/rules/", {"rule_id": "ABS-001", "phrases": "天下无双"})
    for module in probe_modules():
        response = module.perform(action, client, world)
        if response is not None:
            return response
    raise AssertionError(action)


def login(client, user):
    client.force_login(user)
    session = client.session
    session[SUDO_SESSION_KEY] = timezone.now().timestamp() + 600
    session.save()


CELLS = [(action, role) for action in EXPECTED for role in ROLES]


@pytest.mark.parametrize(("action", "role"), CELLS, ids=[f"{a}-{r}" for a, r in CELLS])
def test_cell(action, role, client, world):
    item = prepare(action, world)
    login(client, world.users[role])
    before = snapshot()
    response = perform(action, client, world, item)
    if role in EXPECTED[action]:
        assert response.status_code in (200, 302), response.content[:300]
        if response.status_code == 302:
            assert "/sudo/" not in response["Location"]
            assert "/login/" not in response["Location"]
    else:
        assert response.status_code == 403
        assert snapshot() == before


OBJECT_ACTIONS = ["patient.view", "patient.write", "patient.reveal", "patient.export", "patient.erase"]


@pytest.mark.parametrize("action", OBJECT_ACTIONS)
def test_outsider_gets_404_on_other_hospitals_patient(action, client, world):
    """An admin of hospital B cannot tell whether hospital A's patient exists."""
    login(client, world.users["outsider"])
    before = snapshot()
    patient = world.patients[0]
    urls = {
        "patient.view": ("get", f"/patients/{patient.pk}/", {}),
        "patient.write": (
            "post",
            f"/patients/{patient.pk}/consents/",
            {"purpose": "marketing_contact", "action": "grant", "channel": "sms", "notice_version": "v1"},
        ),
        "patient.reveal": ("post", f"/patients/{patient.pk}/reveal/", {"field": "mobile", "purpose": "follow_up"}),
        "patient.export": ("post", f"/patients/{patient.pk}/export/", {"purpose": "subject_access"}),
        "patient.erase": ("post", f"/patients/{patient.pk}/erase/", {"reason": "x", "confirm": "on"}),
    }
    method, url, data = urls[action]
    response = getattr(client, method)(url, data)
    assert response.status_code == 404
    assert snapshot() == before


def test_outsider_cannot_touch_other_hospitals_members_or_keys(client, world):
    from xinqiao.core.services import api_key_create

    key, _plain = api_key_create(principal=world.principal("admin"), name="HIS", scopes=["patients:read"])
    login(client, world.users["outsider"])
    assert client.post(f"/members/{world.users['brand'].pk}/", {"roles": ["admin"]}).status_code == 404
    assert client.post(f"/api-keys/{key.pk}/revoke/").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    assert not Membership.objects.filter(user=world.users["brand"], role="admin").exists()


def test_department_reviewer_sees_no_patients_even_of_own_department(client, world):
    login(client, world.users["dept_reviewer"])
    assert client.get("/patients/").status_code == 403
    assert client.get(f"/api/patients/{world.patients[0].pk}").status_code == 403


def test_api_patient_view_follows_the_same_matrix(client, world):
    patient = world.patients[0]
    for role in ROLES:
        login(client, world.users[role])
        response = client.get(f"/api/patients/{patient.pk}")
        expected = 200 if role in EXPECTED["patient.view"] else 403
        assert response.status_code == expected, role
        client.logout()


def test_navigation_shows_exactly_the_allowed_entries(client, world):
    nav_action = {
        "home": "dashboard.view",
        "patients": "patient.view",
        "organisation": "org.view",
        "members": "membership.manage",
        "api_keys": "apikey.manage",
        "audit": "audit.view",
        "retention": "retention.manage",
        "system": "system.view",
        "content": "content.view",
        "calendar": "content.view",
        "review_queue": "content.view",
        "accounts": "channel.view",
        "notifications": "dashboard.view",
        "listening": "listening.view",
        "mentions": "listening.view",
        "alerts": "listening.view",
        "cases": "listening.view",
        "analytics": "analytics.view",
        "metric_imports": "analytics.view",
        "reports": "report.view",
        "compliance_rules": "content.policy_manage",
        "review_policies": "content.policy_manage",
        "notification_routes": "integration.manage",
    }
    for role in ROLES:
        login(client, world.users[role])
        body = client.get("/").content.decode()
        shown = set(re.findall(r'data-nav="([a-z_]+)"', body))
        assert shown == {key for key, action in nav_action.items() if role in EXPECTED[action]}, role
        client.logout()


def test_docs_matrix_matches_this_table():
    text = (Path(settings.BASE_DIR) / "docs" / "permissions.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == len(ROLES) + 1 and cells[0].startswith("`") and cells[0].endswith("`"):
            rows[cells[0].strip("`")] = {role for role, cell in zip(ROLES, cells[1:], strict=True) if cell == "✔"}
    assert rows == EXPECTED
