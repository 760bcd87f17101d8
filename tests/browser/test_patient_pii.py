"""Patient identifiers are masked on the page; a reveal asks for a purpose and lands in the audit log."""

from __future__ import annotations

import pytest
from django.utils import translation

from xinqiao.core.models import AuditEvent

pytestmark = pytest.mark.browser


def test_patient_page_shows_masked_identifiers(page, login, world, results_dir):
    patient = world.patients[0]
    clear = world.pii[patient.pk]
    login(page, "service")

    response = page.goto(f"/patients/{patient.pk}/")

    assert response.status == 200
    assert page.get_by_test_id("pii-name").locator(".masked").inner_text() == "张*"
    assert page.get_by_test_id("pii-mobile").locator(".masked").inner_text() == "138****8000"
    assert page.get_by_test_id("pii-id_number").locator(".masked").inner_text() == (
        f"110105********{clear['id_number'][-4:]}"
    )
    content = page.content()
    assert clear["mobile"] not in content
    assert clear["id_number"] not in content
    assert clear["name"] not in content
    page.screenshot(path=str(results_dir / "patient-detail.png"), full_page=True)


def on_top(page, test_id: str) -> bool:
    """Whether a click in the middle of the element lands on it (nothing covers it)."""
    return page.get_by_test_id(test_id).evaluate(
        """el => { const r = el.getBoundingClientRect();
                   return el.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2)); }"""
    )


def submit_reveal(page, patient_pk: int) -> list:
    """Click the reveal confirmation; returns [HTTP status, whether htmx swapped the answer in]."""
    page.evaluate(
        """() => { window.revealOutcome = null;
                   document.body.addEventListener('htmx:afterRequest',
                     e => { window.revealOutcome = {status: e.detail.xhr.status}; }, {once: true});
                   document.body.addEventListener('htmx:afterSwap',
                     () => { window.revealSwapped = true; }, {once: true});
                   window.revealSwapped = false; }"""
    )
    with page.expect_response(f"**/patients/{patient_pk}/reveal/"):
        page.get_by_test_id("confirm-reveal-mobile").click()
    page.wait_for_function("window.revealOutcome !== null")
    return page.evaluate("[window.revealOutcome.status, window.revealSwapped]")


def test_reveal_needs_a_purpose_and_is_audited(page, login, logout, world):
    patient = world.patients[0]
    mobile = world.pii[patient.pk]["mobile"]
    page.set_viewport_size({"width": 1366, "height": 768})  # the usual hospital office screen
    login(page, "service")
    page.goto(f"/patients/{patient.pk}/")
    assert page.get_by_test_id("purpose-mobile").is_hidden()

    # when service asks to see the mobile, a purpose is asked for, for that field only
    page.get_by_test_id("reveal-mobile").click()
    assert page.get_by_test_id("purpose-mobile").is_visible()
    assert page.get_by_test_id("reveal-mobile").is_hidden()
    assert page.get_by_test_id("purpose-name").is_hidden()
    assert page.get_by_test_id("purpose-id_number").is_hidden()
    assert on_top(page, "confirm-reveal-mobile")

    # and submitting without a purpose shows an error and reveals nothing
    assert submit_reveal(page, patient.pk) == [400, True]
    assert page.get_by_test_id("reveal-error").is_visible()
    assert page.get_by_test_id("revealed-mobile").count() == 0
    assert mobile not in page.content()

    # when a purpose is chosen, the clear value is shown
    page.get_by_test_id("purpose-mobile").select_option("follow_up")
    assert submit_reveal(page, patient.pk) == [200, True]
    assert page.get_by_test_id("revealed-mobile").inner_text() == mobile

    events = list(
        AuditEvent.objects.filter(action=AuditEvent.Action.REVEAL, object_id=str(patient.pk))
        .order_by("pk")
        .values_list("actor_label", "fields", "purpose", "result")
    )
    assert events == [
        ("service", ["mobile"], "", AuditEvent.Result.DENIED),
        ("service", ["mobile"], "follow_up", AuditEvent.Result.OK),
    ]

    # then the admin finds both attempts in the audit log
    logout(page)
    login(page, "admin")
    response = page.goto("/audit/?action=reveal")
    assert response.status == 200
    rows = page.locator("[data-testid=audit-table] tbody tr[data-action=reveal]").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    with translation.override("zh-hans"):
        ok, denied = str(AuditEvent.Result.OK.label), str(AuditEvent.Result.DENIED.label)
    # columns: time, user, roles, action, object, fields, purpose, result, IP
    assert [(r[1], r[2], r[4], r[5], r[6], r[7]) for r in rows] == [
        ("service", "service", f"patient {patient.pk}", "mobile", "follow_up", ok),
        ("service", "service", f"patient {patient.pk}", "mobile", "", denied),
    ]
    assert mobile not in page.content()
