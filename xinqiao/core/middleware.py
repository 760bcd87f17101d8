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
            from django.utils import translation

            translation.activate(translation.get_language_from_request(request))
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
