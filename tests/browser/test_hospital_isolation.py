"""A hospital's patients do not exist for another hospital's users: 404, not 403."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_outsider_gets_404_for_hospital_a_patient(page, login, world):
    login(page, "outsider")

    response = page.goto(f"/patients/{world.patients[0].pk}/")

    assert response.status == 404
    assert page.locator("section.error h1").inner_text() == "404"
    assert world.pii[world.patients[0].pk]["mobile"][-4:] not in page.content()


def test_hospital_a_user_gets_404_for_hospital_b_patient(page, login, world):
    login(page, "admin")

    response = page.goto(f"/patients/{world.other_patient.pk}/")

    assert response.status == 404
    assert page.locator("section.error h1").inner_text() == "404"
