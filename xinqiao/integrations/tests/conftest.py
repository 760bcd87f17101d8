"""The 企业微信 robot sandbox served over a real socket on 127.0.0.1, and routes pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from xinqiao.integrations.wecom_robot.sandbox import WeComRobotSandbox

ROBOT_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
OTHER_ROBOT_KEY = "0c1d2e3f-aaaa-bbbb-cccc-111122223333"


@pytest.fixture(scope="session")
def robot_sandbox_server() -> Iterator[WeComRobotSandbox]:
    sandbox = WeComRobotSandbox(keys=[ROBOT_KEY, OTHER_ROBOT_KEY], port=0).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def robot_sandbox(robot_sandbox_server: WeComRobotSandbox) -> WeComRobotSandbox:
    """The session's sandbox with its messages, rate windows and clock reset."""
    robot_sandbox_server.reset()
    return robot_sandbox_server


@pytest.fixture(autouse=True)
def _english(english_ui):
    """These tests assert English msgids (``english_ui`` in the root conftest)."""
