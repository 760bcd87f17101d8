"""Security monitoring of the audit log (REQ-AUD-006): rules over recent ``AuditEvent`` rows, alerts to admins.

The rules (docs/security-monitoring.md has the thresholds and what is not covered):

- ``reveals``: more than 20 successful reveals by one actor within a rolling hour;
- ``exports``: a personal-data export (``AuditEvent.Action.EXPORT``) covering more than one data subject, either in
  one event (``detail["bulk"]`` or ``detail["subjects"] > 1``) or piecewise (one actor, two or more patients within
  a rolling hour). ``report_export`` (aggregate analytics, level 2) is not a personal-data export;
- ``after_hours``: a reveal or export of patient identifiers (level 4: nothing is marked level 5 today) outside
  working hours, once per actor and off-hours period;
- ``denied``: 5 or more audit events with result ``denied`` by one actor (or one IP address when anonymous) within
  10 minutes;
- ``disabled``: a login attempt for a disabled user, or a sign-in (attempt) by a user whose membership of the
  hospital was removed (a role change to no roles).

Rule functions are pure: they take audit events (and what was already alerted) and return ``Finding`` rows with a
stable de-duplication key. ``scan_security_events`` loads the events, runs every rule and delivers each new finding
once: an in-app ``Notification`` for the hospital's ``admin`` role (standing in for ``security_admin`` and ``dpo``)
and an e-mail to the admin members. The key is stored as the fragment of the notification's link, so no table is
needed to remember what was alerted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from xinqiao.core.models import AuditEvent, Hospital, Membership

logger = logging.getLogger(__name__)

Action = AuditEvent.Action
Result = AuditEvent.Result

REVEAL_LIMIT = 20  # more than this many reveals per actor per rolling hour alerts
REVEAL_WINDOW = dt.timedelta(hours=1)
EXPORT_SUBJECT_THRESHOLD = 2  # "bulk": more than one data subject
EXPORT_WINDOW = dt.timedelta(hours=1)
DENIED_THRESHOLD = 5
DENIED_WINDOW = dt.timedelta(minutes=10)
DISABLED_WINDOW = dt.timedelta(hours=1)
# After an alert, the same actor is not alerted again by the same rule until this long after the alert's anchor
# event: an ongoing burst alerts once an hour, not at every scan.
COOLDOWN = dt.timedelta(hours=1)
SCAN_WINDOW = dt.timedelta(hours=2)  # the 5-minute schedule overlaps generously; keys make re-scans harmless
DEFAULT_WORK_START = "08:00"
DEFAULT_WORK_END = "20:00"
KEY_PREFIX = "sec:"
LOGIN_ACTIONS = (Action.LOGIN, Action.LOGIN_FAILED, Action.LOCKOUT)
PATIENT_ACCESS_ACTIONS = (Action.REVEAL, Action.EXPORT)


@dataclass(frozen=True)
class Finding:
    """One thing to alert about. ``key`` is stable: scanning the same events again yields the same key."""

    rule: str
    hospital_id: int
    key: str
    actor: str  # staff username, API key label or IP address: never a patient identifier
    count: int
    window_start: dt.datetime
    window_end: dt.datetime
    event_ids: tuple[int, ...]
    audit_filters: dict[str, str] = field(default_factory=dict)  # query of the audit log view
    variant: str = ""  # rule-specific flavour of the message (e.g. "removed" for the disabled-account rule)


@dataclass(frozen=True)
class Scope:
    """Who an event is attributed to: a user, an API key, an IP address, or (last resort) the typed label."""

    token: str  # used in keys; no personal data (ids, or a digest)
    display: str
    username: str = ""  # for the audit log's actor filter; only for users and API keys


def event_scope(event: AuditEvent) -> Scope:
    if event.actor_id is not None:
        label = event.actor_label or f"#{event.actor_id}"
        return Scope(token=f"u{event.actor_id}", display=label, username=event.actor_label)
    if event.actor_label.startswith("api-key:"):
        return Scope(token="k" + _digest(event.actor_label), display=event.actor_label, username=event.actor_label)
    if event.actor_ip:
        return Scope(token="i" + _digest(event.actor_ip), display=_("IP address %(ip)s") % {"ip": event.actor_ip})
    # Anonymous without an address (e.g. a command): the typed label may be anything, so it is never displayed.
    return Scope(token="l" + _digest(event.actor_label), display=_("an anonymous caller"))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def rule_key(rule: str, scope_token: str, anchor: str) -> str:
    return f"{KEY_PREFIX}{rule}:{scope_token}:{anchor}"


def _ordered(events: Iterable[AuditEvent]) -> list[AuditEvent]:
    return sorted(events, key=lambda e: (e.created_at, e.pk))


def _local_date(value: dt.datetime) -> str:
    return timezone.localtime(value, timezone.get_default_timezone()).date().isoformat()


def _date_filters(start: dt.datetime, end: dt.datetime) -> dict[str, str]:
    return {"date_from": _local_date(start), "date_to": _local_date(end)}


# --- rolling windows ---------------------------------------------------------------------------------------------


def _bursts(
    events: Sequence[AuditEvent],
    *,
    rule: str,
    since: dt.datetime,
    window: dt.timedelta,
    threshold: int,
    alerted: Mapping[str, tuple[dt.datetime, int]],
    scope_of: Callable[[AuditEvent], Scope] = event_scope,
    measure: Callable[[list[AuditEvent]], int] = len,
) -> list[tuple[Scope, AuditEvent, list[AuditEvent], int]]:
    """Per hospital and scope, the events (anchors) at which ``measure`` of the events in ``(t - window, t]``
    reaches ``threshold``, at least ``COOLDOWN`` after the previous anchor. The previous anchor is the one found
    earlier in this run or the one alerted before (``alerted["<hospital>|" + rule_key(rule, scope, "")]`` =
    (time, event pk)); that stored anchor itself is found again, under the same key. Only anchors at or after
    ``since`` count, so every reported window was fully loaded."""
    grouped: dict[tuple[int, str], list[AuditEvent]] = defaultdict(list)
    scopes: dict[tuple[int, str], Scope] = {}
    for event in _ordered(events):
        scope = scope_of(event)
        grouped[(event.hospital_id, scope.token)].append(event)
        scopes.setdefault((event.hospital_id, scope.token), scope)
    found = []
    for group_key, rows in grouped.items():
        scope = scopes[group_key]
        previous_at, previous_pk = alerted.get(f"{group_key[0]}|{rule_key(rule, scope.token, '')}", (None, None))
        start = 0
        for index, anchor in enumerate(rows):
            while rows[start].created_at <= anchor.created_at - window:
                start += 1
            if anchor.created_at < since:
                continue
            if previous_at is not None and anchor.pk != previous_pk and anchor.created_at < previous_at + COOLDOWN:
                continue
            in_window = rows[start : index + 1]
            value = measure(in_window)
            if value >= threshold:
                found.append((scope, anchor, in_window, value))
                previous_at, previous_pk = anchor.created_at, anchor.pk
    return found


def _burst_findings(rule: str, bursts, *, filters: Callable[[Scope], dict[str, str]]) -> list[Finding]:
    findings = []
    for scope, anchor, in_window, value in bursts:
        query = {**filters(scope), **_date_filters(in_window[0].created_at, anchor.created_at)}
        findings.append(
            Finding(
                rule=rule,
                hospital_id=anchor.hospital_id,
                key=rule_key(rule, scope.token, f"e{anchor.pk}"),
                actor=scope.display,
                count=value,
                window_start=in_window[0].created_at,
                window_end=anchor.created_at,
                event_ids=tuple(e.pk for e in in_window),
                audit_filters=query,
            )
        )
    return findings


def _actor_filter(scope: Scope) -> dict[str, str]:
    return {"actor": scope.username} if scope.username else {}


# --- the rules ---------------------------------------------------------------------------------------------------


def rule_reveal_burst(
    events: Sequence[AuditEvent], *, since: dt.datetime, alerted: Mapping[str, tuple[dt.datetime, int]]
) -> list[Finding]:
    """(a) More than ``REVEAL_LIMIT`` successful reveals by one actor within a rolling hour."""
    reveals = [e for e in events if e.action == Action.REVEAL and e.result == Result.OK and e.hospital_id]
    bursts = _bursts(
        reveals, rule="reveals", since=since, window=REVEAL_WINDOW, threshold=REVEAL_LIMIT + 1, alerted=alerted
    )
    return _burst_findings("reveals", bursts, filters=lambda s: {"action": Action.REVEAL, **_actor_filter(s)})


def export_subjects(events: Sequence[AuditEvent]) -> int:
    """Data subjects covered by export events: distinct single subjects plus the declared size of bulk exports
    (``detail["subjects"]``; an export flagged ``detail["bulk"]`` without a size counts as two)."""
    singles: set[tuple[str, str]] = set()
    bulk = 0
    for event in events:
        detail = event.detail if isinstance(event.detail, dict) else {}
        declared = detail.get("subjects")
        size = declared if isinstance(declared, int) and not isinstance(declared, bool) else 0
        if size > 1 or detail.get("bulk") is True:
            bulk += max(size, EXPORT_SUBJECT_THRESHOLD)
        else:
            singles.add((event.object_type, event.object_id))
    return len(singles) + bulk


def rule_bulk_export(
    events: Sequence[AuditEvent], *, since: dt.datetime, alerted: Mapping[str, tuple[dt.datetime, int]]
) -> list[Finding]:
    """(b) Personal-data exports covering more than one data subject (in one event or within a rolling hour)."""
    exports = [e for e in events if e.action == Action.EXPORT and e.result == Result.OK and e.hospital_id]
    bursts = _bursts(
        exports,
        rule="exports",
        since=since,
        window=EXPORT_WINDOW,
        threshold=EXPORT_SUBJECT_THRESHOLD,
        alerted=alerted,
        measure=export_subjects,
    )
    return _burst_findings("exports", bursts, filters=lambda s: {"action": Action.EXPORT, **_actor_filter(s)})


def _parse_clock(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    try:
        hours, minutes = str(value).strip().split(":", 1)
        return dt.time(int(hours), int(minutes))
    except ValueError as exc:
        raise ValueError(f"working hours must be HH:MM, got {value!r}") from exc


def working_hours() -> tuple[dt.time, dt.time]:
    """``XINQIAO_SECURITY_WORK_START`` / ``_END`` ("HH:MM", Asia/Shanghai; defaults 08:00 and 20:00)."""
    start = _parse_clock(getattr(settings, "XINQIAO_SECURITY_WORK_START", DEFAULT_WORK_START))
    end = _parse_clock(getattr(settings, "XINQIAO_SECURITY_WORK_END", DEFAULT_WORK_END))
    if not start < end:
        raise ValueError("XINQIAO_SECURITY_WORK_START must be before XINQIAO_SECURITY_WORK_END")
    return start, end


def _working_interval(day: dt.date, hours: tuple[dt.time, dt.time]) -> tuple[dt.datetime, dt.datetime] | None:
    if day.weekday() >= 5:  # Saturday, Sunday
        return None
    tz = timezone.get_default_timezone()
    return dt.datetime.combine(day, hours[0], tzinfo=tz), dt.datetime.combine(day, hours[1], tzinfo=tz)


def is_working_time(moment: dt.datetime, hours: tuple[dt.time, dt.time]) -> bool:
    """Monday to Friday, ``start <= local time < end`` (public holidays are not known to XinQiao)."""
    local = timezone.localtime(moment, timezone.get_default_timezone())
    interval = _working_interval(local.date(), hours)
    return interval is not None and interval[0] <= local < interval[1]


def off_hours_period_start(moment: dt.datetime, hours: tuple[dt.time, dt.time]) -> dt.datetime:
    """The local start of the off-hours period ``moment`` falls in: the end of the last working day before it."""
    local = timezone.localtime(moment, timezone.get_default_timezone())
    for back in range(8):
        interval = _working_interval(local.date() - dt.timedelta(days=back), hours)
        if interval is not None and interval[1] <= local:
            return interval[1]
    raise ValueError("no working day in the last week")  # unreachable: every week has weekdays


def rule_after_hours(
    events: Sequence[AuditEvent], *, since: dt.datetime, hours: tuple[dt.time, dt.time] | None = None
) -> list[Finding]:
    """(c) Reveals or exports of patient identifiers outside working hours: one finding per actor and off-hours
    period (keyed by the period's start), counting the accesses seen so far."""
    hours = hours or working_hours()
    groups: dict[tuple[int, str, dt.datetime], list[AuditEvent]] = defaultdict(list)
    scopes: dict[tuple[int, str, dt.datetime], Scope] = {}
    for event in _ordered(events):
        if (
            event.action not in PATIENT_ACCESS_ACTIONS
            or event.result != Result.OK
            or event.object_type != "patient"
            or not event.hospital_id
            or event.created_at < since
            or is_working_time(event.created_at, hours)
        ):
            continue
        scope = event_scope(event)
        group = (event.hospital_id, scope.token, off_hours_period_start(event.created_at, hours))
        groups[group].append(event)
        scopes.setdefault(group, scope)
    findings = []
    for (hospital_id, token, period_start), rows in groups.items():
        scope = scopes[(hospital_id, token, period_start)]
        findings.append(
            Finding(
                rule="after_hours",
                hospital_id=hospital_id,
                key=rule_key("after_hours", token, period_start.strftime("p%Y%m%d%H%M")),
                actor=scope.display,
                count=len(rows),
                window_start=rows[0].created_at,
                window_end=rows[-1].created_at,
                event_ids=tuple(e.pk for e in rows),
                audit_filters={**_actor_filter(scope), **_date_filters(rows[0].created_at, rows[-1].created_at)},
            )
        )
    return findings


def rule_denied_burst(
    events: Sequence[AuditEvent], *, since: dt.datetime, alerted: Mapping[str, tuple[dt.datetime, int]]
) -> list[Finding]:
    """(d) ``DENIED_THRESHOLD`` or more denied events by one actor (or IP address) within ``DENIED_WINDOW``."""
    denied = [e for e in events if e.result == Result.DENIED and e.hospital_id]
    bursts = _bursts(
        denied, rule="denied", since=since, window=DENIED_WINDOW, threshold=DENIED_THRESHOLD, alerted=alerted
    )
    return _burst_findings("denied", bursts, filters=lambda s: {"result": Result.DENIED, **_actor_filter(s)})


@dataclass(frozen=True)
class AccountState:
    """What the disabled-account rule needs to know about the users named by login events."""

    inactive_user_ids: frozenset[int] = frozenset()
    usernames: Mapping[int, str] = field(default_factory=dict)
    # user id -> [(hospital id, when, roles after)] of every role change of that user, oldest first
    role_changes: Mapping[int, Sequence[tuple[int, dt.datetime, Sequence[str]]]] = field(default_factory=dict)


def _user_pk(event: AuditEvent) -> int | None:
    if event.object_type != "user" or not str(event.object_id).isdigit():
        return None
    return int(event.object_id)


def _removed_from(user_pk: int, moment: dt.datetime, state: AccountState) -> list[int]:
    """Hospitals whose latest role change of the user before ``moment`` left them with no role."""
    latest: dict[int, Sequence[str]] = {}
    for hospital_id, when, after in state.role_changes.get(user_pk, ()):
        if when <= moment:
            latest[hospital_id] = after
    return [hospital_id for hospital_id, after in latest.items() if not after]


def rule_disabled_account(
    events: Sequence[AuditEvent],
    *,
    since: dt.datetime,
    alerted: Mapping[str, tuple[dt.datetime, int]],
    state: AccountState,
) -> list[Finding]:
    """(e) Use of a disabled account: a failed login recorded for a user who is disabled now or whose event says
    ``detail["reason"] == "inactive"`` (Django refuses inactive users, so their attempts are recorded as failed
    logins in their hospitals), or a login or attempt by a user
    whose membership of a hospital was removed (recorded without a hospital: the alert goes to that hospital)."""
    attempts: list[AuditEvent] = []
    variant_of: dict[int, str] = {}
    for event in events:
        user_pk = _user_pk(event)
        if event.action not in LOGIN_ACTIONS or user_pk is None:
            continue
        detail = event.detail if isinstance(event.detail, dict) else {}
        inactive = user_pk in state.inactive_user_ids or detail.get("reason") == "inactive"
        if event.hospital_id and event.action != Action.LOGIN and inactive:
            attempts.append(event)
            variant_of[event.pk] = "disabled"
        elif not event.hospital_id:
            for hospital_id in _removed_from(user_pk, event.created_at, state):
                # An unsaved copy attributed to the hospital that removed the membership.
                copy = AuditEvent(
                    pk=event.pk,
                    created_at=event.created_at,
                    hospital_id=hospital_id,
                    action=event.action,
                    object_type=event.object_type,
                    object_id=event.object_id,
                    result=event.result,
                )
                attempts.append(copy)
                variant_of[event.pk] = "removed"

    def scope_of(event: AuditEvent) -> Scope:
        user_pk = _user_pk(event) or 0
        return Scope(token=f"u{user_pk}", display=state.usernames.get(user_pk, f"#{user_pk}"))

    bursts = _bursts(
        attempts, rule="disabled", since=since, window=DISABLED_WINDOW, threshold=1, alerted=alerted, scope_of=scope_of
    )
    findings = []
    for scope, anchor, in_window, value in bursts:
        first = in_window[0]
        variant = variant_of[anchor.pk]
        filters = {"object_id": str(_user_pk(anchor))}
        if variant == "removed":
            filters["action"] = Action.ROLE_CHANGE  # the attempts have no hospital: show the removal instead
        else:
            filters.update(_date_filters(first.created_at, anchor.created_at))
        findings.append(
            Finding(
                rule="disabled",
                hospital_id=anchor.hospital_id,
                key=rule_key("disabled", scope.token, f"e{anchor.pk}"),
                actor=scope.display,
                count=value,
                window_start=first.created_at,
                window_end=anchor.created_at,
                event_ids=tuple(e.pk for e in in_window),
                audit_filters=filters,
                variant=variant,
            )
        )
    return findings


# --- messages --------------------------------------------------------------------------------------------------


def _local_time(value: dt.datetime) -> str:
    return timezone.localtime(value, timezone.get_default_timezone()).strftime("%Y-%m-%d %H:%M")


def finding_message(finding: Finding) -> str:
    """The in-app notice and e-mail subject line: staff names, counts and times only, never patient data."""
    values = {
        "actor": finding.actor,
        "count": finding.count,
        "start": _local_time(finding.window_start),
        "end": _local_time(finding.window_end),
        "limit": REVEAL_LIMIT,
    }
    if finding.rule == "reveals":
        text = _("Security: %(actor)s revealed patient fields %(count)d times between %(start)s and %(end)s "
                 "(the limit is %(limit)d per hour).")  # fmt: skip
    elif finding.rule == "exports":
        text = _("Security: %(actor)s exported the personal data of at least %(count)d patients between "
                 "%(start)s and %(end)s.")  # fmt: skip
    elif finding.rule == "after_hours":
        text = _("Security: %(actor)s revealed or exported patient identifiers outside working hours (first at "
                 "%(start)s; accesses: %(count)d).")  # fmt: skip
    elif finding.rule == "denied":
        text = _("Security: %(count)d denied attempts by %(actor)s between %(start)s and %(end)s.")
    elif finding.variant == "removed":
        text = _("Security: %(actor)s, whose membership of this hospital was removed, signed in or tried to "
                 "(first at %(start)s; attempts: %(count)d).")  # fmt: skip
    else:
        text = _("Security: the disabled account %(actor)s was used to try to sign in (first at %(start)s; "
                 "attempts: %(count)d).")  # fmt: skip
    return text % values


def finding_link(finding: Finding) -> str:
    """The audit log filtered for the finding, with the de-duplication key as the fragment (at most 200 chars)."""
    base = reverse("core:audit_list")
    fragment = "#" + finding.key
    filters = dict(finding.audit_filters)
    link = f"{base}?{urlencode(filters)}{fragment}" if filters else base + fragment
    if len(link) > 200:  # a very long username: drop the actor filter, keep the rest
        filters.pop("actor", None)
        link = f"{base}?{urlencode(filters)}{fragment}"
    return link


LEVELS = {"reveals": "warning", "exports": "error", "after_hours": "warning", "denied": "warning", "disabled": "error"}


# --- scanning and delivery ---------------------------------------------------------------------------------------


@dataclass
class ScanResult:
    since: dt.datetime
    until: dt.datetime
    findings: list[Finding] = field(default_factory=list)
    new_alerts: list[Finding] = field(default_factory=list)
    emails: int = 0  # e-mails handed to the mailer (after commit)


def _alerted_anchors(hospital_ids: Iterable[int], since: dt.datetime) -> dict[str, tuple[dt.datetime, int]]:
    """``"<hospital>|sec:<rule>:<scope>:"`` -> (time, pk) of the latest anchor event alerted for it (recent ones)."""
    from xinqiao.channels.models import Notification

    anchors: dict[str, int] = {}
    rows = Notification.objects.filter(
        hospital_id__in=list(hospital_ids),
        audience_role=Membership.Role.ADMIN,
        link__contains="#" + KEY_PREFIX,
        created_at__gte=since - COOLDOWN,  # a notice is created after its anchor: this is a superset
    ).values_list("hospital_id", "link")
    for hospital_id, link in rows:
        key = link.rsplit("#", 1)[1]
        prefix, _sep, anchor = key.rpartition(":")
        if anchor.startswith("e") and anchor[1:].isdigit():
            name = f"{hospital_id}|{prefix}:"
            anchors[name] = max(anchors.get(name, 0), int(anchor[1:]))
    times = dict(AuditEvent.objects.filter(pk__in=set(anchors.values())).values_list("pk", "created_at"))
    return {name: (times[pk], pk) for name, pk in anchors.items() if pk in times}


def _account_state(events: Sequence[AuditEvent]) -> AccountState:
    user_pks = {pk for e in events if e.action in LOGIN_ACTIONS and (pk := _user_pk(e)) is not None}
    if not user_pks:
        return AccountState()
    users = get_user_model().objects.filter(pk__in=user_pks)
    usernames = {user.pk: user.get_username() for user in users}
    inactive = frozenset(user.pk for user in users if not user.is_active)
    changes: dict[int, list[tuple[int, dt.datetime, list[str]]]] = defaultdict(list)
    rows = (
        AuditEvent.objects.filter(
            action=Action.ROLE_CHANGE,
            object_type="user",
            object_id__in=[str(pk) for pk in user_pks],
            hospital__isnull=False,
        )
        .order_by("created_at", "pk")
        .values_list("object_id", "hospital_id", "created_at", "detail")
    )
    for object_id, hospital_id, created_at, detail in rows:
        after = detail.get("after", []) if isinstance(detail, dict) else []
        changes[int(object_id)].append((hospital_id, created_at, list(after)))
    return AccountState(inactive_user_ids=inactive, usernames=usernames, role_changes=dict(changes))


def security_findings(*, since: dt.datetime, until: dt.datetime) -> list[Finding]:
    """Every rule over the audit events of ``[since, until]`` (plus the preceding hour for rolling windows)."""
    context = max(REVEAL_WINDOW, EXPORT_WINDOW, DENIED_WINDOW, DISABLED_WINDOW)
    active = set(Hospital.objects.filter(is_active=True).values_list("pk", flat=True))
    events = list(
        AuditEvent.objects.filter(created_at__gte=since - context, created_at__lte=until).filter(
            Q(action__in=[*PATIENT_ACCESS_ACTIONS, *LOGIN_ACTIONS]) | Q(result=Result.DENIED)
        )
    )
    alerted = _alerted_anchors(active, since)
    state = _account_state(events)
    findings = [
        *rule_reveal_burst(events, since=since, alerted=alerted),
        *rule_bulk_export(events, since=since, alerted=alerted),
        *rule_after_hours(events, since=since),
        *rule_denied_burst(events, since=since, alerted=alerted),
        *rule_disabled_account(events, since=since, alerted=alerted, state=state),
    ]
    return [f for f in findings if f.hospital_id in active]


def admin_emails(hospital_id: int) -> list[str]:
    """Addresses of the hospital's active admin members (the stand-ins for ``security_admin`` and ``dpo``)."""
    rows = (
        Membership.objects.filter(hospital_id=hospital_id, role=Membership.Role.ADMIN, user__is_active=True)
        .exclude(user__email="")
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )
    return list(dict.fromkeys(rows))


def _email_body(finding: Finding, message: str, link: str, hospital: Hospital) -> str:
    base = (getattr(settings, "XINQIAO_PUBLIC_URL", "") or "").rstrip("/")
    lines = [
        message,
        "",
        f"{_('Hospital')}: {hospital.name}",
        f"{_('Rule')}: {finding.rule}",
        f"{_('Count')}: {finding.count}",
        f"{_('From')}: {_local_time(finding.window_start)}",
        f"{_('To')}: {_local_time(finding.window_end)}",
        f"{_('Audit log')}: {base}{link.split('#', 1)[0]}",
        "",
        _("Sent to the hospital's system administrators (REQ-AUD-006)."),
    ]
    return "\n".join(lines)


def deliver_finding(finding: Finding) -> int | None:
    """Notify the hospital's admins once per key: the number of e-mail recipients, or None when the key was
    alerted before (nothing is sent then)."""
    from xinqiao.channels.models import Notification
    from xinqiao.channels.services import notify
    from xinqiao.core.tasks import send_security_email
    from xinqiao.integrations.models import NotificationRoute
    from xinqiao.integrations.services import outbound_enqueue

    link = finding_link(finding)
    with transaction.atomic():
        # Serialise deliveries per hospital (PostgreSQL row lock; SQLite takes its write lock at BEGIN).
        hospital = Hospital.objects.select_for_update().get(pk=finding.hospital_id)
        if Notification.objects.filter(
            hospital_id=finding.hospital_id,
            audience_role=Membership.Role.ADMIN,
            link__endswith="#" + finding.key,
        ).exists():
            return None
        message = finding_message(finding)
        notify(
            hospital_id=finding.hospital_id,
            message=message,
            level=LEVELS[finding.rule],
            link=link,
            audience_role=Membership.Role.ADMIN,
        )
        recipients = admin_emails(finding.hospital_id)
        body = _email_body(finding, message, link, hospital)
        if recipients:
            transaction.on_commit(
                lambda: send_security_email.enqueue(
                    hospital_id=finding.hospital_id, subject=message, body=body, key=finding.key
                )
            )
        # Routes an admin subscribed to security alerts (a 企业微信 security group, a shared mailbox) get it through
        # the outbox, with its retries and robot budget.
        outbound_enqueue(
            hospital_id=finding.hospital_id,
            purpose=NotificationRoute.Purpose.SECURITY,
            dedup_key=finding.key,
            subject=message[:200],
            body_markdown=body,
            severity=1.0 if LEVELS[finding.rule] == "error" else 0.5,
        )
    return len(recipients)


def scan_security_events(
    *, now: dt.datetime | None = None, window: dt.timedelta = SCAN_WINDOW, deliver: bool = True
) -> ScanResult:
    """Run every rule over the last ``window`` and alert each new finding once (idempotent; safe to overlap)."""
    until = now or timezone.now()
    result = ScanResult(since=until - window, until=until)
    with translation.override(settings.LANGUAGE_CODE):
        result.findings = security_findings(since=result.since, until=until)
        if not deliver:
            return result
        for finding in result.findings:
            recipients = deliver_finding(finding)
            if recipients is not None:
                result.new_alerts.append(finding)
                result.emails += 1 if recipients else 0
    if result.new_alerts:
        logger.info("security scan: %d findings, %d new alerts", len(result.findings), len(result.new_alerts))
    return result
