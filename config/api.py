"""The one NinjaAPI: authentication (API keys and the UI session) and error mapping."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import APIKeyHeader
from ninja.security.session import SessionAuth

from xinqiao.core import access
from xinqiao.core.api import router as core_router
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.services import api_key_authenticate
from xinqiao.listening.api import router as listening_router

logger = logging.getLogger("xinqiao.api")


class ApiKeyAuth(APIKeyHeader):
    """``X-API-Key: xq_<prefix>_<secret>``: a per-hospital, scoped, revocable key."""

    param_name = "X-API-Key"

    def authenticate(self, request: HttpRequest, key: str | None):
        api_key = api_key_authenticate(key or "")
        if api_key is None:
            return None
        request.principal = access.principal_for_api_key(api_key)
        return request.principal


class SessionPrincipalAuth(SessionAuth):
    """The signed-in UI user acting in their active hospital (CSRF-checked on writes)."""

    def _get_key(self, request: HttpRequest) -> str | None:
        # Anonymous callers are simply unauthenticated (401), not CSRF failures (403).
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None):
        if request.user.is_authenticated and getattr(request, "principal", None) is not None:
            return request.principal
        return None


api = NinjaAPI(
    title="XinQiao API",
    version="1",
    description="Hospital social-media marketing and patient relationship platform. Patient identifiers are "
    "always masked; revealing one needs the patients:reveal scope and a purpose, and is audited.",
    urls_namespace="api",
    auth=[ApiKeyAuth(), SessionPrincipalAuth()],
)
api.add_router("/", core_router)
api.add_router("/listening/", listening_router)


def _error(request: HttpRequest, status: int, code: str, message: str, details=None):
    body = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return api.create_response(request, body, status=status)


@api.exception_handler(ApplicationError)
def application_error(request: HttpRequest, exc: ApplicationError):
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError):
    details = [
        {"loc": [str(part) for part in error.get("loc", [])], "message": str(error.get("msg", ""))}
        for error in exc.errors
    ]
    return _error(request, 422, "invalid_request", _("The request is not valid."), details)


@api.exception_handler(AuthenticationError)
def authentication_error(request: HttpRequest, exc: AuthenticationError):
    return _error(request, 401, "unauthenticated", _("A valid API key or session is required."))


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404):
    return _error(request, 404, "not_found", _("Not found."))


@api.exception_handler(PermissionDenied)
def forbidden(request: HttpRequest, exc: PermissionDenied):
    return _error(request, 403, "forbidden", _("You do not have permission to do this."))


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError):
    code = {
        400: "bad_request",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "request_too_large",
    }.get(exc.status_code, "http_error")
    return _error(request, exc.status_code, code, str(exc.message))


@api.exception_handler(Exception)
def server_error(request: HttpRequest, exc: Exception):
    logger.exception("unhandled API error", extra={"request_id": getattr(request, "request_id", "")})
    return _error(request, 500, "server_error", _("Something went wrong on our side. The error has been logged."))
