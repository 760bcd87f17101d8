"""(a) Patient lookup by mobile: blind index (HMAC + indexed equality) vs decrypting every row.

Ours: ``selectors.search_lookup`` + ``selectors.patient_list``, exactly what the patient page's search
box runs as the demo ``service`` user: normalise the number, HMAC it into the blind index, one indexed
equality query. Baseline "full scan: decrypt every row's mobile and compare": what a system without a blind
index must do, reading every patient row of the hospital and decrypting its mobile.
"""

from __future__ import annotations

import random
from typing import Any

from bench._common import demo_hospital, demo_principal, row, summary, timed


def _sample_patients(hospital, count: int, rng: random.Random) -> list[tuple[int, str]]:
    """(pk, mobile) of ``count`` random patients; the mobile is decrypted here, in the setup."""
    from django.db.models import Max, Min

    from xinqiao.core.models import Patient
    from xinqiao.core.services import patient_unseal

    bounds = Patient.objects.filter(hospital=hospital).aggregate(low=Min("pk"), high=Max("pk"))
    picked: dict[int, str] = {}
    while len(picked) < count:
        patient = (
            Patient.objects.filter(hospital=hospital, pk__gte=rng.randint(bounds["low"], bounds["high"]))
            .order_by("pk")
            .first()
        )
        picked[patient.pk] = patient_unseal(patient, "mobile")
    return list(picked.items())


def run(args) -> dict[str, Any]:
    from xinqiao.core import selectors, vault
    from xinqiao.core.models import Patient

    hospital = demo_hospital()
    principal = demo_principal("service")
    rng = random.Random(7)
    repetitions = 50 if args.quick else 300
    scan_repetitions = 3 if args.quick or args.patients > 50_000 else 5
    sample = _sample_patients(hospital, repetitions, rng)

    def indexed(index: int) -> list[int]:
        lookup = selectors.search_lookup(hospital.pk, sample[index % len(sample)][1])
        page = selectors.patient_list(principal, selectors.PatientFilters(lookup=lookup))
        return [patient.pk for patient in page.rows]

    context = vault.field_context("mobile", hospital.pk)
    rows = Patient.objects.filter(hospital=hospital, erased_at__isnull=True).values_list("pk", "mobile_sealed")

    def full_scan(index: int) -> list[int]:
        mobile = sample[index % len(sample)][1]
        return [pk for pk, token in rows.iterator(chunk_size=10_000) if vault.decrypt(token, context=context) == mobile]

    # both paths find the same patients (a sanity check, not timed)
    for index in range(scan_repetitions):
        expected = sorted(full_scan(index), reverse=True)
        found = indexed(index)
        if found != expected or sample[index][0] not in found:
            raise RuntimeError("the blind-index lookup and the full scan disagree")

    ours = summary(timed(repetitions, indexed, warmup=5))
    theirs = summary(timed(scan_repetitions, full_scan))
    return {
        "title": "Patient lookup by mobile",
        "results": [
            row(
                "lookup by mobile (p50)",
                "ms",
                ours,
                "full scan: decrypt every row's mobile and compare",
                theirs,
                rows_scanned=rows.count(),
                lookups=repetitions,
                scans=scan_repetitions,
            )
        ],
        "notes": [
            f"blind index: {repetitions} lookups of distinct random patients' mobiles (p95 {ours['p95']:.2f} ms); "
            f"full scan sampled over {scan_repetitions} repetitions only (each decrypts every row)",
        ],
    }
