"""Alerts: red-line rules (fire at once), negative bursts (per hospital and per entity), increase and digest alerts.

``alerts_after_processing`` runs at the end of the processing pipeline for the mentions just processed;
``alerts_sweep`` runs every minute (periodic task ``xinqiao.listening.alert_tasks.sweep_alerts``). Every alert is
created under a ``dedup_key`` unique per hospital, so firing twice (retried jobs, two workers, the sweep after the
pipeline) creates one alert and delivers it once:

- red line: ``red_line:<rule>:cluster:<cluster>`` (or ``…:mention:<mention>`` for an unclustered mention): one alert
  per story and rule; reposts of the story are added to the existing alert;
- burst: ``burst:<scope>:<window start, UTC ISO>`` where scope is ``all`` (every negative mention of the hospital)
  or an entity key (``department:<pk>``, ``doctor:<pk>``);
- increase: ``increase:<scope>:<period end>``; digest: ``digest:<local date>``.

Delivery of a new alert: an in-app notification (brand team) and ``outbound_enqueue(purpose="alerts")`` to the
hospital's routes; robot messages carry counts, ids and a link only, never mention text (it may name patients).
See docs/listening-alerts.md for the statistics and the thresholds.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.channels.models import Notification
from xinqiao.channels.services import notify
from xinqiao.core.access import Action, Principal
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import Hospital
from xinqiao.integrations.services import outbound_deliver_due, outbound_enqueue
from xinqiao.listening import burst
from xinqiao.listening.models import Alert, Mention, MentionEntity, RedLineRule, Sentiment
from xinqiao.listening.pipeline.entities import EntityMatch, matcher_for
from xinqiao.listening.pipeline.normalise import normalise_text

logger = logging.getLogger(__name__)

Kind = Alert.Kind
Status = Alert.Status
RED_LINES_FILE = Path(__file__).resolve().parent.parent / "data" / "red-lines.yaml"
RED_LINE_SEVERITY = 100.0
HOSPITAL_SCOPE = "all"
ENTITY_KINDS = ("hospital", "department", "doctor")
INCREASE_PERIOD = dt.timedelta(hours=24)
INCREASE_RATIO = 1.5
INCREASE_MIN_COUNT = 10
INCREASE_MIN_DELTA = 5
DIGEST_LOCAL_HOUR = 8  # the digest goes out with the first sweep at or after 08:00 Asia/Shanghai
OPEN_STATUSES = (Status.OPEN, Status.ACKNOWLEDGED)


# --- names and red-line matching ------------------------------------------------------------------------------


def hospital_name_table(hospital_id: int):
    """The pipeline's name table (hospital, departments, doctors, aliases, watched names): same keys, same text."""
    from xinqiao.listening.lexicon import hospital_names

    return hospital_names(hospital_id)


@dataclass(frozen=True)
class RedLineHit:
    rule_id: int
    term: str
    entity_key: str
    distance: int


def _normalised_terms(terms: list[str]) -> list[str]:
    return list(_normalised_terms_cached(tuple(str(term) for term in terms)))


@lru_cache(maxsize=256)
def _normalised_terms_cached(terms: tuple[str, ...]) -> tuple[str, ...]:
    """Terms normalised like mention texts (cached: a rule's terms are normalised once per process)."""
    return tuple(t for t in (normalise_text(term).text.replace(" ", "") for term in terms) if t)


def red_line_hits(text: str, matches: list[EntityMatch], rules: list[RedLineRule]) -> list[RedLineHit]:
    """Rules whose terms occur within ``window_chars`` of a match of the required entity kinds in ``text``.

    ``text`` is the normalised text the entity ``matches`` were found in. The distance between a term and a
    name is the number of characters between them (0 when adjacent or overlapping). One hit per rule: the
    closest term/name pair."""
    hits: list[RedLineHit] = []
    for rule in rules:
        kinds = set(rule.near_kinds or ENTITY_KINDS)
        near = [m for m in matches if m.key.split(":", 1)[0] in kinds]
        if not near:
            continue
        best: RedLineHit | None = None
        for term in _normalised_terms(rule.terms):
            start = text.find(term)
            while start != -1:
                end = start + len(term)
                for match in near:
                    distance = max(0, max(start, match.start) - min(end, match.end))
                    if distance <= rule.window_chars and (best is None or distance < best.distance):
                        best = RedLineHit(rule.pk, term, match.key, distance)
                start = text.find(term, start + 1)
        if best is not None:
            hits.append(best)
    return hits


