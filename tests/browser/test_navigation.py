"""Each persona signs in through the real form and sees exactly the navigation its roles allow."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

CORE = ["home", "patients", "organisation"]
ADMIN_ONLY = ["members", "api_keys", "audit", "retention", "system"]
CONTENT = ["content", "calendar", "review_queue"]
CHANNELS = ["accounts", "notifications"]
NOTIFICATIONS = ["notifications"]  # every member reads the notices addressed to their roles
LISTENING = ["listening", "mentions", "alerts", "cases"]
ANALYTICS = ["analytics", "metric_imports", "reports"]
ANALYTICS_DEPARTMENT = ["analytics", "metric_imports"]
POLICIES = ["compliance_rules", "review_policies", "notification_routes"]
# Written out by hand from the permission matrix (docs/permissions.md), not computed from access.py.
EXPECTED_NAVIGATION = {
    "admin": CORE + ADMIN_ONLY + CONTENT + CHANNELS + LISTENING + ANALYTICS + POLICIES,
    "brand": CORE + CONTENT + CHANNELS + LISTENING + ANALYTICS,
    "dept_reviewer": ["home", "organisation"] + CONTENT + NOTIFICATIONS + ANALYTICS_DEPARTMENT,
    "medical_affairs": CORE + CONTENT + NOTIFICATIONS + LISTENING,
    "service": CORE + NOTIFICATIONS,
    "health_manager": CORE + NOTIFICATIONS,
    "leadership": ["home", "organisation"] + CONTENT + CHANNELS + LISTENING + ANALYTICS,
    "outsider": CORE + ADMIN_ONLY + CONTENT + CHANNELS + LISTENING + ANALYTICS + POLICIES,
}


@pytest.mark.parametrize("persona", sorted(EXPECTED_NAVIGATION))
def test_navigation_matches_role(page, login, world, persona):
    # given a persona signed in through the login form
    login(page, persona)

    # then the navigation holds exactly the entries of the role, in order
    keys = page.locator("nav.sidenav a[data-nav]").evaluate_all("links => links.map(a => a.dataset.nav)")
    assert keys == EXPECTED_NAVIGATION[persona]
    expected_hospital = world.other_hospital.name if persona == "outsider" else world.hospital.name
    assert page.get_by_test_id("hospital-name").inner_text() == expected_hospital

    # and every entry opens a page the persona may see
    hrefs = page.locator("nav.sidenav a[data-nav]").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    for key, href in zip(keys, hrefs, strict=True):
        response = page.goto(href)
        assert (key, response.status) == (key, 200)
        assert page.locator(f"nav.sidenav a[data-nav={key}]").get_attribute("aria-current") == "page"
