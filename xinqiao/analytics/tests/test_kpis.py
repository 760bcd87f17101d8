"""Every KPI formula with hand-computed values (docs/kpis.md lists the same definitions)."""

from __future__ import annotations

import pytest

from xinqiao.analytics import kpis

INPUTS = {
    "impressions": 12000,
    "viewers": 4500,
    "views": 6000,
    "followers": 25000,
    "net_followers": -40,
    "likes": 300,
    "comments": 60,
    "shares": 90,
    "favorites": 150,
    "completion_weighted": 310.5,  # e.g. 0.69 × 450
    "completion_views": 450,
    "doctor_ip_followers": 8000,
    "positive": 45,
    "classified": 60,
    "clicks": 250,
    "consultations": 40,
    "attributed_visits": 20,
    "attributed_patients": 12,
    "touched_patients": 50,
    "cost_fen": 1_200_000,
    "acquired_patients": 8,
    "ugc": None,
    "referrals": None,
    "promoters": None,
    "passives": None,
    "detractors": None,
}

EXPECTED = {
    "exposure": 12000,
    "reach": 4500,
    "views": 6000,
    "followers": 25000,
    "net_follower_growth": -40,
    "interaction_rate": 600 / 6000,  # (300+60+90+150) / 6000 = 0.1
    "completion_rate": 0.69,
    "doctor_ip_followers": 8000,
    "positive_sentiment_share": 0.75,  # 45 / 60
    "tracking_clicks": 250,
    "consultations": 40,
    "attributed_visits": 20,
    "conversion_rate": 0.24,  # 12 patients converted / 50 patients touched
    "cost_per_acquired_patient": 150_000,  # 1 200 000 fen / 8 = ¥1 500
    "shares": 90,
    "ugc_count": None,
    "referrals": None,
    "nps": None,
}


def test_registry_covers_the_four_layers_once():
    keys = [kpi.key for kpi in kpis.KPIS]

    assert len(keys) == len(set(keys)) == 18
    assert {kpi.layer for kpi in kpis.KPIS} == set(kpis.LAYER_ORDER)
    assert [kpi.key for kpi in kpis.KPIS if kpi.layer == kpis.Layer.WORD_OF_MOUTH] == [
        "shares",
        "ugc_count",
        "referrals",
        "nps",
    ]


@pytest.mark.parametrize(("key", "expected"), sorted(EXPECTED.items()))
def test_every_kpi_hand_computed(key, expected):
    value = kpis.KPI_BY_KEY[key].compute(INPUTS)

    if expected is None:
        assert value is None
    else:
        assert value == pytest.approx(expected)


def test_compute_all_matches_registry():
    values = kpis.compute_all(INPUTS)

    assert sorted(values) == sorted(EXPECTED)
    assert {key: value for key, value in values.items() if value is None} == {
        key: None for key, value in EXPECTED.items() if value is None
    }


def test_zero_denominators_give_no_data():
    zero = {**INPUTS, "views": 0, "completion_views": 0, "completion_weighted": None, "classified": 0, "clicks": 0}
    zero["acquired_patients"] = 0
    zero["touched_patients"] = 0

    values = kpis.compute_all(zero)

    assert values["interaction_rate"] is None
    assert values["completion_rate"] is None
    assert values["positive_sentiment_share"] is None
    assert values["conversion_rate"] is None
    assert values["cost_per_acquired_patient"] is None


def test_optional_sources_when_supplied():
    supplied = {**INPUTS, "ugc": 12, "referrals": 5, "promoters": 70, "passives": 20, "detractors": 10}

    values = kpis.compute_all(supplied)

    assert values["ugc_count"] == 12
    assert values["referrals"] == 5
    assert values["nps"] == pytest.approx(60.0)  # (70 − 10) / 100 × 100


def test_nps_without_answers_is_no_data():
    assert kpis.net_promoter_score(promoters=0, passives=0, detractors=0) is None


def test_patient_value_and_roi():
    assert kpis.patient_value(revenue_fen=90000, patients=3) == pytest.approx(30000)
    assert kpis.patient_value(revenue_fen=90000, patients=0) is None
    assert kpis.return_on_investment(revenue_fen=150000, cost_fen=100000) == pytest.approx(0.5)
    assert kpis.return_on_investment(revenue_fen=150000, cost_fen=0) is None


def test_relative_change():
    assert kpis.relative_change(150, 100) == pytest.approx(0.5)
    assert kpis.relative_change(50, 100) == pytest.approx(-0.5)
    assert kpis.relative_change(10, 0) is None
    assert kpis.relative_change(None, 10) is None


def test_format_value():
    assert kpis.format_value(0.1234, kpis.Unit.RATIO) == "12.3%"
    assert kpis.format_value(150000, kpis.Unit.FEN) == "¥1,500.00"
    assert kpis.format_value(12000, kpis.Unit.COUNT) == "12,000"
    assert kpis.format_value(None, kpis.Unit.COUNT) == "—"
    assert kpis.format_value(60.0, kpis.Unit.SCORE) == "60.0"
