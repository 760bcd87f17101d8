"""Stage 6: the severity score (0–100) of a mention or a cluster. Pure; documented in docs/listening-pipeline.md.

    x        = N · (T0 + T1·T) · (E0 + ER·R + EI·I + EG·G)
    severity = 100 · (1 − e^(−x))

with
    N  negativity: the probability of negative sentiment (a cluster: the mean over its members);
    T  topic weight: the largest weight of the crisis topics hit (lexicon weights, 0 when none, capped at 3);
    R  reach: log10(1 + followers + likes + reposts + comments) (a cluster: of its total reach);
    I  author influence: log10(1 + author followers), + 1 for a verified author (a cluster: its largest);
    G  cluster growth: log2(1 + g), g = max(0, n_last / max(1, n_prev) − 1), n_last and n_prev the cluster's
       mentions in its last hour and in the hour before (a lone mention: g = 0; 10 new in an hour: g = 9).

Why this shape: negativity multiplies everything (praise that reaches millions is not a crisis); a crisis topic
scales it (T0 = 0.5 for none up to 2.0 for the weightiest topic); exposure (reach, influence, growth) adds up
because any one of them can make a story spread; the exponential saturation keeps the score in 0–100 and makes
it monotone in every input, so sorting by severity never puts a less negative, less reached, slower story above an
otherwise identical one (tested as properties).

Examples (rounded): a neutral 科普 repost (N 0.1, no topic, R 2, I 2) scores 4; a negative complaint about
waiting (N 0.8, T 1, R 2, I 2, G 0) scores 46; a fast-growing medical-accident story from a big account
(N 0.9, T 3, R 5, I 5, G 2) scores 97.
"""

from __future__ import annotations

import math

T0 = 0.5
T1 = 0.5
E0 = 0.4
ER = 0.12
EI = 0.06
EG = 0.3
TOPIC_WEIGHT_CAP = 3.0


def reach_score(reach: int | float) -> float:
    return math.log10(1.0 + max(0.0, float(reach)))


def influence_score(followers: int | float, *, verified: bool = False) -> float:
    return math.log10(1.0 + max(0.0, float(followers))) + (1.0 if verified else 0.0)


def growth_score(growth: float) -> float:
    return math.log2(1.0 + max(0.0, float(growth)))


def severity(
    *,
    p_negative: float,
    topic_weight: float,
    reach: int | float,
    author_followers: int | float,
    verified: bool = False,
    growth: float = 0.0,
) -> float:
    """The score of one mention (or a cluster, with the cluster's aggregates as inputs), rounded to 0.01."""
    negativity = min(1.0, max(0.0, float(p_negative)))
    topic = min(TOPIC_WEIGHT_CAP, max(0.0, float(topic_weight)))
    exposure = (
        E0
        + ER * reach_score(reach)
        + EI * influence_score(author_followers, verified=verified)
        + EG * growth_score(growth)
    )
    x = negativity * (T0 + T1 * topic) * exposure
    return round(100.0 * (1.0 - math.exp(-x)), 2)


def growth_ratio(last_hour: int, previous_hour: int) -> float:
    """Relative increase of the last hour over the hour before: 0 for a lone mention or a steady cluster."""
    return max(0.0, float(last_hour) / float(max(1, previous_hour)) - 1.0)
