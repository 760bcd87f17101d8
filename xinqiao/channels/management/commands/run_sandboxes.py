"""Serve the platform sandboxes on 127.0.0.1 in the foreground (Ctrl-C or SIGTERM stops them)."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xinqiao.channels.platforms.wechat_oa.sandbox import DEMO_APP_ID, DEMO_APP_SECRET, WeChatOASandbox
from xinqiao.integrations.wecom_robot.sandbox import WeComRobotSandbox


class Command(BaseCommand):
    help = (
        "Serve the local platform sandboxes (fake WeChat OA API, fake WeCom group robot) on 127.0.0.1 until "
        "interrupted."
    )
    # The sandboxes keep everything in memory: no database, so no system or migration checks.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--wechat-oa-port", type=int, default=8701, help="Port for the WeChat OA sandbox (0 picks a free one)."
        )
        parser.add_argument("--wechat-oa-app-id", default=DEMO_APP_ID, help="AppID the WeChat OA sandbox accepts.")
        parser.add_argument(
            "--wechat-oa-app-secret", default=DEMO_APP_SECRET, help="AppSecret the WeChat OA sandbox accepts."
        )
        parser.add_argument("--wechat-oa-token-ttl", type=int, default=7200, help="Access token lifetime in seconds.")
        parser.add_argument(
            "--wechat-oa-publish-polls", type=int, default=1, help="Status polls that answer 'publishing' first."
        )
        parser.add_argument("--seed", type=int, default=20250301, help="Seed of the generated statistics.")
        parser.add_argument(
            "--wecom-robot-port",
            type=int,
            default=int(os.environ["XINQIAO_WECOM_ROBOT_SANDBOX_PORT"])
            if os.environ.get("XINQIAO_WECOM_ROBOT_SANDBOX_PORT", "").strip()
            else None,
            help=(
                "Also serve the WeCom group robot sandbox (accepts any key) on this port, e.g. 8702; 0 picks a free "
                "one. Default: $XINQIAO_WECOM_ROBOT_SANDBOX_PORT, or not served."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        port = options["wechat_oa_port"]
        robot_port = options["wecom_robot_port"]
        if robot_port is not None and not 0 <= robot_port <= 65535:
            raise CommandError(_("The port must be between 0 and 65535."))
        if not 0 <= port <= 65535:
            raise CommandError(_("The port must be between 0 and 65535."))
        if options["wechat_oa_token_ttl"] < 1 or options["wechat_oa_publish_polls"] < 0:
            raise CommandError(_("The token lifetime must be positive and the poll count not negative."))
        try:
            sandbox = WeChatOASandbox(
                apps={options["wechat_oa_app_id"]: options["wechat_oa_app_secret"]},
                port=port,
                token_ttl=options["wechat_oa_token_ttl"],
                publish_polls=options["wechat_oa_publish_polls"],
                seed=options["seed"],
            )
        except OSError as exc:
            raise CommandError(_("Cannot listen on port %(port)d: %(error)s") % {"port": port, "error": exc}) from exc
        robot_sandbox: WeComRobotSandbox | None = None
        try:
            if robot_port is not None:
                robot_sandbox = WeComRobotSandbox(accept_any_key=True, port=robot_port)
        except OSError as exc:
            sandbox._server.server_close()
            raise CommandError(
                _("Cannot listen on port %(port)d: %(error)s") % {"port": robot_port, "error": exc}
            ) from exc

        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
        sandbox.start()
        if robot_sandbox is not None:
            robot_sandbox.start()
        self.stdout.write(
            _("WeChat OA sandbox: %(url)s (AppID %(app_id)s)")
            % {"url": sandbox.base_url, "app_id": options["wechat_oa_app_id"]}
        )
        if robot_sandbox is not None:
            self.stdout.write(
                _("WeCom robot sandbox: %(url)s (any key; messages at %(base)s/__sandbox__/messages)")
                % {"url": robot_sandbox.webhook_url("<key>"), "base": robot_sandbox.base_url}
            )
        self.stdout.write(_("Press Ctrl-C to stop."))
        self.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            if robot_sandbox is not None:
                robot_sandbox.stop()
            sandbox.stop()
        self.stdout.write(_("Sandboxes stopped."))
        self.stdout.flush()
