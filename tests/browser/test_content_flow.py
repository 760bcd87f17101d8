"""The content flow in a real browser: write, see the compliance findings, three reviews, publish to the WeChat
sandbox over real HTTP, see the published state and the tracking link; then plan by drag and drop."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import segno
from django.core.cache import cache
from django.utils import timezone

from xinqiao.channels.models import PlatformAccount, Publication, TrackingLink
from xinqiao.channels.platforms.wechat_oa.sandbox import WeChatOASandbox
from xinqiao.channels.services import AccountInput, account_create
from xinqiao.content.models import Approval, ContentItem
from xinqiao.core.models import Membership
from xinqiao.core.tests.factories import make_user

pytestmark = pytest.mark.browser

APP_ID = "wx0123456789abcdef"
APP_SECRET = "browser-test-secret-0a1b2c"
WARN_BODY = "<p>我院专家说这是最有效的降压方法。</p><p>以上内容仅供参考，具体诊疗请遵医嘱。</p>"


@pytest.fixture
def sandbox():
    server = WeChatOASandbox(apps={APP_ID: APP_SECRET}, port=0, poll_interval=0.05).start()
    yield server
    server.stop()


@pytest.fixture
def studio(world, password, sandbox, settings, tmp_path):
    """A second brand editor and a WeChat account connected to the sandbox."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.XINQIAO_WECHAT_OA_POLL_SECONDS = 0.01
    settings.XINQIAO_WECHAT_OA_BUSY_BACKOFF = 0.0
    cache.clear()
    make_user("brand2", password, world.hospital, Membership.Role.BRAND)
    account = account_create(
        principal=world.principal("brand"),
        data=AccountInput(
            platform="wechat_oa", name="一院公众号", account_type="hospital_official", app_id=APP_ID,
            app_secret=APP_SECRET, api_base_url=sandbox.base_url,
        ),
    )  # fmt: skip
    return account


def png() -> bytes:
    buffer = io.BytesIO()
    segno.make("xinqiao-cover").save(buffer, kind="png", scale=4)
    return buffer.getvalue()


def state_of(page) -> str:
    return page.get_by_test_id("state").get_attribute("data-state")


def approve(page, login, logout, username: str, item_pk: int, expected_state: str) -> None:
    login(page, username)
    page.goto(f"/content/{item_pk}/")
    form = page.get_by_test_id("review-form")
    form.locator("select[name=decision]").select_option("approve")
    form.locator("textarea[name=warn_reason]").fill("“最有效”出自引用的临床指南原文，已核对。")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert state_of(page) == expected_state
    logout(page)


