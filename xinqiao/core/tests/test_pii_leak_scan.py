"""No page, API response, header, message, log line, audit row, session or error report carries a patient's
mobile, ID number or name in clear, unless an audited reveal (or export) produced it for that very request.

The crawl walks every URL pattern of ``config.urls`` as every persona (plus an anonymous visitor, a Django
superuser and two API keys); the scanner looks for every identifier held in the database, in the plain form and
in the usual formatted variants (``138 0013 8000``, ``138-0013-8000``, ``+86 …``, lower-case ``x``).
"""

from __future__ import annotations

import datetime as dt
import html
import io
import logging
import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote_plus

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, path, resolve, reverse
from django.utils import translation

from config.urls import urlpatterns as site_urlpatterns
from xinqiao.core import services
from xinqiao.core.access import principal_for_user
from xinqiao.core.models import ApiKey, AuditEvent, Membership, Patient
from xinqiao.lib.identity import generate_resident_id

User = get_user_model()

# --- the scanner -------------------------------------------------------------------------------

# Runs of digits (and the ID check letter) that may be split by single spaces or dashes: "+86 138-0013-8000".
DIGIT_RUN = re.compile(r"[0-9Xx](?:[0-9Xx]|[ \-](?=[0-9Xx]))*")
UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")  # JSON's \u5f20\u4f1f


@dataclass(frozen=True)
class Identifier:
    patient_pk: int
    field: str  # "name", "mobile" or "id_number"
    value: str


class Needles:
    """Every clear identifier in the database; finds them in any text, formatted or not."""

    def __init__(self, identifiers: list[Identifier]) -> None:
        self.identifiers = identifiers
        self.mobiles: dict[str, set[Identifier]] = {}
        self.id_numbers: dict[str, set[Identifier]] = {}
        for identifier in identifiers:
            if identifier.field == "mobile":
                self.mobiles.setdefault(identifier.value, set()).add(identifier)
            elif identifier.field == "id_number":
                self.id_numbers.setdefault(identifier.value.upper(), set()).add(identifier)
        self.names = [i for i in identifiers if i.field == "name"]

    def find(self, text: str) -> set[Identifier]:
        hits: set[Identifier] = set()
        variants = [text]
        if "%" in text or "+" in text:
            variants.append(unquote_plus(text))
        if "&#" in text or "&amp;" in text:
            variants.append(html.unescape(text))
        if "\\u" in text:
            variants.append(UNICODE_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text))
        for variant in variants:
            for run in DIGIT_RUN.findall(variant):
                digits = run.replace(" ", "").replace("-", "").upper()
                for start in range(len(digits) - 10):
                    hits |= self.mobiles.get(digits[start : start + 11], set())
                for start in range(len(digits) - 17):
                    hits |= self.id_numbers.get(digits[start : start + 18], set())
            hits.update(name for name in self.names if name.value in variant)
        return hits


def test_scanner_finds_formatted_variants():
    mobile = Identifier(1, "mobile", "13800138000")
    id_number = Identifier(1, "id_number", "11010519600314003X")
    needles = Needles([mobile, id_number, Identifier(1, "name", "张伟")])
    assert needles.find("call 138 0013 8000 now") == {mobile}
    assert needles.find("tel:+86-138-0013-8000") == {mobile}
    assert needles.find("q=138%200013%208000") == {mobile}
    assert needles.find('{"m":"8613800138000"}') == {mobile}
    assert needles.find("id 110105 19600314 003x") == {id_number}
    assert needles.find("110105-19600314-003X") == {id_number}
    assert needles.find("patient 张伟 called") == {Identifier(1, "name", "张伟")}
    assert needles.find('{"value": "\\u5f20\\u4f1f"}') == {Identifier(1, "name", "张伟")}
    assert needles.find("138****8000 110105********003X 张* 2026-11-24 13800138001") == set()


# --- what the crawl records --------------------------------------------------------------------


@dataclass
class Exchange:
    who: str
    method: str
    path: str
    status: int
    request_id: str
    surfaces: dict[str, str]  # "url", "body", "headers", "messages" -> text
    discloses: frozenset[tuple[int, str]] = frozenset()  # (patient pk, field) this request is meant to disclose
    disclosure_action: str = ""  # AuditEvent action that must cover the disclosure


class RawLogRecords(logging.Handler):
    """Keeps every record as the code produced it, before any redacting filter touched it."""

    STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        parts = [record.name, str(record.msg), repr(record.args)]
        try:
            parts.append(record.getMessage())
        except (TypeError, ValueError):
            parts.append("<unformattable>")
        if record.exc_info and record.exc_info[0] is not None:
            # what a formatted traceback holds (frames, source lines, the exception), without 3.12's costly carets
            frames = traceback.extract_tb(record.exc_info[2])
            parts += [f"{frame.filename}:{frame.lineno} {frame.name}: {frame.line}" for frame in frames]
            parts.append(repr(record.exc_info[1]))
        if record.exc_text:
            parts.append(record.exc_text)
        extras = {key: value for key, value in vars(record).items() if key not in self.STANDARD}
        parts.append(repr(extras))
        self.texts.append("\n".join(parts))


