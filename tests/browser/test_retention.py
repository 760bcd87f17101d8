"""An admin places a legal hold from the retention page; the next sweep leaves the held patient alone."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from xinqiao.core import retention
from xinqiao.core.models import LegalHold

pytestmark = pytest.mark.browser


def test_admin_places_a_legal_hold_that_the_sweep_respects(page, login, world, results_dir):
    held, other = world.patients[0], world.patients[1]
    login(page, "admin")
    page.goto("/retention/")
    assert page.get_by_test_id("retention-rules").locator("code", has_text="patient_record").count() == 1

    form = page.get_by_test_id("legal-hold-form")
    form.locator("select[name=subject_type]").select_option("patient")
    form.locator("input[name=subject_id]").fill(str(held.pk))
    form.locator("input[name=reason]").fill("医疗纠纷诉讼，保全病历相关资料")
    form.locator("input[name=approved_by]").fill("法务部 王律师")
    form.locator("input[name=reference]").fill("(2026)京0105民初1234号")
    with page.expect_navigation():
        form.locator("button").click()

    row = page.get_by_test_id("legal-holds").locator("tbody tr").first
    assert "法务部 王律师" in row.inner_text()
    assert LegalHold.objects.get().subject_id == held.pk
    page.screenshot(path=str(results_dir / "retention-legal-hold.png"), full_page=True)

    retention.sweep(now=timezone.now() + dt.timedelta(days=181), hospitals=[world.hospital])
    held.refresh_from_db()
    other.refresh_from_db()
    assert held.erased_at is None
    assert other.erased_at is not None
    page.reload()
    held_count = page.get_by_test_id("sweeps").locator("span[title=patients_held]")
    assert held_count.inner_text() == "因保全保留的患者 1"  # the count named in the user's language
