"""Listening pipeline throughput: the batch ``run_batch`` against a naive per-mention pipeline, plus the persisting path.

Ours: ``xinqiao.listening.pipeline.run.run_batch`` over batches of 1,000 generated mentions (normalise → entities →
dedup → sentiment → topics → severity), CPU seconds of this one process (i.e. one core), 100,000 mentions
(``--quick``: 5,000). Mentions come from ``xinqiao.listening.generator`` (platform mix, praise/complaints/news,
reposts and copy-paste, emoji, URLs, traditional characters, heavy-tailed reach) plus a 2,000-mention crisis.

Baseline "naive per-mention pipeline": what a straightforward implementation does for each mention on its own —
the same normaliser called per text, one ``str.find`` loop per name for entities and one ``in`` test per keyword for
topics, a ``datasketch.MinHash`` built with its default SHA-1 hashing of the same shingles and a
``datasketch.MinHashLSH`` (16 × 4 bands) queried and inserted per mention, the same sentiment model called with one
text at a time, the same severity function. It is measured on a 10,000-mention prefix (``--quick``: 1,000) of the
same data (its cost per mention does not depend on the total), and the ratio compares mentions per second.

Persisting path: ``services.processing.mentions_process`` (load, run_batch, cross-batch LSH lookup, bulk writes of
mentions, clusters, buckets and entity rows; alert rules not included) for 10,000 mentions (``--quick``: 2,000) of a
dedicated bench hospital, against a per-mention ORM baseline (``run_batch`` on one mention, ``save()`` of the
mention, a cluster and its entity rows) on 500 mentions (``--quick``: 200).

Run standalone (``python bench/listening_pipeline.py [--quick]``: pure part only, no database) or through
``bench/run.py`` (adds the persisting path on the bench database).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HOSPITAL = "心桥市第一人民医院"
HOSPITAL_ALIASES = ["心桥一院", "市一院", "一院"]
DEPARTMENTS = ["心内科", "儿科", "内分泌科", "骨科", "妇产科", "急诊科", "神经内科", "呼吸内科", "消化内科", "眼科",
               "皮肤科", "口腔科", "肿瘤科", "泌尿外科", "普外科", "康复医学科", "感染科", "中医科", "麻醉科", "检验科"]  # fmt: skip
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["建国", "芳", "伟", "敏", "静", "丽", "强", "磊", "军", "洋"]
BATCH = 1_000
START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 3, 31, tzinfo=dt.UTC)


def doctor_names() -> list[str]:
    return [f"{surname}{given}" for surname in SURNAMES for given in GIVEN[:3]]


def build_context():
    from xinqiao.listening.lexicon import default_topics
    from xinqiao.listening.pipeline.entities import name_table
    from xinqiao.listening.pipeline.run import PipelineContext
    from xinqiao.listening.pipeline.topics import lexicon_from

    pairs = [(HOSPITAL, "hospital")] + [(alias, "hospital") for alias in HOSPITAL_ALIASES]
    pairs += [(name, f"department:{index}") for index, name in enumerate(DEPARTMENTS, start=1)]
    pairs += [(name, f"doctor:{index}") for index, name in enumerate(doctor_names(), start=1)]
    lexicon = lexicon_from((t["code"], t["name"], t["weight"], t["keywords"]) for t in default_topics())
    return PipelineContext(hospital_id=1, names=name_table(pairs), lexicon=lexicon)


def generate(count: int, seed: int = 2026) -> list[dict[str, Any]]:
    from xinqiao.listening.generator import generate_mentions

    crisis = {"at": START + dt.timedelta(days=20), "mentions": min(2_000, count // 20), "topic": "malpractice"}
    return generate_mentions(count, seed=seed, hospital_name=HOSPITAL, department_names=DEPARTMENTS,
                             doctor_names=doctor_names(), start=START, end=END, crisis=crisis)  # fmt: skip


class NaivePipeline:
    """Per-mention processing with library defaults (see the module docstring)."""

    def __init__(self, context) -> None:
        from datasketch import MinHashLSH

        from xinqiao.listening.pipeline import dedup

        self.names = list(context.names.names)
        self.topics = [(topic.code, topic.weight, topic.keywords) for topic in context.lexicon.topics]
        self.lsh = MinHashLSH(num_perm=dedup.NUM_PERM, params=(dedup.BANDS, dedup.ROWS))
        self.count = 0

    def process(self, record: dict[str, Any]) -> dict[str, Any]:
        from datasketch import MinHash

        from xinqiao.listening.pipeline import dedup, sentiment
        from xinqiao.listening.pipeline.normalise import normalise_text
        from xinqiao.listening.pipeline.run import reach_of
        from xinqiao.listening.pipeline.severity import severity

        text = normalise_text(record["text"]).text
        entities = []
        for name, key in self.names:
            start = text.find(name)
            while start != -1:
                entities.append((key, start, start + len(name)))
                start = text.find(name, start + 1)
        topics = [(code, weight) for code, weight, keywords in self.topics if any(k in text for k in keywords)]
        cleaned = dedup.clean(text)
        cluster = None
        if len(cleaned) >= dedup.MIN_CHARS:
            minhash = MinHash(num_perm=dedup.NUM_PERM)
            minhash.update_batch([cleaned[i : i + dedup.SHINGLE].encode() for i in range(len(cleaned) - 2)])
            candidates = self.lsh.query(minhash)
            cluster = candidates[0] if candidates else self.count
            self.lsh.insert(self.count, minhash)
        self.count += 1
        p_negative, _neutral, _positive = sentiment.predict_proba([text])[0]
        weight = max((w for _code, w in topics), default=0.0)
        score = severity(p_negative=float(p_negative), topic_weight=weight, reach=reach_of(record),
                         author_followers=record["author_followers"], verified=record["is_verified_author"])  # fmt: skip
        return {"entities": entities, "topics": topics, "cluster": cluster, "severity": score}


def pure_rates(mentions: list[dict[str, Any]], baseline_count: int) -> dict[str, Any]:
    from xinqiao.listening.pipeline.run import run_batch

    context = build_context()
    run_batch(mentions[:200], context)  # build automata, load the sentiment model: not timed
    cpu, wall = time.process_time(), time.perf_counter()
    results = []
    for start in range(0, len(mentions), BATCH):
        results.extend(run_batch(mentions[start : start + BATCH], context))
    ours_cpu, ours_wall = time.process_time() - cpu, time.perf_counter() - wall

    naive = NaivePipeline(context)
    naive.process(mentions[0])
    naive = NaivePipeline(context)
    subset = mentions[:baseline_count]
    cpu = time.process_time()
    for record in subset:
        naive.process(record)
    naive_cpu = time.process_time() - cpu

    clusters: dict[tuple[int, int], int] = {}
    for start in range(0, len(results), BATCH):
        for result in results[start : start + BATCH]:
            key = (start, result.local_cluster)
            clusters[key] = clusters.get(key, 0) + 1
    return {
        "mentions": len(mentions),
        "ours_per_second": len(mentions) / ours_cpu,
        "ours_wall_per_second": len(mentions) / ours_wall,
        "naive_mentions": len(subset),
        "naive_per_second": len(subset) / naive_cpu,
        "with_entities": sum(1 for result in results if result.entities),
        "with_topics": sum(1 for result in results if result.topics),
        "negative": sum(1 for result in results if result.sentiment == "negative"),
        "in_batch_clusters": len(clusters),
        "largest_in_batch_cluster": max(clusters.values()),
    }


def persisting_rates(mentions: list[dict[str, Any]], naive_count: int) -> dict[str, Any]:
    """mentions_process on the bench database for a dedicated hospital, and a per-mention ORM baseline."""
    from django.db import transaction

    from xinqiao.core.models import Department, Doctor, Hospital
    from xinqiao.listening.lexicon import crisis_topics_install_defaults, pipeline_context
    from xinqiao.listening.models import LshBucket, Mention, MentionBatch, MentionCluster, MentionEntity
    from xinqiao.listening.pipeline.run import run_batch
    from xinqiao.listening.services.ingest import MAX_FILE_ROWS, mentions_ingest
    from xinqiao.listening.services.processing import mentions_process

    hospital, _created = Hospital.objects.get_or_create(
        code="bench-listening", defaults={"name": HOSPITAL, "short_name": "一院", "aliases": HOSPITAL_ALIASES}
    )
    for index, name in enumerate(DEPARTMENTS):
        Department.objects.get_or_create(hospital=hospital, name=name, defaults={"code": f"d{index}"})
    if not Doctor.objects.filter(hospital=hospital).exists():
        Doctor.objects.bulk_create(Doctor(hospital=hospital, name=name, title="attending") for name in doctor_names())
    crisis_topics_install_defaults(hospital)

    def reset() -> None:
        LshBucket.objects.filter(hospital=hospital).delete()
        MentionEntity.objects.filter(hospital=hospital).delete()
        Mention.objects.filter(hospital=hospital).delete()
        MentionCluster.objects.filter(hospital=hospital).delete()
        MentionBatch.objects.filter(hospital=hospital).delete()

    reset()
    for start in range(0, len(mentions), MAX_FILE_ROWS):
        part = mentions[start : start + MAX_FILE_ROWS]
        mentions_ingest(hospital=hospital, source="seed", rows=list(enumerate(part, start=1)), limit=MAX_FILE_ROWS,
                        process=False)  # fmt: skip
    started, cpu = time.perf_counter(), time.process_time()
    stats = mentions_process(hospital_id=hospital.pk, notify=False)
    ours, ours_cpu = time.perf_counter() - started, time.process_time() - cpu
    clusters = MentionCluster.objects.filter(hospital=hospital).count()
    buckets = LshBucket.objects.filter(hospital=hospital).count()

    # baseline: the same mentions again, unprocessed, one at a time through the ORM
    subset = list(Mention.objects.filter(hospital=hospital).order_by("posted_at", "pk")[:naive_count])
    context = pipeline_context(hospital.pk)
    started, cpu = time.perf_counter(), time.process_time()
    for mention in subset:
        with transaction.atomic():
            record = {name: getattr(mention, name) for name in ("platform", "external_id", "parent_external_id",
                      "text", "posted_at", "author_followers", "is_verified_author", "likes", "reposts", "comments")}  # fmt: skip
            result = run_batch([record], context)[0]
            cluster = MentionCluster.objects.create(hospital=hospital, first_seen_at=mention.posted_at,
                                                    last_seen_at=mention.posted_at, size=1)  # fmt: skip
            mention.sentiment, mention.p_negative, mention.topics = result.sentiment, result.p_negative, result.topics
            mention.entities, mention.severity, mention.cluster = result.entities, result.severity, cluster
            mention.normalised_text, mention.minhash = result.normalised_text, result.signature
            mention.save()
            for key in result.entities:
                MentionEntity.objects.update_or_create(
                    mention=mention,
                    entity_key=key,
                    defaults={
                        "hospital": hospital,
                        "posted_at": mention.posted_at,
                        "is_negative": result.sentiment == "negative",
                    },
                )
    naive, naive_cpu = time.perf_counter() - started, time.process_time() - cpu
    reset()
    return {
        "mentions": stats.mentions,
        "ours_per_second": stats.mentions / ours,
        "ours_cpu_per_second": stats.mentions / ours_cpu,
        "clusters": clusters,
        "lsh_buckets": buckets,
        "naive_mentions": len(subset),
        "naive_per_second": len(subset) / naive,
        "naive_cpu_per_second": len(subset) / naive_cpu,
    }


def run(args) -> dict[str, Any]:
    quick = bool(getattr(args, "quick", False))
    total = 5_000 if quick else 100_000
    mentions = generate(total)
    pure = pure_rates(mentions, 1_000 if quick else 10_000)
    results = [
        {
            "case": f"run_batch, whole pipeline, {pure['mentions']:,} mentions in batches of {BATCH}",
            "unit": "mentions/s per core",
            "value": round(pure["ours_per_second"]),
            "baseline": "naive per-mention pipeline (str.find/in loops, datasketch MinHash+MinHashLSH, "
            "one sentiment call per text)",
            "baseline_value": round(pure["naive_per_second"]),
            "ratio": round(pure["ours_per_second"] / pure["naive_per_second"], 1),
            "details": {key: (round(value) if isinstance(value, float) else value) for key, value in pure.items()},
        }
    ]
    notes = [
        f"{total:,} generated mentions (seed 2026, 30 days, crisis of {min(2_000, total // 20):,}); "
        "CPU seconds of one process; the baseline runs on a prefix of the same mentions",
    ]
    if getattr(args, "db", None):
        persisted = persisting_rates(mentions[: 2_000 if quick else 10_000], 200 if quick else 500)
        key, naive_key = ("ours_cpu_per_second", "naive_cpu_per_second") if args.db == "sqlite" else (
            "ours_per_second", "naive_per_second")  # fmt: skip
        results.append(
            {
                "case": f"mentions_process on {args.db}, {persisted['mentions']:,} mentions (bulk writes, LSH buckets)",
                "unit": "mentions/s per core (CPU of the process, SQLite runs in it)"
                if args.db == "sqlite"
                else "mentions/s (wall)",
                "value": round(persisted[key]),
                "baseline": "per-mention ORM path (run_batch on one mention, save(), cluster and entity rows)",
                "baseline_value": round(persisted[naive_key]),
                "ratio": round(persisted[key] / persisted[naive_key], 1),
                "details": {k: (round(v) if isinstance(v, float) else v) for k, v in persisted.items()},
            }
        )
        notes.append("persisting path excludes the alert rules (alerts_after_processing), measured separately")
    return {"title": "Listening pipeline: run_batch vs a naive per-mention pipeline", "results": results,
            "notes": notes}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    print(json.dumps(run(args), ensure_ascii=False))  # noqa: T201 - a script's output


if __name__ == "__main__":
    main()