class KeepQuietDebug(logging.Filter):
    """Hands DEBUG records of a chatty logger to the capture only, sparing every other handler the formatting.

    ``django.template`` logs each missing variable at DEBUG with the caught exception attached, and the forced
    debug cursor logs every SQL statement; outside this test those records are never even created (the configured
    level is INFO, DEBUG is off), so keeping them from the console and pytest's handlers changes nothing else.
    """

    def __init__(self, capture: RawLogRecords) -> None:
        super().__init__()
        self.capture = capture

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO:
            return True
        self.capture.handle(record)
        return False


QUIET_LOGGERS = ("django.template", "django.db.backends")


@pytest.fixture
def raw_logs(caplog) -> Iterator[RawLogRecords]:
    """Capture every log record at DEBUG from every logger, SQL included, ahead of the redacting handlers."""
    capture = RawLogRecords()
    quiet = KeepQuietDebug(capture)
    caplog.set_level(logging.DEBUG)
    loggers = [logging.getLogger()] + [
        item for item in logging.root.manager.loggerDict.values() if isinstance(item, logging.Logger)
    ]
    levels = {logger: logger.level for logger in loggers}
    targets = [logger for logger in loggers if logger is logging.getLogger() or not logger.propagate]
    for logger in loggers:
        if logger.level > logging.DEBUG:
            logger.setLevel(logging.DEBUG)
    for logger in targets:
        logger.handlers.insert(0, capture)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).addFilter(quiet)
    previous_debug_cursor = connection.force_debug_cursor
    connection.force_debug_cursor = True  # SQL and its parameters are logged at DEBUG as well
    try:
        yield capture
    finally:
        connection.force_debug_cursor = previous_debug_cursor
        for name in QUIET_LOGGERS:
            logging.getLogger(name).removeFilter(quiet)
        for logger in targets:
            logger.removeHandler(capture)
        for logger, level in levels.items():
            logger.setLevel(level)


def identifiers_in_database(*, with_names: bool) -> list[Identifier]:
    """Every patient's identifiers, decrypted the way an audited reveal would."""
    found = []
    for patient in Patient.objects.select_related("hospital").order_by("pk"):
        fields = ("name", "mobile", "id_number") if with_names else ("mobile", "id_number")
        for name in fields:
            value = services.patient_unseal(patient, name)
            if value:
                found.append(Identifier(patient.pk, name, value))
    return found


class Crawler:
    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self.clients: dict[str, Client] = {}

    def client(self, who: str, **headers) -> Client:
        if who not in self.clients:
            self.clients[who] = Client(raise_request_exception=True, **headers)
        return self.clients[who]

    def request(
        self,
        who: str,
        method: str,
        url: str,
        data=None,
        *,
        status: int | None = None,
        discloses: set[tuple[int, str]] = frozenset(),
        disclosure_action: str = AuditEvent.Action.REVEAL,
        content_type: str | None = None,
        **extra,
    ) -> HttpResponse:
        client = self.client(who)
        kwargs = dict(extra)
        if content_type is not None:
            kwargs["content_type"] = content_type
        response = (
            getattr(client, method)(url, data, **kwargs) if data is not None else getattr(client, method)(url, **kwargs)
        )
        if status is not None:
            assert (method, url, response.status_code) == (method, url, status), response.content[:300]
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = body.decode(response.charset or "utf-8", errors="replace")
        text = self._drop_own_input(text, data)
        headers = "\n".join(f"{key}: {value}" for key, value in response.items())
        headers += "\n" + response.cookies.output()
        request = response.wsgi_request
        messages = "\n".join(str(message) for message in get_messages(request))
        self.exchanges.append(
            Exchange(
                who=who,
                method=method.upper(),
                path=url,
                status=response.status_code,
                request_id=response.get("X-Request-Id", ""),
                surfaces={"url": request.get_full_path(), "body": text, "headers": headers, "messages": messages},
                discloses=frozenset(discloses),
                disclosure_action=disclosure_action,
            )
        )
        return response

    @staticmethod
    def _drop_own_input(text: str, data) -> str:
        """A form may show the requester what they typed themselves (search box, login name); nothing else."""
        if not isinstance(data, dict):
            return text
        for value in data.values():
            if isinstance(value, str) and value:
                text = text.replace(f'value="{html.escape(value)}"', 'value="[own input]"')
        return text


# --- the crawl plan ----------------------------------------------------------------------------

# Every named route of config.urls: crawled with GET, or POST-only (then GET must answer 405 or redirect).
GET_ROUTES = {
    "login",
    "set_language",
    "core:home",
    "core:sudo",
    "core:patient_list",
    "core:patient_create",
    "core:patient_detail",
    "core:patient_edit",
    "core:patient_masked_field",
    "core:organisation",
    "core:member_list",
    "core:member_create",
    "core:member_edit",
    "core:api_key_list",
    "core:audit_list",
    "core:retention",
    "core:system_status",
    "core:health_live",
    "core:health_ready",
    "core:health_background",
    "core:health_backup",
    "api:api-root",
    "api:list_patients",
    "api:get_patient",
    "api:list_mentions",
    "api:openapi-json",
    "api:openapi-view",
}
POST_ROUTES = {
    "logout",
    "core:switch_hospital",
    "core:patient_reveal",
    "core:patient_consent",
    "core:patient_visit",
    "core:patient_export",
    "core:patient_erase",
    "core:api_key_revoke",
    "core:legal_hold_release",
    "api:create_patient",
    "api:reveal_patient_field",
    "api:search_patients",
    "api:push_mentions",
}


