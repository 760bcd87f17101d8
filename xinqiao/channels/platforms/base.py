"""Pieces every platform client shares: the provider error, access-token stores, log redaction."""

from __future__ import annotations

import logging
import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol


class ProviderError(Exception):
    """A platform call that did not succeed.

    ``permanent`` splits terminal failures (bad credentials, bad data: retrying cannot help) from retryable
    ones (busy, rate limit, network). ``retry_after`` is a hint in seconds for the caller's scheduler (e.g. the
    time until a daily quota resets). ``outcome_unknown`` means the request may have been carried out although
    no answer came back (a timeout after sending a non-idempotent call): the caller must reconcile before
    repeating it. ``platform_message`` is the platform's own text, ``message`` our (translated) explanation.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: int | str,
        provider: str = "",
        platform_message: str = "",
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code
        self.provider = provider
        self.platform_message = platform_message
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown

    def __str__(self) -> str:
        text = f"[{self.provider} {self.code}] {self.message}"
        if self.platform_message and self.platform_message != self.message:
            text += f" ({self.platform_message})"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, permanent={self.permanent!r}, message={self.message!r})"


class InvalidRequestError(ProviderError):
    """The client refused to send a request the platform would reject (raised before any HTTP call)."""

    def __init__(self, message: str, *, code: str, provider: str = "") -> None:
        super().__init__(message, permanent=True, code=code, provider=provider)


@dataclass(frozen=True)
class StoredToken:
    """An access token with its lifetime, all times in seconds since the epoch (the client's clock)."""

    value: str = field(repr=False)
    issued_at: float
    expires_at: float
    refresh_at: float

    @property
    def lifetime(self) -> float:
        return self.expires_at - self.issued_at


class TokenStore(Protocol):
    """Where clients keep access tokens. Shared stores let several processes reuse one token."""

    def get(self, key: str) -> StoredToken | None: ...

    def set(self, key: str, token: StoredToken) -> None: ...

    def invalidate(self, key: str, value: str | None = None) -> None:
        """Forget the token under ``key``; with ``value``, only if it is still that token."""
        ...


class InMemoryTokenStore:
    """One process, thread-safe. For tests, the sandbox demo and single-process tools."""

    def __init__(self) -> None:
        self._tokens: dict[str, StoredToken] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> StoredToken | None:
        with self._lock:
            return self._tokens.get(key)

    def set(self, key: str, token: StoredToken) -> None:
        with self._lock:
            self._tokens[key] = token

    def invalidate(self, key: str, value: str | None = None) -> None:
        with self._lock:
            current = self._tokens.get(key)
            if current is not None and (value is None or current.value == value):
                del self._tokens[key]


class DjangoCacheTokenStore:
    """Tokens in a Django cache (e.g. Redis or the database cache) shared by all web and worker processes.

    ``invalidate`` with a value is a read-compare-delete and not atomic: two processes may both drop a token and
    both fetch a new one. With WeChat's stable_token that is harmless (normal mode hands out the same token).
    """

    def __init__(self, *, alias: str = "default", prefix: str = "xinqiao:platform-token:") -> None:
        self.alias = alias
        self.prefix = prefix

    def _cache(self) -> Any:
        from django.core.cache import caches  # imported late: reusable modules do not touch settings at import

        return caches[self.alias]

    def get(self, key: str) -> StoredToken | None:
        raw = self._cache().get(self.prefix + key)
        if not isinstance(raw, dict):
            return None
        try:
            return StoredToken(
                value=str(raw["value"]),
                issued_at=float(raw["issued_at"]),
                expires_at=float(raw["expires_at"]),
                refresh_at=float(raw["refresh_at"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def set(self, key: str, token: StoredToken) -> None:
        payload = {
            "value": token.value,
            "issued_at": token.issued_at,
            "expires_at": token.expires_at,
            "refresh_at": token.refresh_at,
        }
        # The cache entry lives as long as the token; the client's own clock decides when to refresh.
        self._cache().set(self.prefix + key, payload, timeout=max(1, math.ceil(token.lifetime)))

    def invalidate(self, key: str, value: str | None = None) -> None:
        cache = self._cache()
        if value is not None:
            current = self.get(key)
            if current is None or current.value != value:
                return
        cache.delete(self.prefix + key)


SENSITIVE_QUERY = re.compile(r"((?:access_token|secret|appsecret)=)[^&\s\"'>]+", flags=re.IGNORECASE)


def redact_credentials(text: str) -> str:
    """Replace credential values in query strings (``access_token=...``, ``secret=...``) with ``***``."""
    return SENSITIVE_QUERY.sub(r"\1***", text)


class CredentialRedactingFilter(logging.Filter):
    """httpx logs every request URL at INFO; platform tokens travel in the query string, so mask them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not hide the record
            message = str(record.msg)
        record.msg, record.args = redact_credentials(message), None
        return True


_redaction_lock = threading.Lock()


def install_credential_redaction() -> None:
    """Attach the redacting filter to the HTTP library loggers once per process."""
    with _redaction_lock:
        for name in ("httpx", "httpcore"):
            logger = logging.getLogger(name)
            if not any(isinstance(existing, CredentialRedactingFilter) for existing in logger.filters):
                logger.addFilter(CredentialRedactingFilter())
