"""企业微信 group robot webhook client (platforms/notifications.md §1). HTTP only; no Django.

The webhook URL carries the robot key, its only credential: it is never logged and never part of an error
message (errors name the robot by ``key_hint`` only). Messages longer than the platform's byte limits (UTF-8:
text 2048, markdown 4096) are split, preferring line boundaries, and sent as consecutive posts.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from xinqiao.channels.platforms.base import InvalidRequestError, ProviderError, install_credential_redaction

logger = logging.getLogger(__name__)

PROVIDER = "wecom_robot"
OFFICIAL_HOST = "qyapi.weixin.qq.com"
WEBHOOK_PATH = "/cgi-bin/webhook/send"
TEXT_LIMIT = 2048
MARKDOWN_LIMIT = 4096
MSGTYPE_LIMITS = {"text": TEXT_LIMIT, "markdown": MARKDOWN_LIMIT}
RATE_LIMIT_PER_MINUTE = 20
RATE_LIMIT_RETRY_AFTER = 61.0

# errcode -> (permanent, explanation). Unknown non-zero codes are treated as permanent (a bug or config error).
ERRCODES: dict[int, tuple[bool, str]] = {
    93000: (True, "The robot webhook key is invalid or the robot was removed."),
    45009: (False, "The robot's limit of 20 messages per minute was reached."),
    40008: (True, "Invalid message type."),
    44004: (True, "The message content is empty."),
    40058: (True, "Invalid parameter or content too long."),
}


ROBOT_KEY_QUERY = re.compile(r"(\bkey=)[^&\s\"'>]+", flags=re.IGNORECASE)


class RobotKeyRedactingFilter(logging.Filter):
    """httpx logs every request URL at INFO; the robot key travels in the query string, so mask it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not hide the record
            message = str(record.msg)
        record.msg, record.args = ROBOT_KEY_QUERY.sub(r"\1***", message), None
        return True


_redaction_lock = threading.Lock()


def install_robot_key_redaction() -> None:
    """Attach the robot-key filter to the HTTP library loggers once per process."""
    install_credential_redaction()
    with _redaction_lock:
        for name in ("httpx", "httpcore"):
            target = logging.getLogger(name)
            if not any(isinstance(existing, RobotKeyRedactingFilter) for existing in target.filters):
                target.addFilter(RobotKeyRedactingFilter())


def robot_key(webhook_url: str) -> str:
    """The ``key`` query parameter of a webhook URL ('' when there is none)."""
    values = parse_qs(urlsplit(webhook_url).query).get("key") or [""]
    return values[0]


def key_hint(webhook_url: str) -> str:
    """The last four characters of the robot key: enough to tell robots apart, useless to an attacker."""
    key = robot_key(webhook_url)
    return f"…{key[-4:]}" if key else ""


def split_utf8(content: str, limit: int) -> list[str]:
    """Split ``content`` into parts of at most ``limit`` UTF-8 bytes, preferring line boundaries.

    Lines that fit are packed together (joined by their newline); a line longer than the limit is cut at the
    last character boundary that fits. Empty content gives ``[]``.
    """
    if limit < 4:
        raise ValueError("limit must allow at least one UTF-8 character")
    if not content:
        return []
    if len(content.encode("utf-8")) <= limit:
        return [content]
    parts: list[str] = []
    current = ""
    current_bytes = 0
    for line in content.splitlines(keepends=True):
        size = len(line.encode("utf-8"))
        if current_bytes + size <= limit:
            current += line
            current_bytes += size
            continue
        if current:
            parts.append(current)
            current, current_bytes = "", 0
        while size > limit:
            cut, used = 0, 0
            for index, char in enumerate(line):
                width = len(char.encode("utf-8"))
                if used + width > limit:
                    cut = index
                    break
                used += width
            parts.append(line[:cut])
            line = line[cut:]
            size = len(line.encode("utf-8"))
        current, current_bytes = line, size
    if current:
        parts.append(current)
    # a trailing newline at a cut is noise in a chat message
    return [part.rstrip("\n") or part for part in parts]


@dataclass
class SendResult:
    """Posts made for one logical message; ``responses`` holds the platform answers in order."""

    parts: int
    responses: list[dict[str, Any]] = field(default_factory=list)


