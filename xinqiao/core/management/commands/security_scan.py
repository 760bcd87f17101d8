"""Run the security monitoring rules now: ``manage.py security_scan [--since-minutes N]``."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.core import monitoring


class Command(BaseCommand):
    help = (
        "Run the security monitoring rules (REQ-AUD-006) over the recent audit log, alert the hospitals' "
        "administrators about new findings (in-app notice and e-mail) and print every finding. Findings alerted "
        "before are printed but not sent again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--since-minutes",
            type=int,
            default=int(monitoring.SCAN_WINDOW.total_seconds() // 60),
            help="How far back to look, in minutes (default 120).",
        )

    def handle(self, *args, **options) -> None:
        minutes = options["since_minutes"]
        if not 1 <= minutes <= 60 * 24 * 31:
            raise CommandError(_("--since-minutes must be between 1 and 44640 (31 days)."))
        result = monitoring.scan_security_events(window=dt.timedelta(minutes=minutes))
        new_keys = {finding.key for finding in result.new_alerts}
        for finding in result.findings:
            marker = _("new") if finding.key in new_keys else _("already alerted")
            self.stdout.write(
                f"[{marker}] {finding.rule} {_('hospital')} #{finding.hospital_id} {finding.actor}: "
                f"{finding.count} ({timezone.localtime(finding.window_start):%Y-%m-%d %H:%M} – "
                f"{timezone.localtime(finding.window_end):%Y-%m-%d %H:%M})"
            )
        self.stdout.write(
            _("%(findings)d findings, %(new)d new alerts, %(emails)d e-mails.")
            % {"findings": len(result.findings), "new": len(result.new_alerts), "emails": result.emails}
        )
