"""Real-browser fixtures: one Debian Chromium per session, a fresh context per test, pytest-django's live server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run next to one unless told.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESULTS_DIR = Path(__file__).resolve().parents[2] / "test-results"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def outside_requests() -> list[str]:
    """URLs the page tried to fetch from anywhere but the live server (they are aborted)."""
    return []


@pytest.fixture
def context(browser: Browser, live_server, transactional_db, outside_requests: list[str]) -> Iterator[BrowserContext]:
    # Chromium's own locale (en-US): the UI must still start in zh-hans, whatever the browser asks for.
    context = browser.new_context(base_url=live_server.url, locale="en-US", timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    origin = live_server.url.rstrip("/") + "/"

    def keep_local(route: Route) -> None:
        if route.request.url.startswith(origin):
            route.continue_()
        else:
            outside_requests.append(route.request.url)
            route.abort()

    context.route("**/*", keep_local)
    yield context
    context.close()
    assert outside_requests == []


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def login(password: str) -> Callable[[Page, str], None]:
    """Sign in through the real login form; returns once the workbench is shown with htmx loaded."""

    def do_login(page: Page, username: str) -> None:
        page.goto("/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        assert page.locator("[data-testid=current-user]").inner_text() == username
        page.wait_for_function("window.htmx !== undefined")

    return do_login


@pytest.fixture
def logout() -> Callable[[Page], None]:
    def do_logout(page: Page) -> None:
        with page.expect_navigation():
            page.click("form[action='/logout/'] button")
        assert page.locator("#id_username").count() == 1

    return do_logout


@pytest.fixture(scope="session")
def results_dir() -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    return RESULTS_DIR
