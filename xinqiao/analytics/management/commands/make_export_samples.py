"""Write synthetic back-end exports of every supported platform (xlsx and GBK CSV) into a folder."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xinqiao.analytics.importers.values import shanghai_today
from xinqiao.analytics.samples import DEFAULT_TITLES, write_samples


class Command(BaseCommand):
    help = "Write sample exports of all 8 platforms (xlsx and GBK CSV) in the documented formats."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--output", required=True, help="Folder to write into (created if missing).")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--end", help="Last day covered, YYYY-MM-DD (default: yesterday).")
        parser.add_argument("--days", type=int, default=7, help="Days covered (default 7).")
        parser.add_argument("--account-name", default="示例医院", help="Account name written on the title line.")
        parser.add_argument("--title", action="append", help="A content title (repeatable; default: sample titles).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["end"]:
            try:
                end = dt.date.fromisoformat(options["end"])
            except ValueError:
                raise CommandError(_("--end must be a date like 2025-03-07.")) from None
        else:
            end = shanghai_today() - dt.timedelta(days=1)
        if not 1 <= options["days"] <= 92:
            raise CommandError(_("--days must be between 1 and 92."))
        start = end - dt.timedelta(days=options["days"] - 1)
        names = dict.fromkeys(
            ("wechat_oa", "wechat_channels", "weibo", "douyin", "kuaishou", "xiaohongshu", "bilibili", "zhihu"),
            options["account_name"],
        )
        written = write_samples(
            Path(options["output"]),
            account_names=names,
            titles=options["title"] or DEFAULT_TITLES,
            start=start,
            end=end,
            seed=options["seed"],
        )
        for path in written:
            self.stdout.write(str(path))
        self.stdout.write(_("%(count)d files written.") % {"count": len(written)})
