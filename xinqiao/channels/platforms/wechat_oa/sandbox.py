"""A local fake of the WeChat OA API that follows platforms/wechat-oa.md (no Django, stdlib only).

It listens on 127.0.0.1 only and answers like the platform: HTTP 200 with ``{"errcode", "errmsg"}`` on failure.

Modelled (section numbers of the contract):
- tokens (§1, §2): ``/cgi-bin/token`` and ``/cgi-bin/stable_token`` with a configurable TTL, isolated token
  families, stable-token rotation inside the last ``rotate_window`` seconds, force refresh (limited), expiry (42001),
  revocation (40001, via the control API), unknown tokens (40014), missing token (41001), IP whitelist (40164);
- limits: per-minute frequency per API (45011) and daily quota per API (45009), both configurable;
- scripted faults: any errcode for the next N calls of a path (``-1`` busy, 40001, 48001, 53503, ...);
- media (§3): ``material/add_material`` (multipart part ``media``, type/size checks) and ``media/uploadimg``;
  uploaded images are served back under ``/mmbiz_*``;
- drafts (§4): add/get/update/delete/batchget/count with the field rules; external ``<img>`` and scripts are
  stripped from content as the platform does; ``\\u4e2d``-style escapes in a draft body are kept literally;
- free publishing (§5): submit, then ``freepublish/get`` answers "publishing" for ``publish_polls`` polls and
  then the scripted outcome (default success); success removes the draft and serves the article at ``/s/<code>``;
  ``freepublish/delete`` removes one article or all of them (the page answers 404; all deleted → status 5);
- datacube (§6): the eight reports with the span/yesterday/08:00/2014-12-01 rules (61501, 61500 for bad dates),
  deterministic history from ``seed`` (follower counts add up: cumulate(d) − cumulate(d−1) = Σ new − Σ cancel)
  and the articles published through the sandbox;
- parametric QR codes (§8): ticket/url/expire_seconds, scene and expiry validation, permanent-code cap.

Sandbox choices where the contract names no code (kept to real WeChat codes where known): missing required field
→ 47001; title > 32 → 45003; author > 16 → 45110; content too long → 45002; missing media part → 41005; resubmitting
a draft that is being published → 53503; bad QR action → 40052; bad scene/expiry or permanent cap reached → 40053;
force refresh sooner than 30 s → 45011, more than 20 a day → 45009; deleting an article_id with nothing left
under it (unknown, already deleted or banned) or an index past the message's articles → 53600.

Control API (loopback, no auth; used by tests and the demo), all JSON:
``GET/POST /__sandbox__/config``, ``POST /__sandbox__/reset``, ``POST /__sandbox__/clock`` ``{"advance": s}``,
``GET /__sandbox__/requests``, ``POST /__sandbox__/revoke_tokens`` ``{"appid"?}``, ``GET /__sandbox__/state``.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import html
import json
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

# Sandbox-only demo credentials (they open nothing but this fake server).
DEMO_APP_ID = "wx5a9d0e1b2c3d4e5f"
DEMO_APP_SECRET = "sandbox-demo-app-secret-0000000000"  # noqa: S105

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
FIRST_DAY = dt.date(2014, 12, 1)
MAX_BODY = 25 * 1024 * 1024
LOOPBACK = "127.0.0.1"

ERRMSG = {
    -1: "system error",
    0: "ok",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40004: "invalid media type",
    40005: "invalid file type",
    40006: "invalid media size",
    40007: "invalid media_id",
    40009: "invalid image size",
    40013: "invalid appid",
    40014: "invalid access_token",
    40052: "invalid action name",
    40053: "invalid action info",
    40125: "invalid appsecret",
    40164: "invalid ip, not in whitelist",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41005: "media data missing",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    44002: "empty post data",
    45002: "content size out of limit",
    45003: "title size out of limit",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit, must slower, retry next minute",
    45110: "author size out of limit",
    47001: "data format error",
    48001: "api unauthorized",
    53500: "publish restricted",
    53501: "publish limit exceeded",
    53502: "invalid publish_id",
    53503: "draft pre-publish check failed",
    53504: "please handle the draft on mp.weixin.qq.com",
    53505: "please save the draft manually first",
    53600: "invalid article_id",
    61500: "date format error",
    61501: "date range error",
    88000: "without comment privilege",
}

DATACUBE_MAX_DAYS = {
    "getusersummary": 7,
    "getusercumulate": 7,
    "getarticlesummary": 1,
    "getarticletotal": 1,
    "getuserread": 3,
    "getuserreadhour": 1,
    "getusershare": 7,
    "getusersharehour": 1,
}

DEFAULT_CONFIG: dict[str, Any] = {
    "token_ttl": 7200,
    "rotate_window": 300,
    "classic_overlap": 300,
    "force_refresh_daily": 20,
    "force_refresh_interval": 30,
    "publish_polls": 1,
    "publish_outcomes": [],
    "faults": [],
    "minute_limits": {},
    "daily_quotas": {},
    "ip_whitelist": [],
    "seed": 20250301,
    "permanent_qr_cap": 100_000,
    # False: the account lacks the comment privilege, every comment/* call answers 88000 (§7)
    "comment_privilege": True,
}

PUBLISH_TERMINAL_STATUSES = (0, 2, 3, 4, 5, 6)
QR_ACTIONS = ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE")
IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)
EXTENSION_KIND = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "gif": "gif", "bmp": "bmp"}
IMAGE_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "bmp": "image/bmp"}


class HeaderLookup(Protocol):
    """Request headers, looked up case-insensitively (``http.server`` passes an ``email.message.Message``)."""

    def get(self, name: str, default: Any = None) -> Any: ...


class WxError(Exception):
    def __init__(self, errcode: int, errmsg: str | None = None) -> None:
        super().__init__(errcode)
        self.errcode = errcode
        self.errmsg = errmsg or ERRMSG.get(errcode, "error")


class ControlError(Exception):
    """Bad input to the control API: HTTP 400."""


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json; encoding=utf-8"


def json_response(payload: Mapping[str, Any], status: int = 200) -> Response:
    return Response(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def error_body(errcode: int, errmsg: str | None = None) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": errmsg or ERRMSG.get(errcode, "error")}


@dataclass
class Token:
    value: str
    appid: str
    family: str  # "stable" or "classic": the two families are isolated (§2)
    serial: int
    expires_at: float
    revoked: bool = False


@dataclass
class ArticleRecord:
    """An article as the datacube sees it: sent on ``send_date`` in bundle ``msg_data_id`` at 1-based ``idx``."""

    msg_data_id: int
    idx: int
    title: str
    send_date: dt.date
    published_at: float = 0.0  # sandbox clock when it went live (comments arrive after it)

    @property
    def msgid(self) -> str:
        return f"{self.msg_data_id}_{self.idx}"


@dataclass
class AppState:
    stable: Token | None = None
    force_refreshes: list[float] = field(default_factory=list)
    permanent_qr: int = 0


# -- deterministic datacube history -----------------------------------------------------------------------------

SUMMARY_SOURCE_CAPS = {1: 15, 17: 4, 30: 30, 57: 8, 100: 5, 149: 3, 161: 6, 200: 10, 201: 4}
READ_SOURCE_WEIGHTS = {0: 62, 1: 9, 2: 11, 4: 5, 5: 4, 6: 6, 7: 3}
SHARE_SCENE_WEIGHTS = {1: 62, 2: 33, 255: 5}
HOUR_WEIGHTS = (2, 1, 1, 1, 1, 2, 4, 8, 12, 10, 8, 9, 12, 9, 7, 7, 8, 9, 10, 12, 14, 16, 12, 6)
DAILY_DECAY = (1.0, 0.42, 0.17, 0.08, 0.05, 0.03, 0.02)
TREND = 25
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
TITLES = (
    "春季过敏高发，呼吸科专家教你科学应对",
    "体检报告里的这些箭头，需要担心吗？",
    "糖尿病患者的冬季饮食指南",
    "孩子发烧别慌，儿科医生讲清楚三件事",
    "高血压用药的五个常见误区",
    "关节疼痛，是骨关节炎还是痛风？",
    "世界睡眠日：失眠门诊开诊时间",
    "宫颈癌疫苗接种常见问题解答",
    "护眼科普：孩子近视防控从现在开始",
    "心梗急救黄金时间，您需要知道这些",
    "甲状腺结节，一定要手术吗？",
    "秋冬季节如何预防流感",
    "幽门螺杆菌检查与治疗问答",
    "科室巡礼：走进我院康复医学科",
    "门诊就医流程全攻略",
    "老年人防跌倒，家中这几处要注意",
)


def seeded_random(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 - fake data, not security


def apportion(total: int, weights: Mapping[Any, int]) -> dict[Any, int]:
    """Split ``total`` by ``weights`` into integers that add up to ``total`` (largest remainder)."""
    weight_sum = sum(weights.values())
    exact = {key: total * weight / weight_sum for key, weight in weights.items()}
    shares = {key: int(value) for key, value in exact.items()}
    leftover = total - sum(shares.values())
    for key in sorted(exact, key=lambda k: (shares[k] - exact[k], str(k)))[:leftover]:
        shares[key] += 1
    return shares


class DatacubeHistory:
    """Plausible, deterministic statistics for one account; ``published`` adds the sandbox's own articles."""

    def __init__(self, *, seed: int, appid: str, published: list[ArticleRecord] | None = None) -> None:
        self.seed = seed
        self.appid = appid
        self.published = list(published or [])

    # followers
    def _wiggle(self, day: dt.date) -> int:
        return seeded_random(self.seed, self.appid, "wiggle", day.isoformat()).randint(0, 40)

    def base_followers(self) -> int:
        return 20_000 + seeded_random(self.seed, self.appid, "base").randint(0, 80_000)

    def net_followers(self, day: dt.date) -> int:
        return TREND + self._wiggle(day) - self._wiggle(day - dt.timedelta(days=1))

    def cumulate(self, day: dt.date) -> int:
        return self.base_followers() + TREND * (day - FIRST_DAY).days + self._wiggle(day) - self._wiggle(FIRST_DAY)

    def user_summary(self, day: dt.date) -> list[dict[str, Any]]:
        rng = seeded_random(self.seed, self.appid, "summary", day.isoformat())
        others = {source: rng.randint(0, cap) for source, cap in SUMMARY_SOURCE_CAPS.items()}
        cancel = rng.randint(5, 30)
        new = self.net_followers(day) + cancel - sum(others.values())
        if new < 0:
            cancel, new = cancel - new, 0
        rows = [{"ref_date": day.isoformat(), "user_source": 0, "new_user": new, "cancel_user": cancel}]
        rows += [
            {"ref_date": day.isoformat(), "user_source": source, "new_user": count, "cancel_user": 0}
            for source, count in sorted(others.items())
            if count
        ]
        return rows

    def user_cumulate(self, day: dt.date) -> list[dict[str, Any]]:
        return [{"ref_date": day.isoformat(), "user_source": 0, "cumulate_user": self.cumulate(day)}]

    # articles
    def articles_sent(self, day: dt.date) -> list[ArticleRecord]:
        rng = seeded_random(self.seed, self.appid, "articles", day.isoformat())
        records = []
        for bundle in range(rng.choice((0, 1, 1, 1, 2))):
            msg_data_id = 2_200_000_000 + (day - FIRST_DAY).days * 10 + bundle
            titles = rng.sample(TITLES, rng.choice((1, 1, 2, 3)))
            records += [ArticleRecord(msg_data_id, idx, title, day) for idx, title in enumerate(titles, start=1)]
        records += [record for record in self.published if record.send_date == day]
        return records

    def daily_counters(self, record: ArticleRecord, age: int) -> dict[str, int]:
        peak = seeded_random(self.seed, self.appid, "peak", record.msgid).randint(400, 6000) // record.idx
        rng = seeded_random(self.seed, self.appid, "day", record.msgid, age)
        users = int(peak * DAILY_DECAY[age] * (0.85 + 0.3 * rng.random()))
        ori_users = int(users * rng.uniform(0.01, 0.04))
        share_users = int(users * rng.uniform(0.03, 0.09))
        fav_users = int(users * rng.uniform(0.005, 0.02))
        return {
            "int_page_read_user": users,
            "int_page_read_count": users + int(users * rng.uniform(0.08, 0.2)),
            "ori_page_read_user": ori_users,
            "ori_page_read_count": ori_users + int(ori_users * rng.uniform(0.0, 0.2)),
            "share_user": share_users,
            "share_count": share_users + int(share_users * rng.uniform(0.1, 0.3)),
            "add_to_fav_user": fav_users,
            "add_to_fav_count": fav_users + int(fav_users * rng.uniform(0.0, 0.1)),
        }

    def _live_articles(self, day: dt.date) -> list[tuple[ArticleRecord, int]]:
        """Articles tracked on ``day`` (at most 7 days after sending) with their age in days."""
        live = []
        for age in range(len(DAILY_DECAY)):
            live += [(record, age) for record in self.articles_sent(day - dt.timedelta(days=age))]
        return live

    def article_summary(self, day: dt.date) -> list[dict[str, Any]]:
        rows = []
        for record, age in self._live_articles(day):
            counters = self.daily_counters(record, age)
            engagement = sum(
                counters[name]
                for name in (
                    "int_page_read_user",
                    "ori_page_read_user",
                    "share_user",
                    "share_count",
                    "add_to_fav_count",
                )
            )
            if engagement >= 3:
                rows.append({"ref_date": day.isoformat(), "msgid": record.msgid, "title": record.title, **counters})
        return sorted(rows, key=lambda row: row["msgid"])

    def article_total(self, day: dt.date, *, yesterday: dt.date) -> list[dict[str, Any]]:
        rows = []
        for record in self.articles_sent(day):
            details = []
            totals = dict.fromkeys(READ_COUNTERS, 0)
            for age in range(len(DAILY_DECAY)):
                stat_date = day + dt.timedelta(days=age)
                if stat_date > yesterday:
                    break
                for name, value in self.daily_counters(record, age).items():
                    totals[name] += value
                details.append(
                    {
                        "stat_date": stat_date.isoformat(),
                        "target_user": self.cumulate(day),
                        **totals,
                        **self._source_split(totals),
                    }
                )
            rows.append({"ref_date": day.isoformat(), "msgid": record.msgid, "title": record.title, "details": details})
        return sorted(rows, key=lambda row: row["msgid"])

    @staticmethod
    def _source_split(totals: Mapping[str, int]) -> dict[str, int]:
        read_weights = {"session": 72, "hist_msg": 5, "feed": 12, "friends": 8, "other": 3}
        share_weights = {"session": 70, "feed": 25, "other": 5}
        split: dict[str, int] = {}
        for unit in ("user", "count"):
            for source, value in apportion(totals[f"int_page_read_{unit}"], read_weights).items():
                split[f"int_page_from_{source}_read_{unit}"] = value
        for unit, suffix in (("user", "user"), ("count", "cnt")):
            for source, value in apportion(totals[f"share_{unit}"], share_weights).items():
                split[f"feed_share_from_{source}_{suffix}"] = value
        return split

    def _day_totals(self, day: dt.date) -> dict[str, int]:
        totals = dict.fromkeys(READ_COUNTERS, 0)
        for record, age in self._live_articles(day):
            for name, value in self.daily_counters(record, age).items():
                totals[name] += value
        return totals

    def user_read(self, day: dt.date) -> list[dict[str, Any]]:
        totals = self._day_totals(day)
        rows: list[dict[str, Any]] = [{"ref_date": day.isoformat(), "user_source": 99999999, **totals}]
        # Per-source rows carry only the page and share counters; clients default the rest to 0 (§6.6).
        splits = {name: apportion(totals[name], READ_SOURCE_WEIGHTS) for name in READ_COUNTERS[:2] + READ_COUNTERS[4:6]}
        for source in READ_SOURCE_WEIGHTS:
            rows.append(
                {
                    "ref_date": day.isoformat(),
                    "user_source": source,
                    **{name: split[source] for name, split in splits.items()},
                }
            )
        return rows

    def user_read_hour(self, day: dt.date) -> list[dict[str, Any]]:
        totals = self._day_totals(day)
        weights = dict(enumerate(HOUR_WEIGHTS))
        splits = {name: apportion(value, weights) for name, value in totals.items()}
        return [
            {
                "ref_date": day.isoformat(),
                "ref_hour": hour * 100,
                "user_source": 99999999,
                **{name: split[hour] for name, split in splits.items()},
            }
            for hour in range(24)
        ]

    def user_share(self, day: dt.date) -> list[dict[str, Any]]:
        totals = self._day_totals(day)
        counts = apportion(totals["share_count"], SHARE_SCENE_WEIGHTS)
        users = apportion(totals["share_user"], SHARE_SCENE_WEIGHTS)
        return [
            {
                "ref_date": day.isoformat(),
                "share_scene": scene,
                "share_count": counts[scene],
                "share_user": users[scene],
            }
            for scene in SHARE_SCENE_WEIGHTS
        ]

    def user_share_hour(self, day: dt.date) -> list[dict[str, Any]]:
        rows = []
        weights = dict(enumerate(HOUR_WEIGHTS))
        for scene_row in self.user_share(day):
            counts = apportion(scene_row["share_count"], weights)
            users = apportion(scene_row["share_user"], weights)
            rows += [
                {
                    "ref_date": day.isoformat(),
                    "ref_hour": hour * 100,
                    "share_scene": scene_row["share_scene"],
                    "share_count": counts[hour],
                    "share_user": users[hour],
                }
                for hour in range(24)
                if counts[hour] or users[hour]
            ]
        return rows

    def report(self, endpoint: str, begin: dt.date, end: dt.date, *, yesterday: dt.date) -> list[dict[str, Any]]:
        daily: dict[str, Callable[[dt.date], list[dict[str, Any]]]] = {
            "getusersummary": self.user_summary,
            "getusercumulate": self.user_cumulate,
            "getarticlesummary": self.article_summary,
            "getarticletotal": lambda day: self.article_total(day, yesterday=yesterday),
            "getuserread": self.user_read,
            "getuserreadhour": self.user_read_hour,
            "getusershare": self.user_share,
            "getusersharehour": self.user_share_hour,
        }
        rows: list[dict[str, Any]] = []
        day = begin
        while day <= end:
            rows += daily[endpoint](day)
            day += dt.timedelta(days=1)
        return rows


