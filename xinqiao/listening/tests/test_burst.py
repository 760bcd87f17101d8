"""Burst statistics (pure): hour-of-week baseline, Poisson / negative-binomial upper tail, thresholds."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from xinqiao.listening import burst

UTC = dt.UTC


def test_hour_of_week_is_local_time():
    # Monday 2025-03-03 00:30 in Shanghai is Sunday 16:30 UTC
    assert burst.hour_of_week(dt.datetime(2025, 3, 2, 16, 30, tzinfo=UTC)) == 0
    assert burst.hour_of_week(dt.datetime(2025, 3, 2, 15, 59, tzinfo=UTC)) == 167  # Sunday 23:59 local
    assert burst.hour_of_week(dt.datetime(2025, 3, 5, 2, 0, tzinfo=UTC)) == 2 * 24 + 10  # Wednesday 10:00 local


def test_window_start_and_history_windows():
    moment = dt.datetime(2025, 3, 5, 2, 41, 7, 123, tzinfo=UTC)
    start = burst.window_start(moment)
    assert start == dt.datetime(2025, 3, 5, 2, 0, tzinfo=UTC)
    windows = burst.history_windows(start, weeks=3)
    assert windows == [
        (dt.datetime(2025, 2, 26, 2, 0, tzinfo=UTC), dt.datetime(2025, 2, 26, 3, 0, tzinfo=UTC)),
        (dt.datetime(2025, 2, 19, 2, 0, tzinfo=UTC), dt.datetime(2025, 2, 19, 3, 0, tzinfo=UTC)),
        (dt.datetime(2025, 2, 12, 2, 0, tzinfo=UTC), dt.datetime(2025, 2, 12, 3, 0, tzinfo=UTC)),
    ]
    assert {burst.hour_of_week(lo) for lo, _hi in windows} == {burst.hour_of_week(start)}


def test_baseline_mean_variance_floor_and_model():
    assert burst.baseline([2, 4, 3, 3]) == burst.Baseline(expected=3.0, variance=2 / 3, weeks=4, model="poisson")
    assert burst.baseline([0, 0, 0, 0]) == burst.Baseline(expected=0.5, variance=0.0, weeks=4, model="poisson")
    assert burst.baseline([]) == burst.Baseline(expected=0.5, variance=0.0, weeks=0, model="poisson")
    # mean 5, sample variance (25 + 25 + 9 + 9) / 3 = 22.67 > 5: over-dispersed
    assert burst.baseline([0, 10, 2, 8]).model == "negative_binomial"
    # two weeks are too few to call it over-dispersed
    assert burst.baseline([0, 10]).model == "poisson"


def poisson_tail(x: int, lam: float) -> float:
    return 1 - sum(math.exp(-lam) * lam**k / math.factorial(k) for k in range(x))


def test_poisson_upper_tail_hand_computed():
    # P(X ≥ 10 | λ = 3) = 1 − Σ_{k<10} e^-3 3^k / k! = 0.0011024881
    test = burst.burst_test(10, [2, 4, 3, 3])
    assert test.p_value == pytest.approx(0.0011024881301154865, rel=1e-9)
    assert test.p_value == pytest.approx(poisson_tail(10, 3.0), rel=1e-9)
    assert (test.model, test.fired) == ("poisson", False)  # just above α = 0.001
    eleven = burst.burst_test(11, [2, 4, 3, 3])
    assert eleven.p_value == pytest.approx(poisson_tail(11, 3.0), rel=1e-9)
    assert eleven.p_value == pytest.approx(0.00029234, rel=1e-4)
    assert eleven.fired is True


def test_floor_and_minimum_count():
    # all-zero history → λ = 0.5; P(X ≥ 5) = 1.7212e-4 < α fires, P(X ≥ 4) = 1.7516e-3 and 4 < min count do not
    five = burst.burst_test(5, [0] * 8)
    four = burst.burst_test(4, [0] * 8)
    assert five.p_value == pytest.approx(0.00017211562995589347, rel=1e-9)
    assert four.p_value == pytest.approx(0.0017516225562907994, rel=1e-9)
    assert (five.fired, four.fired) == (True, False)
    # with a lower α the count of 4 would pass the test but not the minimum count
    assert burst.burst_test(4, [0] * 8, alpha=0.01).fired is False
    assert burst.burst_test(0, [0] * 8).p_value == 1.0


def test_no_burst_without_two_weeks_of_history():
    # a new installation: one week of history (or none) does not make a baseline, whatever the count
    assert burst.burst_test(50, [0]).fired is False
    assert burst.burst_test(50, []).fired is False
    assert burst.burst_test(50, [0, 0]).fired is True


def test_negative_binomial_widens_the_tail_for_volatile_hours():
    # mean 5, variance 68/3: r = 25 / (68/3 − 5) = 1.41509, p = r / (r + 5) = 0.220588
    r = 25 / (68 / 3 - 5)
    p = r / (r + 5)
    hand = 1 - sum(
        math.exp(math.lgamma(k + r) - math.lgamma(r) - math.lgamma(k + 1) + r * math.log(p) + k * math.log(1 - p))
        for k in range(20)
    )
    volatile = burst.burst_test(20, [0, 10, 2, 8])
    steady = burst.burst_test(20, [5, 5, 5, 5])
    assert volatile.p_value == pytest.approx(hand, rel=1e-9)
    assert volatile.p_value == pytest.approx(0.0154392508, rel=1e-8)
    assert (volatile.model, volatile.fired) == ("negative_binomial", False)
    assert steady.p_value == pytest.approx(poisson_tail(20, 5.0), rel=1e-6)
    assert (steady.model, steady.fired) == ("poisson", True)


def test_severity_and_increase_rule():
    assert burst.severity_from_p(1e-3) == pytest.approx(60.0)
    assert burst.severity_from_p(1e-6) == 100.0
    assert burst.severity_from_p(1.0) == 0.0
    assert burst.increase_fires(15, 10) is True  # ×1.5, +5, ≥ 10
    assert burst.increase_fires(14, 10) is False  # ×1.4
    assert burst.increase_fires(9, 0) is False  # below the minimum count
    assert burst.increase_fires(12, 8) is False  # +4 only
