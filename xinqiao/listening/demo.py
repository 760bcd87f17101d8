"""Demo data of public-opinion monitoring: a realistic month of mentions and one brewing crisis.

Call ``seed_listening_demo(hospital, seed=..., robot_webhook_url=...)`` after the hospital, its departments,
doctors and members exist (``seed_demo``). It installs the default crisis topics and red-line rules, the names the
public actually writes (aliases), a 企业微信 robot route pointing at the robot sandbox (``run_sandboxes
--wecom-robot-port``), then a month of generated mentions through the real ingestion (``mentions_ingest``) and the
real pipeline (``mentions_process``), as history without alerts, so bursts have baselines; then ONE crisis: a
医患纠纷 story about one department naming one of its doctors, first posted a few hours ago and reposted faster and
faster, processed with alerts, so the red-line and burst alerts exist and the robot sandbox receives them.

Idempotent: the mentions are seeded once per hospital (a second run changes nothing); ``listening_demo_reset``
removes the hospital's listening rows (mentions, clusters, alerts, cases) for a fresh seed.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from xinqiao.core.access import principal_for_user
from xinqiao.core.models import Department, Doctor, Hospital, Membership
from xinqiao.integrations.models import NotificationRoute
from xinqiao.integrations.services import RouteInput, notification_route_create
from xinqiao.integrations.wecom_robot.sandbox import DEMO_ROBOT_KEY
from xinqiao.listening.generator import generate_mentions
from xinqiao.listening.lexicon import crisis_topics_install_defaults
from xinqiao.listening.models import (
    Alert,
    CrisisCase,
    LshBucket,
    Mention,
    MentionBatch,
    MentionCluster,
    WatchedName,
)
from xinqiao.listening.services.alerts import red_line_defaults_install
from xinqiao.listening.services.ingest import mentions_ingest
from xinqiao.listening.services.processing import mentions_process

DEFAULT_SEED = 20261123
MONTH_DAYS = 30
MONTH_MENTIONS = 3000  # about 100 a day, what a large city hospital sees
CRISIS_MENTIONS = 80
CRISIS_HOURS_AGO = 3.25  # the first post; its reposts come within three hours, accelerating
CRISIS_DEPARTMENT = "cardiology"
CRISIS_TOPIC = "malpractice"
ROBOT_ROUTE_NAME = "舆情值班群（沙箱机器人）"
ROBOT_PORT_ENV = "XINQIAO_WECOM_ROBOT_SANDBOX_PORT"
DEFAULT_ROBOT_PORT = 8702
INGEST_CHUNK = 1000  # mentions_ingest's push limit


@dataclass
class ListeningDemoResult:
    created: bool
    topics: int = 0
    red_lines: int = 0
    aliases: int = 0
    route: str = ""
    mentions: int = 0
    crisis_mentions: int = 0
    clusters: int = 0
    alerts: dict[str, int] = field(default_factory=dict)
    crisis_department: str = ""
    crisis_doctor: str = ""


def robot_webhook_url(port: int | None = None) -> str:
    """The robot sandbox's webhook for the demo key (port: argument, $XINQIAO_WECOM_ROBOT_SANDBOX_PORT or 8702)."""
    if port is None:
        raw = os.environ.get(ROBOT_PORT_ENV, "").strip()
        port = int(raw) if raw.isdigit() else DEFAULT_ROBOT_PORT
    return f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key={DEMO_ROBOT_KEY}"


def _member(hospital: Hospital, role: str):
    membership = Membership.objects.filter(hospital=hospital, role=role).select_related("user").order_by("user_id")
    first = membership.first()
    if first is None:
        raise ValueError(f"seed_listening_demo needs a member with the role {role!r} in {hospital.code}")
    return first.user


def _crisis_target(hospital: Hospital) -> tuple[Department, Doctor | None]:
    department = (
        Department.objects.filter(hospital=hospital, code=CRISIS_DEPARTMENT).first()
        or Department.objects.filter(hospital=hospital).order_by("pk").first()
    )
    if department is None:
        raise ValueError(f"seed_listening_demo needs a department in {hospital.code}")
    doctor = Doctor.objects.filter(hospital=hospital, departments=department).order_by("pk").first()
    return department, doctor


def _aliases(hospital: Hospital, department: Department, doctor: Doctor | None) -> list[dict]:
    """What the public writes instead of the official names (only those not already official names)."""
    short = hospital.short_name or hospital.name[:3]
    wanted = [
        {"alias": f"{short}{department.name}", "kind": WatchedName.Kind.DEPARTMENT, "department": department},
        {"alias": f"{short[:2]}{department.name[:2]}", "kind": WatchedName.Kind.DEPARTMENT, "department": department},
    ]
    if doctor is not None and len(doctor.name) >= 2:
        wanted.append({"alias": f"{doctor.name}大夫", "kind": WatchedName.Kind.DOCTOR, "doctor": doctor})
    official = {hospital.name, hospital.short_name, *(hospital.aliases or [])}
    return [entry for entry in wanted if entry["alias"] not in official and len(entry["alias"]) >= 2]