# -- request parsing helpers ------------------------------------------------------------------------------------


@dataclass
class Upload:
    filename: str
    content_type: str
    data: bytes


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Upload], dict[str, str]]:
    """Files and plain fields of a multipart/form-data body."""
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        return {}, {}
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        return {}, {}
    files: dict[str, Upload] = {}
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = Upload(filename=filename, content_type=part.get_content_type(), data=payload)
        else:
            fields[name] = payload.decode("utf-8", errors="replace")
    return files, fields


ESCAPE = re.compile(r"\\(.)", flags=re.DOTALL)


def keep_unicode_escapes_literal(text: str) -> str:
    """What the platform does with ``\\u4e2d``-style escapes in draft bodies: shows them, not the character."""
    return ESCAPE.sub(lambda match: "\\\\u" if match.group(1) == "u" else match.group(0), text)


SCRIPT = re.compile(r"<script\b.*?</script\s*>", flags=re.IGNORECASE | re.DOTALL)
IMG = re.compile(r"<img\b[^>]*>", flags=re.IGNORECASE)
IMG_SRC = re.compile(r"""\bsrc\s*=\s*["']([^"']*)["']""", flags=re.IGNORECASE)
TAG = re.compile(r"<[^>]+>")


def parse_day(value: Any) -> dt.date:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise WxError(61500)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise WxError(61500) from None


