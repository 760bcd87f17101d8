"""Burst statistics for negative mention volume (pure functions: no Django, no database).

The question: is the number of negative mentions ``x`` seen in the current one-hour window surprisingly high for
this hour of the week?

Baseline (expected count ``λ``). For the current window's hour of the week (Monday 00:00 … Sunday 23:00, in
Asia/Shanghai, where people post), take the counts ``c_1 … c_N`` of the same window 1 … N weeks ago (N = 8 by
default; weeks before the first mention of the hospital are left out, so a new installation is not compared with
zeros it never observed). ``λ = max(mean(c), floor)`` with a smoothing floor (0.5 per hour) so a quiet hour with an
all-zero history does not make a single mention "infinitely" unlikely.

Test. One-sided upper tail: ``p = P(X ≥ x)`` under the baseline distribution.
- Poisson(λ) when the history is not over-dispersed (sample variance ``s² ≤ λ``) or has fewer than 3 weeks;
- otherwise negative binomial with the same mean and the observed variance (method of moments:
  ``r = λ² / (s² − λ)``, ``p_success = r / (r + λ)``), which widens the tail for hours whose volume swings from week
  to week and avoids false alarms there.

No history, no burst: with fewer than ``min_weeks`` (2) weeks of history the test does not fire (a new
installation would otherwise call its first five negative mentions a burst); the increase alert covers that time.

Fires when there are at least ``min_weeks`` weeks of history, ``x ≥ min_count`` (5: a burst needs a few mentions
whatever the baseline) and ``p < alpha`` (0.001: with ~30 scopes × 24 hours a day checked, about one false alarm a fortnight on a Poisson-quiet hospital).
A partial window (the hour is not over yet) compares the count so far with the full hour's baseline: the test is
then conservative (the count can only grow), which is what lets a burst fire minutes into the hour.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from scipy import stats

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
WINDOW = dt.timedelta(hours=1)
WEEK = dt.timedelta(days=7)
DEFAULT_WEEKS = 8
DEFAULT_FLOOR = 0.5
DEFAULT_ALPHA = 0.001
DEFAULT_MIN_COUNT = 5
DEFAULT_MIN_WEEKS = 2
MIN_WEEKS_FOR_DISPERSION = 3


@dataclass(frozen=True)
class Baseline:
    expected: float  # λ
    variance: float  # sample variance of the history (0 with fewer than 2 weeks)
    weeks: int  # history windows used
    model: str  # "poisson" or "negative_binomial"


@dataclass(frozen=True)
class BurstTest:
    observed: int
    expected: float
    p_value: float
    model: str
    fired: bool
    alpha: float
    min_count: int


def window_start(moment: dt.datetime) -> dt.datetime:
    """The start of the one-hour window ``moment`` falls in (an aware UTC datetime)."""
    moment = moment.astimezone(dt.UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def hour_of_week(moment: dt.datetime) -> int:
    """0 = Monday 00:00–01:00 … 167 = Sunday 23:00–24:00, local time (Asia/Shanghai)."""
    local = moment.astimezone(LOCAL_TZ)
    return local.weekday() * 24 + local.hour


def history_windows(start: dt.datetime, *, weeks: int = DEFAULT_WEEKS) -> list[tuple[dt.datetime, dt.datetime]]:
    """The same hour-of-week window 1 … ``weeks`` weeks before the window starting at ``start``.

    Asia/Shanghai has no daylight saving time, so a UTC shift of whole weeks keeps the local hour of the week."""
    return [(start - k * WEEK, start - k * WEEK + WINDOW) for k in range(1, weeks + 1)]


def baseline(history: Sequence[int], *, floor: float = DEFAULT_FLOOR) -> Baseline:
    """λ and the model to use from the counts of the same hour-of-week in earlier weeks."""
    weeks = len(history)
    if weeks == 0:
        return Baseline(expected=floor, variance=0.0, weeks=0, model="poisson")
    mean = sum(history) / weeks
    variance = sum((c - mean) ** 2 for c in history) / (weeks - 1) if weeks > 1 else 0.0
    expected = max(mean, floor)
    over_dispersed = weeks >= MIN_WEEKS_FOR_DISPERSION and variance > expected
    return Baseline(
        expected=expected,
        variance=variance,
        weeks=weeks,
        model="negative_binomial" if over_dispersed else "poisson",
    )


def upper_tail(observed: int, base: Baseline) -> float:
    """P(X ≥ observed) under the baseline's model."""
    if observed <= 0:
        return 1.0
    if base.model == "negative_binomial":
        r = base.expected**2 / (base.variance - base.expected)
        p_success = r / (r + base.expected)
        return float(stats.nbinom.sf(observed - 1, r, p_success))
    return float(stats.poisson.sf(observed - 1, base.expected))


def burst_test(
    observed: int,
    history: Sequence[int],
    *,
    alpha: float = DEFAULT_ALPHA,
    min_count: int = DEFAULT_MIN_COUNT,
    floor: float = DEFAULT_FLOOR,
    min_weeks: int = DEFAULT_MIN_WEEKS,
) -> BurstTest:
    base = baseline(history, floor=floor)
    p_value = upper_tail(observed, base)
    return BurstTest(
        observed=observed,
        expected=base.expected,
        p_value=p_value,
        model=base.model,
        fired=base.weeks >= min_weeks and observed >= min_count and p_value < alpha,
        alpha=alpha,
        min_count=min_count,
    )


def severity_from_p(p_value: float) -> float:
    """0–100: 20 points per order of magnitude below 1 (p = 0.001 → 60, 1e-5 → 100)."""
    if p_value <= 0:
        return 100.0
    return float(min(100.0, max(0.0, -20.0 * math.log10(p_value))))


def increase_fires(current: int, previous: int, *, ratio: float = 1.5, min_count: int = 10,
                   min_delta: int = 5) -> bool:  # fmt: skip
    """The "increase" rule: the last period's negative volume rose by at least ``ratio`` × and ``min_delta``
    mentions over the period before, with at least ``min_count`` mentions (so 1 → 3 is not an increase)."""
    return current >= min_count and current - previous >= min_delta and current >= ratio * previous