def _install_aliases(hospital: Hospital, department: Department, doctor: Doctor | None) -> int:
    created = 0
    for entry in _aliases(hospital, department, doctor):
        _watched, was_created = WatchedName.objects.get_or_create(
            hospital=hospital,
            alias=entry["alias"],
            defaults={"kind": entry["kind"], "department": entry.get("department"), "doctor": entry.get("doctor")},
        )
        created += was_created
    return created


def _install_route(hospital: Hospital, webhook_url: str) -> NotificationRoute:
    existing = NotificationRoute.objects.filter(hospital=hospital, name=ROBOT_ROUTE_NAME).first()
    if existing is not None:
        return existing
    admin = principal_for_user(_member(hospital, Membership.Role.ADMIN), hospital)
    return notification_route_create(
        principal=admin,
        data=RouteInput(
            name=ROBOT_ROUTE_NAME,
            kind=NotificationRoute.Kind.WECOM_ROBOT,
            webhook_url=webhook_url,
            purposes=[NotificationRoute.Purpose.ALERTS, NotificationRoute.Purpose.CASES],
            min_severity=0,
        ),
    )


def _ingest(hospital: Hospital, rows: list[dict]) -> list[int]:
    """Push the rows through the real ingestion in chunks; returns the ids of the mentions created."""
    ids: list[int] = []
    for start in range(0, len(rows), INGEST_CHUNK):
        chunk = rows[start : start + INGEST_CHUNK]
        batch = mentions_ingest(
            hospital=hospital,
            source=MentionBatch.Source.SEED,
            rows=enumerate(chunk, start=start + 1),
            process=False,
        )
        ids += list(Mention.objects.filter(batch=batch).values_list("pk", flat=True))
    return ids


def seed_listening_demo(
    hospital: Hospital,
    *,
    seed: int = DEFAULT_SEED,
    now: dt.datetime | None = None,
    month_mentions: int = MONTH_MENTIONS,
    crisis_mentions: int = CRISIS_MENTIONS,
    days: int = MONTH_DAYS,
    webhook_url: str | None = None,
) -> ListeningDemoResult:
    """Seed (once) the listening demo of ``hospital``; see the module docstring."""
    now = now or timezone.now()
    department, doctor = _crisis_target(hospital)
    result = ListeningDemoResult(created=False, crisis_department=department.name,
                                 crisis_doctor=doctor.name if doctor else "")  # fmt: skip
    result.topics = crisis_topics_install_defaults(hospital)
    result.red_lines = red_line_defaults_install(hospital)
    result.aliases = _install_aliases(hospital, department, doctor)
    result.route = _install_route(hospital, webhook_url or robot_webhook_url()).name
    if not MentionBatch.objects.filter(hospital=hospital, source=MentionBatch.Source.SEED).exists():
        result.created = True
        departments = list(Department.objects.filter(hospital=hospital).order_by("pk").values_list("name", flat=True))
        doctors = list(Doctor.objects.filter(hospital=hospital).order_by("pk").values_list("name", flat=True))
        names = [hospital.name, hospital.short_name or hospital.name, *(hospital.aliases or [])]
        history: list[dict] = []
        # the public uses the official name, the short name and the aliases: one generated slice per name
        per_name = max(1, month_mentions // len(names))
        for index, name in enumerate(names):
            count = per_name if index < len(names) - 1 else month_mentions - per_name * (len(names) - 1)
            history += generate_mentions(
                count, seed=seed + index, hospital_name=name, department_names=departments, doctor_names=doctors,
                start=now - dt.timedelta(days=days), end=now - dt.timedelta(minutes=5),
            )  # fmt: skip
        crisis = generate_mentions(
            crisis_mentions, seed=seed + 100, hospital_name=hospital.short_name or hospital.name,
            department_names=[department.name], doctor_names=[doctor.name] if doctor else [],
            start=now - dt.timedelta(days=1), end=now,
            crisis={"at": now - dt.timedelta(hours=CRISIS_HOURS_AGO), "mentions": crisis_mentions,
                    "topic": CRISIS_TOPIC},
        )  # fmt: skip
        history.sort(key=lambda row: (row["posted_at"], row["external_id"]))
        history_ids = _ingest(hospital, history)
        # the month is backfilled history: processed without alerts (they would be about old news)
        mentions_process(hospital_id=hospital.pk, mention_ids=history_ids, notify=False)
        crisis_ids = _ingest(hospital, crisis)
        mentions_process(hospital_id=hospital.pk, mention_ids=crisis_ids)
        result.crisis_mentions = len(crisis_ids)
    result.mentions = Mention.objects.filter(hospital=hospital).count()
    result.clusters = MentionCluster.objects.filter(hospital=hospital).count()
    result.alerts = dict(
        Alert.objects.filter(hospital=hospital).values("kind").annotate(n=Count("pk")).values_list("kind", "n")
    )
    return result


@transaction.atomic
def listening_demo_reset(hospital: Hospital) -> None:
    """Remove the hospital's listening rows (cases, alerts, mentions, clusters, batches); topics, rules, aliases and
    the robot route stay (their installers are idempotent)."""
    CrisisCase.objects.filter(hospital=hospital).delete()
    Alert.objects.filter(hospital=hospital).delete()
    LshBucket.objects.filter(hospital=hospital).delete()
    Mention.objects.filter(hospital=hospital).delete()
    MentionCluster.objects.filter(hospital=hospital).delete()
    MentionBatch.objects.filter(hospital=hospital).delete()
