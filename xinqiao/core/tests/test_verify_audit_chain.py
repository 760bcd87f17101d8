"""verify_audit_chain: exit 0 on an intact chain, fail naming the first tampered record."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import translation

from xinqiao.core.audit import audit_record
from xinqiao.core.models import AuditEvent


@pytest.fixture(autouse=True)
def english():
    """The assertions read the English msgids; the default language is Simplified Chinese."""
    with translation.override("en"):
        yield


@pytest.fixture
def events(db) -> list[AuditEvent]:
    return [
        audit_record(action=AuditEvent.Action.LOGIN, actor_label="admin", object_type="user", object_id=1),
        audit_record(
            action=AuditEvent.Action.REVEAL,
            actor_label="service",
            object_type="patient",
            object_id=7,
            fields=["mobile"],
            purpose="follow_up",
        ),
        audit_record(action=AuditEvent.Action.LOGOUT, actor_label="admin", object_type="user", object_id=1),
    ]


def verify() -> str:
    out = io.StringIO()
    call_command("verify_audit_chain", stdout=out)
    return out.getvalue()


def raw_sql(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql.replace("{table}", connection.ops.quote_name(AuditEvent._meta.db_table)), params)


def test_an_intact_chain_passes(events):
    assert verify().strip() == "3 records, chain intact"


def test_an_empty_log_passes(db):
    assert verify().strip() == "0 records, chain intact"


def test_a_changed_record_is_named(events):
    raw_sql("UPDATE {table} SET purpose = %s WHERE id = %s", ["legal", events[1].pk])

    with pytest.raises(CommandError, match=rf"broken at record #{events[1].pk} \(1 records before it are intact\)"):
        verify()


def test_a_deleted_record_breaks_the_next_link(events):
    raw_sql("DELETE FROM {table} WHERE id = %s", [events[1].pk])

    with pytest.raises(CommandError, match=rf"broken at record #{events[2].pk}"):
        verify()