class WeComRobotClient:
    """Posts text or markdown messages to one robot webhook."""

    def __init__(
        self,
        webhook_url: str,
        *,
        http_timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        on_post: Callable[[int], None] | None = None,
    ) -> None:
        parts = urlsplit(webhook_url)
        if parts.scheme not in ("http", "https") or not robot_key(webhook_url):
            raise InvalidRequestError("The robot webhook URL must be http(s) and carry a key.", code="url",
                                      provider=PROVIDER)  # fmt: skip
        install_robot_key_redaction()
        self._url = webhook_url
        self.key_hint = key_hint(webhook_url)
        self._http = httpx.Client(timeout=httpx.Timeout(http_timeout, connect=min(http_timeout, 3.0)),
                                  transport=transport)  # fmt: skip
        self._on_post = on_post

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> WeComRobotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WeComRobotClient(key={self.key_hint!r})"

    # --- sending ---------------------------------------------------------------------------------------------

    def parts_for(self, content: str, *, msgtype: str = "markdown") -> list[str]:
        if msgtype not in MSGTYPE_LIMITS:
            raise InvalidRequestError(f"Unsupported message type {msgtype!r}.", code="msgtype", provider=PROVIDER)
        parts = split_utf8(content.strip("\n"), MSGTYPE_LIMITS[msgtype])
        if not parts:
            raise InvalidRequestError("The message content is empty.", code="empty", provider=PROVIDER)
        return parts

    def send(self, content: str, *, msgtype: str = "markdown", skip_parts: int = 0) -> SendResult:
        """Send ``content`` (split when too long). ``skip_parts`` resumes a message whose first parts went out.

        On failure the raised ``ProviderError`` carries ``sent_parts`` (parts accepted before the failure).
        """
        parts = self.parts_for(content, msgtype=msgtype)
        result = SendResult(parts=len(parts))
        for index, part in enumerate(parts):
            if index < skip_parts:
                continue
            try:
                result.responses.append(self._post(msgtype, part))
            except ProviderError as exc:
                exc.sent_parts = index  # type: ignore[attr-defined]
                raise
        return result

    def send_text(self, content: str, *, mentioned_list: list[str] | None = None) -> SendResult:
        parts = self.parts_for(content, msgtype="text")
        result = SendResult(parts=len(parts))
        for index, part in enumerate(parts):
            payload: dict[str, Any] = {"content": part}
            if mentioned_list and index == 0:
                payload["mentioned_list"] = list(mentioned_list)
            result.responses.append(self._post_payload({"msgtype": "text", "text": payload}))
        return result

    def _post(self, msgtype: str, content: str) -> dict[str, Any]:
        return self._post_payload({"msgtype": msgtype, msgtype: {"content": content}})

    def _post_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(self._url, json=payload)
        except httpx.TimeoutException as exc:
            # the robot may have posted the message; chat duplicates are tolerable, a lost alert is not
            raise ProviderError("The robot did not answer in time.", permanent=False, code="timeout",
                                provider=PROVIDER, outcome_unknown=True) from exc  # fmt: skip
        except httpx.HTTPError as exc:
            raise ProviderError(f"Network error talking to the robot ({type(exc).__name__}).", permanent=False,
                                code="network", provider=PROVIDER) from exc  # fmt: skip
        if self._on_post is not None:
            self._on_post(response.status_code)
        if response.status_code >= 500:
            raise ProviderError(f"The robot answered HTTP {response.status_code}.", permanent=False,
                                code=f"http_{response.status_code}", provider=PROVIDER)  # fmt: skip
        try:
            body = response.json()
            errcode = int(body.get("errcode", -1))
        except (ValueError, TypeError, AttributeError) as exc:
            raise ProviderError(f"Unreadable robot answer (HTTP {response.status_code}).", permanent=False,
                                code="bad_response", provider=PROVIDER) from exc  # fmt: skip
        if errcode == 0:
            return body
        permanent, explanation = ERRCODES.get(errcode, (True, "The robot refused the message."))
        retry_after = RATE_LIMIT_RETRY_AFTER if errcode == 45009 else None
        logger.warning("wecom robot %s answered errcode %s", self.key_hint, errcode)
        raise ProviderError(explanation, permanent=permanent, code=errcode, provider=PROVIDER,
                            platform_message=str(body.get("errmsg", ""))[:200],
                            retry_after=retry_after)  # fmt: skip
