"""The crisis flow in a real browser: the demo's brewing crisis on the dashboard, its alert delivered to the WeCom
robot sandbox over real HTTP, a case opened from the alert, a reply drafted (a BLOCK finding fixed), signed off by
医务部, published, and the case closed with lessons and a review downloaded as PDF and Excel."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook

from xinqiao.integrations.models import OutboundMessage
from xinqiao.integrations.wecom_robot.sandbox import DEMO_ROBOT_KEY, WeComRobotSandbox
from xinqiao.listening.demo import seed_listening_demo
from xinqiao.listening.models import Alert, CrisisCase, Mention, ReplyDraft
from xinqiao.listening.selectors.cases import case_propagation

pytestmark = pytest.mark.browser

BLOCK_REPLY = "家属您好，您上周在我院做的手术过程符合诊疗规范，请勿传谣。"
CLEAN_REPLY = "关于网传我院心内科医患纠纷一事，我院高度重视，已成立专项调查组，调查结果将及时向社会公布。"
LESSONS = "首发帖出现后三小时内即应发布情况通报；心内科需指定舆情联络人。"


@pytest.fixture
def robot():
    server = WeComRobotSandbox(accept_any_key=True, port=0).start()
    yield server
    server.stop()


@pytest.fixture
def crisis(world, robot):
    """A reduced demo: two weeks of history and a brewing crisis, processed by the real pipeline."""
    seed_listening_demo(
        world.hospital, month_mentions=400, crisis_mentions=40, days=14, webhook_url=robot.webhook_url(DEMO_ROBOT_KEY)
    )
    return Alert.objects.filter(hospital=world.hospital, kind=Alert.Kind.RED_LINE).order_by("pk").first()


def robot_messages_about(robot: WeComRobotSandbox, alert: Alert) -> list[str]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [m.content for m in robot.messages(DEMO_ROBOT_KEY) if f"#{alert.pk}" in m.content]
        if found:
            return found
        time.sleep(0.1)
    return []


def case_status(page) -> str:
    return page.get_by_test_id("case-status").get_attribute("data-status")


def test_crisis_from_dashboard_to_closed_case(page, login, logout, world, crisis, robot, results_dir):
    alert = crisis
    assert alert is not None
    crisis_cluster = alert.clusters.order_by("-size").first()

    # the dashboard shows the brewing crisis and its alert
    login(page, "brand")
    page.goto("/listening/")
    assert page.locator(f"[data-testid=top-clusters] tr[data-cluster='{crisis_cluster.pk}']").count() == 1
    assert page.locator("#volume-chart canvas").count() == 1
    page.screenshot(path=str(results_dir / "listening-dashboard.png"), full_page=True)
    with page.expect_navigation():
        page.click(f"[data-testid=open-alerts] tr[data-alert='{alert.pk}'] a")
    assert page.url.endswith(f"/listening/alerts/{alert.pk}/")

    # the robot sandbox received the alert over HTTP (counts and a link, no mention text)
    messages = robot_messages_about(robot, alert)
    assert len(messages) == 1
    assert Mention.objects.filter(cluster=crisis_cluster).first().text[:12] not in messages[0]
    assert OutboundMessage.objects.get(dedup_key=f"alert:{alert.pk}").status == OutboundMessage.Status.SENT

    # open a case from the alert
    with page.expect_navigation():
        page.get_by_test_id("open-case").click()
    case = CrisisCase.objects.get()
    assert page.url.endswith(f"/listening/cases/{case.pk}/")
    assert case_status(page) == "monitoring"
    assert page.get_by_test_id("sla").get_attribute("data-sla") == "running"
    assert page.locator(f"[data-testid=case-clusters] [data-cluster='{crisis_cluster.pk}']").count() == 1
    relays = len(case_propagation(case).accounts)
    assert page.locator("[data-testid=relay-table] tbody tr").count() == relays

    # draft a reply: the live check and the saved draft both show the BLOCK finding
    page.fill("#id_reply_text", BLOCK_REPLY)
    page.locator("[data-testid=live-findings] li[data-finding='CR-002']").wait_for()
    with page.expect_navigation():
        page.locator("[data-testid=reply-form] button[type=submit]").click()
    draft = ReplyDraft.objects.get()
    box = page.locator(f"[data-testid=draft][data-draft='{draft.pk}']")
    assert box.locator("mark.finding.BLOCK").first.inner_text() == "您上周在我院做的手术"
    assert box.locator("[data-testid=draft-submit] button").is_disabled()
    assert case_status(page) == "responding"

    # fix it, then submit to 医务部
    box.locator("[data-testid=draft-edit] textarea").fill(CLEAN_REPLY)
    with page.expect_navigation():
        box.locator("[data-testid=draft-edit] button").click()
    box = page.locator(f"[data-testid=draft][data-draft='{draft.pk}']")
    assert box.get_by_test_id("no-findings").count() == 1
    with page.expect_navigation():
        box.locator("[data-testid=draft-submit] button").click()
    assert page.locator(f"[data-testid=draft][data-draft='{draft.pk}']").get_attribute("data-status") == "submitted"
    assert page.get_by_test_id("sign-off-form").count() == 0  # brand cannot sign off
    logout(page)

    # 医务部 signs off
    login(page, "medical_affairs")
    page.goto(f"/listening/cases/{case.pk}/")
    page.get_by_test_id("sign-off-form").locator("input[name=comment]").fill("口径准确，同意发布。")
    with page.expect_navigation():
        page.get_by_test_id("sign-off-form").locator("button").click()
    assert page.locator(f"[data-testid=draft][data-draft='{draft.pk}']").get_attribute("data-status") == "approved"
    logout(page)

    # brand publishes it and closes the case with lessons
    login(page, "brand")
    page.goto(f"/listening/cases/{case.pk}/")
    with page.expect_navigation():
        page.get_by_test_id("publish-form").locator("button").click()
    assert case_status(page) == "responded"
    assert page.get_by_test_id("sla").get_attribute("data-sla") == "met"
    page.fill("#id_lessons", LESSONS)
    with page.expect_navigation():
        page.get_by_test_id("close-form").locator("button").click()
    assert case_status(page) == "closed"
    assert page.get_by_test_id("lessons").inner_text() == LESSONS
    assert page.locator("[data-testid=review-figures] tr[data-scope=story][data-window=before]").count() == 1
    assert page.locator("[data-testid=timeline] tr[data-kind=reply_signed_off]").count() == 1
    page.screenshot(path=str(results_dir / "crisis-case-closed.png"), full_page=True)

    with page.expect_download() as pdf:
        page.get_by_test_id("review-pdf").click()
    assert Path(pdf.value.path()).read_bytes()[:5] == b"%PDF-"
    with page.expect_download() as xlsx:
        page.get_by_test_id("review-xlsx").click()
    book = load_workbook(io.BytesIO(Path(xlsx.value.path()).read_bytes()))
    assert book.sheetnames == ["summary", "timeline", "figures", "hourly", "replies", "mentions"]
    case.refresh_from_db()
    assert case.review["pivot_kind"] == "first_response"
    assert case.lessons == LESSONS
