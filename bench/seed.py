"""(c) seed_demo throughput: the bulk generator vs registering patients one by one.

Full scale: ``seed_demo --patients N`` as ``run.py`` timed it when it seeded the bench database (in
this run, or when the reused database was built: ``seed_info`` says which). Same-run comparison on a
sample, each inside a transaction that is rolled back: ours "bulk generator" (``demo.write_patients``:
sealed with ``seal_patient_pii``, ``bulk_create`` per batch, with consents and visits) vs baseline
"per-row patient_create" (the audited service path the web form uses: validate, seal, duplicate check,
insert, one audit event per patient; no consents or visits, so the baseline does less work).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from typing import Any

from django.db import transaction


class _Rollback(Exception):
    """Raised to roll a measurement's transaction back."""


def _sample_org():
    """A throwaway hospital with the main demo hospital's departments and doctors (no users)."""
    from xinqiao.core import demo

    spec = demo.HospitalSpec(
        code="bench-seed-sample",
        name="基准测试样本医院",
        short_name="样本",
        grade="",
        city="",
        aliases=(),
        departments=demo.MAIN_DEPARTMENTS,
        doctors=40,
        ip_doctors=8,
        users=(),
        seed_salt="bench",
    )
    org = demo._create_org(spec, rng=random.Random(3), password_hash="!")
    org.hospital.is_active = True
    org.hospital.save(update_fields=["is_active"])
    return org


def _bulk(count: int) -> float:
    from django.utils import timezone

    from xinqiao.core import demo

    started = 0.0
    try:
        with transaction.atomic():
            org = _sample_org()
            generator = demo.PatientGenerator(org, rng=random.Random(5), anchor=timezone.localdate(), total=count)
            started = time.perf_counter()
            demo.write_patients(generator, count=count, batch_size=min(demo.DEFAULT_BATCH_SIZE, max(count // 4, 1)))
            elapsed = time.perf_counter() - started
            raise _Rollback
    except _Rollback:
        pass
    return elapsed


def _per_row(count: int) -> float:
    from django.contrib.auth import get_user_model

    from xinqiao.core import demo
    from xinqiao.core.access import principal_for_user
    from xinqiao.core.models import Membership
    from xinqiao.core.services import PatientInput, patient_create

    rng = random.Random(5)
    ids = demo._IdNumbers()
    try:
        with transaction.atomic():
            org = _sample_org()
            user = get_user_model().objects.create_user(username="bench-seed-sample-admin")
            Membership.objects.create(user=user, hospital=org.hospital, role=Membership.Role.ADMIN)
            principal = principal_for_user(user, org.hospital)
            inputs = []
            for index in range(count):
                female = rng.random() < 0.5
                birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000))
                inputs.append(
                    PatientInput(
                        name=demo.person_name(rng, female=female),
                        mobile=demo.mobile_number(rng),
                        id_number=ids.issue(rng, birth, male=not female),
                        source_channel=demo.SOURCE_MIX[index % len(demo.SOURCE_MIX)][0],
                        first_department_id=org.departments[index % len(org.departments)].pk,
                    )
                )
            started = time.perf_counter()
            for data in inputs:
                patient_create(principal=principal, data=data)
            elapsed = time.perf_counter() - started
            raise _Rollback
    except _Rollback:
        pass
    return elapsed


def run(args) -> dict[str, Any]:
    sample = 200 if args.quick else 2000
    bulk_seconds = _bulk(sample)
    per_row_seconds = _per_row(sample)
    ours = sample / bulk_seconds
    theirs = sample / per_row_seconds
    info = args.seed_info or {}
    results = [
        {
            "case": f"insert {sample:,} patients (patients/s)",
            "unit": "patients/s",
            "value": round(ours, 1),
            "baseline": "per-row patient_create (audited, no consents/visits)",
            "baseline_value": round(theirs, 1),
            "ratio": round(ours / theirs, 1),  # throughput: higher is better, so ours / baseline
            "details": {
                "sample": sample,
                "bulk_seconds": round(bulk_seconds, 3),
                "per_row_seconds": round(per_row_seconds, 3),
            },
        }
    ]
    notes = [f"sample of {sample:,} patients per method, each in a rolled-back transaction"]
    if info.get("seconds"):
        full_rate = info["patients_per_second"]
        results.append(
            {
                "case": f"seed_demo --patients {info['patients']:,} (patients/s)",
                "unit": "patients/s",
                "value": full_rate,
                "baseline": "per-row patient_create (sample above)",
                "baseline_value": round(theirs, 1),
                "ratio": round(full_rate / theirs, 1),
                "details": {
                    "seconds": info["seconds"],
                    "measured_at": info.get("measured_at"),
                    "in_this_run": info.get("in_this_run"),
                    "rows": info.get("rows"),
                },
            }
        )
        when = (
            "in this run"
            if info.get("in_this_run")
            else f"when the bench database was built ({info.get('measured_at')})"
        )
        notes.append(
            f"seed_demo --patients {info['patients']:,}: {info['seconds']:,.1f} s = {full_rate:,.0f} patients/s, "
            f"measured {when}; includes consents, appointments and visits"
        )
    else:
        notes.append("full-scale seed time unknown (the bench database was seeded outside run.py); use --reseed")
    return {"title": "seed_demo throughput", "results": results, "notes": notes}
