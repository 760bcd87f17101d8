"""Helpers shared by the benchmarks: timing statistics and the demo hospital's people."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p50 of [1, 2, 3, 4] is 2, p95 of 20 samples is the 19th)."""
    ordered = sorted(samples)
    rank = max(1, round(fraction * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


def timed(repetitions: int, action: Callable[[int], Any], *, warmup: int = 0) -> list[float]:
    """Milliseconds of ``action(i)`` for i in range(repetitions), after ``warmup`` untimed calls."""
    for index in range(warmup):
        action(index)
    samples = []
    for index in range(repetitions):
        started = time.perf_counter()
        action(index)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(samples, 0.50), 4),
        "p95": round(percentile(samples, 0.95), 4),
        "mean": round(statistics.fmean(samples), 4),
        "min": round(min(samples), 4),
        "max": round(max(samples), 4),
        "n": len(samples),
    }


def row(case: str, unit: str, ours: dict[str, float], baseline: str, theirs: dict[str, float], **details) -> dict:
    """A result row comparing p50s (for latencies: ratio = baseline / ours, i.e. "x faster")."""
    return {
        "case": case,
        "unit": unit,
        "value": ours["p50"],
        "baseline": baseline,
        "baseline_value": theirs["p50"],
        "ratio": round(theirs["p50"] / ours["p50"], 1) if ours["p50"] else None,
        "details": {"ours": ours, "baseline": theirs, **details},
    }


def demo_hospital():
    from xinqiao.core import demo
    from xinqiao.core.models import Hospital

    return Hospital.objects.get(code=demo.MAIN_HOSPITAL.code)


def demo_principal(username: str):
    from django.contrib.auth import get_user_model

    from xinqiao.core.access import principal_for_user

    user = get_user_model().objects.get(username=username)
    principal = principal_for_user(user, demo_hospital())
    if principal is None:
        raise RuntimeError(f"{username} is not a member of the demo hospital")
    return principal
