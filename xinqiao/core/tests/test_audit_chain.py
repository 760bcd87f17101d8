from __future__ import annotations

import pytest
from django.db import connection

from xinqiao.core.audit import GENESIS_HASH, audit_record, audit_verify_chain
from xinqiao.core.models import AuditEvent


def test_chain_links_every_record(db):
    events = [audit_record(action=AuditEvent.Action.LOGIN, actor_label=f"user{i}") for i in range(5)]
    assert events[0].prev_hash == GENESIS_HASH
    for previous, current in zip(events, events[1:], strict=False):
        assert current.prev_hash == previous.record_hash
    report = audit_verify_chain()
    assert (report.ok, report.checked) == (True, 5)


def test_tampering_with_a_record_breaks_the_chain(db):
    events = [audit_record(action=AuditEvent.Action.REVEAL, purpose="follow_up", object_id=i) for i in range(4)]
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET purpose = %s WHERE id = %s", ["legal", events[2].pk])  # noqa: S608
    report = audit_verify_chain()
    assert report.ok is False
    assert report.first_broken_pk == events[2].pk


def test_deleting_the_newest_record_is_detected(db):
    events = [audit_record(action=AuditEvent.Action.LOGIN) for _ in range(3)]
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditEvent._meta.db_table} WHERE id = %s", [events[-1].pk])  # noqa: S608
    assert audit_verify_chain().ok is False


def test_records_are_append_only(db):
    event = audit_record(action=AuditEvent.Action.LOGIN)
    event.purpose = "changed"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    assert AuditEvent.objects.count() == 1


def test_pii_in_details_is_redacted(db):
    event = audit_record(action=AuditEvent.Action.ERASE, detail={"reason": "call 13800138000 about 11010519491231002X"})
    assert event.detail == {"reason": "call 138****8000 about 110105********002X"}