# --- alert creation and delivery ------------------------------------------------------------------------------


def _absolute(path: str) -> str:
    base = getattr(settings, "XINQIAO_PUBLIC_BASE_URL", "") or ""
    return base.rstrip("/") + path


def _robot_body(alert: Alert) -> str:
    """The robot/e-mail message: kind, counts, statistic, ids and a link. No mention text, no authors, no patient
    data; the title names at most the hospital's own department or doctor the alert is about."""
    link = _absolute(reverse("listening:alert_detail", args=[alert.pk]))
    local = timezone.localtime(alert.created_at)
    lines = [f"### {alert.get_kind_display()} · {_('Alert')} #{alert.pk}", f"> {alert.title}"]
    if alert.entity_key:
        lines.append(f"- {_('Scope')}: `{alert.entity_key}`")
    if alert.observed is not None:
        observed = f"{alert.observed:g}"
        if alert.expected is not None:
            observed += f" ({_('expected')} {alert.expected:.1f})"
        lines.append(f"- {_('Negative mentions')}: {observed}")
    if alert.statistic is not None and alert.kind == Kind.BURST:
        lines.append(f"- p = {alert.statistic:.2g}")
    lines.append(f'- {_("Severity")}: <font color="warning">{alert.severity:.0f}</font>')
    lines.append(f"- {_('Time')}: {local:%Y-%m-%d %H:%M}")
    lines.append(f"[{_('Open in XinQiao')}]({link})")
    return "\n".join(lines)


def _deliver(alert: Alert) -> None:
    """In-app notification and the outbox (both inside the creating transaction: all or nothing)."""
    level = Notification.Level.ERROR if alert.kind == Kind.RED_LINE else Notification.Level.WARNING
    link = reverse("listening:alert_detail", args=[alert.pk])
    if alert.kind != Kind.DIGEST:
        notify(hospital_id=alert.hospital_id, message=alert.title, level=level, link=link)
    outbound_enqueue(
        hospital_id=alert.hospital_id,
        purpose="alerts",
        dedup_key=f"alert:{alert.pk}",
        subject=alert.title,
        body_markdown=_robot_body(alert),
        severity=alert.severity,
    )


def _fire(*, hospital_id: int, dedup_key: str, mention_ids: list[int] = (), cluster_ids: list[int] = (),
          **fields: Any) -> tuple[Alert, bool]:  # fmt: skip
    """Create and deliver the alert under ``dedup_key`` or return the existing one (adding mentions/clusters)."""
    with transaction.atomic():
        alert = Alert.objects.filter(hospital_id=hospital_id, dedup_key=dedup_key).first()
        created = False
        if alert is None:
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(hospital_id=hospital_id, dedup_key=dedup_key, **fields)
                created = True
            except IntegrityError:
                alert = Alert.objects.get(hospital_id=hospital_id, dedup_key=dedup_key)
        if mention_ids:
            alert.mentions.add(*mention_ids)
        if cluster_ids:
            alert.clusters.add(*cluster_ids)
        if created:
            _deliver(alert)
    return alert, created


# --- red lines ------------------------------------------------------------------------------------------------


_rules_cache: dict[int, tuple[dt.datetime | None, int, list[RedLineRule]]] = {}
_rules_lock = threading.Lock()


def _active_rules(hospital_id: int) -> list[RedLineRule]:
    """The hospital's active rules; cached per process while no rule changes (checked with one cheap query)."""
    # The newest change, the number of rules and the highest pk: rules deleted and recreated in the same instant
    # (a demo reset) get new pks, so they never match a stale entry.
    marker = RedLineRule.objects.filter(hospital_id=hospital_id).aggregate(
        latest=Max("updated_at"), count=Count("pk"), top=Max("pk")
    )
    latest = (marker["latest"], marker["top"])
    count = marker["count"]
    with _rules_lock:
        cached = _rules_cache.get(hospital_id)
        if cached is not None and cached[0] == latest and cached[1] == count:
            return cached[2]
    rules = list(RedLineRule.objects.filter(hospital_id=hospital_id, is_active=True).order_by("pk"))
    with _rules_lock:
        _rules_cache[hospital_id] = (latest, count, rules)
    return rules


