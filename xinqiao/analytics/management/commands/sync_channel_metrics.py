"""Pull WeChat OA datacube statistics into the metric fact tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xinqiao.analytics.services.datacube import (
    MAX_SYNC_DAYS,
    latest_available_day,
    metrics_sync_wechat,
    metrics_sync_wechat_all,
)
from xinqiao.channels.models import PlatformAccount
from xinqiao.core.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Sync WeChat OA follower and article statistics (datacube) for one account or all connected ones."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--account", type=int, help="Account ID (default: every connected WeChat OA account).")
        parser.add_argument("--days", type=int, default=1, help="Days back from the latest available day.")
        parser.add_argument("--end", help="Last day to sync, YYYY-MM-DD (default: latest available day).")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if not 1 <= days <= MAX_SYNC_DAYS:
            raise CommandError(_("--days must be between 1 and %(max)d.") % {"max": MAX_SYNC_DAYS})
        if options["account"] is None:
            if options["end"]:
                raise CommandError(_("--end needs --account."))
            outcomes = metrics_sync_wechat_all(days=days)
            for outcome in outcomes:
                self.stdout.write(str(outcome))
            if any("error" in outcome for outcome in outcomes):
                raise CommandError(_("Some accounts could not be synced."))
            return
        account = PlatformAccount.objects.filter(pk=options["account"]).first()
        if account is None:
            raise CommandError(_("No account %(id)d.") % {"id": options["account"]})
        try:
            end = dt.date.fromisoformat(options["end"]) if options["end"] else latest_available_day()
        except ValueError:
            raise CommandError(_("--end must be a date like 2025-03-07.")) from None
        begin = end - dt.timedelta(days=days - 1)
        try:
            result = metrics_sync_wechat(account=account, begin=begin, end=end)
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            _(
                "%(account)s %(begin)s..%(end)s: %(requests)d requests; content created %(cc)d, updated %(cu)d, "
                "unchanged %(cn)d; account days created %(ac)d, updated %(au)d, unchanged %(an)d."
            )
            % {
                "account": account.name,
                "begin": begin.isoformat(),
                "end": end.isoformat(),
                "requests": result.requests,
                "cc": result.content_created,
                "cu": result.content_updated,
                "cn": result.content_unchanged,
                "ac": result.account_created,
                "au": result.account_updated,
                "an": result.account_unchanged,
            }
        )
