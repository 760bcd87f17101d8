"""The append-only, hash-chained audit log (REQ-AUD-001..004, REQ-AUD-007)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from xinqiao.core.logging import redact
from xinqiao.core.models import AuditChainHead, AuditEvent, Hospital

GENESIS_HASH = "0" * 64


def _canonical(event: AuditEvent) -> bytes:
    payload = {
        "created_at": event.created_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "hospital": event.hospital_id,
        "actor": event.actor_id,
        "actor_label": event.actor_label,
        "actor_roles": list(event.actor_roles),
        "actor_ip": event.actor_ip,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "fields": list(event.fields),
        "purpose": event.purpose,
        "result": event.result,
        "detail": event.detail,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def _client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def audit_record(
    *,
    action: str,
    hospital: Hospital | None = None,
    principal=None,
    user=None,
    request: HttpRequest | None = None,
    object_type: str = "",
    object_id: object = "",
    fields: Iterable[str] = (),
    purpose: str = "",
    result: str = AuditEvent.Result.OK,
    detail: dict[str, Any] | None = None,
    actor_label: str = "",
) -> AuditEvent:
    """Append one event to the chain. Serialised by locking the chain head row."""
    if principal is not None:
        hospital = hospital or principal.hospital
        user = user or principal.user
        actor_label = actor_label or principal.label
        roles = sorted(principal.roles) if principal.api_key is None else list(principal.api_key.scopes)
    else:
        roles = []
    if user is not None and not actor_label:
        actor_label = user.get_username()
    event = AuditEvent(
        created_at=timezone.now(),
        hospital=hospital,
        actor=user if user is not None and user.pk else None,
        actor_label=redact(actor_label)[:150],
        actor_roles=roles,
        actor_ip=_client_ip(request),
        actor_agent=(request.headers.get("User-Agent", "")[:200] if request is not None else ""),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        fields=list(fields),
        purpose=purpose,
        result=result,
        detail=_scrub(detail or {}),
        request_id=getattr(request, "request_id", "") if request is not None else "",
    )
    with transaction.atomic():
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(
            pk=1, defaults={"last_hash": GENESIS_HASH, "count": 0}
        )
        event.prev_hash = head.last_hash
        event.record_hash = compute_hash(event)
        event.save(force_insert=True)
        head.last_hash = event.record_hash
        head.count += 1
        head.save(update_fields=["last_hash", "count"])
    return event


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_broken_pk: int | None

    @property
    def ok(self) -> bool:
        return self.first_broken_pk is None


def audit_verify_chain(batch_size: int = 5000) -> ChainReport:
    """Recompute every hash in order; the first event whose link or content changed is reported. The chain starts
    at its anchor: the hash of the last event the retention sweep pruned (``retention.prune_audit_chain``), or the
    genesis hash."""
    anchor = AuditChainHead.objects.filter(pk=1).values_list("pruned_through_pk", "pruned_last_hash").first()
    last_pk, previous = anchor if anchor is not None else (0, GENESIS_HASH)
    checked = 0
    while True:
        batch = list(AuditEvent.objects.filter(pk__gt=last_pk).order_by("pk")[:batch_size])
        if not batch:
            break
        for event in batch:
            if event.prev_hash != previous or compute_hash(event) != event.record_hash:
                return ChainReport(checked=checked, first_broken_pk=event.pk)
            previous = event.record_hash
            checked += 1
        last_pk = batch[-1].pk
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and head.last_hash != previous:
        return ChainReport(checked=checked, first_broken_pk=last_pk or 0)
    return ChainReport(checked=checked, first_broken_pk=None)
