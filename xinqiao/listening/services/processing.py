"""Run the pipeline over stored mentions and persist what it finds.

``mentions_process`` loads unprocessed mentions in posting order, runs the pure ``run_batch`` over chunks, joins
each chunk's near-duplicate clusters to the stored ones through ``LshBucket`` rows (one query per chunk), writes
every result with bulk statements, keeps ``MentionCluster`` aggregates (size, reach, negatives, growth,
severity, representative) and ``MentionEntity`` rows current, and finally hands the processed mentions to the
alert rules. Each chunk is one transaction; processed mentions are skipped on a rerun, so a retried task or two
workers on the same batch do no double work (the rows are locked with ``select_for_update`` on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Max, Min, Q, Sum
from django.utils import timezone

from xinqiao.listening.lexicon import pipeline_context
from xinqiao.listening.models import LshBucket, Mention, MentionCluster, MentionEntity, Sentiment
from xinqiao.listening.pipeline import dedup
from xinqiao.listening.pipeline.run import MentionResult, PipelineContext, run_batch
from xinqiao.listening.pipeline.severity import growth_ratio, severity

DEFAULT_BATCH_SIZE = 1_000
# Bucket rows are written for the first members of a cluster only: later copies match those anyway, and a viral
# cluster of 50,000 reposts must not cost 800,000 bucket rows.
BUCKET_MEMBERS = 5
KEY_CHUNK = 900  # SQLite allows at most 999 parameters in older builds
CHUNK_ATTEMPTS = 3  # a chunk whose clusters another worker merged meanwhile is processed again (ClustersChanged)

logger = logging.getLogger(__name__)
HOUR = dt.timedelta(hours=1)
TITLE_CHARS = 60

LOAD_FIELDS = (
    "pk",
    "hospital_id",
    "platform",
    "external_id",
    "parent_external_id",
    "text",
    "posted_at",
    "author_followers",
    "is_verified_author",
    "likes",
    "reposts",
    "comments",
    "cluster_id",
)
UPDATE_FIELDS = [
    "normalised_text",
    "sentiment",
    "p_negative",
    "p_neutral",
    "p_positive",
    "topics",
    "entities",
    "minhash",
    "cluster",
    "severity",
    "processed_at",
]


@dataclass
class ProcessStats:
    mentions: int = 0
    clusters_created: int = 0
    clusters_joined: int = 0
    clusters_merged: int = 0
    chunks: int = 0


def _chunks(items: Sequence[Any], size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def mentions_process(
    *,
    hospital_id: int,
    mention_ids: Sequence[int] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    reprocess: bool = False,
    notify: bool = True,
) -> ProcessStats:
    """Process the hospital's unprocessed mentions (or these ones; ``reprocess`` also redoes processed ones,
    keeping their clusters). Returns counts; then the alert rules see the processed mentions (``notify``)."""
    from xinqiao.listening.services.alerts import alerts_after_processing

    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    queryset = Mention.objects.filter(hospital_id=hospital_id)
    if mention_ids is not None:
        queryset = queryset.filter(pk__in=list(mention_ids))
    if not reprocess:
        queryset = queryset.filter(processed_at__isnull=True)
    ids = list(queryset.order_by("posted_at", "pk").values_list("pk", flat=True))
    stats = ProcessStats()
    if not ids:
        return stats
    context = pipeline_context(hospital_id)
    processed: list[int] = []
    for chunk in _chunks(ids, batch_size):
        for attempt in range(1, CHUNK_ATTEMPTS + 1):
            try:
                processed.extend(_process_chunk(hospital_id, list(chunk), context, stats, reprocess=reprocess))
            except ClustersChanged:
                if attempt == CHUNK_ATTEMPTS:
                    raise
                logger.info("clusters merged by another worker while a chunk was processed: processing it again")
            else:
                break
    if notify and processed:
        alerts_after_processing(hospital_id=hospital_id, mention_ids=processed)
    return stats


def _records(mentions: list[Mention]) -> list[dict[str, Any]]:
    return [
        {
            "id": mention.pk,
            "platform": mention.platform,
            "external_id": mention.external_id,
            "parent_external_id": mention.parent_external_id,
            "text": mention.text,
            "posted_at": mention.posted_at,
            "author_followers": mention.author_followers,
            "is_verified_author": mention.is_verified_author,
            "likes": mention.likes,
            "reposts": mention.reposts,
            "comments": mention.comments,
        }
        for mention in mentions
    ]


def _known_buckets(hospital_id: int, results: list[MentionResult]) -> dict[int, list[tuple[int, bytes]]]:
    keys = sorted({key for result in results for key in result.band_keys})
    known: dict[int, list[tuple[int, bytes]]] = {}
    for part in _chunks(keys, KEY_CHUNK):
        rows = LshBucket.objects.filter(hospital_id=hospital_id, band_key__in=part).values_list(
            "band_key", "cluster_id", "mention__minhash"
        )
        for band_key, cluster_id, signature in rows:
            if signature:
                known.setdefault(band_key, []).append((cluster_id, bytes(signature)))
    return known


class ClustersChanged(Exception):  # noqa: N818 - a retry signal inside this module
    """A cluster this chunk joins was merged away by another worker after the chunk read the bucket rows."""


def _lock_clusters(cluster_ids: set[int]) -> None:
    """Lock the stored clusters the chunk joins (in id order, so concurrent chunks take them in the same order) and
    make sure they all still exist: another worker may have merged one away since the buckets were read, and
    mentions pointing at it could not commit. The chunk is then rolled back and processed again."""
    wanted = sorted(cluster_ids)
    if not wanted:
        return
    found = MentionCluster.objects.select_for_update().filter(pk__in=wanted).order_by("pk").values_list("pk", flat=True)
    if len(list(found)) != len(wanted):
        raise ClustersChanged


def _merge_clusters(merges: dict[int, int]) -> None:
    """Fold each absorbed cluster into its survivor (``dedup.attach_and_merge``): members and bucket rows move, the
    survivor's topics gain the absorbed ones, alerts and crisis cases that named an absorbed cluster name the
    survivor, and the absorbed rows go. The caller recomputes the survivor's aggregates from its members."""
    from xinqiao.listening.models import Alert, CrisisCase

    ids = sorted(set(merges) | set(merges.values()))
    locked = MentionCluster.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    clusters = {cluster.pk: cluster for cluster in locked}
    for absorbed, survivor in merges.items():
        if absorbed not in clusters or survivor not in clusters:
            continue
        Mention.objects.filter(cluster_id=absorbed).update(cluster_id=survivor)
        LshBucket.objects.filter(cluster_id=absorbed).update(cluster_id=survivor)
        clusters[survivor].topics = sorted(set(clusters[survivor].topics or []) | set(clusters[absorbed].topics or []))
    for survivor in sorted(set(merges.values()) & set(clusters)):
        clusters[survivor].save(update_fields=["topics"])
    for through, owner in ((Alert.clusters.through, "alert_id"), (CrisisCase.clusters.through, "crisiscase_id")):
        links = through.objects.filter(mentioncluster_id__in=list(merges)).values_list(owner, "mentioncluster_id")
        through.objects.bulk_create(
            [through(**{owner: owner_id, "mentioncluster_id": merges[cluster_id]}) for owner_id, cluster_id in links],
            ignore_conflicts=True,
        )
    MentionCluster.objects.filter(pk__in=list(merges)).delete()  # their remaining links go with them