def image_kind(data: bytes) -> str | None:
    for signature, kind in IMAGE_SIGNATURES:
        if data.startswith(signature):
            return kind
    return None


def extension(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else ""


# -- the sandbox ------------------------------------------------------------------------------------------------


class WeChatOASandbox:
    """The fake platform. ``start()`` serves it in a background thread; ``serve_forever()`` in the caller's."""

    def __init__(
        self,
        *,
        apps: Mapping[str, str] | None = None,
        port: int = 0,
        poll_interval: float = 0.1,
        **config: Any,
    ) -> None:
        self._lock = threading.RLock()
        self._initial_apps = dict(apps if apps is not None else {DEMO_APP_ID: DEMO_APP_SECRET})
        self._initial_config = self._validated_config({**copy.deepcopy(DEFAULT_CONFIG), **config})
        self._poll_interval = poll_interval
        self._server = _Server((LOOPBACK, port), _Handler)
        self._server.sandbox = self
        self._thread: threading.Thread | None = None
        self.reset()

    # -- lifecycle

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> WeChatOASandbox:
        self._thread = threading.Thread(target=self.serve_forever, name="wechat-oa-sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=self._poll_interval)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    # -- control (also reachable over HTTP under /__sandbox__/)

    def reset(self) -> None:
        with self._lock:
            self.apps = dict(self._initial_apps)
            self.config = copy.deepcopy(self._initial_config)
            self.clock_offset = 0.0
            self.app_state: dict[str, AppState] = {}
            self.tokens: dict[str, Token] = {}
            self.classic_current: dict[str, Token] = {}
            self.log: list[dict[str, Any]] = []
            self.minute_counts: dict[tuple[str, str, int], int] = {}
            self.daily_counts: dict[tuple[str, str, str], int] = {}
            self.media: dict[str, dict[str, Any]] = {}
            self.images: dict[str, dict[str, Any]] = {}
            self.drafts: dict[str, dict[str, Any]] = {}
            self.publications: dict[str, dict[str, Any]] = {}
            self.pages: dict[str, dict[str, Any]] = {}
            self.published: dict[str, list[ArticleRecord]] = {}
            self.qrcodes: dict[str, dict[str, Any]] = {}
            self.serial = 0

    def configure(self, **changes: Any) -> dict[str, Any]:
        with self._lock:
            if "apps" in changes:
                apps = changes.pop("apps")
                if not isinstance(apps, dict) or not all(
                    isinstance(k, str) and k and isinstance(v, str) and v for k, v in apps.items()
                ):
                    raise ControlError("apps must map app ids to secrets")
                self.apps = dict(apps)
            self.config = self._validated_config({**self.config, **copy.deepcopy(changes)})
            return self.public_config()

    def public_config(self) -> dict[str, Any]:
        with self._lock:
            return {**copy.deepcopy(self.config), "apps": sorted(self.apps)}

    def advance_clock(self, seconds: float) -> float:
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise ControlError("advance must be a non-negative number of seconds")
        with self._lock:
            self.clock_offset += float(seconds)
            return self.now()

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self.log)

    def revoke_tokens(self, appid: str | None = None) -> int:
        """Simulate another party taking over the tokens: later calls with them get 40001."""
        with self._lock:
            revoked = 0
            for token in self.tokens.values():
                if (appid is None or token.appid == appid) and not token.revoked:
                    token.revoked = True
                    revoked += 1
            for state in self.app_state.values():
                if state.stable is not None and state.stable.revoked:
                    state.stable = None
            return revoked

    def state_counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "media": len(self.media),
                "images": len(self.images),
                "drafts": len(self.drafts),
                "publications": len(self.publications),
                "qrcodes": len(self.qrcodes),
            }

    def now(self) -> float:
        return time.time() + self.clock_offset

    def beijing_now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now(), tz=BEIJING)

    @staticmethod
    def _validated_config(config: dict[str, Any]) -> dict[str, Any]:
        unknown = set(config) - set(DEFAULT_CONFIG)
        if unknown:
            raise ControlError(f"unknown settings: {', '.join(sorted(unknown))}")

        def non_negative_int(name: str, minimum: int = 0) -> None:
            value = config[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ControlError(f"{name} must be an integer ≥ {minimum}")

        for name in ("rotate_window", "classic_overlap", "publish_polls", "force_refresh_daily", "permanent_qr_cap"):
            non_negative_int(name)
        non_negative_int("force_refresh_interval")
        non_negative_int("token_ttl", minimum=1)
        if not isinstance(config["seed"], int) or isinstance(config["seed"], bool):
            raise ControlError("seed must be an integer")
        for name in ("minute_limits", "daily_quotas"):
            limits = config[name]
            if not isinstance(limits, dict) or not all(
                isinstance(k, str) and k.startswith("/") and isinstance(v, int) and not isinstance(v, bool) and v >= 0
                for k, v in limits.items()
            ):
                raise ControlError(f"{name} must map API paths to integers ≥ 0")
        if not isinstance(config["ip_whitelist"], list) or not all(
            isinstance(ip, str) for ip in config["ip_whitelist"]
        ):
            raise ControlError("ip_whitelist must be a list of addresses")
        faults = config["faults"]
        if not isinstance(faults, list):
            raise ControlError("faults must be a list")
        for fault in faults:
            if (
                not isinstance(fault, dict)
                or set(fault) - {"path", "errcode", "count", "errmsg"}
                or not isinstance(fault.get("path"), str)
                or not isinstance(fault.get("errcode"), int)
                or not isinstance(fault.get("count", 1), int)
                or fault.get("count", 1) < 1
                or not isinstance(fault.get("errmsg", ""), str)
            ):
                raise ControlError('each fault is {"path": str, "errcode": int, "count": int ≥ 1, "errmsg"?: str}')
            fault.setdefault("count", 1)
        if not isinstance(config["comment_privilege"], bool):
            raise ControlError("comment_privilege must be true or false")
        outcomes = config["publish_outcomes"]
        if not isinstance(outcomes, list):
            raise ControlError("publish_outcomes must be a list")
        for outcome in outcomes:
            if (
                not isinstance(outcome, dict)
                or set(outcome) - {"status", "fail_idx"}
                or outcome.get("status") not in PUBLISH_TERMINAL_STATUSES
                or not isinstance(outcome.get("fail_idx", []), list)
                or not all(isinstance(index, int) for index in outcome.get("fail_idx", []))
            ):
                raise ControlError('each publish outcome is {"status": 0|2|3|4|5|6, "fail_idx"?: [int]}')
        return config

    # -- HTTP entry point

    def handle(self, method: str, target: str, headers: HeaderLookup, body: bytes, client_ip: str) -> Response:
        parts = urlsplit(target)
        path = parts.path
        query = {key: values[0] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        if path.startswith("/__sandbox__/"):
            return self._control(method, path, body)
        if method == "GET" and (path.startswith("/s/") or path.startswith("/mmbiz_")):
            return self._asset(path)
        route = ROUTES.get(path)
        if route is None:
            return Response(404, b'{"errcode":404,"errmsg":"not found"}')
        with self._lock:
            entry: dict[str, Any] = {"method": method, "path": path, "appid": None, "token_serial": None}
            self.log.append(entry)
            try:
                payload = self._api(route, method, path, query, headers, body, client_ip, entry)
                entry["errcode"] = 0
            except WxError as error:
                entry["errcode"] = error.errcode
                payload = error_body(error.errcode, error.errmsg)
        return json_response(payload)

    def _api(
        self,
        route: Route,
        method: str,
        path: str,
        query: dict[str, str],
        headers: HeaderLookup,
        body: bytes,
        client_ip: str,
        entry: dict[str, Any],
    ) -> dict[str, Any]:
        if method != route.method:
            raise WxError(43002 if route.method == "POST" else 43001)
        token = None
        if route.authenticated:
            token = self.tokens.get(query.get("access_token", ""))
            if token is not None:
                entry["appid"], entry["token_serial"] = token.appid, token.serial
        self._inject_fault(path)
        if route.authenticated:
            if not query.get("access_token"):
                raise WxError(41001)
            if token is None:
                raise WxError(40014)
            if token.revoked:
                raise WxError(40001)
            if self.now() >= token.expires_at:
                raise WxError(42001)
            self._check_ip(client_ip)
            self._count_call(token.appid, path)
        request = ApiRequest(
            query=query,
            headers=headers,
            body=body,
            appid=token.appid if token else "",
            client_ip=client_ip,
            entry=entry,
        )
        return route.handler(self, request)

    def _inject_fault(self, path: str) -> None:
        for fault in self.config["faults"]:
            if fault["path"] in (path, "*"):
                fault["count"] -= 1
                if fault["count"] <= 0:
                    self.config["faults"].remove(fault)
                raise WxError(fault["errcode"], fault.get("errmsg") or None)

    def _check_ip(self, client_ip: str) -> None:
        whitelist = self.config["ip_whitelist"]
        if whitelist and client_ip not in whitelist:
            raise WxError(40164, f"invalid ip {client_ip}, not in whitelist")

    def _count_call(self, appid: str, path: str) -> None:
        quota = self.config["daily_quotas"].get(path)
        day_key = (appid, path, self.beijing_now().date().isoformat())
        if quota is not None and self.daily_counts.get(day_key, 0) >= quota:
            raise WxError(45009)
        limit = self.config["minute_limits"].get(path)
        minute_key = (appid, path, int(self.now() // 60))
        if limit is not None and self.minute_counts.get(minute_key, 0) >= limit:
            raise WxError(45011)
        self.daily_counts[day_key] = self.daily_counts.get(day_key, 0) + 1
        self.minute_counts[minute_key] = self.minute_counts.get(minute_key, 0) + 1

    def _next_serial(self) -> int:
        self.serial += 1
        return self.serial

    def _code(self, *parts: object, length: int = 22) -> str:
        digest = hashlib.sha256("|".join(str(part) for part in (self.config["seed"], *parts)).encode()).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:length]

    def _issue_token(self, appid: str, family: str, *, now: float) -> Token:
        serial = self._next_serial()
        value = self._code("token", family, appid, serial, now, length=43) + f"_{serial}"
        token = Token(value, appid, family, serial, now + self.config["token_ttl"])
        self.tokens[value] = token
        return token

    # -- control API over HTTP

    def _control(self, method: str, path: str, body: bytes) -> Response:
        try:
            data = json.loads(body.decode("utf-8")) if body else {}
            if not isinstance(data, dict):
                raise ControlError("the body must be a JSON object")
            if path == "/__sandbox__/config" and method == "GET":
                return json_response(self.public_config())
            if path == "/__sandbox__/config" and method == "POST":
                return json_response(self.configure(**data))
            if path == "/__sandbox__/reset" and method == "POST":
                self.reset()
                return json_response({"ok": True})
            if path == "/__sandbox__/clock" and method == "POST":
                return json_response({"now": self.advance_clock(data.get("advance", 0))})
            if path == "/__sandbox__/requests" and method == "GET":
                return json_response({"requests": self.requests()})
            if path == "/__sandbox__/revoke_tokens" and method == "POST":
                appid = data.get("appid")
                if appid is not None and not isinstance(appid, str):
                    raise ControlError("appid must be a string")
                return json_response({"revoked": self.revoke_tokens(appid)})
            if path == "/__sandbox__/state" and method == "GET":
                return json_response(self.state_counts())
        except (ControlError, ValueError) as error:
            return json_response({"error": str(error)}, status=400)
        return json_response({"error": "unknown control endpoint"}, status=404)

    def _asset(self, path: str) -> Response:
        with self._lock:
            if path.startswith("/s/"):
                page = self.pages.get(path[3:])
                if page is None:
                    return Response(404, b"", "text/plain")
                return Response(200, render_page(page).encode("utf-8"), "text/html; charset=utf-8")
            stored = self.images.get(path.split("/")[2] if path.count("/") >= 2 else "")
            if stored is None:
                return Response(404, b"", "text/plain")
            return Response(200, stored["data"], stored["content_type"])

    # -- request body helpers

    @staticmethod
    def json_body(request: ApiRequest, *, literal_escapes: bool = False) -> dict[str, Any]:
        if not request.body.strip():
            raise WxError(44002)
        try:
            text = request.body.decode("utf-8")
            if literal_escapes:
                text = keep_unicode_escapes_literal(text)
            data = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            raise WxError(47001) from None
        if not isinstance(data, dict):
            raise WxError(47001)
        return data

    # -- tokens (§1, §2)

    def api_token(self, request: ApiRequest) -> dict[str, Any]:
        grant_type = request.query.get("grant_type")
        appid = request.query.get("appid")
        secret = request.query.get("secret")
        return self._grant(grant_type, appid, secret, family="classic", force=False, entry=request.entry)

    def api_stable_token(self, request: ApiRequest) -> dict[str, Any]:
        data = self.json_body(request)
        force = data.get("force_refresh", False)
        if not isinstance(force, bool):
            raise WxError(47001)
        return self._grant(
            data.get("grant_type"),
            data.get("appid"),
            data.get("secret"),
            family="stable",
            force=force,
            entry=request.entry,
        )

    def _grant(
        self, grant_type: Any, appid: Any, secret: Any, *, family: str, force: bool, entry: dict[str, Any]
    ) -> dict[str, Any]:
        if grant_type != "client_credential":
            raise WxError(40002)
        if not appid:
            raise WxError(41002)
        if not secret:
            raise WxError(41004)
        if appid not in self.apps:
            raise WxError(40013)
        entry["appid"] = appid
        if self.apps[appid] != secret:
            raise WxError(40125 if family == "stable" else 40001)
        self._count_call(appid, "/cgi-bin/stable_token" if family == "stable" else "/cgi-bin/token")
        now = self.now()
        if family == "classic":
            previous = self.classic_current.get(appid)
            if previous is not None:
                previous.expires_at = min(previous.expires_at, now + self.config["classic_overlap"])
            token = self._issue_token(appid, "classic", now=now)
            self.classic_current[appid] = token
        else:
            state = self.app_state.setdefault(appid, AppState())
            if force:
                today = self.beijing_now().date()
                recent = [t for t in state.force_refreshes if dt.datetime.fromtimestamp(t, tz=BEIJING).date() == today]
                if state.force_refreshes and now - state.force_refreshes[-1] < self.config["force_refresh_interval"]:
                    raise WxError(45011)
                if len(recent) >= self.config["force_refresh_daily"]:
                    raise WxError(45009)
                state.force_refreshes.append(now)
                if state.stable is not None:
                    state.stable.revoked = True
                state.stable = None
            current = state.stable
            if current is None or current.revoked or now >= current.expires_at - self.config["rotate_window"]:
                # Rotation keeps the previous token valid until its own expiry.
                state.stable = self._issue_token(appid, "stable", now=now)
            token = state.stable
        entry["token_serial"] = token.serial
        return {"access_token": token.value, "expires_in": max(1, int(token.expires_at - now))}

    # -- media (§3)

    def api_add_material(self, request: ApiRequest) -> dict[str, Any]:
        if not request.body:
            raise WxError(44002)
        kind = request.query.get("type")
        if kind not in ("image", "voice", "video", "thumb"):
            raise WxError(40004)
        files, fields = parse_multipart(request.headers.get("Content-Type", ""), request.body)
        upload = files.get("media")
        if upload is None or not upload.data:
            raise WxError(41005)
        ext = extension(upload.filename)
        if kind in ("image", "thumb"):
            detected = image_kind(upload.data)
            allowed = ("jpeg",) if kind == "thumb" else ("png", "jpeg", "gif", "bmp")
            if detected is None or detected not in allowed or EXTENSION_KIND.get(ext) != detected:
                raise WxError(40005)
            limit = 64 * 1024 if kind == "thumb" else 10 * 1024 * 1024
            if len(upload.data) > limit:
                raise WxError(40009)
        elif kind == "voice":
            if ext not in ("mp3", "wma", "wav", "amr"):
                raise WxError(40005)
            if len(upload.data) > 2 * 1024 * 1024:
                raise WxError(40006)
        else:
            if ext != "mp4":
                raise WxError(40005)
            if len(upload.data) > 10 * 1024 * 1024:
                raise WxError(40006)
            try:
                description = json.loads(fields.get("description", ""))
            except ValueError:
                raise WxError(47001) from None
            if not isinstance(description, dict) or not description.get("title"):
                raise WxError(47001)
        serial = self._next_serial()
        media_id = f"MEDIA_ID_PERM_{self._code('media', serial, length=24)}"
        record: dict[str, Any] = {"type": kind, "appid": request.appid, "filename": upload.filename}
        answer: dict[str, Any] = {"media_id": media_id}
        if kind in ("image", "thumb"):
            detected = image_kind(upload.data) or "jpeg"
            record["url"] = self._store_image(upload.data, detected, serial)
            if kind == "image":
                answer["url"] = record["url"]
        self.media[media_id] = record
        return answer

    def api_uploadimg(self, request: ApiRequest) -> dict[str, Any]:
        if not request.body:
            raise WxError(44002)
        files, _fields = parse_multipart(request.headers.get("Content-Type", ""), request.body)
        upload = files.get("media")
        if upload is None or not upload.data:
            raise WxError(41005)
        detected = image_kind(upload.data)
        if detected not in ("png", "jpeg") or EXTENSION_KIND.get(extension(upload.filename)) != detected:
            raise WxError(40005)
        if len(upload.data) >= 1024 * 1024:
            raise WxError(40009)
        return {"url": self._store_image(upload.data, detected, self._next_serial())}

    def _store_image(self, data: bytes, kind: str, serial: int) -> str:
        code = self._code("image", serial, length=32)
        self.images[code] = {"data": data, "content_type": IMAGE_CONTENT_TYPES[kind]}
        fmt = "jpeg" if kind == "jpeg" else kind
        return f"{self.base_url}/mmbiz_{'jpg' if kind == 'jpeg' else kind}/{code}/0?wx_fmt={fmt}"

    # -- drafts (§4)

    def _clean_article(self, raw: Any, *, single: bool) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise WxError(47001)
        article_type = raw.get("article_type", "news")
        if article_type not in ("news", "newspic"):
            raise WxError(47001)
        title, content = raw.get("title"), raw.get("content")
        if not isinstance(title, str) or not title.strip() or not isinstance(content, str) or not content.strip():
            raise WxError(47001)
        if len(title) > 32:
            raise WxError(45003)
        author = raw.get("author", "")
        if not isinstance(author, str):
            raise WxError(47001)
        if len(author) > 16:
            raise WxError(45110)
        if len(content) >= 20_000 or len(content.encode("utf-8")) >= 1024 * 1024:
            raise WxError(45002)
        for flag in ("need_open_comment", "only_fans_can_comment"):
            if raw.get(flag, 0) not in (0, 1):
                raise WxError(47001)
        for text_field in ("digest", "content_source_url", "thumb_media_id", "pic_crop_235_1", "pic_crop_1_1"):
            if not isinstance(raw.get(text_field, ""), str):
                raise WxError(47001)
        article = {
            "article_type": article_type,
            "title": title,
            "author": author,
            "content": self._strip_content(content),
            "content_source_url": raw.get("content_source_url", ""),
            "need_open_comment": raw.get("need_open_comment", 0),
            "only_fans_can_comment": raw.get("only_fans_can_comment", 0),
        }
        if article_type == "news":
            thumb = self.media.get(raw.get("thumb_media_id", ""))
            if thumb is None or thumb["type"] not in ("image", "thumb"):
                raise WxError(40007)
            article["thumb_media_id"] = raw["thumb_media_id"]
            article["thumb_url"] = thumb["url"]
            article["pic_crop_235_1"] = raw.get("pic_crop_235_1", "")
            article["pic_crop_1_1"] = raw.get("pic_crop_1_1", "")
        else:
            image_info = raw.get("image_info")
            image_list = image_info.get("image_list") if isinstance(image_info, dict) else None
            if not isinstance(image_list, list) or not image_list:
                raise WxError(47001)
            for image in image_list:
                media_id = image.get("image_media_id") if isinstance(image, dict) else None
                if media_id not in self.media or self.media[media_id]["type"] != "image":
                    raise WxError(40007)
            article["image_info"] = {
                "image_list": [{"image_media_id": image["image_media_id"]} for image in image_list]
            }
        digest = raw.get("digest", "")
        if single:
            article["digest"] = digest or html.unescape(TAG.sub("", article["content"])).strip()[:54]
        return article

    def _strip_content(self, content: str) -> str:
        content = SCRIPT.sub("", content)

        def keep_hosted(match: re.Match[str]) -> str:
            src = IMG_SRC.search(match.group(0))
            return match.group(0) if src and src.group(1).startswith(f"{self.base_url}/mmbiz_") else ""

        return IMG.sub(keep_hosted, content)

    def api_draft_add(self, request: ApiRequest) -> dict[str, Any]:
        data = self.json_body(request, literal_escapes=True)
        articles = data.get("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
            raise WxError(47001)
        cleaned = [self._clean_article(raw, single=len(articles) == 1) for raw in articles]
        serial = self._next_serial()
        media_id = f"DRAFT_{self._code('draft', serial, length=24)}"
        self.drafts[media_id] = {
            "appid": request.appid,
            "articles": cleaned,
            "update_time": int(self.now()),
            "serial": serial,
            "publishing": False,
        }
        self._preview_pages(media_id)
        return {"media_id": media_id}

    def _preview_pages(self, media_id: str) -> None:
        draft = self.drafts[media_id]
        for idx, article in enumerate(draft["articles"], start=1):
            code = self._code("preview", media_id, idx, draft["update_time"], length=22)
            self.pages[code] = article
            article["url"] = f"{self.base_url}/s/{code}"

    def _draft(self, request: ApiRequest, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        media_id = data.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise WxError(47001)
        draft = self.drafts.get(media_id)
        if draft is None or draft["appid"] != request.appid:
            raise WxError(40007)
        return media_id, draft

    def api_draft_get(self, request: ApiRequest) -> dict[str, Any]:
        _media_id, draft = self._draft(request, self.json_body(request))
        return {"news_item": copy.deepcopy(draft["articles"])}

    def api_draft_update(self, request: ApiRequest) -> dict[str, Any]:
        data = self.json_body(request, literal_escapes=True)
        media_id, draft = self._draft(request, data)
        index = data.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(draft["articles"]):
            raise WxError(47001)
        if draft["publishing"]:
            raise WxError(53503, "draft is being published")
        draft["articles"][index] = self._clean_article(data.get("articles"), single=len(draft["articles"]) == 1)
        draft["update_time"] = int(self.now())
        self._preview_pages(media_id)
        return error_body(0)

    def api_draft_delete(self, request: ApiRequest) -> dict[str, Any]:
        media_id, draft = self._draft(request, self.json_body(request))
        if draft["publishing"]:
            raise WxError(53503, "draft is being published")
        del self.drafts[media_id]
        return error_body(0)

    def api_draft_count(self, request: ApiRequest) -> dict[str, Any]:
        return {"total_count": sum(1 for draft in self.drafts.values() if draft["appid"] == request.appid)}

    def api_draft_batchget(self, request: ApiRequest) -> dict[str, Any]:
        data = self.json_body(request)
        offset, count, no_content = data.get("offset"), data.get("count"), data.get("no_content", 0)
        if (
            not isinstance(offset, int)
            or not isinstance(count, int)
            or offset < 0
            or not 1 <= count <= 20
            or no_content not in (0, 1)
        ):
            raise WxError(47001)
        mine = sorted(
            ((media_id, draft) for media_id, draft in self.drafts.items() if draft["appid"] == request.appid),
            key=lambda pair: (-pair[1]["update_time"], -pair[1]["serial"]),
        )
        items = []
        for media_id, draft in mine[offset : offset + count]:
            articles = copy.deepcopy(draft["articles"])
            if no_content:
                for article in articles:
                    article.pop("content")
            items.append(
                {"media_id": media_id, "content": {"news_item": articles}, "update_time": draft["update_time"]}
            )
        return {"total_count": len(mine), "item_count": len(items), "item": items}

    # -- free publishing (§5)

    def api_publish_submit(self, request: ApiRequest) -> dict[str, Any]:
        media_id, draft = self._draft(request, self.json_body(request))
        if draft["publishing"]:
            raise WxError(53503, "draft is being published")
        outcomes = self.config["publish_outcomes"]
        outcome = outcomes.pop(0) if outcomes else {"status": 0}
        serial = self._next_serial()
        msg_data_id = 2_247_483_000 + serial * 2
        publish_id = str(msg_data_id + 1)
        draft["publishing"] = True
        self.publications[publish_id] = {
            "appid": request.appid,
            "media_id": media_id,
            "msg_data_id": msg_data_id,
            "outcome": outcome,
            "polls_left": self.config["publish_polls"],
            "status": 1,
            "article_id": "",
            "urls": [],
            "deleted_idx": [],
            "fail_idx": [],
        }
        return {"errcode": 0, "errmsg": "ok", "publish_id": publish_id, "msg_data_id": msg_data_id}

    def api_publish_get(self, request: ApiRequest) -> dict[str, Any]:
        data = self.json_body(request)
        publish_id = data.get("publish_id")
        if isinstance(publish_id, int) and not isinstance(publish_id, bool):
            publish_id = str(publish_id)
        if not isinstance(publish_id, str) or not publish_id:
            raise WxError(47001)
        publication = self.publications.get(publish_id)
        if publication is None or publication["appid"] != request.appid:
            raise WxError(53502)
        if publication["status"] == 1:
            if publication["polls_left"] > 0:
                publication["polls_left"] -= 1
            else:
                self._finish_publication(publish_id, publication)
        answer: dict[str, Any] = {
            "publish_id": publish_id,
            "publish_status": publication["status"],
            "fail_idx": list(publication["fail_idx"]),
        }
        if publication["article_id"]:
            answer["article_id"] = publication["article_id"]
            deleted = publication.get("deleted_idx", [])
            items = [
                {"idx": idx, "article_url": url}
                for idx, url in enumerate(publication["urls"], start=1)
                if idx not in deleted
            ]
            if items:
                answer["article_detail"] = {"count": len(items), "item": items}
        return answer

    def api_publish_delete(self, request: ApiRequest) -> dict[str, Any]:
        """``freepublish/delete`` (§5): ``index`` 1-based, 0 or omitted deletes every article of the message. Once
        all are deleted, ``freepublish/get`` answers 5 (deleted by the user) and the pages are gone."""
        data = self.json_body(request)
        article_id = data.get("article_id")
        index = data.get("index", 0)
        if not isinstance(article_id, str) or not article_id:
            raise WxError(47001)
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise WxError(47001)
        found = next(
            (
                (publish_id, publication)
                for publish_id, publication in self.publications.items()
                if publication["appid"] == request.appid
                and publication["article_id"] == article_id
                and publication["status"] == 0
            ),
            None,
        )
        if found is None:
            raise WxError(53600)  # unknown, or already deleted or banned: no article left under this id
        publish_id, publication = found
        count = len(publication["urls"])
        targets = list(range(1, count + 1)) if index == 0 else [index]
        if index > count or index in publication["deleted_idx"]:
            raise WxError(53600)
        for idx in targets:
            self.pages.pop(self._code("page", publish_id, idx, length=22), None)
            if idx not in publication["deleted_idx"]:
                publication["deleted_idx"].append(idx)
        if len(publication["deleted_idx"]) == count:
            publication["status"] = 5
        return {"errcode": 0, "errmsg": "ok"}

    def _finish_publication(self, publish_id: str, publication: dict[str, Any]) -> None:
        outcome = publication["outcome"]
        draft = self.drafts[publication["media_id"]]
        status = outcome["status"]
        publication["status"] = status
        if status in (2, 3, 4):
            publication["fail_idx"] = list(outcome.get("fail_idx") or range(1, len(draft["articles"]) + 1))
            draft["publishing"] = False  # a failed draft stays in the box to be fixed and resubmitted
            return
        publication["article_id"] = f"ARTICLE_ID_{self._code('article', publish_id, length=20)}"
        del self.drafts[publication["media_id"]]
        if status in (5, 6):
            return  # published, then deleted/banned: nothing left to read
        send_date = self.beijing_now().date()
        records = self.published.setdefault(publication["appid"], [])
        for idx, article in enumerate(draft["articles"], start=1):
            code = self._code("page", publish_id, idx, length=22)
            self.pages[code] = article
            publication["urls"].append(f"{self.base_url}/s/{code}")
            records.append(
                ArticleRecord(publication["msg_data_id"], idx, article["title"], send_date, published_at=self.now())
            )

    # -- datacube (§6)

    def api_datacube(self, request: ApiRequest, endpoint: str) -> dict[str, Any]:
        data = self.json_body(request)
        if "begin_date" not in data or "end_date" not in data:
            raise WxError(47001)
        begin, end = parse_day(data["begin_date"]), parse_day(data["end_date"])
        now = self.beijing_now()
        yesterday = now.date() - dt.timedelta(days=1)
        if (
            end < begin
            or (end - begin).days >= DATACUBE_MAX_DAYS[endpoint]
            or begin < FIRST_DAY
            or end > yesterday
            or (end == yesterday and now.hour < 8)
        ):
            raise WxError(61501)
        history = DatacubeHistory(
            seed=self.config["seed"], appid=request.appid, published=self.published.get(request.appid, [])
        )
        return {"list": history.report(endpoint, begin, end, yesterday=yesterday)}

    # -- comments (§7)

    def api_comment_list(self, request: ApiRequest) -> dict[str, Any]:
        """``comment/list``: needs the comment privilege (88000); count ≥ 50 or a bad parameter is 47001, and so
        is an article this account has not published (documented choice of the fake server)."""
        if not self.config["comment_privilege"]:
            raise WxError(88000)
        data = self.json_body(request)
        values = {name: data.get(name, 0 if name in ("index", "type") else None) for name in
                  ("msg_data_id", "index", "begin", "count", "type")}  # fmt: skip
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values.values()):
            raise WxError(47001)
        if not 1 <= values["count"] < 50 or values["type"] not in (0, 1, 2):
            raise WxError(47001)
        record = next(
            (r for r in self.published.get(request.appid, [])
             if r.msg_data_id == values["msg_data_id"] and r.idx == values["index"] + 1),
            None,
        )  # fmt: skip
        if record is None:
            raise WxError(47001, "invalid msg_data_id or index")
        comments = article_comments(self.config["seed"], request.appid, record, now=self.now())
        if values["type"] == 1:
            comments = [c for c in comments if c["comment_type"] == 0]
        elif values["type"] == 2:
            comments = [c for c in comments if c["comment_type"] == 1]
        page = comments[values["begin"] : values["begin"] + values["count"]]
        return {"errcode": 0, "errmsg": "ok", "total": len(comments), "comment": page}

    # -- parametric QR (§8)

    def api_qrcode_create(self, request: ApiRequest) -> dict[str, Any]:
        data = self.json_body(request)
        action = data.get("action_name")
        if action not in QR_ACTIONS:
            raise WxError(40052)
        info = data.get("action_info")
        scene = info.get("scene") if isinstance(info, dict) else None
        if not isinstance(scene, dict):
            raise WxError(40053)
        permanent = action.startswith("QR_LIMIT")
        if action.endswith("STR_SCENE"):
            value = scene.get("scene_str")
            if not isinstance(value, str) or not 1 <= len(value) <= 64:
                raise WxError(40053)
        else:
            value = scene.get("scene_id")
            low, high = (1, 100_000) if permanent else (1, 2**32 - 1)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise WxError(40053)
        state = self.app_state.setdefault(request.appid, AppState())
        expire_seconds = None
        if permanent:
            if state.permanent_qr >= self.config["permanent_qr_cap"]:
                raise WxError(40053, "permanent qrcode limit reached")
            state.permanent_qr += 1
        else:
            expire_seconds = data.get("expire_seconds", 60)
            if (
                not isinstance(expire_seconds, int)
                or isinstance(expire_seconds, bool)
                or not 1 <= expire_seconds <= 2_592_000
            ):
                raise WxError(40053)
        serial = self._next_serial()
        ticket = base64.b64encode(hashlib.sha256(f"{self.config['seed']}|qr|{serial}".encode()).digest() * 2).decode()
        code = self._code("qr", serial, length=22)
        self.qrcodes[ticket] = {"appid": request.appid, "action": action, "scene": value, "code": code}
        answer: dict[str, Any] = {"ticket": ticket, "url": f"{self.base_url}/q/{code}"}
        if expire_seconds is not None:
            answer["expire_seconds"] = expire_seconds
        return answer


COMMENT_TEXTS = (
    "请问周六有专家门诊吗？",
    "讲得很清楚，谢谢医生",
    "收藏了，转给家里老人看看",
    "上次去挂号排了两个小时，希望改进一下",
    "医生很耐心，点赞👍",
    "能不能多发一些儿童用药的科普？",
    "停车太难了，附近有没有停车场",
    "护士态度很好，感谢",
    "这个检查医保能报销吗？",
    "有没有线上问诊的入口",
    "写得好，涨知识了",
    "收费能不能再透明一些",
)
COMMENT_REPLIES = ("周六上午有，请在公众号菜单预约。", "感谢您的关注与支持！", "已反馈相关科室，感谢建议。")


def article_comments(seed: int, appid: str, record: ArticleRecord, *, now: float) -> list[dict[str, Any]]:
    """Deterministic plausible comments of one published article (same seed, same comments): 3–60 comments
    arriving within about five hours of publishing; those after ``now`` are not there yet."""
    rng = seeded_random(seed, "comments", appid, record.msg_data_id, record.idx)
    comments = []
    created = int(record.published_at)
    for number in range(1, rng.randint(3, 60) + 1):
        created += rng.randint(30, 300)
        comment: dict[str, Any] = {
            "user_comment_id": number,
            "create_time": created,
            "content": rng.choice(COMMENT_TEXTS),
            "comment_type": 1 if rng.random() < 0.15 else 0,
        }
        if rng.random() < 0.95:
            comment["openid"] = "o" + hashlib.sha256(f"{appid}|{rng.random()}".encode()).hexdigest()[:27]
        if rng.random() < 0.3:
            comment["reply"] = {"content": rng.choice(COMMENT_REPLIES), "create_time": created + 600}
        comments.append(comment)
    return [comment for comment in comments if comment["create_time"] <= now]


def render_page(article: Mapping[str, Any]) -> str:
    title = html.escape(article["title"])
    author = html.escape(article.get("author", ""))
    return (
        '<!doctype html><html lang="zh-hans"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body><article><h1>{title}</h1>"
        f'<p class="author">{author}</p>{article["content"]}</article></body></html>'
    )


@dataclass
class ApiRequest:
    query: dict[str, str]
    headers: HeaderLookup
    body: bytes
    appid: str
    client_ip: str
    entry: dict[str, Any]


@dataclass(frozen=True)
class Route:
    method: str
    handler: Callable[[WeChatOASandbox, ApiRequest], dict[str, Any]]
    authenticated: bool = True


def _datacube_route(endpoint: str) -> Route:
    return Route("POST", lambda sandbox, request: sandbox.api_datacube(request, endpoint))


ROUTES: dict[str, Route] = {
    "/cgi-bin/token": Route("GET", WeChatOASandbox.api_token, authenticated=False),
    "/cgi-bin/stable_token": Route("POST", WeChatOASandbox.api_stable_token, authenticated=False),
    "/cgi-bin/material/add_material": Route("POST", WeChatOASandbox.api_add_material),
    "/cgi-bin/media/uploadimg": Route("POST", WeChatOASandbox.api_uploadimg),
    "/cgi-bin/draft/add": Route("POST", WeChatOASandbox.api_draft_add),
    "/cgi-bin/draft/get": Route("POST", WeChatOASandbox.api_draft_get),
    "/cgi-bin/draft/update": Route("POST", WeChatOASandbox.api_draft_update),
    "/cgi-bin/draft/delete": Route("POST", WeChatOASandbox.api_draft_delete),
    "/cgi-bin/draft/batchget": Route("POST", WeChatOASandbox.api_draft_batchget),
    "/cgi-bin/draft/count": Route("GET", WeChatOASandbox.api_draft_count),
    "/cgi-bin/freepublish/submit": Route("POST", WeChatOASandbox.api_publish_submit),
    "/cgi-bin/freepublish/get": Route("POST", WeChatOASandbox.api_publish_get),
    "/cgi-bin/freepublish/delete": Route("POST", WeChatOASandbox.api_publish_delete),
    "/cgi-bin/qrcode/create": Route("POST", WeChatOASandbox.api_qrcode_create),
    "/cgi-bin/comment/list": Route("POST", WeChatOASandbox.api_comment_list),
    **{f"/datacube/{endpoint}": _datacube_route(endpoint) for endpoint in DATACUBE_MAX_DAYS},
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    sandbox: WeChatOASandbox


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "WeChatOASandbox/1.0"
    timeout = 30  # idle keep-alive connections do not pin a thread forever
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._send(Response(413, b'{"errcode":40006,"errmsg":"invalid media size"}'))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        # self.headers matches names case-insensitively, as HTTP requires.
        self._send(self.server.sandbox.handle(method, self.path, self.headers, body, self.client_address[0]))

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Silent: the request line carries access tokens in the query string."""