def _red_line_alerts(hospital_id: int, mentions: list[Mention], now: dt.datetime) -> list[Alert]:
    rules = _active_rules(hospital_id)
    if not rules:
        return []
    rule_by_pk = {rule.pk: rule for rule in rules}
    matcher = matcher_for(hospital_name_table(hospital_id))
    fired: list[Alert] = []
    for mention in mentions:
        text = mention.normalised_text or normalise_text(mention.text).text
        hits = red_line_hits(text, matcher.matches(text), rules)
        for hit in hits:
            rule = rule_by_pk[hit.rule_id]
            earlier = Alert.objects.filter(
                hospital_id=hospital_id, kind=Kind.RED_LINE, rule=rule, mentions=mention
            ).first()
            if earlier is not None:  # seen by the fast path before the pipeline clustered it: same story
                if mention.cluster_id:
                    earlier.clusters.add(mention.cluster_id)
                continue
            story = f"cluster:{mention.cluster_id}" if mention.cluster_id else f"mention:{mention.pk}"
            alert, created = _fire(
                hospital_id=hospital_id,
                dedup_key=f"red_line:{rule.pk}:{story}",
                mention_ids=[mention.pk],
                cluster_ids=[mention.cluster_id] if mention.cluster_id else [],
                kind=Kind.RED_LINE,
                entity_key=hit.entity_key,
                title=_("Red line “%(rule)s” near %(entity)s")
                % {"rule": rule.name, "entity": _entity_label(hospital_id, hit.entity_key)},
                detail=_("Term “%(term)s” within %(distance)d characters of a watched name (mention #%(mention)d).")
                % {"term": hit.term, "distance": hit.distance, "mention": mention.pk},
                severity=RED_LINE_SEVERITY,
                rule=rule,
                created_at=now,
            )
            if created:
                fired.append(alert)
    return fired


# --- bursts ---------------------------------------------------------------------------------------------------


def _scope_filter(hospital_id: int, scope: str):
    """(model, queryset) of the negative mentions of a scope, with a ``posted_at`` column to count windows."""
    if scope == HOSPITAL_SCOPE:
        return Mention.objects.filter(hospital_id=hospital_id, sentiment=Sentiment.NEGATIVE)
    return MentionEntity.objects.filter(hospital_id=hospital_id, entity_key=scope, is_negative=True)


_history_cache: dict[tuple[int, str, dt.datetime], tuple[int, ...]] = {}
_history_lock = threading.Lock()


def _first_seen(hospital_id: int) -> dt.datetime | None:
    return (
        Mention.objects.filter(hospital_id=hospital_id).order_by("posted_at").values_list("posted_at", flat=True)
    ).first()


def _history(hospital_id: int, scope: str, start: dt.datetime, first_seen: dt.datetime | None) -> list[int]:
    """Negative counts of the same hour-of-week in the last weeks (weeks before the first mention left out).

    Past windows do not change while the current hour runs, so they are cached per process for that hour."""
    key = (hospital_id, scope, start)
    with _history_lock:
        cached = _history_cache.get(key)
    if cached is not None:
        return list(cached)
    windows = [w for w in burst.history_windows(start) if first_seen is not None and w[1] > first_seen]
    counts: list[int] = []
    if windows:
        condition = Q()
        for lo, hi in windows:
            condition |= Q(posted_at__gte=lo, posted_at__lt=hi)
        stamps = _scope_filter(hospital_id, scope).filter(condition).values_list("posted_at", flat=True)
        per_window: Counter[dt.datetime] = Counter()
        for stamp in stamps:
            per_window[burst.window_start(stamp)] += 1
        counts = [per_window[lo] for lo, _hi in windows]
    with _history_lock:
        if len(_history_cache) > 5000:
            _history_cache.clear()
        _history_cache[key] = tuple(counts)
    return counts