def _parent_clusters(hospital_id: int, mentions: list[Mention]) -> dict[tuple[str, str], int]:
    """Clusters of stored parents named by this chunk's reposts (parents outside the chunk)."""
    in_chunk = {(mention.platform, mention.external_id) for mention in mentions}
    wanted: dict[str, set[str]] = {}
    for mention in mentions:
        key = (mention.platform, mention.parent_external_id)
        if mention.parent_external_id and key not in in_chunk:
            wanted.setdefault(mention.platform, set()).add(mention.parent_external_id)
    found: dict[tuple[str, str], int] = {}
    for platform, external_ids in wanted.items():
        for part in _chunks(sorted(external_ids), KEY_CHUNK):
            rows = Mention.objects.filter(
                hospital_id=hospital_id, platform=platform, external_id__in=part, cluster__isnull=False
            ).values_list("external_id", "cluster_id")
            for external_id, cluster_id in rows:
                found[(platform, external_id)] = cluster_id
    return found


@dataclass
class _Aggregate:
    size: int = 0
    negative: int = 0
    reach: int = 0
    p_negative_sum: float = 0.0
    max_followers: int = 0
    verified: bool = False
    first: dt.datetime | None = None
    last: dt.datetime | None = None

    def add(self, *, count: int, negative: int, reach: int, p_negative_sum: float, max_followers: int,
            verified: bool, first: dt.datetime | None, last: dt.datetime | None) -> None:  # fmt: skip
        self.size += count
        self.negative += negative
        self.reach += reach
        self.p_negative_sum += p_negative_sum
        self.max_followers = max(self.max_followers, max_followers)
        self.verified = self.verified or verified
        if first is not None:
            self.first = first if self.first is None else min(self.first, first)
        if last is not None:
            self.last = last if self.last is None else max(self.last, last)


