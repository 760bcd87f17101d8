"""PII key rotation: re-encrypt patients sealed under an older key version with the active one.

Work goes in batches ordered by pk, each in its own transaction with the rows locked, so a rotation
can be stopped at any point and simply run again: it continues with the rows still on other
versions. Blind indexes use their own key and do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from xinqiao.core import vault
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import Patient
from xinqiao.core.services import PII_FIELDS

SEALED_FIELDS = tuple(f"{field}_sealed" for field in PII_FIELDS)


class KeyRotationError(ApplicationError):
    """A row cannot be re-encrypted (its key is missing or its ciphertext does not open)."""


@dataclass(frozen=True)
class PendingVersion:
    version: int
    rows: int


def _pending(version: int) -> QuerySet[Patient]:
    # two ranges rather than "!=" so the (pii_key_version, id) index serves the query
    return Patient.objects.filter(Q(pii_key_version__lt=version) | Q(pii_key_version__gt=version))


def pii_rows_pending() -> int:
    """Patients whose PII is sealed under a key version other than the active one."""
    return _pending(vault.active_key_version()).count()


def pii_pending_by_version() -> list[PendingVersion]:
    rows = (
        _pending(vault.active_key_version())
        .values("pii_key_version")
        .annotate(rows=Count("pk"))
        .order_by("pii_key_version")
    )
    return [PendingVersion(version=row["pii_key_version"], rows=row["rows"]) for row in rows]


def _reseal(patient: Patient, version: int) -> None:
    for field in PII_FIELDS:
        token = getattr(patient, f"{field}_sealed")
        if not token:  # erased patients and patients without an ID number
            continue
        context = vault.field_context(field, patient.hospital_id)
        try:
            plaintext = vault.decrypt(token, context=context)
        except vault.VaultError as exc:
            try:
                token_version: int | None = vault.token_version(token)
            except vault.VaultError:
                token_version = None
            if token_version is not None and token_version not in vault.keyring().keys:
                raise KeyRotationError(
                    _(
                        "Patient #%(pk)s is sealed with key version %(version)s, which is not in "
                        "XINQIAO_PII_KEYS. Add that key back (next to the new one) and run the rotation again."
                    )
                    % {"pk": patient.pk, "version": token_version},
                    code="pii_key_missing",
                ) from exc
            raise KeyRotationError(
                _("The %(field)s of patient #%(pk)s does not decrypt (damaged or moved ciphertext).")
                % {"field": field, "pk": patient.pk},
                code="pii_undecryptable",
            ) from exc
        setattr(patient, f"{field}_sealed", vault.encrypt(plaintext, context=context, version=version))
    patient.pii_key_version = version


def pii_rotate_batch(*, batch_size: int) -> int:
    """Re-encrypt the next ``batch_size`` patients (lowest pks first) with the active key.

    Returns how many rows were rotated; 0 means nothing is left. The batch is one transaction: a
    row that cannot be opened raises ``KeyRotationError`` and the whole batch stays unchanged.
    """
    if batch_size < 1:
        raise ApplicationError(_("The batch size must be at least 1."), code="invalid_batch_size")
    version = vault.active_key_version()
    with transaction.atomic():
        # skip_locked lets several rotations share the work on PostgreSQL; SQLite locks the database
        rows = list(
            _pending(version)
            .select_for_update(skip_locked=True)
            .only("pk", "hospital_id", "pii_key_version", *SEALED_FIELDS)
            .order_by("pk")[:batch_size]
        )
        for patient in rows:
            _reseal(patient, version)
        Patient.objects.bulk_update(rows, [*SEALED_FIELDS, "pii_key_version"], batch_size=500)
    return len(rows)
