"""Request id, request size limit and the active-hospital context."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from xinqiao.core import access

SESSION_HOSPITAL_KEY = "xinqiao_hospital_id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9\-]{8,40}$")


class LanguageMiddleware:
    """Simplified Chinese unless the user picked another language (the language cookie).

    Browsers of hospital staff often send English Accept-Language headers (imaged PCs, headless
    kiosks); the product's default must not depend on that. API callers are programs, so for
    ``/api/`` the Accept-Language header is honoured.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.utils import translation

        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        supported = {code for code, _name in settings.LANGUAGES}
        if chosen in supported:
            language = chosen
        elif request.path.startswith("/api/"):
            language = translation.get_language_from_request(request)
        else:
            language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        if request.path.startswith("/api/"):
            from django.utils.cache import patch_vary_headers

            patch_vary_headers(response, ("Accept-Language",))
        return response


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-Id", "")
        request.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-Id"] = request.request_id
        return response


class RequestSizeLimitMiddleware:
    """Refuse oversized bodies up front (413) with a message in the caller's language or JSON."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request.content_type == "multipart/form-data":
            limit = settings.XINQIAO_MAX_UPLOAD_BYTES
        if length > limit or length < 0:
            message = _("The request is too large or malformed (limit %(limit)s bytes).") % {"limit": limit}
            if request.path.startswith("/api/"):
                return JsonResponse({"code": "request_too_large", "message": message}, status=413)
            return render(request, "error.html", {"status": 413, "message": message}, status=413)
        return self.get_response(request)


def _active_hospital(request: HttpRequest, hospitals):
    if not hospitals:
        return None
    wanted = request.session.get(SESSION_HOSPITAL_KEY)
    for hospital in hospitals:
        if hospital.pk == wanted:
            return hospital
    return hospitals[0]


class HospitalContextMiddleware:
    """Sets ``request.hospital`` (the active hospital) and ``request.principal`` for signed-in users."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.hospital = None
        request.principal = None
        request.hospitals = []
        if request.user.is_authenticated:
            memberships = access.memberships_of(request.user)
            request.hospitals = access.hospitals_from(memberships)
            request.hospital = _active_hospital(request, request.hospitals)
            if request.hospital is not None:
                request.principal = access.principal_from(request.user, request.hospital, memberships)
        return self.get_response(request)