def _process_chunk(
    hospital_id: int, ids: list[int], context: PipelineContext, stats: ProcessStats, *, reprocess: bool
) -> list[int]:
    with transaction.atomic():
        queryset = Mention.objects.filter(pk__in=ids)
        if not reprocess:
            queryset = queryset.filter(processed_at__isnull=True)
        mentions = list(queryset.select_for_update(of=("self",)).only(*LOAD_FIELDS).order_by("posted_at", "pk"))
        if not mentions:
            return []
        results = run_batch(_records(mentions), context)
        now = timezone.now()

        # 1. clusters: keep existing assignments, join stored clusters, create the rest
        fresh = [index for index, mention in enumerate(mentions) if mention.cluster_id is None]
        known = _known_buckets(hospital_id, [results[index] for index in fresh])
        attached, merges = dedup.attach_and_merge([dedup_item(results[index]) for index in fresh], known)
        if merges:
            _merge_clusters(merges)
            for mention in mentions:  # a reprocessed member of an absorbed cluster
                mention.cluster_id = merges.get(mention.cluster_id, mention.cluster_id)
        parents = _parent_clusters(hospital_id, [mentions[index] for index in fresh])
        _lock_clusters({*attached.values(), *parents.values(), *(m.cluster_id for m in mentions if m.cluster_id)})
        stats.clusters_merged += len(merges)
        for index in fresh:
            mention = mentions[index]
            parent_cluster = parents.get((mention.platform, mention.parent_external_id))
            local = results[index].local_cluster
            if parent_cluster is not None and local not in attached:
                attached[local] = parent_cluster
        new_roots = sorted({results[index].local_cluster for index in fresh} - set(attached))
        created = MentionCluster.objects.bulk_create(
            [
                MentionCluster(
                    hospital_id=hospital_id,
                    representative_id=mentions[root].pk,
                    title=mentions[root].text.replace("\n", " ")[:TITLE_CHARS],
                    first_seen_at=mentions[root].posted_at,
                    last_seen_at=mentions[root].posted_at,
                    updated_at=now,
                )
                for root in new_roots
            ]
        )
        cluster_of_root = dict(attached)
        cluster_of_root.update({root: cluster.pk for root, cluster in zip(new_roots, created, strict=True)})
        stats.clusters_created += len(created)
        stats.clusters_joined += len(set(attached.values()))
        cluster_ids = [
            mention.cluster_id if mention.cluster_id is not None else cluster_of_root[results[index].local_cluster]
            for index, mention in enumerate(mentions)
        ]

        # 2. cluster aggregates: stored members (outside this chunk) + this chunk, growth at the latest post
        affected = sorted(set(cluster_ids))
        clusters = {cluster.pk: cluster for cluster in MentionCluster.objects.filter(pk__in=affected)}
        aggregates = {pk: _Aggregate() for pk in affected}
        chunk_ids = [mention.pk for mention in mentions]
        stored_members = (
            Mention.objects.filter(cluster_id__in=affected)
            .exclude(pk__in=chunk_ids)
            .values("cluster_id")
            .annotate(
                count=Count("pk"),
                negative=Count("pk", filter=Q(sentiment=Sentiment.NEGATIVE)),
                reach=Sum(F("author_followers") + F("likes") + F("reposts") + F("comments")),
                p_negative_sum=Sum("p_negative"),
                max_followers=Max("author_followers"),
                verified=Count("pk", filter=Q(is_verified_author=True)),
                first=Min("posted_at"),
                last=Max("posted_at"),
            )
        )
        for row in stored_members:
            aggregates[row["cluster_id"]].add(
                count=row["count"], negative=row["negative"], reach=int(row["reach"] or 0),
                p_negative_sum=float(row["p_negative_sum"] or 0.0), max_followers=int(row["max_followers"] or 0),
                verified=bool(row["verified"]), first=row["first"], last=row["last"],
            )  # fmt: skip
        prior_size = {pk: aggregates[pk].size for pk in affected}
        topics_of: dict[int, set[str]] = {pk: set(clusters[pk].topics or []) for pk in affected}
        for mention, result, cluster_id in zip(mentions, results, cluster_ids, strict=True):
            aggregates[cluster_id].add(
                count=1, negative=int(result.sentiment == Sentiment.NEGATIVE), reach=result.reach,
                p_negative_sum=result.p_negative, max_followers=mention.author_followers,
                verified=mention.is_verified_author, first=mention.posted_at, last=mention.posted_at,
            )  # fmt: skip
            topics_of[cluster_id].update(result.topics)
        growth = _growth(affected, aggregates, mentions, cluster_ids)

        # 3. mentions
        for mention, result, cluster_id in zip(mentions, results, cluster_ids, strict=True):
            mention.normalised_text = result.normalised_text
            mention.sentiment = result.sentiment
            mention.p_negative = result.p_negative
            mention.p_neutral = result.p_neutral
            mention.p_positive = result.p_positive
            mention.topics = result.topics
            mention.entities = result.entities
            mention.minhash = result.signature
            mention.cluster_id = cluster_id
            mention.severity = severity(
                p_negative=result.p_negative, topic_weight=result.topic_weight, reach=result.reach,
                author_followers=mention.author_followers, verified=mention.is_verified_author,
                growth=growth[cluster_id],
            )  # fmt: skip
            mention.processed_at = now
        bulk_set(Mention, mentions, UPDATE_FIELDS)

        # 4. clusters
        lexicon = context.lexicon
        for pk in affected:
            cluster, aggregate = clusters[pk], aggregates[pk]
            cluster.size = aggregate.size
            cluster.negative_count = aggregate.negative
            cluster.total_reach = aggregate.reach
            cluster.first_seen_at = aggregate.first or cluster.first_seen_at
            cluster.last_seen_at = aggregate.last or cluster.last_seen_at
            cluster.topics = sorted(topics_of[pk])
            cluster.growth = growth[pk]
            cluster.severity = severity(
                p_negative=aggregate.p_negative_sum / max(1, aggregate.size),
                topic_weight=lexicon.weight_of(cluster.topics),
                reach=aggregate.reach,
                author_followers=aggregate.max_followers,
                verified=aggregate.verified,
                growth=growth[pk],
            )
            cluster.updated_at = now
        bulk_set(
            MentionCluster,
            list(clusters.values()),
            ["size", "negative_count", "total_reach", "first_seen_at", "last_seen_at", "topics", "growth",
             "severity", "updated_at"],
        )  # fmt: skip

        # 5. LSH buckets for the first members of each cluster, entity rows
        fresh_indexes = set(fresh)
        seen_in_chunk: dict[int, int] = {}
        stamp = connection.ops.adapt_datetimefield_value(now)
        buckets: list[tuple] = []
        for index, (mention, result) in enumerate(zip(mentions, results, strict=True)):
            cluster_id = cluster_ids[index]
            position = prior_size[cluster_id] + seen_in_chunk.get(cluster_id, 0)
            seen_in_chunk[cluster_id] = seen_in_chunk.get(cluster_id, 0) + 1
            if index not in fresh_indexes or result.signature is None or position >= BUCKET_MEMBERS:
                continue
            buckets.extend((hospital_id, key, cluster_id, mention.pk, stamp) for key in result.band_keys)
        insert_rows(LshBucket, ["hospital_id", "band_key", "cluster_id", "mention_id", "created_at"], buckets)
        if reprocess:
            MentionEntity.objects.filter(mention_id__in=chunk_ids).delete()
        insert_rows(
            MentionEntity,
            ["hospital_id", "mention_id", "entity_key", "posted_at", "is_negative"],
            [
                (hospital_id, mention.pk, key, connection.ops.adapt_datetimefield_value(mention.posted_at),
                 mention.sentiment == Sentiment.NEGATIVE)
                for mention in mentions
                for key in mention.entities
            ],
            ignore_conflicts=True,
        )  # fmt: skip
        stats.mentions += len(mentions)
        stats.chunks += 1
        return chunk_ids


