"""The severity score: documented examples and ordering properties."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xinqiao.listening.pipeline.severity import growth_ratio, severity

probability = st.floats(min_value=0, max_value=1)
weight = st.floats(min_value=0, max_value=3)
count = st.integers(min_value=0, max_value=10**9)
growth = st.floats(min_value=0, max_value=1000)
# the machines are shared: a slow draw is not a failure
relaxed = settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)


def test_documented_examples():
    assert severity(p_negative=0.1, topic_weight=0, reach=99, author_followers=99) == 3.73
    assert severity(p_negative=0.8, topic_weight=1, reach=99, author_followers=99) == 45.56
    assert severity(p_negative=0.9, topic_weight=3, reach=99_999, author_followers=99_999, growth=3) == 96.73


def test_bounds():
    assert severity(p_negative=0, topic_weight=3, reach=10**9, author_followers=10**9, growth=100) == 0.0
    top = severity(p_negative=1, topic_weight=3, reach=10**12, author_followers=10**12, verified=True, growth=10**6)
    assert top == 100.0
    # inputs out of range are clipped, not extrapolated
    assert severity(p_negative=2, topic_weight=9, reach=-5, author_followers=-5) == severity(
        p_negative=1, topic_weight=3, reach=0, author_followers=0
    )


@relaxed
@given(probability, probability, weight, count, count, growth)
def test_more_negative_never_scores_lower(p1, p2, topic, reach, followers, g):
    low, high = sorted((p1, p2))
    args = {"topic_weight": topic, "reach": reach, "author_followers": followers, "growth": g}
    assert severity(p_negative=low, **args) <= severity(p_negative=high, **args)


@relaxed
@given(probability, weight, weight, count, count, growth)
def test_heavier_topic_never_scores_lower(p, t1, t2, reach, followers, g):
    low, high = sorted((t1, t2))
    args = {"p_negative": p, "reach": reach, "author_followers": followers, "growth": g}
    assert severity(topic_weight=low, **args) <= severity(topic_weight=high, **args)


@relaxed
@given(probability, weight, count, count, count, growth)
def test_more_reach_never_scores_lower(p, topic, r1, r2, followers, g):
    low, high = sorted((r1, r2))
    args = {"p_negative": p, "topic_weight": topic, "author_followers": followers, "growth": g}
    assert severity(reach=low, **args) <= severity(reach=high, **args)


@relaxed
@given(probability, weight, count, count, count, growth)
def test_bigger_author_never_scores_lower(p, topic, reach, f1, f2, g):
    low, high = sorted((f1, f2))
    args = {"p_negative": p, "topic_weight": topic, "reach": reach, "growth": g}
    assert severity(author_followers=low, **args) <= severity(author_followers=high, **args)
    assert severity(author_followers=low, **args) <= severity(author_followers=low, verified=True, **args)


@relaxed
@given(probability, weight, count, count, growth, growth)
def test_faster_growth_never_scores_lower(p, topic, reach, followers, g1, g2):
    low, high = sorted((g1, g2))
    args = {"p_negative": p, "topic_weight": topic, "reach": reach, "author_followers": followers}
    assert severity(growth=low, **args) <= severity(growth=high, **args)


def test_negative_crisis_outranks_viral_praise():
    praise = severity(p_negative=0.02, topic_weight=0, reach=5_000_000, author_followers=3_000_000, verified=True)
    crisis = severity(p_negative=0.9, topic_weight=3, reach=2_000, author_followers=800, growth=4)
    assert (praise, crisis) == (1.64, 95.02)


def test_growth_ratio():
    assert growth_ratio(1, 0) == 0.0
    assert growth_ratio(10, 0) == 9.0
    assert growth_ratio(20, 5) == 3.0
    assert growth_ratio(3, 6) == 0.0
