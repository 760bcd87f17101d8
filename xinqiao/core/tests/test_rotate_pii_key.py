"""rotate_pii_key: re-encrypt patients with the active key, in resumable batches, audited once per run."""

from __future__ import annotations

import base64
import datetime as dt
import io
import os

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import translation

from xinqiao.core import keys
from xinqiao.core.models import AuditEvent, Hospital, Patient
from xinqiao.core.services import patient_unseal, seal_patient_pii
from xinqiao.lib.identity import generate_resident_id

K1 = base64.b64encode(os.urandom(32)).decode()
K2 = base64.b64encode(os.urandom(32)).decode()
ONLY_V1 = f"1:{K1}"
BOTH = f"1:{K1},2:{K2}"
ONLY_V2 = f"2:{K2}"
CLEAR = [
    ("张伟", "13800138000", generate_resident_id("330102", dt.date(1960, 3, 14), 1, male=True)),
    ("李娜", "13912345678", generate_resident_id("330105", dt.date(1988, 7, 2), 2, male=False)),
    ("欧阳娜娜", "15011112222", ""),
    ("王芳", "18655556666", generate_resident_id("310101", dt.date(2001, 1, 9), 3, male=False)),
    ("陈杰", "17788889999", generate_resident_id("320102", dt.date(1979, 12, 31), 4, male=True)),
]


@pytest.fixture(autouse=True)
def english():
    """The assertions read the English msgids; the default language is Simplified Chinese."""
    with translation.override("en"):
        yield


@pytest.fixture
def patients(db) -> list[Patient]:
    """Five patients sealed under key version 1 (one without an ID number)."""
    hospital = Hospital.objects.create(name="测试医院", code="rotation-test")
    rows = []
    with override_settings(XINQIAO_PII_KEYS=ONLY_V1):
        for name, mobile, id_number in CLEAR:
            rows.append(
                Patient.objects.create(
                    hospital=hospital,
                    source_channel=Patient.SourceChannel.WALK_IN,
                    **seal_patient_pii(hospital_id=hospital.pk, name=name, mobile=mobile, id_number=id_number),
                )
            )
    return rows


def rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("rotate_pii_key", *args, stdout=out)
    return out.getvalue()


def snapshot() -> list[tuple]:
    return list(
        Patient.objects.order_by("pk").values_list(
            "pk",
            "pii_key_version",
            "name_sealed",
            "mobile_sealed",
            "id_number_sealed",
            "name_bidx",
            "mobile_bidx",
            "id_number_bidx",
        )
    )


def clear_values() -> list[tuple[str, str, str]]:
    return [
        tuple(patient_unseal(p, field) for field in ("name", "mobile", "id_number"))
        for p in Patient.objects.order_by("pk")
    ]


@override_settings(XINQIAO_PII_KEYS=BOTH)
def test_re_encrypts_every_row_with_the_active_key(patients):
    before = snapshot()

    output = rotate("--batch-size", "2")

    after = snapshot()
    assert [row[1] for row in after] == [2, 2, 2, 2, 2]
    assert all(token.startswith("v2$") for row in after for token in row[2:5] if token)
    assert [row[4] for row in after][2] == ""  # no ID number stays no ID number
    assert [row[5:] for row in after] == [row[5:] for row in before]  # blind indexes unchanged
    assert all(a[2] != b[2] and a[3] != b[3] for a, b in zip(after, before, strict=True))
    assert clear_values() == CLEAR
    assert "Batch 1: 2 re-encrypted, 3 remaining." in output
    assert "Batch 2: 2 re-encrypted, 1 remaining." in output
    assert "Batch 3: 1 re-encrypted, 0 remaining." in output
    assert "Re-encrypted 5 patients in 3 batches; 0 remaining." in output
    assert keys.pii_rows_pending() == 0
    event = AuditEvent.objects.get(action=AuditEvent.Action.KEY_ROTATION)
    assert event.result == AuditEvent.Result.OK
    assert event.detail == {"active_version": 2, "rotated": 5, "batches": 3, "remaining": 0, "batch_size": 2}
    # and the old key can now go
    with override_settings(XINQIAO_PII_KEYS=ONLY_V2):
        assert clear_values() == CLEAR


@override_settings(XINQIAO_PII_KEYS=BOTH)
def test_an_interrupted_rotation_resumes(patients):
    # when: stopped after one batch
    output = rotate("--batch-size", "2", "--limit-batches", "1")

    # then: the two lowest pks moved, the rest wait
    assert [row[1] for row in snapshot()] == [2, 2, 1, 1, 1]
    assert "Re-encrypted 2 patients in 1 batches; 3 remaining." in output
    assert keys.pii_rows_pending() == 3

    # when: run again
    output = rotate("--batch-size", "2")

    # then
    assert [row[1] for row in snapshot()] == [2, 2, 2, 2, 2]
    assert "Re-encrypted 3 patients in 2 batches; 0 remaining." in output
    assert clear_values() == CLEAR
    details = list(
        AuditEvent.objects.filter(action=AuditEvent.Action.KEY_ROTATION).order_by("pk").values_list("detail", flat=True)
    )
    assert [(d["rotated"], d["remaining"]) for d in details] == [(2, 3), (3, 0)]


@override_settings(XINQIAO_PII_KEYS=BOTH)
def test_a_second_run_has_nothing_to_do(patients):
    rotate()

    output = rotate()

    assert "Re-encrypted 0 patients in 0 batches; 0 remaining." in output
    assert [row[1] for row in snapshot()] == [2, 2, 2, 2, 2]


@override_settings(XINQIAO_PII_KEYS=BOTH)
def test_dry_run_changes_nothing(patients):
    before = snapshot()

    output = rotate("--dry-run", "--batch-size", "2")

    assert snapshot() == before
    assert "Patients on other versions: 5 (v1: 5)." in output
    assert "Dry run: would re-encrypt 5 patients in 3 batches; nothing changed." in output
    assert AuditEvent.objects.count() == 0


@override_settings(XINQIAO_PII_KEYS=ONLY_V2)
def test_a_missing_old_key_fails_clearly_and_changes_nothing(patients):
    before = snapshot()

    with pytest.raises(CommandError) as failure:
        rotate("--batch-size", "2")

    message = str(failure.value)
    assert f"Patient #{patients[0].pk} is sealed with key version 1, which is not in XINQIAO_PII_KEYS" in message
    assert "0 re-encrypted before the failure, 5 remaining" in message
    for values in CLEAR:
        assert all(value not in message for value in values if value)
    assert snapshot() == before
    event = AuditEvent.objects.get(action=AuditEvent.Action.KEY_ROTATION)
    assert event.result == AuditEvent.Result.ERROR
    assert event.detail["error"] == "pii_key_missing"


@override_settings(XINQIAO_PII_KEYS=BOTH)
def test_a_damaged_row_stops_its_batch_only(patients):
    # given: the fourth patient's mobile column holds a name ciphertext (bound to another field)
    Patient.objects.filter(pk=patients[3].pk).update(mobile_sealed=patients[3].name_sealed)

    with pytest.raises(CommandError, match=f"The mobile of patient #{patients[3].pk} does not decrypt"):
        rotate("--batch-size", "2")

    # the first batch committed; the failing batch (rows 3 and 4) is untouched
    assert [row[1] for row in snapshot()] == [2, 2, 1, 1, 1]


@pytest.mark.parametrize("args", [("--batch-size", "0"), ("--limit-batches", "-1")])
def test_rejects_bad_numbers(patients, args):
    before = snapshot()

    with pytest.raises(CommandError):
        rotate(*args)

    assert snapshot() == before