def insert_rows(model, columns: Sequence[str], rows: Sequence[tuple], *, ignore_conflicts: bool = False) -> None:
    """Plain ``INSERT … VALUES`` of prepared tuples (``executemany``): ``bulk_create`` builds a model instance and
    prepares every value of every row, which was most of the processing time for bucket and entity rows."""
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(model._meta.get_field(column).column) for column in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    with connection.cursor() as cursor:
        for part in _chunks(list(rows), 2_000):
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders}){conflict}", part)  # noqa: S608


def bulk_set(model, objects: Sequence[Any], field_names: Sequence[str], *, batch_size: int = 400) -> None:
    """``UPDATE … SET … FROM (VALUES …) WHERE pk = …``: one statement per batch on SQLite (≥ 3.33) and
    PostgreSQL. Django's ``bulk_update`` builds one CASE expression per field and row, which costs about 15 ms
    per mention here; this costs well under 1 ms."""
    if not objects:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    pk_column = connection.ops.quote_name(model._meta.pk.column)
    fields = [model._meta.get_field(name) for name in field_names]
    postgres = connection.vendor == "postgresql"
    assignments = []
    for position, field in enumerate(fields, start=2):
        value = f"v.column{position}"
        if postgres:
            value = f"CAST({value} AS {field.db_type(connection)})"
        assignments.append(f"{connection.ops.quote_name(field.column)} = {value}")
    row_sql = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
    # on PostgreSQL the first row fixes the VALUES column types: a typed placeholder keeps ids numeric
    first_row = "(" + ", ".join(["%s::bigint"] + ["%s"] * len(fields)) + ")" if postgres else row_sql
    with connection.cursor() as cursor:
        for part in _chunks(list(objects), batch_size):
            params: list[Any] = []
            for obj in part:
                params.append(obj.pk)
                for field in fields:
                    params.append(field.get_db_prep_save(getattr(obj, field.attname), connection))
            values = ", ".join([first_row] + [row_sql] * (len(part) - 1))
            cursor.execute(
                f"UPDATE {table} SET {', '.join(assignments)} FROM (VALUES {values}) AS v "  # noqa: S608 - names are ours
                f"WHERE {table}.{pk_column} = v.column1",
                params,
            )