def _entity_label(hospital_id: int, scope: str) -> str:
    """A readable name for an entity key: the department's or doctor's name (public staff information, never a
    patient's), the hospital for the hospital-wide scope; the key itself if the row is gone."""
    if scope == HOSPITAL_SCOPE:
        return _("the hospital (all negative mentions)")
    from xinqiao.core.models import Department, Doctor

    kind, _sep, pk = scope.partition(":")
    if kind == "hospital":
        hospital = Hospital.objects.filter(pk=hospital_id).only("name", "short_name").first()
        return (hospital.short_name or hospital.name) if hospital else scope
    model = {"department": Department, "doctor": Doctor}.get(kind)
    if model is None or not pk.isdigit():
        return scope
    name = model.objects.filter(hospital_id=hospital_id, pk=int(pk)).values_list("name", flat=True).first()
    if name is None:
        return scope
    return _("Doctor %(name)s") % {"name": name} if kind == "doctor" else name


def _burst_check(hospital_id: int, scope: str, start: dt.datetime, now: dt.datetime,
                 first_seen: dt.datetime | None) -> Alert | None:  # fmt: skip
    end = start + burst.WINDOW
    observed = _scope_filter(hospital_id, scope).filter(posted_at__gte=start, posted_at__lt=min(end, now)).count()
    if observed < burst.DEFAULT_MIN_COUNT:
        return None
    test = burst.burst_test(observed, _history(hospital_id, scope, start, first_seen))
    if not test.fired:
        return None
    dedup_key = f"burst:{scope}:{start.isoformat()}"
    if Alert.objects.filter(hospital_id=hospital_id, dedup_key=dedup_key).exists():
        return None
    window_qs = _scope_filter(hospital_id, scope).filter(posted_at__gte=start, posted_at__lt=min(end, now))
    mention_field = "pk" if scope == HOSPITAL_SCOPE else "mention_id"
    mention_ids = list(window_qs.order_by("posted_at").values_list(mention_field, flat=True)[:200])
    cluster_ids = sorted(
        set(Mention.objects.filter(pk__in=mention_ids, cluster__isnull=False).values_list("cluster_id", flat=True))
    )
    model = _("Poisson") if test.model == "poisson" else _("negative binomial")
    alert, created = _fire(
        hospital_id=hospital_id,
        dedup_key=dedup_key,
        mention_ids=mention_ids,
        cluster_ids=cluster_ids,
        kind=Kind.BURST,
        entity_key="" if scope == HOSPITAL_SCOPE else scope,
        title=_("Negative burst: %(observed)d mentions of %(scope)s in one hour (expected %(expected).1f)")
        % {"observed": observed, "scope": _entity_label(hospital_id, scope), "expected": test.expected},
        detail=_("One-sided %(model)s upper-tail test: p = %(p).2g < %(alpha)g, at least %(min)d mentions.")
        % {"model": model, "p": test.p_value, "alpha": test.alpha, "min": test.min_count},
        severity=burst.severity_from_p(test.p_value),
        window_start=start,
        window_end=end,
        observed=float(observed),
        expected=test.expected,
        statistic=test.p_value,
        created_at=now,
    )
    return alert if created else None


def _burst_alerts(hospital_id: int, scopes: list[str], start: dt.datetime, now: dt.datetime) -> list[Alert]:
    first_seen = _first_seen(hospital_id)
    fired = []
    for scope in scopes:
        alert = _burst_check(hospital_id, scope, start, now, first_seen)
        if alert is not None:
            fired.append(alert)
    return fired


def _entity_scopes(keys: list[str]) -> list[str]:
    """Department and doctor scopes (the hospital-wide scope covers the bare hospital name)."""
    return sorted({key for key in keys if key.startswith(("department:", "doctor:"))})


# --- the public entry points ----------------------------------------------------------------------------------


