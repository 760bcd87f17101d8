"""First- and last-touch attribution over the hand-built October data (see test_selectors_period)."""

from __future__ import annotations

import datetime as dt

import pytest

from xinqiao.analytics import attribution
from xinqiao.analytics.models import Consultation, Touch
from xinqiao.analytics.selectors import Filters
from xinqiao.analytics.tests.test_selectors_period import OCT, at, build_dashboard_data
from xinqiao.core.models import Visit


@pytest.fixture
def dashboard_data(world):
    return build_dashboard_data(world)


def test_totals(world, dashboard_data):
    result = attribution.attribute(hospital=world.hospital, start=OCT[0], end=OCT[1])

    assert result.lookback_days == 30
    assert result.touched_patients == 2
    assert result.consultations == 1  # p0's (p1_patient's only touch before 10-01 is 42 days old)
    assert result.appointments == 0  # the 10-03 appointment's only touch (08-20) is outside 30 days
    assert result.visits == 3
    assert result.revenue_fen == 60000
    assert result.patients == 2
    assert result.new_patients == 1  # p1_patient visited in March already
    assert result.revisits == 1


def test_first_and_last_touch_split(world, dashboard_data):
    p1, p2 = dashboard_data.publications["p1"].pk, dashboard_data.publications["p2"].pk

    result = attribution.attribute(hospital=world.hospital, start=OCT[0], end=OCT[1])

    first = result.by_publication[attribution.FIRST_TOUCH]
    last = result.by_publication[attribution.LAST_TOUCH]
    assert sorted(first) == [p1]
    assert (first[p1].consultations, first[p1].visits, first[p1].revenue_fen, first[p1].new_patients) == (
        1,
        3,
        60000,
        1,
    )
    assert sorted(last) == [p1, p2]
    assert (last[p2].consultations, last[p2].visits, last[p2].revenue_fen, last[p2].new_patients) == (1, 2, 40000, 1)
    assert (last[p1].consultations, last[p1].visits, last[p1].revenue_fen) == (0, 1, 20000)
    assert last[p2].patient_ids == {world.patients[0].pk}


def test_lookback_window_is_a_parameter(world, dashboard_data):
    result = attribution.attribute(hospital=world.hospital, start=OCT[0], end=OCT[1], lookback_days=60)

    assert result.consultations == 2  # the 08-20 touch now reaches the 10-01 consultation
    assert result.appointments == 1


def test_touch_after_the_conversion_does_not_count(world):
    patient = world.patients[2]
    data = build_dashboard_data(world)
    Touch.objects.create(
        hospital=world.hospital, patient=patient, publication=data.publications["p2"], kind=Touch.Kind.QR_SCAN,
        occurred_at=at(10, 13), source_ref="late",
    )  # fmt: skip

    result = attribution.attribute(hospital=world.hospital, start=OCT[0], end=OCT[1])

    assert result.consultations == 1  # patient 2 consulted on 10-12, before the 10-13 scan
    assert result.visits == 3


def test_same_day_touch_counts_for_a_visit(world):
    patient = world.patients[2]
    data = build_dashboard_data(world)
    Touch.objects.create(
        hospital=world.hospital, patient=patient, publication=data.publications["p2"], kind=Touch.Kind.QR_SCAN,
        occurred_at=dt.datetime(2026, 10, 12, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=8))), source_ref="eve",
    )  # fmt: skip

    result = attribution.attribute(hospital=world.hospital, start=OCT[0], end=OCT[1])

    assert result.visits == 4  # the visit dated 10-12 (local) and the 23:30 scan of the same local day
    assert result.new_patients == 2
    assert result.consultations == 1  # the consultation at 10:00 came before the scan


def test_filters_restrict_the_touches(world, dashboard_data):
    result = attribution.attribute(
        hospital=world.hospital,
        start=OCT[0],
        end=OCT[1],
        filters=Filters(account_id=dashboard_data.accounts["douyin"].pk),
    )

    assert (result.consultations, result.visits, result.revenue_fen) == (1, 2, 40000)


def test_other_hospital_rows_are_ignored(world, dashboard_data):
    Consultation.objects.create(
        hospital=world.other_hospital, patient=world.other_patient, occurred_at=at(10, 9), channel="walk_in",
        source_ref="other",
    )  # fmt: skip
    Visit.objects.create(
        hospital=world.other_hospital, patient=world.other_patient,
        department=world.other_hospital.departments.first(), kind=Visit.Kind.VISIT, occurred_on=dt.date(2026, 10, 9),
        channel="walk_in", revenue_fen=99999,
    )  # fmt: skip

    result = attribution.attribute(hospital=world.other_hospital, start=OCT[0], end=OCT[1])

    assert (result.touched_patients, result.consultations, result.visits) == (0, 0, 0)
