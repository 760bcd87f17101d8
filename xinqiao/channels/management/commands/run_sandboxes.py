"""Serve the platform sandboxes on 127.0.0.1 in the foreground (Ctrl-C or SIGTERM stops them)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xinqiao.channels.platforms.wechat_oa.sandbox import DEMO_APP_ID, DEMO_APP_SECRET, WeChatOASandbox


class Command(BaseCommand):
    help = "Serve the local platform sandboxes (fake WeChat OA API) on 127.0.0.1 until interrupted."
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

    def handle(self, *args: Any, **options: Any) -> None:
        port = options["wechat_oa_port"]
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

        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
        sandbox.start()
        self.stdout.write(
            _("WeChat OA sandbox: %(url)s (AppID %(app_id)s)")
            % {"url": sandbox.base_url, "app_id": options["wechat_oa_app_id"]}
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
            sandbox.stop()
        self.stdout.write(_("Sandboxes stopped."))
        self.stdout.flush()
