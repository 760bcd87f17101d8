"""WeChat OA datacube → metric facts (wechat-oa.md §6), through the channels client.

Account facts come from getusersummary (new/cancelled followers per source, summed per day) and getusercumulate
(total followers), asked for in 7-day slices. Content facts come from getarticlesummary (per article per day, one
day per request); getarticletotal (one send day per request) tells each article's send date and delivered count,
asked for the send days that can still be tracked (an article is tracked for 7 days after sending). Rows are keyed
by ``msgid`` and linked to the account's publication of the same title sent that day. Upserts are idempotent
(source ``api``): a second sync of the same days changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.analytics.importers.parse import AccountRecord, ContentRecord
from xinqiao.analytics.models import MetricSource
from xinqiao.analytics.services.imports import upsert_account, upsert_content
from xinqiao.channels.models import PlatformAccount
from xinqiao.channels.platforms.base import InvalidRequestError, ProviderError
from xinqiao.channels.platforms.wechat_oa.client import (
    BEIJING,
    DATACUBE_FIRST_DAY,
    DATACUBE_MAX_DAYS,
    DATACUBE_READY_HOUR,
    WeChatOAClient,
)
from xinqiao.core.exceptions import ApplicationError

logger = logging.getLogger(__name__)

MAX_SYNC_DAYS = 92  # one sync covers at most ~3 months (the back end's own export limit)
TRACKED_DAYS = 7  # articles are tracked for 7 days after sending (§6.1)
SUMMARY_EXTRA = ("ori_page_read_user", "ori_page_read_count", "share_user", "add_to_fav_user")


@dataclass
class SyncResult:
    account_id: int
    begin: dt.date
    end: dt.date
    requests: int = 0
    content_created: int = 0
    content_updated: int = 0
    content_unchanged: int = 0
    account_created: int = 0
    account_updated: int = 0
    account_unchanged: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account_id,
            "begin": self.begin.isoformat(),
            "end": self.end.isoformat(),
            "requests": self.requests,
            "content": [self.content_created, self.content_updated, self.content_unchanged],
            "account_days": [self.account_created, self.account_updated, self.account_unchanged],
        }


def latest_available_day(now: dt.datetime | None = None) -> dt.date:
    """Yesterday once its statistics are ready (08:00 Beijing time), else the day before."""
    local = (now or timezone.now()).astimezone(BEIJING)
    back = 1 if local.hour >= DATACUBE_READY_HOUR else 2
    return local.date() - dt.timedelta(days=back)


def _slices(begin: dt.date, end: dt.date, days: int):
    start = begin
    while start <= end:
        stop = min(end, start + dt.timedelta(days=days - 1))
        yield start, stop
        start = stop + dt.timedelta(days=1)


def _days(begin: dt.date, end: dt.date):
    for offset in range((end - begin).days + 1):
        yield begin + dt.timedelta(days=offset)


def _check_request(account: PlatformAccount, begin: dt.date, end: dt.date) -> None:
    if account.platform != PlatformAccount.Platform.WECHAT_OA:
        raise ApplicationError(_("Only WeChat Official Accounts have datacube statistics."), code="platform")
    if not account.app_id or not account.has_secret:
        raise ApplicationError(
            _("The account %(account)s has no AppID/AppSecret: connect it in the account matrix first.")
            % {"account": account.name},
            code="not_connected",
        )
    if end < begin:
        raise ApplicationError(_("The end date is before the begin date."), code="date_range")
    days = (end - begin).days + 1
    if days > MAX_SYNC_DAYS:
        raise ApplicationError(
            _("One sync covers at most %(max)d days; %(days)d days (%(begin)s to %(end)s) were asked for.")
            % {"max": MAX_SYNC_DAYS, "days": days, "begin": begin.isoformat(), "end": end.isoformat()},
            code="date_span",
        )


def _provider_error(error: ProviderError) -> ApplicationError:
    if isinstance(error, InvalidRequestError):
        return ApplicationError(error.message, code=f"datacube_{error.code}")
    if error.code == 61501:
        message = _(
            "WeChat rejected the date range (error 61501): statistics cover up to yesterday (after 08:00 Beijing "
            "time), start on 2014-12-01, and each report has a maximum span per request."
        )
    elif error.code == 61500:
        message = _("WeChat rejected the date format (error 61500).")
    else:
        message = _("WeChat statistics could not be read: %(message)s (error %(code)s).") % {
            "message": error.message,
            "code": error.code,
        }
    return ApplicationError(message, code=f"datacube_{error.code}")


def _account_records(client: WeChatOAClient, begin: dt.date, end: dt.date, result: SyncResult) -> list[AccountRecord]:
    summary: dict[dt.date, dict[str, Any]] = {}
    followers: dict[dt.date, int] = {}
    for start, stop in _slices(begin, end, DATACUBE_MAX_DAYS["getusersummary"]):
        result.requests += 1
        for row in client.get_user_summary(begin=start, end=stop):
            day = dt.date.fromisoformat(row["ref_date"])
            entry = summary.setdefault(day, {"new": 0, "cancel": 0, "by_source": {}})
            entry["new"] += row["new_user"]
            entry["cancel"] += row["cancel_user"]
            source = str(row.get("user_source", 0))
            by_source = entry["by_source"].setdefault(source, {"new": 0, "cancel": 0})
            by_source["new"] += row["new_user"]
            by_source["cancel"] += row["cancel_user"]
    for start, stop in _slices(begin, end, DATACUBE_MAX_DAYS["getusercumulate"]):
        result.requests += 1
        for row in client.get_user_cumulate(begin=start, end=stop):
            followers[dt.date.fromisoformat(row["ref_date"])] = row["cumulate_user"]
    records = []
    for day in _days(begin, end):
        entry = summary.get(day, {"new": 0, "cancel": 0, "by_source": {}})  # days without change may be omitted
        metrics: dict[str, Any] = {
            "new_followers": entry["new"],
            "lost_followers": entry["cancel"],
            "net_followers": entry["new"] - entry["cancel"],
        }
        if day in followers:
            metrics["followers"] = followers[day]
        records.append(AccountRecord(stat_date=day, metrics=metrics, extra={"by_source": entry["by_source"]}, rows=[]))
    return records


def _content_records(client: WeChatOAClient, begin: dt.date, end: dt.date, result: SyncResult) -> list[ContentRecord]:
    sent: dict[str, tuple[dt.date, dict[str, int]]] = {}  # msgid → (send date, target_user per stat date)
    first_send_day = max(DATACUBE_FIRST_DAY, begin - dt.timedelta(days=TRACKED_DAYS - 1))
    for day in _days(first_send_day, end):
        result.requests += 1
        for row in client.get_article_total(day=day):
            delivered = {detail.get("stat_date", ""): int(detail.get("target_user") or 0) for detail in row["details"]}
            sent[row["msgid"]] = (dt.date.fromisoformat(row["ref_date"]), delivered)
    records = []
    for day in _days(begin, end):
        result.requests += 1
        for row in client.get_article_summary(day=day):
            msgid = str(row["msgid"])
            send_day, delivered = sent.get(msgid, (None, {}))
            extra: dict[str, Any] = {"msgid": msgid, **{name: row[name] for name in SUMMARY_EXTRA}}
            if delivered.get(day.isoformat()):
                extra["delivered"] = delivered[day.isoformat()]
            if send_day is not None:
                extra["send_date"] = send_day.isoformat()
            records.append(
                ContentRecord(
                    content_key=msgid[:80],
                    stat_date=day,
                    title=str(row.get("title", ""))[:200],
                    published_at=None,
                    content_format="article",
                    metrics={
                        "views": row["int_page_read_count"],
                        "viewers": row["int_page_read_user"],
                        "shares": row["share_count"],
                        "favorites": row["add_to_fav_count"],
                    },
                    extra=extra,
                    rows=[],
                    published_day=send_day,
                )
            )
    return records


def metrics_sync_wechat(
    *, account: PlatformAccount, begin: dt.date, end: dt.date, client: WeChatOAClient | None = None
) -> SyncResult:
    """Pull the account's follower and article statistics for ``begin``..``end`` and upsert them (source api).

    Every request respects the endpoint's span (§6.1); the client refuses ranges the platform would reject and
    the platform's own 61501/61500 answers surface as ``ApplicationError`` with a clear message. Nothing is
    written unless every request succeeded.
    """
    _check_request(account, begin, end)
    result = SyncResult(account_id=account.pk, begin=begin, end=end)
    own_client = client is None
    if client is None:
        from xinqiao.channels.services import wechat_client

        client = wechat_client(account)
    try:
        account_records = _account_records(client, begin, end, result)
        content_records = _content_records(client, begin, end, result)
    except ProviderError as error:
        logger.warning("datacube sync of account %s failed: %s", account.pk, error.code)
        raise _provider_error(error) from None
    finally:
        if own_client:
            client.close()
    with transaction.atomic():
        result.account_created, result.account_updated, result.account_unchanged = upsert_account(
            account=account, records=account_records, source=MetricSource.API
        )
        result.content_created, result.content_updated, result.content_unchanged = upsert_content(
            account=account, records=content_records, source=MetricSource.API
        )
    return result


def metrics_sync_wechat_all(*, days: int = 1, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Sync the last ``days`` available days of every connected, active WeChat OA account (the periodic job).

    One account's failure is logged and reported; the others still sync.
    """
    end = latest_available_day(now)
    begin = end - dt.timedelta(days=days - 1)
    outcomes = []
    accounts = PlatformAccount.objects.filter(
        platform=PlatformAccount.Platform.WECHAT_OA,
        connection=PlatformAccount.Connection.CONNECTED,
        is_active=True,
    ).exclude(app_id="")
    for account in accounts.order_by("pk"):
        try:
            outcomes.append(metrics_sync_wechat(account=account, begin=begin, end=end).as_dict())
        except ApplicationError as error:
            logger.warning("datacube sync of account %s: %s", account.pk, error.code)
            outcomes.append({"account": account.pk, "error": str(error.message)})
    return outcomes