def test_write_review_publish_and_track(page, login, logout, world, studio, sandbox, results_dir):
    account = studio
    login(page, "brand")
    page.goto("/content/new/")
    page.fill("#id_title", "秋季高血压管理")
    page.select_option("#id_content_type", "article")
    page.select_option("#id_pillar", "science")
    page.select_option("#id_department", str(world.departments["cardiology"].pk))
    page.check(f"input[name=accounts][value='{account.pk}']")
    page.fill("#id_body_html", WARN_BODY)
    page.set_input_files("#id_cover", files=[{"name": "cover.png", "mimeType": "image/png", "buffer": png()}])
    with page.expect_navigation():
        page.click("main form.form button[type=submit]")
    item = ContentItem.objects.get(title="秋季高血压管理")
    assert page.url.endswith(f"/content/{item.pk}/")
    assert state_of(page) == "draft"

    # the compliance finding is highlighted in the text and listed
    finding = page.locator("[data-testid=compliance] mark.finding.WARN")
    assert finding.count() == 1
    assert finding.inner_text() == "最有效"
    assert finding.get_attribute("data-rule") == "ABS-002"
    assert page.locator("[data-testid=compliance] li[data-finding=ABS-002]").count() == 1

    with page.expect_navigation():
        page.click(f"form[action='/content/{item.pk}/submit/'] button")
    assert state_of(page) == "department_review"
    assert page.get_by_test_id("review-form").count() == 0  # nobody reviews their own item
    logout(page)

    approve(page, login, logout, "dept_reviewer", item.pk, "medical_review")
    approve(page, login, logout, "medical_affairs", item.pk, "final_review")
    approve(page, login, logout, "brand2", item.pk, "approved")
    assert sorted(Approval.objects.filter(item=item).values_list("step", "approver__username")) == [
        ("department", "dept_reviewer"), ("final", "brand2"), ("medical", "medical_affairs"),
    ]  # fmt: skip

    login(page, "brand")
    page.goto(f"/content/{item.pk}/")
    with page.expect_navigation():
        page.click(f"form[action='/content/{item.pk}/publish/'] button")
    assert state_of(page) == "published"
    publication = Publication.objects.get(item=item)
    assert publication.status == Publication.Status.PUBLISHED
    assert publication.post_url.startswith(f"{sandbox.base_url}/s/")
    link = TrackingLink.objects.get(publication=publication)
    row = page.locator(f"[data-testid=publications] tr[data-publication='{publication.pk}']")
    assert row.locator("code").nth(1).inner_text() == f"/t/{link.code}"
    assert row.locator(f"a[href='{publication.post_url}']").count() == 1
    page.screenshot(path=str(results_dir / "content-published.png"), full_page=True)

    # the tracking link answers with a redirect to the post (not followed: the sandbox is outside the live server)
    response = page.request.get(f"/t/{link.code}", max_redirects=0)
    assert response.status == 302
    assert response.headers["location"] == publication.post_url
    assert sum(1 for entry in sandbox.requests() if entry["path"] == "/cgi-bin/freepublish/submit") == 1

    # a complaint: the post comes down on WeChat itself, and the takedown is recorded with its reason
    takedown = row.get_by_test_id("take-down")
    takedown.locator("input[name=reason]").fill("患者投诉，撤下文章")
    with page.expect_navigation():
        takedown.locator("button").click()
    publication.refresh_from_db()
    assert (publication.status, publication.takedown_reason) == (Publication.Status.TAKEN_DOWN, "患者投诉，撤下文章")
    assert sum(1 for entry in sandbox.requests() if entry["path"] == "/cgi-bin/freepublish/delete") == 1
    assert page.request.get(publication.post_url).status == 404
    assert "已在微信公众号删除" in page.locator("body").inner_text()


def test_drag_an_item_onto_a_day(page, login, world, studio, results_dir):
    from xinqiao.content.services import ItemInput, item_create

    item = item_create(
        principal=world.principal("brand"),
        data=ItemInput(title="冬季心脏保健", content_type="article", pillar="science", account_ids=[studio.pk]),
    )
    target = timezone.localdate() + dt.timedelta(days=3)
    login(page, "brand")
    page.goto(f"/content/calendar/?view=week&date={target.isoformat()}")
    chip = page.locator(f"[data-testid=unscheduled] [data-item='{item.pk}']")
    cell = page.locator(f"tr[data-lane='{studio.pk}'] td[data-drop-day='{target.isoformat()}']")
    with page.expect_response("**/content/calendar/reschedule/") as answer:
        chip.drag_to(cell)
    assert answer.value.status == 200
    page.get_by_test_id("calendar-success").wait_for()
    assert cell.locator(f"[data-item='{item.pk}']").count() == 1
    assert page.locator(f"[data-testid=unscheduled] [data-item='{item.pk}']").count() == 0
    item.refresh_from_db()
    assert timezone.localtime(item.scheduled_at).replace(tzinfo=None) == dt.datetime.combine(target, dt.time(9, 0))
    assert PlatformAccount.objects.get(pk=studio.pk).target_posts_per_week == 3
    page.goto(f"/content/calendar/?view=month&date={target.isoformat()}")
    assert page.locator(f"[data-day='{target.isoformat()}'] [data-item='{item.pk}']").count() == 1
    page.screenshot(path=str(results_dir / "content-calendar.png"), full_page=True)
