"""Input model (spec §0.1) and the report the checker returns."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .ruleset import CONTENT_TYPES, Severity

ACCOUNT_TYPES = ("hospital_official", "department", "doctor_personal", "third_party")
LINK_KINDS = ("booking", "purchase", "phone", "map", "wechat", "qr", "other")
_MEDIA_FLAGS = (
    "face_detected",
    "faces_blurred",
    "before_after",
    "shows_document",
    "ai_generated",
    "state_symbol",
    "bystander",
    "staff_consent",
    "voice_unaltered",
)
_STRING_FIELDS = (
    "account_name",
    "account_bio",
    "title",
    "cover_text",
    "byline",
    "channel",
    "media_type",
    "generation_source",
    "campaign_audience",
    "publish_slot",
)
_BOOL_FIELDS = (
    "patient_story",
    "audience_minors",
    "platform_ad_flag",
    "paid_promotion",
    "public_health_program",
    "is_dramatised",
    "basic_info_notice_mode",
)
_LIST_OF_STRINGS = ("tags", "pii_allowlist", "staff_directory", "verified_partnerships")
_DICT_FIELDS = ("ad_cert", "hospital_profile", "doctor_profile", "author", "reviewer")
_ALLOWED = {
    "account_type",
    "links",
    "media",
    "consents",
    "publish_date",
    "record_number_formats",
    *_STRING_FIELDS,
    *_BOOL_FIELDS,
    *_LIST_OF_STRINGS,
    *_DICT_FIELDS,
}


@dataclass(frozen=True)
class Media:
    kind: str = ""
    face_detected: bool = False
    faces_blurred: bool = False
    before_after: bool = False
    shows_document: bool = False
    ai_generated: bool = False
    state_symbol: bool = False
    bystander: bool = False
    staff_consent: bool = False
    voice_unaltered: bool = False


@dataclass(frozen=True)
class InputModel:
    """The structured part of spec §0.1. Absent optional fields mean "unknown", not "false"."""

    present: frozenset[str] = frozenset()
    account_type: str | None = None
    links: tuple[str, ...] = ()
    media: tuple[Media, ...] = ()
    consents: tuple[Mapping[str, Any], ...] = ()
    publish_date: dt.date | None = None
    record_number_formats: tuple[tuple[str, re.Pattern[str]], ...] = ()
    strings: Mapping[str, str] = field(default_factory=dict)
    flags: Mapping[str, bool] = field(default_factory=dict)
    lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    objects: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)

    def has(self, key: str) -> bool:
        return key in self.present

    def string(self, key: str) -> str:
        return self.strings.get(key, "")

    def flag(self, key: str) -> bool | None:
        return self.flags.get(key)

    def strings_of(self, key: str) -> tuple[str, ...]:
        return self.lists.get(key, ())

    def obj(self, key: str) -> Mapping[str, Any] | None:
        return self.objects.get(key)

    @property
    def profile(self) -> Mapping[str, Any]:
        return self.objects.get("hospital_profile") or {}


def parse_date(value: object, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError as exc:
            raise ValueError(f"{where} must be an ISO date (YYYY-MM-DD)") from exc
    raise ValueError(f"{where} must be an ISO date (YYYY-MM-DD)")


def parse_context(context: Mapping[str, Any] | None) -> InputModel:
    """Validate ``context`` (plain dicts, as stored or posted) into an :class:`InputModel`."""
    if context is None:
        return InputModel()
    if not isinstance(context, Mapping):
        raise ValueError("context must be a dict")
    unknown = set(context) - _ALLOWED
    if unknown:
        raise ValueError(f"context has unknown keys {sorted(unknown)}; allowed: {sorted(_ALLOWED)}")
    account_type = context.get("account_type")
    if account_type is not None and account_type not in ACCOUNT_TYPES:
        raise ValueError(f"context['account_type'] must be one of {ACCOUNT_TYPES}")
    links = []
    for link in _sequence(context.get("links"), "links"):
        if not isinstance(link, Mapping) or link.get("kind") not in LINK_KINDS:
            raise ValueError(f"context['links'] items must be objects with a kind in {LINK_KINDS}")
        links.append(str(link["kind"]))
    media = []
    for item in _sequence(context.get("media"), "media"):
        if not isinstance(item, Mapping):
            raise ValueError("context['media'] items must be objects")
        flags = {}
        for name in _MEDIA_FLAGS:
            value = item.get(name, False)
            if not isinstance(value, bool):
                raise ValueError(f"context['media'][].{name} must be true or false")
            flags[name] = value
        media.append(Media(kind=str(item.get("kind", "")), **flags))
    consents = []
    for consent in _sequence(context.get("consents"), "consents"):
        if not isinstance(consent, Mapping):
            raise ValueError("context['consents'] items must be objects")
        consents.append(consent)
    formats = []
    for item in _sequence(context.get("record_number_formats"), "record_number_formats"):
        if not isinstance(item, Mapping) or not isinstance(item.get("regex"), str):
            raise ValueError("context['record_number_formats'] items must be objects with a 'regex'")
        try:
            formats.append((str(item.get("name", "")), re.compile(item["regex"])))
        except re.error as exc:
            raise ValueError(f"context['record_number_formats']: invalid regex: {exc}") from exc
    strings = {}
    for name in _STRING_FIELDS:
        if name in context and context[name] is not None:
            if not isinstance(context[name], str):
                raise ValueError(f"context['{name}'] must be a string")
            strings[name] = context[name]
    flags = {}
    for name in _BOOL_FIELDS:
        if name in context and context[name] is not None:
            if not isinstance(context[name], bool):
                raise ValueError(f"context['{name}'] must be true or false")
            flags[name] = context[name]
    lists = {}
    for name in _LIST_OF_STRINGS:
        values = _sequence(context.get(name), name)
        if not all(isinstance(value, str) for value in values):
            raise ValueError(f"context['{name}'] must be a list of strings")
        lists[name] = tuple(values)
    objects: dict[str, Mapping[str, Any] | None] = {}
    for name in _DICT_FIELDS:
        if name in context:
            value = context[name]
            if value is not None and not isinstance(value, Mapping):
                raise ValueError(f"context['{name}'] must be an object or null")
            objects[name] = value
    publish_date = (
        parse_date(context["publish_date"], "context['publish_date']") if context.get("publish_date") else None
    )
    return InputModel(
        present=frozenset(key for key, value in context.items() if value is not None or key in _DICT_FIELDS),
        account_type=account_type,
        links=tuple(links),
        media=tuple(media),
        consents=tuple(consents),
        publish_date=publish_date,
        record_number_formats=tuple(formats),
        strings=strings,
        flags=flags,
        lists=lists,
        objects=objects,
    )


def _sequence(value: object, name: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    raise ValueError(f"context['{name}'] must be a list")


@dataclass(frozen=True)
class Finding:
    """One rule hit. ``start``/``end`` index the original text; ``start == end == 0`` marks a document-level
    finding (a structural rule over the input model). For PII rules ``text`` is the masked value."""

    rule_id: str
    severity: Severity
    start: int
    end: int
    text: str
    fix: str
    citation: str
    title: str
    negated: bool = False
    evasion: bool = False
    detail: str = ""
    autofix: str = ""
    related_rule: str = ""

    @property
    def is_document_level(self) -> bool:
        return self.start == self.end == 0 and not self.text

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "severity": self.severity.name,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "fix": self.fix,
            "title": self.title,
            "citation": self.citation,
            "negated": self.negated,
            "evasion": self.evasion,
            "detail": self.detail,
            "autofix": self.autofix,
            "related_rule": self.related_rule,
        }


_FINDING_FIELDS = frozenset(Finding.__dataclass_fields__)


def finding_from_fields(fields: dict[str, Any]) -> Finding:
    """A :class:`Finding` from a dict that holds every field, without the frozen dataclass's ``__init__`` (one
    ``object.__setattr__`` per field; a check of an ad can create hundreds of findings)."""
    if fields.keys() != _FINDING_FIELDS:
        raise ValueError(f"finding fields differ: {sorted(fields.keys() ^ _FINDING_FIELDS)}")
    finding = object.__new__(Finding)
    object.__setattr__(finding, "__dict__", fields)
    return finding


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]
    is_ad: bool
    ad_reasons: tuple[str, ...]
    content_type: str
    not_evaluated: tuple[str, ...]
    rules_version: str

    @property
    def max_severity(self) -> Severity | None:
        return max((finding.severity for finding in self.findings), default=None)

    @property
    def blocked(self) -> bool:
        return self.max_severity is Severity.BLOCK

    def for_rule(self, rule_id: str) -> list[Finding]:
        return [finding for finding in self.findings if finding.rule_id == rule_id]

    def severity_of(self, rule_id: str) -> Severity | None:
        return max((finding.severity for finding in self.findings if finding.rule_id == rule_id), default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "is_ad": self.is_ad,
            "ad_reasons": list(self.ad_reasons),
            "content_type": self.content_type,
            "max_severity": self.max_severity.name if self.max_severity else None,
            "not_evaluated": list(self.not_evaluated),
            "rules_version": self.rules_version,
            "findings": [finding.to_dict() for finding in self.findings],
        }


def check_content_type(content_type: str) -> str:
    if content_type not in CONTENT_TYPES:
        raise ValueError(f"content_type must be one of {CONTENT_TYPES}, not {content_type!r}")
    return content_type
