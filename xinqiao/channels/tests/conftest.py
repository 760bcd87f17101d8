"""Platform sandboxes served over real sockets on 127.0.0.1 for the channel tests."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import segno

from xinqiao.channels.platforms.base import InMemoryTokenStore
from xinqiao.channels.platforms.wechat_oa.client import WeChatOAClient
from xinqiao.channels.platforms.wechat_oa.sandbox import WeChatOASandbox

WECHAT_APP_ID = "wx0123456789abcdef"
WECHAT_APP_SECRET = "test-app-secret-9f8e7d6c5b4a"


class SandboxSleep:
    """The client's sleep function in tests: records each pause and moves the sandbox clock on instead of waiting."""

    def __init__(self, sandbox: WeChatOASandbox) -> None:
        self.sandbox = sandbox
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.sandbox.advance_clock(seconds)


@pytest.fixture(scope="session")
def wechat_oa_sandbox_server() -> Iterator[WeChatOASandbox]:
    sandbox = WeChatOASandbox(apps={WECHAT_APP_ID: WECHAT_APP_SECRET}, port=0, poll_interval=0.05).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def wechat_oa_sandbox(wechat_oa_sandbox_server: WeChatOASandbox) -> WeChatOASandbox:
    """The session's sandbox, reset to its initial configuration, data and clock."""
    wechat_oa_sandbox_server.reset()
    return wechat_oa_sandbox_server


@pytest.fixture
def sandbox_sleep(wechat_oa_sandbox: WeChatOASandbox) -> SandboxSleep:
    return SandboxSleep(wechat_oa_sandbox)


@pytest.fixture
def make_wechat_client(
    wechat_oa_sandbox: WeChatOASandbox, sandbox_sleep: SandboxSleep
) -> Iterator[Callable[..., WeChatOAClient]]:
    """Build clients against the sandbox; by default they share its clock and sleep through ``sandbox_sleep``."""
    clients: list[WeChatOAClient] = []

    def build(**overrides: Any) -> WeChatOAClient:
        options: dict[str, Any] = {
            "app_id": WECHAT_APP_ID,
            "app_secret": WECHAT_APP_SECRET,
            "base_url": wechat_oa_sandbox.base_url,
            "token_store": InMemoryTokenStore(),
            "http_timeout": 5.0,
            "sleep": sandbox_sleep,
            "clock": wechat_oa_sandbox.now,
        }
        options.update(overrides)
        client = WeChatOAClient(**options)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def wechat_client(make_wechat_client: Callable[..., WeChatOAClient]) -> WeChatOAClient:
    return make_wechat_client()


@pytest.fixture
def png_bytes() -> bytes:
    """A real PNG image (a QR code rendered by segno)."""
    buffer = io.BytesIO()
    segno.make("xinqiao-test").save(buffer, kind="png", scale=2)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def _english(english_ui):
    """These tests assert English msgids (``english_ui`` in the root conftest)."""
