"""An administrator opens System status from the navigation and sees whether the scheduler and the task workers
run and when the last backup was made; a monitoring system reads the same checks from /health/background."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.browser


def test_admin_sees_the_scheduler_stopped_then_running(page, login, world, results_dir, tmp_path):
    login(page, "admin")
    page.locator("nav.sidenav a[data-nav=system]").click()
    page.wait_for_url("**/system/")
    assert page.locator("h1").inner_text() == "系统状态"
    checks = page.get_by_test_id("system-checks")
    assert checks.locator("tr[data-check=database] .badge.ok").count() == 1
    assert checks.locator("tr[data-check=migrations] .badge.ok").count() == 1
    # no scheduler has ticked against this database yet
    assert checks.locator("tr[data-check=scheduler] .badge.off").count() == 1
    assert "run_scheduler" in page.get_by_test_id("system-schedulers").inner_text()
    assert page.request.get("/health/background").status == 503

    assert "没有 manage.py backup 生成的备份记录" in page.get_by_test_id("system-backups").inner_text()

    call_command("run_scheduler", "--once", stdout=io.StringIO())
    call_command("backup", "--output-dir", str(tmp_path), "--no-media", stdout=io.StringIO())
    page.reload()
    backups = page.get_by_test_id("system-backups")
    assert backups.locator(".badge.ok").count() == 1
    assert "xinqiao-" in backups.locator("[data-figure=backup]").inner_text()
    assert "尚未校验" in backups.locator("[data-figure=backup-verified]").inner_text()
    assert checks.locator("tr[data-check=scheduler] .badge.ok").count() == 1
    schedulers = page.get_by_test_id("system-schedulers")
    assert schedulers.locator("tbody tr .badge.ok").inner_text() == "运行中"
    page.screenshot(path=str(results_dir / "system-status.png"), full_page=True)
    response = page.request.get("/health/background")
    assert response.status == 200
    assert response.json()["checks"]["scheduler"]["ok"] is True
