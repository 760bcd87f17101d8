"""WeChat Official Account API client (HTTP only), following platforms/wechat-oa.md.

What it does:
- access token from ``/cgi-bin/stable_token`` (normal mode), cached in a pluggable ``TokenStore`` and refreshed
  ``token_refresh_margin`` seconds before expiry; on 40001/40014/42001 the token is dropped, fetched again and the
  request replayed once (a second failure is raised);
- -1 (busy) retried with exponential backoff, 45011 (minute limit) retried after ``rate_limit_wait`` seconds, at
  most ``max_retries`` retries; 45009/53501 (quota) never retried; every other errcode raises a permanent
  ``ProviderError``. ``sleep`` and ``clock`` are injectable so tests run without waiting;
- images (``material/add_material``, ``media/uploadimg``), drafts, free publishing and status polling, parametric
  QR codes and the datacube reports, with the datacube date rules checked before any request is sent.

Secrets and tokens never reach a log line or an error message: tokens travel in the query string (as the platform
requires) and the httpx request log is passed through ``install_credential_redaction``.

Publishing without duplicates (the caller's part; every background job must be idempotent):
1. Upload the cover once and store its ``media_id`` on the publication before going on.
2. Call ``add_draft`` only when no draft ``media_id`` is stored; store the returned ``media_id`` in the same
   transaction that records the step, and never add again for that publication. ``add_draft`` is not retried on
   an ambiguous network failure: it raises ``ProviderError(outcome_unknown=True)`` and the caller reconciles with
   ``list_drafts`` (match on title) before trying again.
3. Call ``submit_publish`` only when no ``publish_id`` is stored; store ``publish_id`` right away. After that only
   ``get_publish_status``/``wait_for_publish`` are called. The platform removes a draft once it is published, so a
   repeated submit of the same draft fails with 40007 instead of publishing twice.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import hashlib
import json
import logging
import math
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import certifi
import httpx
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from xinqiao.channels.platforms.base import (
    InvalidRequestError,
    ProviderError,
    StoredToken,
    TokenStore,
    install_credential_redaction,
)
from xinqiao.channels.platforms.wechat_oa.errors import ErrorKind, error_info

logger = logging.getLogger(__name__)

PROVIDER = "wechat_oa"
DEFAULT_BASE_URL = "https://api.weixin.qq.com"
BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
DATACUBE_FIRST_DAY = dt.date(2014, 12, 1)
DATACUBE_READY_HOUR = 8  # yesterday's data is reliable from 08:00 Beijing time

# Max span per datacube endpoint (days, inclusive), §6.1.
DATACUBE_MAX_DAYS: dict[str, int] = {
    "getusersummary": 7,
    "getusercumulate": 7,
    "getarticlesummary": 1,
    "getarticletotal": 1,
    "getuserread": 3,
    "getuserreadhour": 1,
    "getusershare": 7,
    "getusersharehour": 1,
}

READ_COUNTERS = (
    "int_page_read_user",
    "int_page_read_count",
    "ori_page_read_user",
    "ori_page_read_count",
    "share_user",
    "share_count",
    "add_to_fav_user",
    "add_to_fav_count",
)
SOURCE_SPLIT_COUNTERS = (
    "int_page_from_session_read_user",
    "int_page_from_session_read_count",
    "int_page_from_hist_msg_read_user",
    "int_page_from_hist_msg_read_count",
    "int_page_from_feed_read_user",
    "int_page_from_feed_read_count",
    "int_page_from_friends_read_user",
    "int_page_from_friends_read_count",
    "int_page_from_other_read_user",
    "int_page_from_other_read_count",
    "feed_share_from_session_user",
    "feed_share_from_session_cnt",
    "feed_share_from_feed_user",
    "feed_share_from_feed_cnt",
    "feed_share_from_other_user",
    "feed_share_from_other_cnt",
)
# Counters a row must carry (missing ones default to 0: fields vary by user_source, §6.6).
DATACUBE_ROW_COUNTERS: dict[str, tuple[str, ...]] = {
    "getusersummary": ("new_user", "cancel_user"),
    "getusercumulate": ("cumulate_user",),
    "getarticlesummary": READ_COUNTERS,
    "getarticletotal": (),
    "getuserread": READ_COUNTERS,
    "getuserreadhour": READ_COUNTERS,
    "getusershare": ("share_count", "share_user"),
    "getusersharehour": ("share_count", "share_user"),
}

QR_MAX_EXPIRE_SECONDS = 2_592_000
QR_SCENE_STR_MAX = 64
DRAFT_MAX_ARTICLES = 8
TITLE_MAX = 32
AUTHOR_MAX = 16
CONTENT_MAX_CHARS = 20_000
CONTENT_MAX_BYTES = 1024 * 1024


class PublishState(enum.IntEnum):
    """``publish_status`` of ``freepublish/get`` (§5.2)."""

    SUCCESS = 0
    PUBLISHING = 1
    ORIGINALITY_CHECK_FAILED = 2
    FAILED = 3
    REJECTED = 4
    DELETED_BY_USER = 5
    BANNED = 6

    @property
    def label(self) -> str:
        return str(PUBLISH_STATE_LABELS[self])

    @property
    def is_terminal(self) -> bool:
        return self is not PublishState.PUBLISHING


PUBLISH_STATE_LABELS = {
    PublishState.SUCCESS: gettext_lazy("Published"),
    PublishState.PUBLISHING: gettext_lazy("Publishing"),
    PublishState.ORIGINALITY_CHECK_FAILED: gettext_lazy("Originality check failed"),
    PublishState.FAILED: gettext_lazy("Publishing failed"),
    PublishState.REJECTED: gettext_lazy("Rejected by platform review"),
    PublishState.DELETED_BY_USER: gettext_lazy("Published, then deleted"),
    PublishState.BANNED: gettext_lazy("Published, then banned by the platform"),
}


@dataclass(frozen=True)
class UploadedImage:
    media_id: str
    url: str


@dataclass(frozen=True)
class DraftArticle:
    """One article of a draft (§4). ``image_media_ids`` is for ``newspic`` articles."""

    title: str
    content: str
    thumb_media_id: str = ""
    article_type: str = "news"
    author: str = ""
    digest: str = ""
    content_source_url: str = ""
    need_open_comment: bool = False
    only_fans_can_comment: bool = False
    pic_crop_235_1: str = ""
    pic_crop_1_1: str = ""
    image_media_ids: tuple[str, ...] = ()

    def validate(self, *, index: int) -> None:
        position = {"index": index + 1}
        if self.article_type not in ("news", "newspic"):
            raise InvalidRequestError(
                _("Article %(index)d: the type must be news or newspic.") % position, code="article", provider=PROVIDER
            )
        if not self.title.strip():
            raise InvalidRequestError(
                _("Article %(index)d: the title is required.") % position, code="article", provider=PROVIDER
            )
        if len(self.title) > TITLE_MAX:
            raise InvalidRequestError(
                _("Article %(index)d: the title has more than %(max)d characters.") % {**position, "max": TITLE_MAX},
                code="article",
                provider=PROVIDER,
            )
        if len(self.author) > AUTHOR_MAX:
            raise InvalidRequestError(
                _("Article %(index)d: the author has more than %(max)d characters.") % {**position, "max": AUTHOR_MAX},
                code="article",
                provider=PROVIDER,
            )
        if not self.content.strip():
            raise InvalidRequestError(
                _("Article %(index)d: the content is required.") % position, code="article", provider=PROVIDER
            )
        if len(self.content) >= CONTENT_MAX_CHARS or len(self.content.encode()) >= CONTENT_MAX_BYTES:
            raise InvalidRequestError(
                _("Article %(index)d: the content must be under 20,000 characters and 1 MB.") % position,
                code="article",
                provider=PROVIDER,
            )
        if self.article_type == "news" and not self.thumb_media_id:
            raise InvalidRequestError(
                _("Article %(index)d: a cover image (permanent media ID) is required.") % position,
                code="article",
                provider=PROVIDER,
            )
        if self.article_type == "newspic" and not self.image_media_ids:
            raise InvalidRequestError(
                _("Article %(index)d: a picture article needs at least one image.") % position,
                code="article",
                provider=PROVIDER,
            )

    def as_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "article_type": self.article_type,
            "title": self.title,
            "content": self.content,
            "need_open_comment": int(self.need_open_comment),
            "only_fans_can_comment": int(self.only_fans_can_comment),
        }
        optional = {
            "thumb_media_id": self.thumb_media_id,
            "author": self.author,
            "digest": self.digest,
            "content_source_url": self.content_source_url,
            "pic_crop_235_1": self.pic_crop_235_1,
            "pic_crop_1_1": self.pic_crop_1_1,
        }
        payload.update({key: value for key, value in optional.items() if value})
        if self.image_media_ids:
            payload["image_info"] = {"image_list": [{"image_media_id": media_id} for media_id in self.image_media_ids]}
        return payload


@dataclass(frozen=True)
class DraftPage:
    total_count: int
    items: list[dict[str, Any]]


@dataclass(frozen=True)
class PublishSubmission:
    publish_id: str
    msg_data_id: int | None


@dataclass(frozen=True)
class PublishStatus:
    publish_id: str
    state: PublishState
    article_id: str
    article_urls: tuple[str, ...]
    fail_idx: tuple[int, ...]

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    @property
    def is_success(self) -> bool:
        return self.state is PublishState.SUCCESS


@dataclass(frozen=True)
class QRCodeTicket:
    ticket: str
    url: str
    expire_seconds: int | None  # None for permanent codes


@dataclass(frozen=True)
class ArticleComment:
    """One reader comment of a published article (留言), as ``comment/list`` returns it."""

    user_comment_id: int
    openid: str  # "" when the commenter was not a WeChat identity
    create_time: dt.datetime  # aware UTC
    content: str
    is_featured: bool
    reply: str
    reply_time: dt.datetime | None


@dataclass(frozen=True)
class CommentPage:
    total: int
    comments: tuple[ArticleComment, ...]


COMMENT_PAGE_MAX = 49  # the platform rejects count >= 50


class _Retry(Exception):
    """Internal: a transport failure that may be retried; carries the error raised once retries run out."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.message)
        self.error = error


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building it loads the CA bundle (~0.1 s), clients are cheap then."""
    return ssl.create_default_context(cafile=certifi.where())


def beijing_now(clock: Callable[[], float]) -> dt.datetime:
    return dt.datetime.fromtimestamp(clock(), tz=BEIJING)


class WeChatOAClient:
    """One official account. Thread-safe as long as the token store is (both bundled stores are)."""

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        base_url: str = DEFAULT_BASE_URL,
        token_store: TokenStore,
        http_timeout: float = 10.0,
        upload_timeout: float = 60.0,
        max_retries: int = 3,
        busy_backoff: float = 1.0,
        rate_limit_wait: float = 60.0,
        token_refresh_margin: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not app_id or not app_secret:
            raise ValueError("app_id and app_secret are required")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL")
        if http_timeout <= 0 or upload_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self.app_id = app_id
        self._app_secret = app_secret
        self.base_url = base_url.rstrip("/")
        self.token_store = token_store
        self.max_retries = max_retries
        self.busy_backoff = busy_backoff
        self.rate_limit_wait = rate_limit_wait
        self.token_refresh_margin = token_refresh_margin
        self._sleep = sleep
        self._clock = clock
        self._timeout = httpx.Timeout(http_timeout, connect=min(http_timeout, 5.0))
        self._upload_timeout = httpx.Timeout(upload_timeout, connect=min(upload_timeout, 5.0))
        base_digest = hashlib.sha256(self.base_url.encode()).hexdigest()[:12]
        self._token_key = f"{PROVIDER}:stable_token:{app_id}:{base_digest}"
        install_credential_redaction()
        self._http = httpx.Client(
            base_url=self.base_url, timeout=self._timeout, follow_redirects=False, verify=tls_context()
        )

    def __repr__(self) -> str:
        return f"WeChatOAClient(app_id={self.app_id!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> WeChatOAClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- access token -----------------------------------------------------------------------------------------

    def access_token(self) -> str:
        """A valid token from the store, fetching a new one when it is missing or due for refresh."""
        stored = self.token_store.get(self._token_key)
        if stored is not None and self._clock() < stored.refresh_at:
            return stored.value
        return self.refresh_token().value

    def refresh_token(self, *, force: bool = False) -> StoredToken:
        """Fetch a stable token. ``force`` invalidates the current one platform-wide (20/day, ≥ 30 s apart)."""
        payload = self._call(
            "POST",
            "/cgi-bin/stable_token",
            json_body={
                "grant_type": "client_credential",
                "appid": self.app_id,
                "secret": self._app_secret,
                "force_refresh": force,
            },
            authenticated=False,
        )
        value = payload.get("access_token")
        expires_in = payload.get("expires_in")
        if not isinstance(value, str) or not value or not isinstance(expires_in, int) or expires_in <= 0:
            raise self._bad_response("/cgi-bin/stable_token")
        now = self._clock()
        # A token the platform hands out close to its expiry is still used, just refreshed sooner.
        margin = min(self.token_refresh_margin, expires_in / 2)
        token = StoredToken(
            value=value, issued_at=now, expires_at=now + expires_in, refresh_at=now + expires_in - margin
        )
        self.token_store.set(self._token_key, token)
        logger.info("%s token refreshed for app %s (expires in %ss)", PROVIDER, self.app_id, expires_in)
        return token

    # -- images -----------------------------------------------------------------------------------------------

    def upload_image(self, *, content: bytes, filename: str, content_type: str) -> UploadedImage:
        """Permanent image material (cover images, newspic images): ``media_id`` and a platform URL."""
        return self._add_material("image", content=content, filename=filename, content_type=content_type)

    def upload_thumb(self, *, content: bytes, filename: str, content_type: str) -> UploadedImage:
        """Permanent thumb material (jpg ≤ 64 KB)."""
        return self._add_material("thumb", content=content, filename=filename, content_type=content_type)

    def upload_article_image(self, *, content: bytes, filename: str, content_type: str) -> str:
        """Re-host an image used inside article HTML (``media/uploadimg``, jpg/png < 1 MB); returns its URL."""
        payload = self._call(
            "POST",
            "/cgi-bin/media/uploadimg",
            files={"media": (filename, content, content_type)},
            idempotent=False,
            timeout=self._upload_timeout,
        )
        url = payload.get("url")
        if not isinstance(url, str) or not url:
            raise self._bad_response("/cgi-bin/media/uploadimg")
        return url

    def _add_material(self, kind: str, *, content: bytes, filename: str, content_type: str) -> UploadedImage:
        payload = self._call(
            "POST",
            "/cgi-bin/material/add_material",
            params={"type": kind},
            files={"media": (filename, content, content_type)},
            idempotent=False,
            timeout=self._upload_timeout,
        )
        media_id = payload.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise self._bad_response("/cgi-bin/material/add_material")
        return UploadedImage(media_id=media_id, url=str(payload.get("url", "")))

    # -- drafts -----------------------------------------------------------------------------------------------

    def add_draft(self, *, articles: Sequence[DraftArticle]) -> str:
        """Create a draft; returns its ``media_id``. Store it before anything else (see the module docstring)."""
        if not 1 <= len(articles) <= DRAFT_MAX_ARTICLES:
            raise InvalidRequestError(
                _("A draft holds 1 to %(max)d articles.") % {"max": DRAFT_MAX_ARTICLES},
                code="article",
                provider=PROVIDER,
            )
        for index, article in enumerate(articles):
            article.validate(index=index)
        payload = self._call(
            "POST",
            "/cgi-bin/draft/add",
            json_body={"articles": [article.as_payload() for article in articles]},
            idempotent=False,
        )
        media_id = payload.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise self._bad_response("/cgi-bin/draft/add")
        return media_id

    def get_draft(self, *, media_id: str) -> list[dict[str, Any]]:
        payload = self._call("POST", "/cgi-bin/draft/get", json_body={"media_id": media_id})
        return list(payload.get("news_item", []))

    def delete_draft(self, *, media_id: str) -> None:
        self._call("POST", "/cgi-bin/draft/delete", json_body={"media_id": media_id})

    def count_drafts(self) -> int:
        payload = self._call("GET", "/cgi-bin/draft/count")
        return int(payload.get("total_count", 0))

    def list_drafts(self, *, offset: int = 0, count: int = 20, no_content: bool = True) -> DraftPage:
        if offset < 0 or not 1 <= count <= 20:
            raise InvalidRequestError(_("Drafts are listed 1 to 20 at a time."), code="paging", provider=PROVIDER)
        payload = self._call(
            "POST",
            "/cgi-bin/draft/batchget",
            json_body={"offset": offset, "count": count, "no_content": int(no_content)},
        )
        return DraftPage(total_count=int(payload.get("total_count", 0)), items=list(payload.get("item", [])))

    # -- publishing -------------------------------------------------------------------------------------------

    def submit_publish(self, *, draft_media_id: str) -> PublishSubmission:
        """Start free publishing of a draft. Asynchronous: poll ``get_publish_status`` with the ``publish_id``."""
        payload = self._call(
            "POST", "/cgi-bin/freepublish/submit", json_body={"media_id": draft_media_id}, idempotent=False
        )
        publish_id = payload.get("publish_id")
        if publish_id is None or publish_id == "":
            raise self._bad_response("/cgi-bin/freepublish/submit")
        msg_data_id = payload.get("msg_data_id")
        return PublishSubmission(
            publish_id=str(publish_id), msg_data_id=int(msg_data_id) if isinstance(msg_data_id, int) else None
        )

    def get_publish_status(self, *, publish_id: str) -> PublishStatus:
        payload = self._call("POST", "/cgi-bin/freepublish/get", json_body={"publish_id": publish_id})
        raw_state = payload.get("publish_status")
        try:
            state = PublishState(raw_state)
        except ValueError:
            raise self._bad_response("/cgi-bin/freepublish/get") from None
        detail = payload.get("article_detail") or {}
        items = sorted(detail.get("item", []), key=lambda item: int(item.get("idx", 0)))
        return PublishStatus(
            publish_id=str(payload.get("publish_id", publish_id)),
            state=state,
            article_id=str(payload.get("article_id", "")),
            article_urls=tuple(str(item.get("article_url", "")) for item in items),
            fail_idx=tuple(int(index) for index in payload.get("fail_idx", [])),
        )

    def delete_published(self, *, article_id: str, index: int = 0) -> None:
        """Delete a published article (``freepublish/delete``, §5): ``index`` is 1-based, 0 deletes every article
        of the message. Not replayed after a lost answer: the caller checks ``get_publish_status`` instead."""
        if not article_id or index < 0:
            raise InvalidRequestError(_("Name the published article to delete."), code="article_id", provider=PROVIDER)
        self._call(
            "POST",
            "/cgi-bin/freepublish/delete",
            json_body={"article_id": article_id, "index": index},
            idempotent=False,
        )

    def wait_for_publish(
        self, *, publish_id: str, first_interval: float = 5.0, max_interval: float = 60.0, timeout: float = 1800.0
    ) -> PublishStatus:
        """Poll until a terminal state or until ``timeout`` seconds of waiting (§5.2: 5 s doubling to 60 s, 30 min).

        Returns the last status; a caller that gets ``PUBLISHING`` back after the timeout records the outcome as
        unknown and leaves it to the PUBLISHJOBFINISH push or a later poll.
        """
        waited = 0.0
        interval = first_interval
        while True:
            status = self.get_publish_status(publish_id=publish_id)
            if status.is_terminal or waited >= timeout:
                return status
            delay = min(interval, timeout - waited)
            self._sleep(delay)
            waited += delay
            interval = min(interval * 2, max_interval)

    # -- parametric QR codes ----------------------------------------------------------------------------------

    def create_qrcode(
        self, *, scene_str: str, permanent: bool = False, expire_seconds: int = QR_MAX_EXPIRE_SECONDS
    ) -> QRCodeTicket:
        """A string-scene QR code: temporary (``QR_STR_SCENE``) or permanent (``QR_LIMIT_STR_SCENE``, capped)."""
        if not 1 <= len(scene_str) <= QR_SCENE_STR_MAX:
            raise InvalidRequestError(
                _("The QR scene must have 1 to %(max)d characters.") % {"max": QR_SCENE_STR_MAX},
                code="scene_str",
                provider=PROVIDER,
            )
        body: dict[str, Any] = {"action_info": {"scene": {"scene_str": scene_str}}}
        if permanent:
            body["action_name"] = "QR_LIMIT_STR_SCENE"
        else:
            if not 1 <= expire_seconds <= QR_MAX_EXPIRE_SECONDS:
                raise InvalidRequestError(
                    _("A temporary QR code expires within 1 to %(max)d seconds.") % {"max": QR_MAX_EXPIRE_SECONDS},
                    code="expire_seconds",
                    provider=PROVIDER,
                )
            body["action_name"] = "QR_STR_SCENE"
            body["expire_seconds"] = expire_seconds
        payload = self._call("POST", "/cgi-bin/qrcode/create", json_body=body, idempotent=False)
        ticket, url = payload.get("ticket"), payload.get("url")
        if not isinstance(ticket, str) or not ticket or not isinstance(url, str) or not url:
            raise self._bad_response("/cgi-bin/qrcode/create")
        expires = payload.get("expire_seconds")
        return QRCodeTicket(ticket=ticket, url=url, expire_seconds=int(expires) if isinstance(expires, int) else None)

    # -- comments (留言管理) ------------------------------------------------------------------------------------

    def list_comments(
        self, *, msg_data_id: int, index: int = 0, begin: int = 0, count: int = COMMENT_PAGE_MAX, type: int = 0
    ) -> CommentPage:
        """One page of an article's comments; ``type`` 0 all, 1 normal, 2 featured. Needs the comment privilege
        (errcode 88000 otherwise, a permanent error)."""
        if not 1 <= count <= COMMENT_PAGE_MAX or begin < 0 or index < 0 or type not in (0, 1, 2):
            raise InvalidRequestError(
                _("Comments are listed 1 to %(max)d at a time.") % {"max": COMMENT_PAGE_MAX},
                code="paging",
                provider=PROVIDER,
            )
        payload = self._call(
            "POST",
            "/cgi-bin/comment/list",
            json_body={"msg_data_id": msg_data_id, "index": index, "begin": begin, "count": count, "type": type},
        )
        comments = []
        for item in payload.get("comment") or []:
            if not isinstance(item, dict) or not isinstance(item.get("user_comment_id"), int):
                raise self._bad_response("/cgi-bin/comment/list")
            reply = item.get("reply") if isinstance(item.get("reply"), dict) else {}
            reply_time = reply.get("create_time")
            comments.append(
                ArticleComment(
                    user_comment_id=item["user_comment_id"],
                    openid=str(item.get("openid") or ""),
                    create_time=dt.datetime.fromtimestamp(int(item.get("create_time") or 0), tz=dt.UTC),
                    content=str(item.get("content") or ""),
                    is_featured=item.get("comment_type") == 1,
                    reply=str(reply.get("content") or ""),
                    reply_time=dt.datetime.fromtimestamp(int(reply_time), tz=dt.UTC) if reply_time else None,
                )
            )
        return CommentPage(total=int(payload.get("total") or 0), comments=tuple(comments))

    def iter_comments(self, *, msg_data_id: int, index: int = 0, type: int = 0, limit: int = 10_000):
        """Every comment of an article, page by page (at most ``limit``)."""
        begin = 0
        while begin < limit:
            page = self.list_comments(msg_data_id=msg_data_id, index=index, begin=begin, type=type,
                                      count=min(COMMENT_PAGE_MAX, limit - begin))  # fmt: skip
            yield from page.comments
            begin += len(page.comments)
            if not page.comments or begin >= page.total:
                return

    # -- datacube ---------------------------------------------------------------------------------------------

    def get_user_summary(self, *, begin: dt.date, end: dt.date) -> list[dict[str, Any]]:
        return self._datacube("getusersummary", begin=begin, end=end)

    def get_user_cumulate(self, *, begin: dt.date, end: dt.date) -> list[dict[str, Any]]:
        return self._datacube("getusercumulate", begin=begin, end=end)

    def get_article_summary(self, *, day: dt.date) -> list[dict[str, Any]]:
        return self._datacube("getarticlesummary", begin=day, end=day)

    def get_article_total(self, *, day: dt.date) -> list[dict[str, Any]]:
        return self._datacube("getarticletotal", begin=day, end=day)

    def get_user_read(self, *, begin: dt.date, end: dt.date) -> list[dict[str, Any]]:
        return self._datacube("getuserread", begin=begin, end=end)

    def get_user_read_hour(self, *, day: dt.date) -> list[dict[str, Any]]:
        return self._datacube("getuserreadhour", begin=day, end=day)

    def get_user_share(self, *, begin: dt.date, end: dt.date) -> list[dict[str, Any]]:
        return self._datacube("getusershare", begin=begin, end=end)

    def get_user_share_hour(self, *, day: dt.date) -> list[dict[str, Any]]:
        return self._datacube("getusersharehour", begin=day, end=day)

    def get_datacube(self, *, endpoint: str, begin: dt.date, end: dt.date) -> list[dict[str, Any]]:
        if endpoint not in DATACUBE_MAX_DAYS:
            raise InvalidRequestError(
                _("Unknown report %(endpoint)s.") % {"endpoint": endpoint}, code="endpoint", provider=PROVIDER
            )
        return self._datacube(endpoint, begin=begin, end=end)

    def check_datacube_range(self, endpoint: str, *, begin: dt.date, end: dt.date) -> None:
        """Raise ``InvalidRequestError`` for a range the platform would reject with 61501 (§6.1)."""
        max_days = DATACUBE_MAX_DAYS[endpoint]
        if end < begin:
            raise InvalidRequestError(_("The end date is before the begin date."), code="date_range", provider=PROVIDER)
        days = (end - begin).days + 1
        if days > max_days:
            raise InvalidRequestError(
                _("%(endpoint)s covers at most %(max)d day(s) per request; %(days)d days were asked for.")
                % {"endpoint": endpoint, "max": max_days, "days": days},
                code="date_span",
                provider=PROVIDER,
            )
        if begin < DATACUBE_FIRST_DAY:
            raise InvalidRequestError(_("Statistics start on 2014-12-01."), code="date_range", provider=PROVIDER)
        now = beijing_now(self._clock)
        yesterday = now.date() - dt.timedelta(days=1)
        if end > yesterday:
            raise InvalidRequestError(
                _("Statistics are available up to yesterday (%(date)s).") % {"date": yesterday.isoformat()},
                code="date_range",
                provider=PROVIDER,
            )
        if end == yesterday and now.hour < DATACUBE_READY_HOUR:
            raise InvalidRequestError(
                _("Yesterday's statistics are available after 08:00 Beijing time."),
                code="date_range",
                provider=PROVIDER,
            )

    def _datacube(self, endpoint: str, *, begin: dt.date, end: dt.date) -> list[dict[str, Any]]:
        self.check_datacube_range(endpoint, begin=begin, end=end)
        payload = self._call(
            "POST",
            f"/datacube/{endpoint}",
            json_body={"begin_date": begin.isoformat(), "end_date": end.isoformat()},
        )
        rows = payload.get("list")
        if not isinstance(rows, list):
            raise self._bad_response(f"/datacube/{endpoint}")
        counters = DATACUBE_ROW_COUNTERS[endpoint]
        normalised = []
        for row in rows:
            item = {**row, **{name: int(row.get(name) or 0) for name in counters}}
            if endpoint == "getarticletotal":
                item["details"] = [
                    {
                        **detail,
                        **{name: int(detail.get(name) or 0) for name in (*READ_COUNTERS, *SOURCE_SPLIT_COUNTERS)},
                    }
                    for detail in row.get("details", [])
                ]
            normalised.append(item)
        return normalised

    # -- transport --------------------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        authenticated: bool = True,
        idempotent: bool = True,
        timeout: httpx.Timeout | None = None,
    ) -> dict[str, Any]:
        """Send one API call with token handling and retries; returns the JSON object of a successful answer."""
        retries = 0
        replayed = False
        while True:
            token = self.access_token() if authenticated else None
            try:
                payload = self._send(
                    method, path, token=token, json_body=json_body, params=params, files=files,
                    idempotent=idempotent, timeout=timeout,
                )  # fmt: skip
            except _Retry as retry:
                if retries >= self.max_retries:
                    raise retry.error from None
                self._sleep(self.busy_backoff * 2**retries)
                retries += 1
                continue
            errcode = payload.get("errcode", 0)
            if errcode == 0:
                return payload
            if not isinstance(errcode, int):
                raise self._bad_response(path)
            errmsg = str(payload.get("errmsg", ""))
            info = error_info(errcode)
            kind = info.kind if info else ErrorKind.PERMANENT
            logger.info("%s %s answered errcode %s (%s)", PROVIDER, path, errcode, errmsg)
            if kind is ErrorKind.TOKEN and authenticated and not replayed:
                self.token_store.invalidate(self._token_key, token)
                replayed = True
                continue
            if kind in (ErrorKind.BUSY, ErrorKind.RATE_LIMITED) and retries < self.max_retries:
                delay = self.busy_backoff * 2**retries if kind is ErrorKind.BUSY else self.rate_limit_wait
                self._sleep(delay)
                retries += 1
                continue
            raise self._platform_error(errcode, errmsg, kind, authenticated=authenticated)

    def _send(
        self,
        method: str,
        path: str,
        *,
        token: str | None,
        json_body: Any,
        params: Mapping[str, str] | None,
        files: Mapping[str, tuple[str, bytes, str]] | None,
        idempotent: bool,
        timeout: httpx.Timeout | None,
    ) -> dict[str, Any]:
        query = dict(params or {})
        if token is not None:
            query["access_token"] = token
        headers = {}
        content = None
        if json_body is not None:
            # Raw UTF-8, no \u4e2d-style escapes: the platform would show escapes literally in titles (§0).
            content = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            response = self._http.request(
                method, path, params=query, content=content, files=files, headers=headers,
                timeout=timeout or self._timeout,
            )  # fmt: skip
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing reached the platform: safe to retry any call.
            logger.warning("%s %s: cannot connect (%s)", PROVIDER, path, type(exc).__name__)
            raise _Retry(self._network_error(outcome_unknown=False)) from None
        except httpx.TransportError as exc:
            logger.warning("%s %s: transport failure after sending (%s)", PROVIDER, path, type(exc).__name__)
            if idempotent:
                raise _Retry(self._network_error(outcome_unknown=False)) from None
            raise self._network_error(outcome_unknown=True) from None
        if response.status_code >= 500:
            logger.warning("%s %s: HTTP %s", PROVIDER, path, response.status_code)
            if idempotent:
                raise _Retry(self._http_error(response.status_code, outcome_unknown=False))
            raise self._http_error(response.status_code, outcome_unknown=True)
        if response.status_code != 200:
            logger.warning("%s %s: HTTP %s", PROVIDER, path, response.status_code)
            raise ProviderError(
                _("The WeChat platform answered with HTTP status %(status)d.") % {"status": response.status_code},
                permanent=True,
                code=f"http_{response.status_code}",
                provider=PROVIDER,
            )
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            if idempotent:
                raise _Retry(self._bad_response(path))
            raise self._bad_response(path, outcome_unknown=True)
        return payload

    # -- errors -----------------------------------------------------------------------------------------------

    def _platform_error(self, errcode: int, errmsg: str, kind: ErrorKind, *, authenticated: bool) -> ProviderError:
        info = error_info(errcode)
        message = str(info.description) if info else (errmsg or _("Unknown platform error."))
        retry_after: float | None = None
        if kind is ErrorKind.PERMANENT:
            permanent = True
        elif kind is ErrorKind.TOKEN:
            # From the token endpoint 40001 means a wrong AppSecret; after a replay it may be a token race.
            permanent = not authenticated
        elif kind is ErrorKind.QUOTA:
            permanent = False
            retry_after = self._seconds_until_quota_reset()
        elif kind is ErrorKind.RATE_LIMITED:
            permanent = False
            retry_after = self.rate_limit_wait
        else:
            permanent = False
            retry_after = self.busy_backoff * 2**self.max_retries
        return ProviderError(
            message,
            permanent=permanent,
            code=errcode,
            provider=PROVIDER,
            platform_message=errmsg,
            retry_after=retry_after,
        )

    def _seconds_until_quota_reset(self) -> float:
        now = beijing_now(self._clock)
        tomorrow = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(0, 0), tzinfo=BEIJING)
        return float(math.ceil((tomorrow - now).total_seconds()))

    def _network_error(self, *, outcome_unknown: bool) -> ProviderError:
        return ProviderError(
            _("The WeChat platform could not be reached."),
            permanent=False,
            code="network",
            provider=PROVIDER,
            outcome_unknown=outcome_unknown,
        )

    def _http_error(self, status: int, *, outcome_unknown: bool) -> ProviderError:
        return ProviderError(
            _("The WeChat platform answered with HTTP status %(status)d.") % {"status": status},
            permanent=False,
            code=f"http_{status}",
            provider=PROVIDER,
            outcome_unknown=outcome_unknown,
        )

    def _bad_response(self, path: str, *, outcome_unknown: bool = False) -> ProviderError:
        logger.warning("%s %s: unexpected response body", PROVIDER, path)
        return ProviderError(
            _("The WeChat platform sent an unexpected answer."),
            permanent=False,
            code="bad_response",
            provider=PROVIDER,
            outcome_unknown=outcome_unknown,
        )
