"""Business errors: raised by services, rendered by views (form errors) and the API (JSON 400)."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A request that cannot be carried out as asked. ``code`` is stable; ``message`` is translated."""

    status = 400

    def __init__(self, message: str, *, code: str = "invalid", field: str | None = None, extra: Any = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.extra = extra or {}

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": str(self.message)}
        if self.field:
            body["field"] = self.field
        if self.extra:
            body["details"] = self.extra
        return body


class ConflictError(ApplicationError):
    status = 409