def alerts_after_processing(*, hospital_id: int, mention_ids: list[int]) -> list[Alert]:
    """Red lines for these mentions at once, then burst checks for the current window of the hospital and of
    every entity these mentions touch. Returns the alerts created by this call (existing ones are not repeated).
    """
    if not mention_ids:
        return []
    now = timezone.now()
    mentions = list(
        Mention.objects.filter(hospital_id=hospital_id, pk__in=mention_ids).only(
            "pk", "text", "normalised_text", "cluster_id", "sentiment", "posted_at", "entities"
        )
    )
    fired = _red_line_alerts(hospital_id, mentions, now)
    start = burst.window_start(now)
    negative_now = [m for m in mentions if m.sentiment == Sentiment.NEGATIVE and m.posted_at >= start]
    if negative_now:
        keys = [key for m in negative_now for key in (m.entities or [])]
        fired += _burst_alerts(hospital_id, [HOSPITAL_SCOPE, *_entity_scopes(keys)], start, now)
    return fired


def red_lines_check(*, hospital_id: int, mention_ids: list[int], deliver_now: bool = False) -> list[Alert]:
    """The red-line fast path: evaluate red lines on freshly stored mentions before the pipeline has run
    (normalising their text here). Meant for a high-priority task queued when a batch commits, so a red line does
    not wait behind the processing backlog; ``alerts_after_processing`` later finds the same alert (a mention
    already in a red-line alert of the rule is not alerted again, its cluster is added). ``deliver_now`` runs the
    outbox delivery in the same job when an alert fired, saving one trip through the queue (safe: the outbox's
    lease and dedup keys make the queued delivery job find nothing left to send)."""
    if not mention_ids:
        return []
    mentions = list(
        Mention.objects.filter(hospital_id=hospital_id, pk__in=mention_ids).only(
            "pk", "text", "normalised_text", "cluster_id"
        )
    )
    fired = _red_line_alerts(hospital_id, mentions, timezone.now())
    if fired and deliver_now:
        outbound_deliver_due()
    return fired


def _increase_alerts(hospital_id: int, now: dt.datetime) -> list[Alert]:
    end = burst.window_start(now)
    start = end - INCREASE_PERIOD
    previous_start = start - INCREASE_PERIOD
    scopes = [HOSPITAL_SCOPE] + _entity_scopes(
        list(
            MentionEntity.objects.filter(
                hospital_id=hospital_id, is_negative=True, posted_at__gte=start, posted_at__lt=end
            )  # fmt: skip
            .values_list("entity_key", flat=True)
            .distinct()
        )
    )
    fired = []
    local_day = timezone.localtime(end).date().isoformat()
    for scope in scopes:
        qs = _scope_filter(hospital_id, scope)
        counts = qs.aggregate(
            current=Count("pk", filter=Q(posted_at__gte=start, posted_at__lt=end)),
            previous=Count("pk", filter=Q(posted_at__gte=previous_start, posted_at__lt=start)),
        )
        current, previous = counts["current"], counts["previous"]
        if not burst.increase_fires(current, previous, ratio=INCREASE_RATIO, min_count=INCREASE_MIN_COUNT,
                                    min_delta=INCREASE_MIN_DELTA):  # fmt: skip
            continue
        ratio = current / previous if previous else None
        alert, created = _fire(
            hospital_id=hospital_id,
            dedup_key=f"increase:{scope}:{local_day}",
            kind=Kind.INCREASE,
            entity_key="" if scope == HOSPITAL_SCOPE else scope,
            title=_("Negative mentions of %(scope)s up: %(current)d in 24 h vs %(previous)d the day before")
            % {"scope": _entity_label(hospital_id, scope), "current": current, "previous": previous},
            detail=_("Fires when the last 24 hours have at least %(min)d negative mentions, %(delta)d more than and "
                     "%(ratio)g× the 24 hours before.")
            % {"min": INCREASE_MIN_COUNT, "delta": INCREASE_MIN_DELTA, "ratio": INCREASE_RATIO},
            severity=min(80.0, 30.0 + 10.0 * (ratio or 3.0)),
            window_start=start,
            window_end=end,
            observed=float(current),
            expected=float(previous),
            statistic=ratio,
            created_at=now,
        )  # fmt: skip
        if created:
            fired.append(alert)
    return fired