def dedup_item(result: MentionResult) -> dedup.DedupItem:
    return dedup.DedupItem(result.signature, result.band_keys, result.local_cluster)


def _growth(
    affected: list[int], aggregates: dict[int, _Aggregate], mentions: list[Mention], cluster_ids: list[int]
) -> dict[int, float]:
    """Growth of each cluster at its latest post: the last hour against the hour before."""
    growth = dict.fromkeys(affected, 0.0)
    multi = [pk for pk in affected if aggregates[pk].size > 1]
    if not multi:
        return growth
    times: dict[int, list[dt.datetime]] = {pk: [] for pk in multi}
    earliest = min(aggregates[pk].last for pk in multi) - 2 * HOUR
    chunk_ids = [mention.pk for mention in mentions]
    for part in _chunks(multi, KEY_CHUNK):
        rows = (
            Mention.objects.filter(cluster_id__in=part, posted_at__gte=earliest)
            .exclude(pk__in=chunk_ids)
            .values_list("cluster_id", "posted_at")
        )
        for cluster_id, posted_at in rows:
            times[cluster_id].append(posted_at)
    for mention, cluster_id in zip(mentions, cluster_ids, strict=True):
        if cluster_id in times:
            times[cluster_id].append(mention.posted_at)
    for pk in multi:
        last = aggregates[pk].last
        recent = sum(1 for moment in times[pk] if last - moment < HOUR)
        before = sum(1 for moment in times[pk] if HOUR <= last - moment < 2 * HOUR)
        growth[pk] = growth_ratio(recent, before)
    return growth
