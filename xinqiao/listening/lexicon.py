"""The hospital's monitoring vocabulary: crisis topics (editable lexicon) and the names the matcher looks for.

Reads build the picklable inputs of the pipeline (``PipelineContext``); writes are the lexicon editor's services
(``listening.manage``, audited as LISTENING_CONFIG).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.core.access import Action
from xinqiao.core.audit import audit_record
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent, Department, Doctor, Hospital
from xinqiao.listening.models import CrisisTopic, WatchedName
from xinqiao.listening.pipeline.entities import NameTable, name_table
from xinqiao.listening.pipeline.run import PipelineContext
from xinqiao.listening.pipeline.topics import Lexicon, lexicon_from

if TYPE_CHECKING:
    from django.http import HttpRequest

    from xinqiao.core.access import Principal

DEFAULTS_FILE = Path(__file__).resolve().parent / "data" / "crisis-topics.yaml"
MAX_KEYWORDS = 200
MAX_KEYWORD_LENGTH = 30


@lru_cache(maxsize=1)
def default_topics() -> list[dict[str, Any]]:
    data = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))
    return [
        {
            "code": str(entry["code"]),
            "name": str(entry["name"]),
            "weight": float(entry["weight"]),
            "keywords": [str(keyword) for keyword in entry["keywords"]],
        }
        for entry in data["topics"]
    ]


@transaction.atomic
def crisis_topics_install_defaults(hospital: Hospital) -> int:
    """Add the default topics the hospital does not have yet; edited topics are left as they are.
    Returns how many were added (0 on a second run)."""
    existing = set(CrisisTopic.objects.filter(hospital=hospital).values_list("code", flat=True))
    missing = [
        CrisisTopic(
            hospital=hospital,
            code=entry["code"],
            name=entry["name"],
            weight=entry["weight"],
            keywords=entry["keywords"],
        )
        for entry in default_topics()
        if entry["code"] not in existing
    ]
    CrisisTopic.objects.bulk_create(missing, ignore_conflicts=True)
    return len(missing)


def active_lexicon(hospital_id: int) -> Lexicon:
    """The hospital's active crisis topics as the pipeline's lexicon."""
    rows = CrisisTopic.objects.filter(hospital_id=hospital_id, is_active=True).order_by("code")
    return lexicon_from((row.code, row.name, row.weight, row.keywords or []) for row in rows)


def hospital_names(hospital_id: int) -> NameTable:
    """Every name and alias of the hospital, its departments and doctors, then the watched names."""
    hospital = Hospital.objects.get(pk=hospital_id)
    pairs: list[tuple[str, str]] = [(hospital.name, "hospital"), (hospital.short_name, "hospital")]
    pairs += [(str(alias), "hospital") for alias in hospital.aliases or []]
    for department in Department.objects.filter(hospital_id=hospital_id).order_by("pk"):
        pairs.append((department.name, f"department:{department.pk}"))
    for doctor in Doctor.objects.filter(hospital_id=hospital_id).order_by("pk"):
        pairs.append((doctor.name, f"doctor:{doctor.pk}"))
        pairs += [(str(alias), f"doctor:{doctor.pk}") for alias in doctor.aliases or []]
    for watched in WatchedName.objects.filter(hospital_id=hospital_id).order_by("pk"):
        pairs.append((watched.alias, watched_key(watched)))
    return name_table(pairs)


def watched_key(watched: WatchedName) -> str:
    if watched.kind == WatchedName.Kind.DEPARTMENT and watched.department_id:
        return f"department:{watched.department_id}"
    if watched.kind == WatchedName.Kind.DOCTOR and watched.doctor_id:
        return f"doctor:{watched.doctor_id}"
    return "hospital"


def pipeline_context(hospital_id: int) -> PipelineContext:
    return PipelineContext(
        hospital_id=hospital_id, names=hospital_names(hospital_id), lexicon=active_lexicon(hospital_id)
    )


# --- lexicon editor (writes) ----------------------------------------------------------------------------------


def parse_keywords(raw: str | list[str]) -> list[str]:
    """Keywords from a textarea (one per line, or separated by commas/、/；) or a list; order kept, blanks dropped."""
    items = raw if isinstance(raw, list) else str(raw).replace("，", ",").replace("、", ",").replace("；", ",")
    if not isinstance(items, list):
        items = [part for line in items.splitlines() for part in line.split(",")]
    keywords: list[str] = []
    for item in items:
        keyword = str(item).strip()
        if keyword and keyword not in keywords:
            keywords.append(keyword)
    return keywords


@transaction.atomic
def crisis_topic_save(
    *,
    principal: Principal,
    code: str,
    name: str,
    keywords: str | list[str],
    weight: float,
    is_active: bool,
    topic_id: int | None = None,
    request: HttpRequest | None = None,
) -> CrisisTopic:
    """Create or edit one crisis topic of the principal's hospital."""
    principal.require(Action.LISTENING_MANAGE)
    words = parse_keywords(keywords)
    name = (name or "").strip()
    code = (code or "").strip().lower()
    if not name or len(name) > 40:
        raise ApplicationError(_("Give the topic a name (at most 40 characters)."), code="invalid_name", field="name")
    if not words:
        raise ApplicationError(_("Give at least one keyword."), code="invalid_keywords", field="keywords")
    if len(words) > MAX_KEYWORDS or any(len(word) > MAX_KEYWORD_LENGTH for word in words):
        raise ApplicationError(
            _("At most %(count)d keywords of at most %(length)d characters each.")
            % {"count": MAX_KEYWORDS, "length": MAX_KEYWORD_LENGTH},
            code="invalid_keywords",
            field="keywords",
        )
    if not 0.0 <= float(weight) <= 3.0:
        raise ApplicationError(_("The weight must be between 0 and 3."), code="invalid_weight", field="weight")
    if topic_id is None:
        from django.utils.text import slugify

        if not code or slugify(code) != code:
            raise ApplicationError(
                _("The code may contain only lower-case letters, digits and hyphens."),
                code="invalid_code",
                field="code",
            )
        if CrisisTopic.objects.filter(hospital=principal.hospital, code=code).exists():
            raise ApplicationError(_("A topic with this code already exists."), code="duplicate_code", field="code")
        topic = CrisisTopic(hospital=principal.hospital, code=code)
        change = "create"
    else:
        topic = CrisisTopic.objects.select_for_update().get(pk=topic_id, hospital=principal.hospital)
        change = "update"
    topic.name = name
    topic.keywords = words
    topic.weight = float(weight)
    topic.is_active = bool(is_active)
    topic.updated_at = timezone.now()
    topic.save()
    audit_record(
        action=AuditEvent.Action.LISTENING_CONFIG,
        principal=principal,
        request=request,
        object_type="crisis_topic",
        object_id=topic.pk,
        detail={"change": change, "code": topic.code, "keywords": len(words), "active": topic.is_active},
    )
    return topic