def _digest_alert(hospital_id: int, now: dt.datetime) -> Alert | None:
    local = timezone.localtime(now)
    if local.hour < DIGEST_LOCAL_HOUR:
        return None
    day = local.date()
    dedup_key = f"digest:{day.isoformat()}"
    if Alert.objects.filter(hospital_id=hospital_id, dedup_key=dedup_key).exists():
        return None
    period_end = local.replace(hour=DIGEST_LOCAL_HOUR, minute=0, second=0, microsecond=0)
    period_start = period_end - dt.timedelta(days=1)
    open_items = Counter(
        dict(
            Alert.objects.filter(hospital_id=hospital_id, status__in=OPEN_STATUSES)
            .exclude(kind=Kind.DIGEST)
            .values_list("kind")
            .annotate(n=Count("pk"))
            .values_list("kind", "n")
        )
    )
    negative = Mention.objects.filter(
        hospital_id=hospital_id, sentiment=Sentiment.NEGATIVE, posted_at__gte=period_start, posted_at__lt=period_end
    ).count()
    if not open_items and not negative:
        return None
    parts = [f"{Kind(kind).label}: {count}" for kind, count in sorted(open_items.items())]
    alert, created = _fire(
        hospital_id=hospital_id,
        dedup_key=dedup_key,
        kind=Kind.DIGEST,
        title=_("Daily digest %(day)s: %(open)d open alerts, %(negative)d negative mentions")
        % {"day": day.isoformat(), "open": sum(open_items.values()), "negative": negative},
        detail="; ".join(str(p) for p in parts),
        severity=0.0,
        window_start=period_start,
        window_end=period_end,
        observed=float(negative),
        created_at=now,
    )
    return alert if created else None