def route_table(patterns, namespace: str = "", prefix: str = "") -> dict[str, str]:
    """Every named route of a URLconf: ``namespace:name`` -> the route string it answers on."""
    table: dict[str, str] = {}
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue  # Django's admin is crawled through its index and every registered model
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            table |= route_table(pattern.url_patterns, inner, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and pattern.name:
            table[f"{namespace}{pattern.name}"] = prefix + str(pattern.pattern)
    return table


def planned(name: str) -> bool:
    """Routes of core, the API and the site root are crawled by hand; other apps' routes generically."""
    return ":" not in name or name.split(":")[0] in {"core", "api"}


def test_crawl_plan_covers_every_route():
    assert {name for name in route_table(get_resolver().url_patterns) if planned(name)} == GET_ROUTES | POST_ROUTES


ROUTE_PARAMETER = re.compile(r"<(?:(\w+):)?\w+>")


def other_app_urls() -> tuple[list[str], list[str]]:
    """Other apps' routes as URLs: those without parameters, and those with (filled with 1 or "probe")."""
    plain, filled = [], []
    for name, route in sorted(route_table(get_resolver().url_patterns).items()):
        if planned(name):
            continue
        url = "/" + ROUTE_PARAMETER.sub(lambda match: "1" if match.group(1) == "int" else "probe", route)
        (filled if ROUTE_PARAMETER.search(route) else plain).append(url)
    return plain, filled


def routes_visited(crawler: Crawler) -> set[str]:
    visited = set()
    for exchange in crawler.exchanges:
        try:
            visited.add(resolve(exchange.path.split("?")[0]).route)
        except Resolver404:
            continue
    return visited


PERSONAS = ["admin", "brand", "dept_reviewer", "medical_affairs", "service", "health_manager", "leadership", "outsider"]
WRITERS = {"admin", "service", "health_manager"}


# Pages everybody gets: the answer differs by role (200, 403, redirect to sign in).
COMMON_PAGES = [
    "/",
    "/login/",
    "/sudo/",
    "/organisation/",
    "/members/",
    "/members/new/",
    "/api-keys/",
    "/audit/",
    "/retention/",
    "/system/",
    "/health/live",
    "/health/ready",
    "/health/background",
    "/health/backup",
    "/patients/",
    "/patients/new/",
    "/no-such-page/",
    "/patients/99999999/",
    "/api/",
    "/api/patients",
    "/api/openapi.json",
    "/api/listening/mentions",
]
# Filters, pagers, error pages and odd requests: asked by the personas that see the most.
DEEP_PAGES = [
    "/sudo/?next=/members/",
    "/audit/?action=reveal",
    "/audit/?result=denied",
    "/audit/?actor=service",
    "/audit/?verify=1",
    "/audit/?date_from=2000-01-01&date_to=2100-01-01",
    "/audit/?cursor=1",
    "/patients/?sex=M",
    "/patients/?age_min=30&age_max=70",
    "/patients/?source_channel=wechat_oa",
    "/patients/?consent=marketing_contact",
    "/patients/?cursor=1",
    "/patients/?age_min=abc",
    "/patients/?q=%E6%97%A0%E6%AD%A4%E4%BA%BA",
    "/patients/0/",
    "/i18n/setlang/",
    "/django-admin/",
    "/django-admin/login/",
    "/api/docs",
    "/api/patients?limit=1",
    "/api/patients?sex=F&age_min=1",
    "/api/patients/99999999",
    "/api/patients?limit=0",
    "/logout/",
    "/hospital/switch/",
]
DEEP_CRAWL = {"anonymous", "admin", "service", "outsider"}


def crawl_pages(crawler: Crawler, who: str, patients: list[Patient], member_ids: list[int], api_key_pk: int) -> None:
    """GET every page, fragment, filter and error page a browser or a script could ask for."""
    get = crawler.request
    deep = who in DEEP_CRAWL
    plain, filled = other_app_urls()
    for url in COMMON_PAGES + plain + (DEEP_PAGES + filled if deep else []):
        get(who, "get", url)
    for patient in patients:
        get(who, "get", f"/patients/{patient.pk}/")
        for name in ("name", "mobile", "id_number"):
            get(who, "get", f"/patients/{patient.pk}/masked/{name}/")
        get(who, "get", f"/api/patients/{patient.pk}")
    if not deep:
        return
    get(who, "get", "/", HTTP_HOST="evil.example")  # DisallowedHost: the 400 page
    get(who, "get", "/patients/", CONTENT_LENGTH="999999999")  # the 413 page
    get(who, "get", f"/api-keys/{api_key_pk}/revoke/")
    get(who, "get", "/retention/holds/1/release/")
    for member_id in member_ids:
        get(who, "get", f"/members/{member_id}/")
    for department in sorted({p.first_department_id for p in patients}):
        get(who, "get", f"/patients/?department={department}")
    for patient in patients:
        get(who, "get", f"/audit/?object_id={patient.pk}")
        get(who, "get", f"/patients/{patient.pk}/edit/")
    first = patients[0].pk
    get(who, "get", f"/patients/{first}/masked/photo/")
    for action in ("reveal", "consents", "visits", "export", "erase"):
        get(who, "get", f"/patients/{first}/{action}/")
    get(who, "get", f"/api/patients/{first}/reveal")
    get(who, "get", "/api/patients/search")


def assert_no_leaks(crawler: Crawler, needles: Needles, raw_logs: RawLogRecords, extra: dict[str, str]) -> list:
    """Fail with every place a clear identifier shows up without an audited disclosure for that request."""
    leaks = []
    disclosed = []
    for exchange in crawler.exchanges:
        for surface, text in exchange.surfaces.items():
            hits = {(hit.patient_pk, hit.field) for hit in needles.find(text)}
            allowed = exchange.discloses if surface == "body" else frozenset()
            for hit in sorted(hits - allowed):
                leaks.append(f"{exchange.who} {exchange.method} {exchange.path} [{surface}] patient {hit[0]} {hit[1]}")
            if allowed:
                assert (exchange.path, hits) == (exchange.path, set(allowed))
                disclosed.append(exchange)
    for index, text in enumerate(raw_logs.texts):
        for hit in sorted(needles.find(text), key=lambda i: (i.patient_pk, i.field)):
            leaks.append(f"log record #{index} patient {hit.patient_pk} {hit.field}: {text[:200]!r}")
    for where, text in extra.items():
        for hit in sorted(needles.find(text), key=lambda i: (i.patient_pk, i.field)):
            leaks.append(f"{where}: patient {hit.patient_pk} {hit.field}")
    assert leaks == [], "\n".join(leaks)
    # every disclosure was audited, for that request, patient and field, as a success
    for exchange in disclosed:
        events = AuditEvent.objects.filter(
            request_id=exchange.request_id, action=exchange.disclosure_action, result=AuditEvent.Result.OK
        )
        audited = {(int(e.object_id), name) for e in events for name in e.fields}
        if exchange.disclosure_action == AuditEvent.Action.EXPORT:
            audited = {(int(e.object_id), name) for e in events for name in ("name", "mobile", "id_number")}
        assert (exchange.path, exchange.discloses - audited) == (exchange.path, set())
    return disclosed


def everything_else() -> dict[str, str]:
    """Stored places a leak could hide: the audit trail and the sessions."""
    audit_rows = "\n".join(repr(row) for row in AuditEvent.objects.order_by("pk").values())
    sessions = "\n".join(repr(session.get_decoded()) for session in Session.objects.all())
    return {"audit events": audit_rows, "sessions": sessions}


# --- the crawl over the persona world ----------------------------------------------------------


def sudo(crawler: Crawler, who: str, password: str) -> None:
    crawler.request(who, "post", "/sudo/?next=/members/", {"password": password}, status=302)


def test_no_identifier_leaves_the_server_unaudited(world, password, raw_logs, caplog, settings):
    settings.DEBUG = False
    crawler = Crawler()
    hospital_patients = [*world.patients, world.other_patient]
    member_ids = sorted(Membership.objects.values_list("user_id", flat=True).distinct())
    admin_principal = world.principal("admin")
    read_key_row, read_key = services.api_key_create(
        principal=admin_principal, name="leak scan read", scopes=[ApiKey.Scope.PATIENTS_READ]
    )
    _reveal_row, reveal_key = services.api_key_create(
        principal=admin_principal,
        name="leak scan reveal",
        scopes=[ApiKey.Scope.PATIENTS_READ, ApiKey.Scope.PATIENTS_REVEAL, ApiKey.Scope.PATIENTS_WRITE],
    )
    superuser = User.objects.create_superuser(username="root", password=password)
    clear = identifiers_in_database(with_names=True)
    assert {(i.patient_pk, i.field): i.value for i in clear if i.patient_pk in world.pii} == {
        (pk, name): value for pk, values in world.pii.items() for name, value in values.items()
    } | {(world.other_patient.pk, "id_number"): services.patient_unseal(world.other_patient, "id_number")}

    # anonymous visitors
    crawl_pages(crawler, "anonymous", hospital_patients, member_ids, read_key_row.pk)

    # every persona signs in through the login form, then walks everything
    for who in PERSONAS:
        crawler.request(who, "post", "/login/", {"username": who, "password": password}, status=302)
        crawl_pages(crawler, who, hospital_patients, member_ids, read_key_row.pk)
        if who in {"admin", "outsider"}:
            sudo(crawler, who, password)
            for member_id in member_ids:
                crawler.request(who, "get", f"/members/{member_id}/")
            crawler.request(who, "get", "/members/new/")

    # audited disclosures: each response carries exactly what was audited for it
    first = world.patients[0]
    for who in sorted(WRITERS):
        crawler.request(
            who,
            "get",
            f"/patients/{first.pk}/edit/?purpose=verify_identity",
            status=200,
            discloses={(first.pk, "name"), (first.pk, "mobile"), (first.pk, "id_number")},
        )
    for patient in world.patients:
        for name in ("name", "mobile", "id_number"):
            crawler.request("service", "post", f"/patients/{patient.pk}/reveal/", {"field": name}, status=400)
            crawler.request(
                "service",
                "post",
                f"/patients/{patient.pk}/reveal/",
                {"field": name, "purpose": "follow_up"},
                status=200,
                discloses={(patient.pk, name)},
            )
            crawler.request(
                "brand",
                "post",
                f"/patients/{patient.pk}/reveal/",
                {"field": name, "purpose": "follow_up"},
                status=403,
            )
    crawler.request(
        "admin",
        "post",
        f"/patients/{first.pk}/export/",
        {"purpose": "subject_access"},
        status=200,
        discloses={(first.pk, "name"), (first.pk, "mobile"), (first.pk, "id_number")},
        disclosure_action=AuditEvent.Action.EXPORT,
    )

    # writes that leave messages behind, and a new patient registered through the form
    crawler.request(
        "admin",
        "post",
        "/patients/new/",
        {
            "name": "孙丽",
            "mobile": "13655556666",
            "sex": "F",
            "id_number": generate_resident_id("110105", dt.date(1985, 5, 6), 42, male=False),
            "source_channel": "walk_in",
            "first_department": world.departments["pediatrics"].pk,
        },
        status=302,
    )
    crawler.request(
        "service",
        "post",
        f"/patients/{first.pk}/consents/",
        {"purpose": "marketing_contact", "action": "grant", "channel": "paper", "notice_version": "v1"},
        status=302,
    )
    crawler.request("service", "post", f"/patients/{first.pk}/consents/", {"purpose": "nonsense"}, status=302)
    crawler.request(
        "service",
        "post",
        f"/patients/{first.pk}/visits/",
        {
            "kind": "visit",
            "occurred_on": "2026-01-05",
            "department": world.departments["cardiology"].pk,
            "channel": "walk_in",
            "revenue_yuan": "120.50",
        },
        status=302,
    )
    crawler.request("service", "post", f"/patients/{first.pk}/visits/", {"kind": "visit"}, status=302)
    crawler.request("admin", "post", "/api-keys/", {"name": "leak scan ui", "scopes": ["patients:read"]}, status=200)

    # the API with keys: reads are masked, reveals audited, errors never echo what was sent
    crawler.client("key:read", HTTP_X_API_KEY=read_key)
    crawler.client("key:reveal", HTTP_X_API_KEY=reveal_key)
    for who in ("key:read", "key:reveal"):
        for url in [
            "/api/patients",
            "/api/patients?limit=2",
            "/api/openapi.json",
            *[f"/api/patients/{p.pk}" for p in hospital_patients],
        ]:
            crawler.request(who, "get", url)
    for name in ("name", "mobile", "id_number"):
        crawler.request(
            "key:reveal",
            "post",
            f"/api/patients/{first.pk}/reveal",
            {"field": name, "purpose": "complaint"},
            content_type="application/json",
            status=200,
            discloses={(first.pk, name)},
        )
        crawler.request(
            "key:read",
            "post",
            f"/api/patients/{first.pk}/reveal",
            {"field": name, "purpose": "complaint"},
            content_type="application/json",
            status=403,
        )
    crawler.request(
        "key:reveal",
        "post",
        f"/api/patients/{first.pk}/reveal",
        {"field": "mobile"},
        content_type="application/json",
        status=422,
    )
    existing = world.pii[first.pk]
    crawler.request(
        "key:reveal",
        "post",
        "/api/patients",
        {"name": existing["name"], "mobile": existing["mobile"], "id_number": existing["id_number"]},
        content_type="application/json",
        status=409,
    )
    crawler.request(
        "key:reveal",
        "post",
        "/api/patients",
        {"name": existing["name"], "mobile": existing["mobile"], "id_number": existing["id_number"], "sex": "Z"},
        content_type="application/json",
        status=422,
    )
    crawler.request(
        "key:reveal",
        "post",
        "/api/patients",
        {"name": existing["name"], "mobile": existing["mobile"][:-1], "id_number": existing["id_number"][:-1] + "0"},
        content_type="application/json",
        status=400,
    )

    # the admin and the superuser read the whole audit trail afterwards
    crawler.request("root", "post", "/login/", {"username": "root", "password": password}, status=302)
    crawler.request("root", "get", "/django-admin/", status=200)
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        crawler.request("root", "get", reverse("admin:{}_{}_changelist".format(*info)), status=200)
        for obj in model_admin.get_queryset(_admin_request(superuser))[:3]:
            crawler.request("root", "get", reverse("admin:{}_{}_change".format(*info), args=[obj.pk]), status=200)
    page_through(crawler, "admin", "/audit/")

    # then: the identifiers of every patient, the one registered during the crawl included
    needles = Needles(identifiers_in_database(with_names=True))
    assert len(needles.identifiers) == len(clear) + 3
    extra = everything_else()
    extra["captured log text"] = caplog.text
    disclosed = assert_no_leaks(crawler, needles, raw_logs, extra)
    edit_forms, ui_reveals, exports, api_reveals = len(WRITERS), 3 * len(world.patients), 1, 3
    assert len(disclosed) == edit_forms + ui_reveals + exports + api_reveals
    with translation.override("zh-hans"):
        recorded = translation.gettext("Consent recorded.")
        incomplete = translation.gettext("The consent form is incomplete.")
    # messages wait in the cookie until a page shows them: the second request holds both
    assert [
        e.surfaces["messages"] for e in crawler.exchanges if e.method == "POST" and e.path.endswith("/consents/")
    ] == [recorded, f"{recorded}\n{incomplete}"]
    assert set(route_table(get_resolver().url_patterns).values()) - routes_visited(crawler) == set()


def _admin_request(user) -> HttpRequest:
    request = HttpRequest()
    request.user = user
    return request


# --- searching by identifier ------------------------------------------------------------------


class SearchFormFinder(HTMLParser):
    """Finds the form that holds the ``q`` search box, as a browser with htmx would submit it."""

    def __init__(self) -> None:
        super().__init__()
        self.open_forms: list[dict[str, str]] = []
        self.search_form: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.open_forms.append(values)
        elif tag == "input" and values.get("name") == "q" and self.open_forms:
            self.search_form = self.open_forms[-1]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.open_forms:
            self.open_forms.pop()


def submit_search(crawler: Crawler, who: str, page_url: str, query: str) -> HttpResponse:
    finder = SearchFormFinder()
    finder.feed(crawler.request(who, "get", page_url, status=200).content.decode())
    form = finder.search_form
    assert form is not None
    if form.get("hx-post") or form.get("method", "get").lower() == "post":
        return crawler.request(who, "post", form.get("hx-post") or form.get("action") or page_url, {"q": query})
    return crawler.request(who, "get", form.get("hx-get") or form.get("action") or page_url, {"q": query})


def api_search(crawler: Crawler, who: str, query: str) -> HttpResponse:
    """Search through the API operation that takes ``q``, where its OpenAPI description puts it."""
    schema = crawler.client(who).get("/api/openapi.json").json()

    def body_properties(operation: dict) -> dict:
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
        if "$ref" in body:
            body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
        return body.get("properties", {})

    for route, operations in schema["paths"].items():
        for method, operation in operations.items():
            if any(p["name"] == "q" and p["in"] == "query" for p in operation.get("parameters", [])):
                return crawler.request(who, method, route, {"q": query}, status=200)
            if "q" in body_properties(operation):
                return crawler.request(who, method, route, {"q": query}, content_type="application/json", status=200)
    raise AssertionError("no API operation searches patients by q")


def test_identifier_search_keeps_identifiers_out_of_urls_and_logs(world, password, raw_logs, caplog):
    """Staff look patients up by mobile or ID number; the number must not travel in a URL, a redirect or a log."""
    crawler = Crawler()
    patient = world.patients[0]
    _row, key = services.api_key_create(
        principal=world.principal("admin"), name="search", scopes=[ApiKey.Scope.PATIENTS_READ]
    )
    crawler.client("key", HTTP_X_API_KEY=key)
    for who in ("service", "leadership"):
        crawler.request(who, "post", "/login/", {"username": who, "password": password}, status=302)
    for name in ("mobile", "id_number", "name"):
        value = world.pii[patient.pk][name]
        found = submit_search(crawler, "service", "/patients/", value)
        assert found.status_code == 200
        assert found.content.decode().count(f'href="/patients/{patient.pk}/"') == 1
        assert [item["id"] for item in api_search(crawler, "key", value).json()["items"]] == [patient.pk]
    # a search that did end up in a URL gets bookmarked and shared: someone signed out and someone without
    # access to patients open it
    shared = [e.surfaces["url"] for e in crawler.exchanges if e.who == "service" and "q=" in e.surfaces["url"]]
    for url in shared:
        crawler.request("anonymous", "get", url)
        crawler.request("leadership", "get", url)
    needles = Needles(identifiers_in_database(with_names=True))
    extra = {"captured log text": caplog.text}
    assert_no_leaks(crawler, needles, raw_logs, extra)


# --- exception reports -------------------------------------------------------------------------


def failing_view(request: HttpRequest) -> HttpResponse:
    """A careless view: decrypted identifiers in locals, a typed mobile in the POST data, then it crashes."""
    patient = Patient.objects.get(pk=int(request.POST["patient"]))
    mobile = services.patient_unseal(patient, "mobile")
    id_number = services.patient_unseal(patient, "id_number")
    typed_mobile = request.POST["mobile"]
    if request.POST.get("crash") == "lookup":
        # the identifier ends up in the exception itself, as a dict lookup by mobile does
        return HttpResponse({}[mobile])
    raise RuntimeError(f"the SMS gateway refused the message ({len(mobile + id_number + typed_mobile)} chars)")


urlpatterns = [*site_urlpatterns, path("boom/", failing_view)]
handler500 = "xinqiao.core.views.error_500"


@pytest.fixture
def console_output() -> Iterator[io.StringIO]:
    """What the configured console handler of django.request writes (after its redacting filter)."""
    handler = next(h for h in logging.getLogger("django.request").handlers if h.get_name() == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


@pytest.fixture
def html_error_email(monkeypatch) -> None:
    """The configured mail_admins handler, switched to also send the HTML report (frames and their locals)."""
    handler = next(h for h in logging.getLogger("django.request").handlers if h.get_name() == "mail_admins")
    monkeypatch.setattr(handler, "include_html", True)


def crash(client: Client, patient: Patient, mobile: str, *, how: str) -> HttpResponse:
    return client.post(
        "/boom/", {"patient": str(patient.pk), "mobile": f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}", "crash": how}
    )


def report_texts(outbox) -> str:
    texts = []
    for message in outbox:
        texts += [message.subject, message.body, *(content for content, _type in message.alternatives)]
    return "\n".join(texts)


LOCAL_ROW = re.compile(
    r'<td>(mobile|id_number|typed_mobile)</td>\s*<td class="code"><pre>&#x27;([^<]*)&#x27;</pre></td>'
)


def frame_locals(report_html: str) -> dict[str, str]:
    """The failing view's identifier locals as Django's HTML error report shows them."""
    return dict(LOCAL_ROW.findall(report_html))


def signed_in_client(username: str, password: str) -> Client:
    client = Client(raise_request_exception=False)
    assert client.login(username=username, password=password)
    return client


@pytest.mark.urls("xinqiao.core.tests.test_pii_leak_scan")
def test_error_email_masks_identifiers(world, password, settings, raw_logs, console_output, html_error_email):
    settings.DEBUG = False
    settings.ADMINS = ["ops@hospital.example"]
    patient = world.patients[0]
    masked_id = f"110105********{world.pii[patient.pk]['id_number'][-4:]}"
    client = signed_in_client("service", password)

    response = crash(client, patient, world.pii[patient.pk]["mobile"], how="raise")

    assert response.status_code == 500
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@hospital.example"]
    assert mail.outbox[0].subject.endswith("Internal Server Error: /boom/")
    text, (html_report, html_type) = mail.outbox[0].body, mail.outbox[0].alternatives[0]
    assert html_type == "text/html"
    # the report does carry the POST data and the frame's locals, masked
    assert "mobile = '138****8000'" in text
    assert frame_locals(html_report) == {"mobile": "138****8000", "id_number": masked_id, "typed_mobile": "138****8000"}
    needles = Needles(identifiers_in_database(with_names=False))
    surfaces = {
        "error page": response.content.decode(),
        "email": report_texts(mail.outbox),
        "console": console_output.getvalue(),
        **{f"raw log {i}": text for i, text in enumerate(raw_logs.texts)},
    }
    assert {where: needles.find(text) for where, text in surfaces.items() if needles.find(text)} == {}
    assert "ERROR django.request Internal Server Error: /boom/" in console_output.getvalue()


@pytest.mark.urls("xinqiao.core.tests.test_pii_leak_scan")
def test_debug_error_page_masks_identifiers(world, password, settings):
    settings.DEBUG = True
    settings.ADMINS = ["ops@hospital.example"]
    patient = world.patients[0]
    masked_id = f"110105********{world.pii[patient.pk]['id_number'][-4:]}"
    client = signed_in_client("service", password)

    response = crash(client, patient, world.pii[patient.pk]["mobile"], how="raise")

    page = response.content.decode()
    assert response.status_code == 500
    assert "RuntimeError at /boom/" in page
    assert frame_locals(page) == {"mobile": "138****8000", "id_number": masked_id, "typed_mobile": "138****8000"}
    needles = Needles(identifiers_in_database(with_names=False))
    assert needles.find(page) == set()
    assert needles.find(report_texts(mail.outbox)) == set()


@pytest.mark.urls("xinqiao.core.tests.test_pii_leak_scan")
@pytest.mark.parametrize("debug", [False, True])
def test_exception_carrying_an_identifier_is_masked_in_reports(
    world, password, settings, console_output, html_error_email, debug
):
    """``KeyError: '13800138000'`` (a lookup by mobile that failed) must not carry the number into any report."""
    settings.DEBUG = debug
    settings.ADMINS = ["ops@hospital.example"]
    patient = world.patients[0]
    client = signed_in_client("service", password)

    response = crash(client, patient, world.pii[patient.pk]["mobile"], how="lookup")

    assert response.status_code == 500
    assert len(mail.outbox) == 1
    assert "KeyError" in mail.outbox[0].body
    needles = Needles(identifiers_in_database(with_names=False))
    found = {
        where: sorted(hit.field for hit in needles.find(text))
        for where, text in {
            "error page": response.content.decode(),
            "email text": mail.outbox[0].body,
            "email html": mail.outbox[0].alternatives[0][0],
            "console": console_output.getvalue(),
        }.items()
    }
    assert found == {"error page": [], "email text": [], "email html": [], "console": []}


# --- login names -------------------------------------------------------------------------------


def test_mistyped_login_name_holding_an_identifier_stays_masked(world, password, raw_logs, caplog):
    """Somebody types a patient's mobile into the username box: the audit trail must not keep it in clear."""
    crawler = Crawler()
    mobile = world.pii[world.patients[0].pk]["mobile"]

    crawler.request("somebody", "post", "/login/", {"username": mobile, "password": "wrong-password"}, status=200)

    crawler.request("admin", "post", "/login/", {"username": "admin", "password": password}, status=302)
    crawler.request("admin", "get", "/audit/?action=login_failed", status=200)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_FAILED).count() == 1
    needles = Needles(identifiers_in_database(with_names=False))
    # The sign-in query itself carries what was typed; SQL is only ever logged with DEBUG on, so leave it out here.
    raw_logs.texts = [text for text in raw_logs.texts if not text.startswith("django.db.backends\n")]
    assert_no_leaks(crawler, needles, raw_logs, everything_else() | {"captured log text": caplog.text})


# --- the demo data set -------------------------------------------------------------------------


def variety(patients: list[Patient]) -> list[Patient]:
    """The first patient of every source channel, every department, both sexes, with and without ID number."""
    chosen: dict[tuple, Patient] = {}
    for patient in patients:
        for kind in [
            ("channel", patient.source_channel),
            ("department", patient.first_department_id),
            ("sex", patient.sex),
            ("has id number", bool(patient.id_number_sealed)),
        ]:
            chosen.setdefault(kind, patient)
    return sorted(set(chosen.values()), key=lambda p: p.pk)


PAGER_LINK = re.compile(r'<p class="pager"><a [^>]*href="\?([^"]*)"')


def page_through(crawler: Crawler, who: str, first_url: str) -> int:
    """Follow a list's "next page" links to the end; returns the number of pages seen."""
    url, seen = first_url, []
    while url:
        assert url not in seen
        seen.append(url)
        match = PAGER_LINK.search(crawler.request(who, "get", url, status=200).content.decode())
        url = f"{first_url.split('?')[0]}?{html.unescape(match.group(1))}" if match else ""
    return len(seen)


@pytest.mark.slow
def test_seed_demo_data_leaks_nothing(db, password, raw_logs, caplog, settings):
    """The demo hospitals (``seed_demo``): command output, pages, API, logs and audit show no identifier in clear."""
    settings.DEBUG = False
    output = io.StringIO()
    call_command("seed_demo", seed=7, patients=150, core_only=True, stdout=output, stderr=output)
    patients = list(Patient.objects.order_by("pk"))
    hospital_ids = sorted({p.hospital_id for p in patients})
    assert len([p for p in patients if p.hospital_id == hospital_ids[0]]) == 150
    crawler = Crawler()
    for hospital_id in hospital_ids:
        # an admin of each demo hospital walks its pages; a read-only API key pages through the API
        scanner = User.objects.create_user(username=f"leak-scan-{hospital_id}", password=password)
        membership = Membership.objects.create(user=scanner, hospital_id=hospital_id, role=Membership.Role.ADMIN)
        who, key_holder = scanner.username, f"key:{hospital_id}"
        crawler.request(who, "post", "/login/", {"username": who, "password": password}, status=302)
        _row, key = services.api_key_create(
            principal=principal_for_user(scanner, membership.hospital),
            name="leak scan",
            scopes=[ApiKey.Scope.PATIENTS_READ],
        )
        crawler.client(key_holder, HTTP_X_API_KEY=key)
        for url in ["/", "/audit/", "/members/", "/organisation/", "/api-keys/"]:
            crawler.request(who, "get", url, status=200)
        own = [p for p in patients if p.hospital_id == hospital_id]
        assert page_through(crawler, who, "/patients/") == -(-len(own) // 50)
        cursor = None
        while True:
            query = f"?limit=200&cursor={cursor}" if cursor else "?limit=200"
            listing = crawler.request(key_holder, "get", f"/api/patients{query}", status=200).json()
            cursor = listing["next_cursor"]
            if cursor is None:
                break
        for patient in own:
            crawler.request(key_holder, "get", f"/api/patients/{patient.pk}", status=200)
        for patient in variety(own):
            crawler.request(who, "get", f"/patients/{patient.pk}/", status=200)
    # the demo's own staff see their workbench and patients with their own roles
    for user in User.objects.filter(memberships__isnull=False).exclude(username__startswith="leak-scan-").distinct():
        crawler.client(user.username).force_login(user)
        hospital_id = user.memberships.first().hospital_id
        sample = next(p for p in patients if p.hospital_id == hospital_id)
        for url in ["/", "/patients/", f"/patients/{sample.pk}/", f"/api/patients/{sample.pk}"]:
            crawler.request(user.username, "get", url)
    needles = Needles(identifiers_in_database(with_names=False))
    assert len([i for i in needles.identifiers if i.field == "mobile"]) == len(patients)
    extra = everything_else() | {"seed_demo output": output.getvalue(), "captured log text": caplog.text}
    assert_no_leaks(crawler, needles, raw_logs, extra)
