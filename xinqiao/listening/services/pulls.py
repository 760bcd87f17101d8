"""Comment pulls from connected platform accounts (WeChat official accounts: 留言 through ``comment/list``).

Each comment becomes a mention on ``wechat_oa`` with the external id ``<msg_data_id>_<index>_<user_comment_id>``,
so pulling again is an idempotent no-op for comments already stored. The commenter's openid identifies a person:
only a one-way digest of it is kept as the handle (``wx:`` + 10 hex digits of SHA-256), enough to see
that several comments come from one reader and no more (personal data minimised).

Articles are named by (msg_data_id, index): the platform returns msg_data_id when an article is submitted for
publishing and ``Publication.msg_data_id`` keeps it, so ``wechat_comments_pull_recent`` finds the articles of
every connected account by itself (the scheduled job and the "Pull comments now" button).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.channels.models import Notification, PlatformAccount, Publication
from xinqiao.channels.platforms.base import ProviderError
from xinqiao.core.access import Principal
from xinqiao.core.exceptions import ApplicationError
from xinqiao.listening.models import MentionBatch, Platform
from xinqiao.listening.services.ingest import mentions_ingest

MAX_COMMENTS_PER_ARTICLE = 5_000
MAX_PULL_ROWS = 50_000
RECENT_DAYS = 7

logger = logging.getLogger(__name__)


def commenter_handle(openid: str) -> str:
    if not openid:
        return ""
    return "wx:" + hashlib.sha256(openid.encode()).hexdigest()[:10]


def comment_rows(
    msg_data_id: int, index: int, comments: Sequence[Any], *, app_id: str, url: str = ""
) -> list[tuple[int, dict[str, Any]]]:
    """Mention rows from one article's comments (``ArticleComment`` objects of the WeChat client).

    WeChat numbers ``msg_data_id`` per official account, so the external id carries the AppID: two accounts of
    one hospital may have articles with the same id."""
    rows = []
    for comment in comments:
        rows.append(
            (
                len(rows) + 1,
                {
                    "platform": Platform.WECHAT_OA,
                    "external_id": f"{app_id}_{msg_data_id}_{index}_{comment.user_comment_id}",
                    "url": url,
                    "author_handle": commenter_handle(comment.openid),
                    "text": comment.content,
                    "posted_at": comment.create_time,
                    "msg_data_id": msg_data_id,
                    "article_index": index,
                    "featured": comment.is_featured,
                    "replied": bool(comment.reply),
                },
            )
        )
    return rows


def wechat_comments_pull(
    *,
    account_id: int,
    articles: Sequence[tuple[int, int]],
    urls: dict | None = None,
    principal: Principal | None = None,
    request=None,
) -> MentionBatch:
    """Pull every comment of these articles ((msg_data_id, 0-based index) pairs) of one connected official
    account into one batch (all or nothing; comments already stored count as duplicates)."""
    from xinqiao.channels.services import wechat_client

    account = PlatformAccount.objects.select_related("hospital").get(pk=account_id)
    if account.platform != PlatformAccount.Platform.WECHAT_OA or not account.app_id or not account.has_secret:
        raise ApplicationError(_("This account is not connected to the WeChat API."), code="not_connected")
    urls = urls or {}
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        with wechat_client(account) as client:
            for msg_data_id, index in articles:
                comments = list(
                    client.iter_comments(msg_data_id=msg_data_id, index=index, limit=MAX_COMMENTS_PER_ARTICLE)
                )
                for _number, row in comment_rows(
                    msg_data_id, index, comments, app_id=account.app_id, url=urls.get((msg_data_id, index), "")
                ):
                    rows.append((len(rows) + 1, row))
    except ProviderError as error:
        if error.code == 88000:
            raise ApplicationError(
                _("The official account has no comment privilege; enable comments on the WeChat platform."),
                code="no_comment_privilege",
            ) from None
        raise ApplicationError(
            _("The comments could not be pulled: %(error)s") % {"error": error.message},
            code="pull_failed",
            extra={"provider_code": str(error.code), "connection": _is_connection_error(error)},
        ) from None
    if not rows:
        return MentionBatch(hospital=account.hospital, source=MentionBatch.Source.PULL, rows_total=0)
    return mentions_ingest(hospital=account.hospital, source=MentionBatch.Source.PULL, rows=rows, limit=MAX_PULL_ROWS,
                           principal=principal, request=request)  # fmt: skip


def _is_connection_error(error: ProviderError) -> bool:
    from xinqiao.channels.services import CONNECTION_ERRORS

    return error.code in CONNECTION_ERRORS or (isinstance(error.code, str) and error.code.startswith("http_"))


# --- recent publications of connected accounts ----------------------------------------------------------------


def wechat_pull_accounts(*, hospital_id: int | None = None) -> QuerySet[PlatformAccount]:
    """Active WeChat official accounts connected to the API (AppID and secret stored, no reconnect pending)."""
    accounts = (
        PlatformAccount.objects.filter(
            platform=PlatformAccount.Platform.WECHAT_OA,
            connection=PlatformAccount.Connection.CONNECTED,
            is_active=True,
        )
        .exclude(app_id="")
        .exclude(app_secret_sealed="")
    )
    if hospital_id is not None:
        accounts = accounts.filter(hospital_id=hospital_id)
    return accounts.select_related("hospital").order_by("hospital_id", "pk")


def recent_articles(
    *, account: PlatformAccount, days: int = RECENT_DAYS, now: dt.datetime | None = None
) -> tuple[list[tuple[int, int]], dict[tuple[int, int], str]]:
    """The (msg_data_id, index) pairs of the account's articles published within ``days`` (oldest first) and
    their post URLs. XinQiao publishes one article per message, so the index is 0."""
    since = (now or timezone.now()) - dt.timedelta(days=days)
    publications = (
        Publication.objects.filter(
            account=account,
            status=Publication.Status.PUBLISHED,
            msg_data_id__isnull=False,
            published_at__gte=since,
        )
        .order_by("published_at", "pk")
        .values_list("msg_data_id", "post_url")
    )
    articles: list[tuple[int, int]] = []
    urls: dict[tuple[int, int], str] = {}
    for msg_data_id, post_url in publications:
        key = (int(msg_data_id), 0)
        if key not in urls:
            articles.append(key)
            urls[key] = post_url
    return articles, urls


def wechat_account_comments_pull(
    *,
    account: PlatformAccount,
    days: int = RECENT_DAYS,
    now: dt.datetime | None = None,
    principal: Principal | None = None,
    request=None,
) -> MentionBatch:
    """Pull the comments of one account's recent articles into one batch. The batch is not saved (``pk`` is None)
    when there were no comments; raises ApplicationError when nothing was published recently or the pull failed."""
    articles, urls = recent_articles(account=account, days=days, now=now)
    if not articles:
        raise ApplicationError(
            _("Nothing was published on this account through XinQiao in the last %(days)d days.") % {"days": days},
            code="no_recent_articles",
        )
    return wechat_comments_pull(account_id=account.pk, articles=articles, urls=urls, principal=principal,
                                request=request)  # fmt: skip


def _record_pull_failure(account: PlatformAccount, error: ApplicationError) -> None:
    """Tell the brand team (once while the notification stays open); a connection error also marks the account
    for reconnection, as publishing does, so later scheduled pulls skip it until it is fixed."""
    from xinqiao.channels.services import notify

    message = _("Pulling comments from %(account)s failed: %(error)s") % {"account": account, "error": error.message}
    if error.extra.get("connection"):
        PlatformAccount.objects.filter(pk=account.pk).update(
            connection=PlatformAccount.Connection.RECONNECT_NEEDED,
            last_error=str(error.message)[:300],
            last_error_at=timezone.now(),
        )
    already_open = Notification.objects.filter(
        hospital_id=account.hospital_id, message=message[:300], resolved_at__isnull=True
    ).exists()
    if not already_open:
        notify(hospital_id=account.hospital_id, level=Notification.Level.ERROR, message=message,
               link=f"/channels/accounts/{account.pk}/")  # fmt: skip


def wechat_comments_pull_recent(
    *, hospital_id: int | None = None, days: int = RECENT_DAYS, now: dt.datetime | None = None
) -> list[MentionBatch]:
    """For every connected official account (of one hospital, or all), pull the comments of the articles
    published within ``days``: one batch per account that has comments. Comments already stored count as
    duplicates; an account's failure is notified to its hospital and the other accounts are still pulled."""
    now = now or timezone.now()
    batches: list[MentionBatch] = []
    for account in wechat_pull_accounts(hospital_id=hospital_id):
        articles, urls = recent_articles(account=account, days=days, now=now)
        if not articles:
            continue
        try:
            batch = wechat_comments_pull(account_id=account.pk, articles=articles, urls=urls)
        except ApplicationError as error:
            logger.warning("comment pull for account %s failed: %s", account.pk, error.code)
            _record_pull_failure(account, error)
            continue
        if batch.pk is not None:
            batches.append(batch)
    return batches