@transaction.atomic
def watched_name_add(
    *,
    principal: Principal,
    alias: str,
    kind: str,
    department_id: int | None = None,
    doctor_id: int | None = None,
    request: HttpRequest | None = None,
) -> WatchedName:
    principal.require(Action.LISTENING_MANAGE)
    alias = (alias or "").strip()
    if not 2 <= len(alias) <= 40:
        raise ApplicationError(_("A name has 2 to 40 characters."), code="invalid_alias", field="alias")
    if kind not in WatchedName.Kind.values:
        raise ApplicationError(_("Choose what the name refers to."), code="invalid_kind", field="kind")
    department = doctor = None
    if kind == WatchedName.Kind.DEPARTMENT:
        department = Department.objects.filter(pk=department_id or 0, hospital=principal.hospital).first()
        if department is None:
            raise ApplicationError(_("Choose a department."), code="invalid_department", field="department")
    if kind == WatchedName.Kind.DOCTOR:
        doctor = Doctor.objects.filter(pk=doctor_id or 0, hospital=principal.hospital).first()
        if doctor is None:
            raise ApplicationError(_("Choose a doctor."), code="invalid_doctor", field="doctor")
    try:
        with transaction.atomic():
            watched = WatchedName.objects.create(
                hospital=principal.hospital, kind=kind, alias=alias, department=department, doctor=doctor
            )
    except IntegrityError:
        raise ApplicationError(_("This name is already watched."), code="duplicate_alias", field="alias") from None
    audit_record(
        action=AuditEvent.Action.LISTENING_CONFIG,
        principal=principal,
        request=request,
        object_type="watched_name",
        object_id=watched.pk,
        detail={"change": "create", "kind": kind},
    )
    return watched


@transaction.atomic
def watched_name_remove(*, principal: Principal, watched: WatchedName, request: HttpRequest | None = None) -> None:
    principal.require(Action.LISTENING_MANAGE)
    pk = watched.pk
    watched.delete()
    audit_record(
        action=AuditEvent.Action.LISTENING_CONFIG,
        principal=principal,
        request=request,
        object_type="watched_name",
        object_id=pk,
        detail={"change": "delete"},
    )