def alerts_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Periodic: bursts of the window that just closed and of the running one (for every scope with negative
    mentions in it), increase alerts, and the daily digest. Idempotent (dedup keys)."""
    now = now or timezone.now()
    counts = Counter()
    current = burst.window_start(now)
    closing = current - burst.WINDOW
    hospital_ids = list(
        Mention.objects.filter(posted_at__gte=now - 2 * INCREASE_PERIOD)
        .values_list("hospital_id", flat=True)
        .order_by()
        .distinct()
    ) + list(Alert.objects.filter(status__in=OPEN_STATUSES).values_list("hospital_id", flat=True).order_by().distinct())
    for hospital_id in sorted(set(hospital_ids)):
        for start, end in ((closing, current), (current, now)):
            keys = list(
                MentionEntity.objects.filter(
                    hospital_id=hospital_id, is_negative=True, posted_at__gte=start, posted_at__lt=end
                )  # fmt: skip
                .values_list("entity_key", flat=True)
                .distinct()
            )
            counts["burst"] += len(_burst_alerts(hospital_id, [HOSPITAL_SCOPE, *_entity_scopes(keys)], start,
                                                 min(now, start + burst.WINDOW)))  # fmt: skip
        counts["increase"] += len(_increase_alerts(hospital_id, now))
        counts["digest"] += 1 if _digest_alert(hospital_id, now) is not None else 0
    return dict(counts)


# --- handling -------------------------------------------------------------------------------------------------


def _locked_alert(principal: Principal, alert: Alert) -> Alert:
    locked = Alert.objects.select_for_update().get(pk=alert.pk)
    if locked.hospital_id != principal.hospital.pk:
        raise ApplicationError(_("This alert belongs to another hospital."), code="wrong_hospital")
    return locked


@transaction.atomic
def alert_acknowledge(*, principal: Principal, alert: Alert, now: dt.datetime | None = None) -> Alert:
    principal.require(Action.LISTENING_MANAGE)
    alert = _locked_alert(principal, alert)
    if alert.status != Status.OPEN:
        raise ApplicationError(_("Only an open alert can be acknowledged."), code="not_open")
    alert.status = Status.ACKNOWLEDGED
    alert.acknowledged_by = principal.user
    alert.acknowledged_at = now or timezone.now()
    alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at"])
    return alert


@transaction.atomic
def alert_dismiss(*, principal: Principal, alert: Alert, now: dt.datetime | None = None) -> Alert:
    principal.require(Action.LISTENING_MANAGE)
    alert = _locked_alert(principal, alert)
    if alert.status not in OPEN_STATUSES:
        raise ApplicationError(_("Only an open or acknowledged alert can be dismissed."), code="not_open")
    alert.status = Status.DISMISSED
    if alert.acknowledged_at is None:
        alert.acknowledged_by = principal.user
        alert.acknowledged_at = now or timezone.now()
    alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at"])
    return alert


# --- red-line rules -------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def red_line_defaults() -> tuple[dict[str, Any], ...]:
    data = yaml.safe_load(RED_LINES_FILE.read_text(encoding="utf-8"))
    return tuple(data["rules"])


@transaction.atomic
def red_line_defaults_install(hospital: Hospital) -> int:
    """Create the default rules the hospital does not have yet (by name); returns how many were created."""
    existing = set(RedLineRule.objects.filter(hospital=hospital).values_list("name", flat=True))
    created = 0
    for rule in red_line_defaults():
        if rule["name"] in existing:
            continue
        RedLineRule.objects.create(hospital=hospital, name=rule["name"], terms=list(rule["terms"]),
                                   near_kinds=list(rule["near_kinds"]), window_chars=int(rule["window_chars"]))  # fmt: skip
        created += 1
    return created


@dataclass
class RuleInput:
    name: str
    terms: list[str]
    near_kinds: list[str]
    window_chars: int = 30
    is_active: bool = True


def _validate_rule(principal: Principal, data: RuleInput, *, rule: RedLineRule | None) -> dict[str, Any]:
    name = " ".join(data.name.split())
    if not name or len(name) > 60:
        raise ApplicationError(_("Give the rule a name of at most 60 characters."), code="name", field="name")
    clash = RedLineRule.objects.filter(hospital=principal.hospital, name=name)
    if rule is not None:
        clash = clash.exclude(pk=rule.pk)
    if clash.exists():
        raise ApplicationError(_("Another rule already has this name."), code="name_taken", field="name")
    terms: list[str] = []
    for raw in data.terms:
        term = raw.strip()
        if term and term not in terms:
            terms.append(term)
    if not terms or len(terms) > 50 or any(len(t) > 20 for t in terms):
        raise ApplicationError(_("Enter between 1 and 50 terms of at most 20 characters."), code="terms",
                               field="terms")  # fmt: skip
    if len(_normalised_terms(terms)) != len(terms) or any(len(t) < 2 for t in _normalised_terms(terms)):
        raise ApplicationError(_("Each term needs at least two characters."), code="terms", field="terms")
    kinds = sorted(set(data.near_kinds))
    if not kinds or any(kind not in ENTITY_KINDS for kind in kinds):
        raise ApplicationError(_("Choose at least one kind of name."), code="near_kinds", field="near_kinds")
    if not 1 <= int(data.window_chars) <= 200:
        raise ApplicationError(_("The distance must be between 1 and 200 characters."), code="window_chars",
                               field="window_chars")  # fmt: skip
    return {"name": name, "terms": terms, "near_kinds": kinds, "window_chars": int(data.window_chars),
            "is_active": bool(data.is_active)}  # fmt: skip


@transaction.atomic
def red_line_rule_create(*, principal: Principal, data: RuleInput) -> RedLineRule:
    principal.require(Action.LISTENING_MANAGE)
    fields = _validate_rule(principal, data, rule=None)
    return RedLineRule.objects.create(hospital=principal.hospital, updated_at=timezone.now(), **fields)


@transaction.atomic
def red_line_rule_update(*, principal: Principal, rule: RedLineRule, data: RuleInput) -> RedLineRule:
    principal.require(Action.LISTENING_MANAGE)
    rule = RedLineRule.objects.select_for_update().get(pk=rule.pk, hospital=principal.hospital)
    fields = _validate_rule(principal, data, rule=rule)
    for name, value in fields.items():
        setattr(rule, name, value)
    rule.updated_at = timezone.now()
    rule.save()
    return rule
