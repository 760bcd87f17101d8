"""A failed login shows its error in the active language; zh-hans by default, English selectable."""

from __future__ import annotations

import pytest
from django.utils import translation

from xinqiao.core.models import AuditEvent

pytestmark = pytest.mark.browser

MSGID = "Wrong username or password."


def fail_login(page, username: str) -> str:
    page.fill("#id_username", username)
    page.fill("#id_password", "not-the-password")
    with page.expect_navigation() as navigation:
        page.click("main form button[type=submit]")
    assert navigation.value.status == 200
    errors = page.locator("main ul.errorlist.nonfield li")
    assert errors.count() == 1
    return errors.inner_text()


def test_failed_login_error_follows_language(page, world):
    page.goto("/login/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"

    # when the password is wrong, the error is in the default language
    message = fail_login(page, "service")
    with translation.override("zh-hans"):
        assert message == translation.gettext(MSGID)
    assert page.locator("[data-testid=current-user]").count() == 0

    # when the user picks English in the language selector
    with page.expect_navigation():
        page.select_option("select[name=language]", "en")
    assert page.locator("html").get_attribute("lang") == "en"

    # then the same failure reads in English
    assert fail_login(page, "service") == MSGID
    assert page.locator("html").get_attribute("lang") == "en"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_FAILED, actor_label="service").count() == 2
