"""Sentiment model speed and accuracy against SnowNLP (``SnowNLP(text).sentiments``), in the same run.

Texts: 100,000 realistic generated hospital mentions (``xinqiao.listening.generator.generate_mentions``, seed 2026;
``--quick``: 5,000). Ours: ``predict_proba`` over all texts in one batch call, artefact already loaded (the load is
timed separately). SnowNLP: one ``SnowNLP(t).sentiments`` per text. If SnowNLP on all texts would take more than
five minutes (estimated from a 200-text warm-up), it is timed on a fixed random sample (seed 2026) of 10,000 of the
same texts (``--quick``: 1,000); the output says so. Both rates are docs per second on one core (CPU seconds of this
single-threaded process); the ratio is ours / SnowNLP.

Accuracy: both models on the two binary dev sets (ours: P(positive) > P(negative); SnowNLP: sentiments > 0.5).
``--quick`` scores SnowNLP on a fixed sample of 500 rows per dev set (ours on the same rows and on all rows).

Run: ``python bench/listening_sentiment.py [--quick] [--mentions N]``; ``run(args) -> dict`` for bench/run.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xinqiao.listening.generator import generate_mentions  # noqa: E402
from xinqiao.listening.pipeline import sentiment  # noqa: E402

SEED = 2026
SNOWNLP_BUDGET_SECONDS = 300
DEV_SET_DIR = sentiment.DATA_DIR


def mention_texts(count: int, seed: int) -> list[str]:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    mentions = generate_mentions(
        count, seed=seed, hospital_name="市第一人民医院",
        department_names=["心内科", "儿科", "急诊科", "骨科", "妇产科", "眼科", "口腔科", "消化内科"],
        doctor_names=["王建华", "李雪", "张伟", "陈静"], start=start, end=start + dt.timedelta(days=30),
    )  # fmt: skip
    return [mention["text"] for mention in mentions]


def _cpu(function: Any) -> tuple[Any, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = function()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def _snownlp_scores(texts: Sequence[str]) -> list[float]:
    from snownlp import SnowNLP

    return [SnowNLP(text).sentiments if text.strip() else 0.5 for text in texts]


def dev_accuracy(quick: bool) -> list[dict[str, Any]]:
    rows = []
    model = sentiment.get_model()
    for name in sentiment.DEV_FILES:
        texts, labels = sentiment.read_labelled_csv(DEV_SET_DIR / name, allowed_labels=(0, 1))
        probabilities = model.predict_proba(texts)
        ours_all = (probabilities[:, 2] > probabilities[:, 0]).astype(int)
        index = np.arange(len(texts))
        if quick:
            index = np.sort(np.random.default_rng(SEED).choice(len(texts), size=min(500, len(texts)), replace=False))
        snow = (np.array(_snownlp_scores([texts[i] for i in index])) > 0.5).astype(int)
        rows.append({
            "dev_set": name, "rows": len(texts), "snownlp_rows": len(index),
            "ours_accuracy": round(float((ours_all == labels).mean()), 4),
            "ours_accuracy_same_rows": round(float((ours_all[index] == labels[index]).mean()), 4),
            "ours_macro_f1": round(sentiment.macro_f1(labels, ours_all, (0, 1)), 4),
            "snownlp_accuracy": round(float((snow == labels[index]).mean()), 4),
            "snownlp_macro_f1": round(sentiment.macro_f1(labels[index], snow, (0, 1)), 4),
        })  # fmt: skip
    return rows


def run(args: argparse.Namespace | Sequence[str] | None = None) -> dict[str, Any]:
    if not isinstance(args, argparse.Namespace):
        args = parse_args(list(args) if args is not None else [])
    quick = bool(getattr(args, "quick", False))
    count = getattr(args, "mentions", None) or (5_000 if quick else 100_000)
    texts = mention_texts(count, SEED)
    characters = sum(len(text) for text in texts)

    _model, load_seconds, _ = _cpu(sentiment.get_model)
    sentiment.predict_proba(texts[:100])  # warm: OpenCC converter, page-in of the weights
    probabilities, ours_cpu, ours_wall = _cpu(lambda: sentiment.predict_proba(texts))
    labels = probabilities.argmax(axis=1)
    label_counts = {name: int((labels == index).sum()) for index, name in enumerate(sentiment.LABELS)}

    warmup = texts[:200]
    _, warm_cpu, _ = _cpu(lambda: _snownlp_scores(warmup))
    estimated = warm_cpu / len(warmup) * len(texts)
    sample_size = 1_000 if quick else 10_000
    if estimated > SNOWNLP_BUDGET_SECONDS and len(texts) > sample_size:
        index = sorted(random.Random(SEED).sample(range(len(texts)), sample_size))
        snow_texts = [texts[i] for i in index]
        sampled = True
    else:
        snow_texts, sampled = texts, False
    snow_scores, snow_cpu, snow_wall = _cpu(lambda: _snownlp_scores(snow_texts))
    snow_positive = (np.array(snow_scores) > 0.5).mean()

    ours_rate = len(texts) / ours_cpu
    snow_rate = len(snow_texts) / snow_cpu
    ratio = round(ours_rate / snow_rate, 1)
    accuracy = dev_accuracy(quick)
    summary = {
        "mentions": len(texts),
        "characters": characters,
        "mean_chars": round(characters / len(texts), 1),
        "model": sentiment.get_model().version,
        "artefact_load_cpu_seconds": round(load_seconds, 3),
        "ours_cpu_seconds": round(ours_cpu, 3),
        "ours_wall_seconds": round(ours_wall, 3),
        "ours_docs_per_s": round(ours_rate),
        "ours_labels": label_counts,
        "snownlp_texts": len(snow_texts),
        "snownlp_sampled": sampled,
        "snownlp_estimated_seconds_for_all": round(estimated, 1),
        "snownlp_cpu_seconds": round(snow_cpu, 3),
        "snownlp_wall_seconds": round(snow_wall, 3),
        "snownlp_docs_per_s": round(snow_rate, 1),
        "snownlp_share_positive": round(float(snow_positive), 4),
        "speedup": ratio,
        "target_200x_met": ratio >= 200,
        "dev_accuracy": accuracy,
    }
    notes = [
        f"{len(texts):,} generated mentions (seed {SEED}), {characters:,} characters, mean {characters / len(texts):.0f}",
        "docs/s on one core (CPU seconds of one process); ours = one batch predict_proba call on all texts",
    ]
    if sampled:
        notes.append(
            f"SnowNLP on all texts was estimated at {estimated:,.0f} s, so it was timed on a fixed random sample of "
            f"{len(snow_texts):,} of the same texts (seed {SEED})"
        )
    results = [
        {
            "case": f"sentiment of {len(texts):,} mentions (predict_proba, batch)",
            "unit": "docs/s per core",
            "value": round(ours_rate),
            "baseline": "SnowNLP(text).sentiments" + (f" (sample of {len(snow_texts):,})" if sampled else ""),
            "baseline_value": round(snow_rate, 1),
            "ratio": ratio,
            "details": {
                "ours_cpu_seconds": summary["ours_cpu_seconds"],
                "snownlp_cpu_seconds": summary["snownlp_cpu_seconds"],
            },
        }
    ]
    for row in accuracy:
        results.append({
            "case": f"binary accuracy on {row['dev_set']}",
            "unit": "accuracy (higher is better)",
            "value": row["ours_accuracy_same_rows"],
            "baseline": f"SnowNLP sentiments > 0.5 ({row['snownlp_rows']} rows)",
            "baseline_value": row["snownlp_accuracy"],
            "ratio": round(row["ours_accuracy_same_rows"] / row["snownlp_accuracy"], 3),
            "details": row,
        })  # fmt: skip
    return {
        "title": "Listening sentiment: our model vs SnowNLP (speed and dev accuracy)",
        "results": results,
        "notes": notes,
        "summary": summary,
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=None, help="default 100,000 (5,000 with --quick)")
    parser.add_argument("--quick", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    print(json.dumps(run(parse_args(sys.argv[1:]))["summary"], ensure_ascii=False, indent=2))
