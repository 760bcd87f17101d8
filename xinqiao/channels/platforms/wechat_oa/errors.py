"""WeChat OA errcodes (platforms/wechat-oa.md §0.1, §3, §4, §5.1, §6.1, §8) and what the client does with each."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class ErrorKind(enum.Enum):
    BUSY = "busy"  # -1: retry with exponential backoff
    RATE_LIMITED = "rate_limited"  # 45011: retry after at least a minute
    QUOTA = "quota"  # 45009, 53501: never retried by the client; retry after the daily reset
    TOKEN = "token"  # noqa: S105 - 40001, 40014, 42001: refresh the token once and replay once
    PERMANENT = "permanent"  # configuration, data or programming errors


@dataclass(frozen=True)
class ErrorInfo:
    kind: ErrorKind
    description: str | Promise


BUSY = -1
INVALID_CREDENTIAL = 40001
INVALID_ACCESS_TOKEN = 40014
ACCESS_TOKEN_EXPIRED = 42001
DAILY_QUOTA = 45009
MINUTE_LIMIT = 45011
PUBLISH_LIMIT = 53501

ERRCODES: dict[int, ErrorInfo] = {
    -1: ErrorInfo(ErrorKind.BUSY, _("The platform is busy.")),
    40001: ErrorInfo(ErrorKind.TOKEN, _("The AppSecret is wrong or the access token is invalid.")),
    40002: ErrorInfo(ErrorKind.PERMANENT, _("Invalid grant type.")),
    40004: ErrorInfo(ErrorKind.PERMANENT, _("Invalid media type.")),
    40005: ErrorInfo(ErrorKind.PERMANENT, _("Invalid file type.")),
    40006: ErrorInfo(ErrorKind.PERMANENT, _("Invalid file size.")),
    40007: ErrorInfo(ErrorKind.PERMANENT, _("Invalid media ID.")),
    40009: ErrorInfo(ErrorKind.PERMANENT, _("Invalid image size.")),
    40013: ErrorInfo(ErrorKind.PERMANENT, _("Invalid AppID.")),
    40014: ErrorInfo(ErrorKind.TOKEN, _("Invalid access token.")),
    40052: ErrorInfo(ErrorKind.PERMANENT, _("Invalid QR code action name.")),
    40053: ErrorInfo(ErrorKind.PERMANENT, _("Invalid QR code scene or expiry.")),
    40125: ErrorInfo(ErrorKind.PERMANENT, _("Invalid AppSecret.")),
    40164: ErrorInfo(ErrorKind.PERMANENT, _("This server's IP address is not in the account's IP whitelist.")),
    41001: ErrorInfo(ErrorKind.PERMANENT, _("The access token is missing.")),
    41002: ErrorInfo(ErrorKind.PERMANENT, _("The AppID is missing.")),
    41004: ErrorInfo(ErrorKind.PERMANENT, _("The AppSecret is missing.")),
    41005: ErrorInfo(ErrorKind.PERMANENT, _("The media file is missing.")),
    42001: ErrorInfo(ErrorKind.TOKEN, _("The access token has expired.")),
    43001: ErrorInfo(ErrorKind.PERMANENT, _("This API requires GET.")),
    43002: ErrorInfo(ErrorKind.PERMANENT, _("This API requires POST.")),
    44002: ErrorInfo(ErrorKind.PERMANENT, _("The request body is empty.")),
    45002: ErrorInfo(ErrorKind.PERMANENT, _("The article content is too long.")),
    45003: ErrorInfo(ErrorKind.PERMANENT, _("The article title is too long.")),
    45009: ErrorInfo(ErrorKind.QUOTA, _("The daily API call quota is used up.")),
    45011: ErrorInfo(ErrorKind.RATE_LIMITED, _("Too many API calls this minute.")),
    45110: ErrorInfo(ErrorKind.PERMANENT, _("The article author is too long.")),
    47001: ErrorInfo(ErrorKind.PERMANENT, _("The request body is not valid JSON or lacks a required field.")),
    48001: ErrorInfo(ErrorKind.PERMANENT, _("This API is not authorised for the account.")),
    53500: ErrorInfo(ErrorKind.PERMANENT, _("Publishing is restricted for this account.")),
    53501: ErrorInfo(ErrorKind.QUOTA, _("The publishing limit is reached.")),
    53502: ErrorInfo(ErrorKind.PERMANENT, _("Unknown publish ID.")),
    53503: ErrorInfo(ErrorKind.PERMANENT, _("The draft failed the pre-publish check.")),
    53504: ErrorInfo(ErrorKind.PERMANENT, _("The draft must be handled on the mp.weixin.qq.com website.")),
    53505: ErrorInfo(ErrorKind.PERMANENT, _("The draft must be saved manually before publishing.")),
    53600: ErrorInfo(ErrorKind.PERMANENT, _("No published article is left under this article ID.")),
    61500: ErrorInfo(ErrorKind.PERMANENT, _("Invalid date format.")),
    61501: ErrorInfo(ErrorKind.PERMANENT, _("Invalid date range.")),
    88000: ErrorInfo(ErrorKind.PERMANENT, _("The account has no comment privilege.")),
}


def error_info(errcode: int) -> ErrorInfo | None:
    return ERRCODES.get(errcode)
