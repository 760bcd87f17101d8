"""Funnel and attribution: which publications brought which consultations, appointments, visits and revenue.

Rules (also in docs/kpis.md):

- A *touch* is a ``Touch`` row: a tracking-link click or a WeChat QR scene scan that was tied to a patient.
- A conversion (consultation, appointment or visit) in the period is attributed when the patient has at least
  one touch in the **lookback window** before it: ``LOOKBACK_DAYS`` (30) days. For consultations the window is
  ``[occurred_at − 30 days, occurred_at]``; visits carry a date only, so a touch counts when its local date
  (Asia/Shanghai) lies in ``[visit date − 30 days, visit date]``.
- **First touch** credits the earliest touch in the window, **last touch** the latest. Totals are the same
  under both models (a conversion is attributed or not); the split by publication differs.
- An attributed **new patient** is a patient whose first visit ever (kind ``visit``) is in the period and
  attributed. CAC = cost / attributed new patients. Patient value = revenue of attributed visits / distinct
  patients with an attributed visit.
- A **revisit** is a patient with an attributed visit in the period who has another, later visit in the period.

The work is three flat queries (touches, conversions, first-visit dates; each a single SELECT with patient
ids from a subquery, never a per-patient query) plus a linear pass in Python over sorted tuples.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Min

from xinqiao.analytics.models import Consultation, Touch
from xinqiao.analytics.selectors import LOCAL_TZ, Filters, local_bounds, publication_q
from xinqiao.core.models import Hospital, Visit

LOOKBACK_DAYS = 30
FIRST_TOUCH = "first"
LAST_TOUCH = "last"
MODELS = (FIRST_TOUCH, LAST_TOUCH)


@dataclass
class PublicationCredit:
    consultations: int = 0
    appointments: int = 0
    visits: int = 0
    revenue_fen: int = 0
    new_patients: int = 0
    patient_ids: set[int] = field(default_factory=set)  # patients with an attributed visit

    @property
    def appointments_and_visits(self) -> int:
        return self.appointments + self.visits


@dataclass
class AttributionResult:
    lookback_days: int
    consultations: int = 0  # attributed consultations (same under both models)
    appointments: int = 0
    visits: int = 0
    revenue_fen: int = 0
    patients: int = 0  # distinct patients with an attributed visit
    new_patients: int = 0
    revisits: int = 0
    touched_patients: int = 0
    by_publication: dict[str, dict[int, PublicationCredit]] = field(
        default_factory=lambda: {
            FIRST_TOUCH: defaultdict(PublicationCredit),
            LAST_TOUCH: defaultdict(PublicationCredit),
        }
    )

    @property
    def appointments_and_visits(self) -> int:
        return self.appointments + self.visits


def _pick(times: list[dt.datetime], lower: dt.datetime, upper: dt.datetime) -> tuple[int, int] | None:
    """Indexes of the first and last touch with lower ≤ time ≤ upper in a sorted list, or None."""
    left = bisect.bisect_left(times, lower)
    right = bisect.bisect_right(times, upper) - 1
    if left > right:
        return None
    return left, right


def attribute(
    *,
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
    lookback_days: int = LOOKBACK_DAYS,
) -> AttributionResult:
    """Attribute the period's consultations, appointments and visits to publications (first and last touch).

    ``filters``/``department_ids`` restrict the touches considered (publication account, platform, the
    content's department and topic), so a filtered result is "what these publications brought".
    """
    filters = filters or Filters()
    lower, upper = local_bounds(start, end)
    lookback = dt.timedelta(days=lookback_days)
    touches = Touch.objects.filter(
        publication_q(hospital, filters, department_ids),
        hospital=hospital,
        occurred_at__gte=lower - lookback,
        occurred_at__lt=upper,
    )
    patient_subquery = touches.values("patient_id")
    by_patient: dict[int, tuple[list[dt.datetime], list[int]]] = {}
    for patient_id, publication_id, occurred_at in touches.order_by("patient_id", "occurred_at", "pk").values_list(
        "patient_id", "publication_id", "occurred_at"
    ):
        times, publications = by_patient.setdefault(patient_id, ([], []))
        times.append(occurred_at)
        publications.append(publication_id)
    result = AttributionResult(lookback_days=lookback_days, touched_patients=len(by_patient))
    if not by_patient:
        return result
    first_touch = result.by_publication[FIRST_TOUCH]
    last_touch = result.by_publication[LAST_TOUCH]

    consultations = Consultation.objects.filter(
        hospital=hospital, patient_id__in=patient_subquery, occurred_at__gte=lower, occurred_at__lt=upper
    ).values_list("patient_id", "occurred_at")
    for patient_id, occurred_at in consultations:
        times, publications = by_patient[patient_id]
        picked = _pick(times, occurred_at - lookback, occurred_at)
        if picked is None:
            continue
        result.consultations += 1
        first_touch[publications[picked[0]]].consultations += 1
        last_touch[publications[picked[1]]].consultations += 1

    first_visit_on = dict(
        Visit.objects.filter(hospital=hospital, patient_id__in=patient_subquery, kind=Visit.Kind.VISIT)
        .values("patient_id")
        .annotate(first=Min("occurred_on"))
        .values_list("patient_id", "first")
    )
    visits = (
        Visit.objects.filter(hospital=hospital, patient_id__in=patient_subquery, occurred_on__range=(start, end))
        .order_by("patient_id", "occurred_on", "pk")
        .values_list("patient_id", "kind", "occurred_on", "revenue_fen")
    )
    visit_patients: set[int] = set()
    visit_dates: dict[int, list[dt.date]] = defaultdict(list)
    new_patients: set[int] = set()
    last_visit_on: dict[int, dt.date] = {}
    for patient_id, kind, occurred_on, revenue_fen in visits:
        if kind == Visit.Kind.VISIT:
            last_visit_on[patient_id] = occurred_on  # rows are in date order: ends as the latest visit
        times, publications = by_patient[patient_id]
        day_start = dt.datetime.combine(occurred_on - lookback, dt.time.min, tzinfo=LOCAL_TZ)
        day_end = dt.datetime.combine(occurred_on + dt.timedelta(days=1), dt.time.min, tzinfo=LOCAL_TZ)
        picked = _pick(times, day_start, day_end - dt.timedelta(microseconds=1))
        if picked is None:
            continue
        credits = (first_touch[publications[picked[0]]], last_touch[publications[picked[1]]])
        if kind == Visit.Kind.APPOINTMENT:
            result.appointments += 1
            for credit in credits:
                credit.appointments += 1
            continue
        result.visits += 1
        result.revenue_fen += revenue_fen
        visit_patients.add(patient_id)
        visit_dates[patient_id].append(occurred_on)
        is_new = first_visit_on.get(patient_id) == occurred_on and patient_id not in new_patients
        if is_new:
            new_patients.add(patient_id)
        for credit in credits:
            credit.visits += 1
            credit.revenue_fen += revenue_fen
            credit.new_patients += int(is_new)
            credit.patient_ids.add(patient_id)
    result.patients = len(visit_patients)
    result.new_patients = len(new_patients)
    result.revisits = sum(1 for patient_id, dates in visit_dates.items() if last_visit_on[patient_id] > dates[0])
    return result
