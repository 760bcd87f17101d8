"""The whole pipeline over one batch: normalise → entities → dedup → sentiment → topics → severity.

``run_batch(records, context)`` is pure: no ORM, no I/O, no clock. Records are plain dicts, the context is a small
frozen dataclass of tuples, results are plain dataclasses; all of them pickle, so the same function runs in the
web worker (services/processing.py), in the bulk command and, unchanged, inside Spark (``rdd.mapPartitions``) or
Ray (``ray.data.Dataset.map_batches``) over batches of mentions. Automata are built once per process from the
context (cached by fingerprint), so a long-lived executor pays for them once.

Cross-batch clustering needs the stored LSH buckets and is done afterwards by the caller
(:func:`xinqiao.listening.pipeline.dedup.attach_to_known`).

Record keys used: ``text``, ``platform``, ``external_id``, ``parent_external_id``, ``posted_at`` (aware datetime),
``author_followers``, ``is_verified_author``, ``likes``, ``reposts``, ``comments``; ``id`` is passed through.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xinqiao.listening.pipeline import dedup, severity
from xinqiao.listening.pipeline.entities import NameTable, match_batch
from xinqiao.listening.pipeline.normalise import normalise_batch
from xinqiao.listening.pipeline.topics import Lexicon, matcher_for

SENTIMENT_LABELS = ("negative", "neutral", "positive")
HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class PipelineContext:
    hospital_id: int
    names: NameTable
    lexicon: Lexicon


@dataclass(slots=True)
class MentionResult:
    id: Any
    normalised_text: str
    urls: tuple[str, ...]
    emoji: tuple[str, ...]
    entities: list[str]
    entity_matches: list[tuple[str, int, int]]  # (entity key, start, end) in normalised_text
    signature: bytes | None
    band_keys: tuple[int, ...]
    local_cluster: int  # index in the batch of the first mention of its in-batch cluster
    sentiment: str
    p_negative: float
    p_neutral: float
    p_positive: float
    topics: list[str]
    topic_weight: float
    reach: int
    influence_followers: int
    verified: bool
    cluster_growth: float
    severity: float
    extra: dict[str, Any] = field(default_factory=dict)


def reach_of(record: Mapping[str, Any]) -> int:
    return sum(int(record.get(name) or 0) for name in ("author_followers", "likes", "reposts", "comments"))


def predict_sentiment(texts: list[str]):
    """The sentiment model's probabilities (n × 3: negative, neutral, positive), imported when first needed."""
    from xinqiao.listening.pipeline import sentiment

    return sentiment.predict_proba(texts)


def in_batch_growth(local_clusters: Sequence[int], posted: Sequence[dt.datetime]) -> dict[int, float]:
    """Growth of each in-batch cluster: its last hour against the hour before, at the cluster's latest post."""
    latest: dict[int, dt.datetime] = {}
    for cluster, when in zip(local_clusters, posted, strict=True):
        if cluster not in latest or when > latest[cluster]:
            latest[cluster] = when
    last: dict[int, int] = {}
    previous: dict[int, int] = {}
    for cluster, when in zip(local_clusters, posted, strict=True):
        age = latest[cluster] - when
        if age < HOUR:
            last[cluster] = last.get(cluster, 0) + 1
        elif age < 2 * HOUR:
            previous[cluster] = previous.get(cluster, 0) + 1
    return {cluster: severity.growth_ratio(last.get(cluster, 0), previous.get(cluster, 0)) for cluster in latest}


def run_batch(records: Sequence[Mapping[str, Any]], context: PipelineContext) -> list[MentionResult]:
    """Run every stage over a batch; results are in the order of ``records``."""
    if not records:
        return []
    normalised = normalise_batch([str(record.get("text") or "") for record in records])
    texts = [item.text for item in normalised]
    matches = match_batch(texts, context.names)
    clustered = dedup.cluster_batch(
        texts,
        platforms=[str(record.get("platform") or "") for record in records],
        external_ids=[str(record.get("external_id") or "") for record in records],
        parent_external_ids=[str(record.get("parent_external_id") or "") for record in records],
    )
    probabilities = np.asarray(predict_sentiment(texts), dtype=np.float64)
    labels = probabilities.argmax(axis=1).tolist()  # as sentiment.classify: the most probable class
    rows = probabilities.tolist()
    topic_matcher = matcher_for(context.lexicon)
    growth = in_batch_growth([item.local_cluster for item in clustered], [record["posted_at"] for record in records])
    results = []
    for index, record in enumerate(records):
        p_negative, p_neutral, p_positive = rows[index]
        label = SENTIMENT_LABELS[labels[index]]
        topics = topic_matcher.topics(texts[index])
        topic_weight = topic_matcher.weight(topics)
        reach = reach_of(record)
        followers = int(record.get("author_followers") or 0)
        verified = bool(record.get("is_verified_author"))
        cluster = clustered[index]
        cluster_growth = growth[cluster.local_cluster]
        found = matches[index]
        results.append(
            MentionResult(
                id=record.get("id"),
                normalised_text=texts[index],
                urls=normalised[index].urls,
                emoji=normalised[index].emoji,
                entities=sorted({match.key for match in found}),
                entity_matches=[(match.key, match.start, match.end) for match in found],
                signature=cluster.signature,
                band_keys=cluster.band_keys,
                local_cluster=cluster.local_cluster,
                sentiment=label,
                p_negative=p_negative,
                p_neutral=p_neutral,
                p_positive=p_positive,
                topics=topics,
                topic_weight=topic_weight,
                reach=reach,
                influence_followers=followers,
                verified=verified,
                cluster_growth=cluster_growth,
                severity=severity.severity(
                    p_negative=p_negative,
                    topic_weight=topic_weight,
                    reach=reach,
                    author_followers=followers,
                    verified=verified,
                    growth=cluster_growth,
                ),
            )
        )
    return results
