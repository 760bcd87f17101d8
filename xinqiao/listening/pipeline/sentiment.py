"""Three-class sentiment (negative / neutral / positive) of mentions: a hashed character n-gram linear model.

How it works
------------
* **Normalisation** (the same in training and prediction, done on one joined buffer per batch): traditional →
  simplified Chinese (OpenCC ``t2s``), lower case, full-width ASCII and the ideographic space → half-width.
* **Features**: every character 1-, 2- and 3-gram of a text is hashed into ``2**bits`` buckets (an exact 63-bit key of
  up to three code points, Fibonacci-hashed). A text's vector is ``count · idf`` per bucket divided by
  ``sqrt(Σ over its n-gram occurrences of idf²)`` (equal to the L2 norm when no n-gram repeats). Because of that
  normaliser, scoring needs no per-text de-duplication: one CSR matrix of occurrences, one sparse × dense product.
* **Polarity** (P(positive) vs P(negative)): logistic regression with *domain-adapted* weights. The training
  sources are domains (online shopping reviews, food-delivery reviews, the hospital-domain set); every example has a
  general copy of its features plus a copy for its own domain ("frustratingly easy domain adaptation"). At prediction
  time a domain gate (one-vs-rest logistic regression on the same features) gives P(domain | text), and the
  domain copies are mixed with those probabilities.
* **Neutral**: a separate neutral-vs-polar logistic regression trained on the hospital-domain set's neutral rows
  (news, notices, 科普, 挂号 information) against its positive/negative rows and a sample of the review rows, with a
  class weight that sets the prior. The three probabilities are ``[(1-q)(1-p), q, (1-q)p]`` with q = P(neutral)
  and p = P(positive | polar), so comparing P(positive) with P(negative) (binary evaluation) is exactly the polarity
  model and the neutral class can never change a binary decision.

The artefact (``artefacts/<version>.npz`` + ``.json`` metadata) is loaded lazily once per process and cached.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

MODEL_VERSION = "sentiment-v1"
LABELS = ("negative", "neutral", "positive")
APP_DIR = Path(__file__).resolve().parent.parent
ARTEFACT_DIR = APP_DIR / "artefacts"
DATA_DIR = APP_DIR / "data" / "sentiment"
DEFAULT_ARTEFACT = ARTEFACT_DIR / f"{MODEL_VERSION}.npz"

# The training files: (path relative to DATA_DIR, domain name). The hospital set has labels 0/1/2.
TRAINING_FILES = (
    ("online_shopping_10_cats_train.csv", "shopping"),
    ("waimai_10k_train.csv", "waimai"),
    ("hospital_domain.csv", "hospital"),
)
DEV_FILES = ("online_shopping_10_cats_dev.csv", "waimai_10k_dev.csv")

_SEPARATOR = 0  # code point that separates texts in the joined buffer (texts' own NULs become spaces)
_FIB = np.uint64(0x9E3779B97F4A7C15)
_CHUNK_DOCS = 8192

_converter_lock = threading.Lock()
_converter: Any = None


def _t2s() -> Any:
    global _converter
    with _converter_lock:
        if _converter is None:
            import opencc

            _converter = opencc.OpenCC("t2s")
        return _converter


@dataclass(frozen=True)
class SentimentResult:
    label: str
    negative: float
    neutral: float
    positive: float


# --- features ---------------------------------------------------------------------------------------


def _codes(texts: Sequence[str]) -> np.ndarray:
    """Normalised code points of all texts, each text preceded and the last one followed by a separator (0)."""
    joined = "\x00" + "\x00".join(texts) + "\x00"
    if joined.count("\x00") != len(texts) + 1:  # a text contains NUL itself: make it a space
        joined = "\x00" + "\x00".join(text.replace("\x00", " ") for text in texts) + "\x00"
    codes = np.frombuffer(_t2s().convert(joined).lower().encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    fullwidth = (codes >= 0xFF01) & (codes <= 0xFF5E)
    codes[fullwidth] -= 0xFEE0
    codes[codes == 0x3000] = 0x20
    upper = (codes >= 0x41) & (codes <= 0x5A)  # full-width capitals become ASCII capitals only now
    codes[upper] += 0x20
    return codes


def normalise(text: str) -> str:
    """The normalisation applied to every text before hashing: OpenCC t2s, lower case, full-width → half-width."""
    codes = _codes([text])[1:-1].astype(np.uint32)
    return codes.tobytes().decode("utf-32-le")


def ngram_occurrences(texts: Sequence[str], bits: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``indptr`` (len n+1) and bucket ``indices`` of every char 1/2/3-gram occurrence of every text.

    Positions × n form a (size, 3) key matrix whose row-major order is text order, so no sort is needed."""
    codes = _codes(texts).astype(np.uint64)
    size = len(codes)
    is_sep = codes == _SEPARATOR
    padded = np.concatenate((codes, np.zeros(2, dtype=np.uint64)))
    sep_padded = np.concatenate((is_sep, [True, True]))
    keys = np.empty((size, 3), dtype=np.uint64)
    keys[:, 0] = codes
    keys[:, 1] = codes | (padded[1 : size + 1] << np.uint64(21))
    keys[:, 2] = keys[:, 1] | (padded[2 : size + 2] << np.uint64(42))
    valid = np.empty((size, 3), dtype=bool)
    valid[:, 0] = ~is_sep
    valid[:, 1] = valid[:, 0] & ~sep_padded[1 : size + 1]
    valid[:, 2] = valid[:, 1] & ~sep_padded[2 : size + 2]
    key = keys[valid]
    key ^= key >> np.uint64(29)
    buckets = ((key * _FIB) >> np.uint64(64 - bits)).astype(np.int64)
    per_position = valid.sum(axis=1)
    doc_of = np.cumsum(is_sep) - 1  # text index at each position (a separator counts for the text before it)
    counts = np.bincount(doc_of, weights=per_position, minlength=len(texts) + 1)[: len(texts)].astype(np.int64)
    indptr = np.concatenate(([0], np.cumsum(counts)))
    return indptr, buckets


def occurrence_matrix(texts: Sequence[str], bits: int) -> sp.csr_matrix:
    """Texts × buckets matrix of n-gram counts (duplicates summed)."""
    indptr, indices = ngram_occurrences(texts, bits)
    data = np.ones(len(indices), dtype=np.float32)
    matrix = sp.csr_matrix((data, indices, indptr), shape=(len(texts), 1 << bits))
    matrix.sum_duplicates()
    return matrix


def weighted_features(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """``count · idf`` scaled per row by ``1 / sqrt(Σ count · idf²)`` (the model's input vectors)."""
    weighted = counts @ sp.diags(idf.astype(np.float32))
    norms = np.sqrt(np.asarray(counts @ (idf.astype(np.float64) ** 2)).ravel())
    norms[norms == 0] = 1.0
    return sp.diags(1.0 / norms) @ weighted


# --- the model ------------------------------------------------------------------------------------


class SentimentModel:
    """Scores texts with the artefact's arrays. Columns of ``weights`` (each already multiplied by idf):
    ``[gate_0 .. gate_{D-1}, polarity_general, polarity_domain_0 .. polarity_domain_{D-1}, neutral]``."""

    def __init__(self, *, bits: int, domains: Sequence[str], weights: np.ndarray, intercepts: np.ndarray,
                 idf_squared: np.ndarray, metadata: dict[str, Any]) -> None:  # fmt: skip
        self.bits = bits
        self.domains = tuple(domains)
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)
        self.intercepts = np.asarray(intercepts, dtype=np.float64)
        self.idf_squared = np.asarray(idf_squared, dtype=np.float32)
        self.metadata = metadata

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", MODEL_VERSION))

    def _scores(self, texts: Sequence[str]) -> np.ndarray:
        """Raw linear scores (n, columns) including intercepts."""
        out = np.empty((len(texts), self.weights.shape[1]), dtype=np.float64)
        for start in range(0, len(texts), _CHUNK_DOCS):
            chunk = texts[start : start + _CHUNK_DOCS]
            indptr, indices = ngram_occurrences(chunk, self.bits)
            data = np.ones(len(indices), dtype=np.float32)
            occurrences = sp.csr_matrix((data, indices, indptr), shape=(len(chunk), 1 << self.bits))
            norms = np.sqrt(occurrences @ self.idf_squared).astype(np.float64)
            norms[norms == 0] = 1.0
            out[start : start + len(chunk)] = (occurrences @ self.weights) / norms[:, None]
        return out + self.intercepts

    def components(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(P(domain | text) (n, D), P(positive | polar) (n,), P(neutral) (n,))."""
        scores = self._scores(list(texts))
        count = len(self.domains)
        gate = 1.0 / (1.0 + np.exp(-scores[:, :count]))
        gate /= gate.sum(axis=1, keepdims=True)
        polarity = scores[:, count] + (gate * scores[:, count + 1 : 2 * count + 1]).sum(axis=1)
        positive = 1.0 / (1.0 + np.exp(-polarity))
        neutral = 1.0 / (1.0 + np.exp(-scores[:, 2 * count + 1]))
        return gate, positive, neutral

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, 3))
        _gate, positive, neutral = self.components(texts)
        return np.column_stack(((1 - neutral) * (1 - positive), neutral, (1 - neutral) * positive))

    # --- persistence ---

    def save(self, path: Path) -> None:
        """Write ``path`` (.npz) and its ``.json`` metadata atomically (temporary file + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            "weights": self.weights.astype(np.float16),
            "intercepts": self.intercepts,
            "idf_squared": self.idf_squared.astype(np.float16),
            "bits": np.array(self.bits),
            "domains": np.array(self.domains),
        }
        _atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays))
        text = json.dumps(self.metadata, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        _atomic_write(path.with_suffix(".json"), lambda handle: handle.write(text.encode("utf-8")))

    @classmethod
    def load(cls, path: Path) -> SentimentModel:
        path = Path(path)
        with np.load(path, allow_pickle=False) as arrays:
            model = cls(
                bits=int(arrays["bits"]),
                domains=[str(name) for name in arrays["domains"]],
                weights=arrays["weights"].astype(np.float32),
                intercepts=arrays["intercepts"],
                idf_squared=arrays["idf_squared"].astype(np.float32),
                metadata={},
            )
        meta_path = path.with_suffix(".json")
        if meta_path.exists():
            model.metadata = json.loads(meta_path.read_text(encoding="utf-8"))
        return model


def _atomic_write(path: Path, write: Any) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
        os.chmod(temporary, 0o644)  # noqa: S103 - a model file, readable like the rest of the checkout
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- the shipped artefact, loaded once per process ------------------------------------------------------

_model_lock = threading.Lock()
_model: SentimentModel | None = None


def get_model() -> SentimentModel:
    global _model
    with _model_lock:
        if _model is None:
            _model = SentimentModel.load(DEFAULT_ARTEFACT)
        return _model


def predict_proba(texts: Sequence[str]) -> np.ndarray:
    """(n, 3) probabilities, columns [negative, neutral, positive], of the shipped model."""
    return get_model().predict_proba(list(texts))


def classify(texts: Sequence[str]) -> list[SentimentResult]:
    probabilities = predict_proba(texts)
    return [
        SentimentResult(
            label=LABELS[int(np.argmax(row))], negative=float(row[0]), neutral=float(row[1]), positive=float(row[2])
        )  # fmt: skip
        for row in probabilities
    ]


# --- data -----------------------------------------------------------------------------------------------


class DataError(ValueError):
    """A labelled CSV that cannot be used (missing file or column, bad label)."""


def read_labelled_csv(path: Path, *, allowed_labels: Sequence[int] = (0, 1, 2)) -> tuple[list[str], np.ndarray]:
    """Texts and integer labels of a ``text,label`` CSV (UTF-8, optional BOM, extra columns ignored)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    texts: list[str] = []
    labels: list[int] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"text", "label"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"{path.name}: missing column(s) {', '.join(sorted(missing))} (need text,label)")
        for line, row in enumerate(reader, start=2):
            raw = (row.get("label") or "").strip()
            try:
                label = int(raw)
            except ValueError:
                label = -1
            if label not in allowed_labels:
                allowed = ", ".join(str(value) for value in allowed_labels)
                raise DataError(f"{path.name} line {line}: label {raw!r} is not one of {allowed}")
            texts.append(row.get("text") or "")
            labels.append(label)
    return texts, np.array(labels, dtype=np.int64)


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- training -------------------------------------------------------------------------------------------

DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "bits": 20,
    "min_df": 2,
    "polarity_C": 3.0,
    "gate_C": 3.0,
    "neutral_C": 3.0,
    "hospital_weight": 1.0,
    "neutral_review_sample": 6000,
    "neutral_prior_weight": 1.0,
}


def train_model(
    sources: Sequence[tuple[Path, str]], *, seed: int = 20260601, hyperparameters: dict[str, Any] | None = None,
    dev_files: Sequence[Path] = (), version: str = MODEL_VERSION,
) -> SentimentModel:  # fmt: skip
    """Fit the gate, the polarity and the neutral model on ``sources`` ((csv path, domain) pairs)."""
    from sklearn.linear_model import LogisticRegression

    params = {**DEFAULT_HYPERPARAMETERS, **(hyperparameters or {})}
    bits = int(params["bits"])
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    labels_parts, domain_parts = [], []
    domains: list[str] = []
    files_meta = []
    for path, domain in sources:
        file_texts, file_labels = read_labelled_csv(path)
        if domain not in domains:
            domains.append(domain)
        texts.extend(file_texts)
        labels_parts.append(file_labels)
        domain_parts.append(np.full(len(file_labels), domains.index(domain)))
        files_meta.append({
            "file": Path(path).name, "domain": domain, "sha256": file_digest(path), "rows": len(file_labels),
            "labels": {str(k): int(v) for k, v in zip(*np.unique(file_labels, return_counts=True), strict=True)},
        })  # fmt: skip
    labels = np.concatenate(labels_parts)
    domain_of = np.concatenate(domain_parts)
    if len(set(labels[labels != 2].tolist())) < 2:
        raise DataError("training data needs both negative (0) and positive (1) rows")

    started = dt.datetime.now(dt.UTC)
    counts = occurrence_matrix(texts, bits)
    document_frequency = np.bincount(counts.indices, minlength=1 << bits)
    keep = document_frequency >= int(params["min_df"])
    idf = np.where(keep, np.log((1 + len(texts)) / (1 + document_frequency)) + 1.0, 0.0)
    features = weighted_features(counts, idf).tocsr()
    count = len(domains)
    columns = np.zeros((1 << bits, 2 * count + 2), dtype=np.float64)
    intercepts = np.zeros(2 * count + 2)

    # Domain gate: one-vs-rest, balanced so the small sets are recognised.
    for index in range(count):
        target = (domain_of == index).astype(int)
        if target.min() == target.max():
            continue
        gate = LogisticRegression(C=float(params["gate_C"]), solver="liblinear", class_weight="balanced",
                                  random_state=seed, max_iter=1000)  # fmt: skip
        gate.fit(features, target)
        columns[:, index] = gate.coef_[0]
        intercepts[index] = gate.intercept_[0]

    # Polarity with domain-specific copies of the features (neutral rows left out).
    polar = labels != 2
    polar_features = features[polar]
    polar_domains = domain_of[polar]
    blocks = [polar_features]
    for index in range(count):
        mask = sp.diags((polar_domains == index).astype(np.float32))
        blocks.append(mask @ polar_features)
    indicators = sp.csr_matrix(np.eye(count)[polar_domains])
    augmented = sp.hstack([*blocks, indicators]).tocsr()
    weights = np.where(polar_domains == domains.index("hospital"), float(params["hospital_weight"]), 1.0) \
        if "hospital" in domains else np.ones(int(polar.sum()))  # fmt: skip
    polarity = LogisticRegression(C=float(params["polarity_C"]), solver="liblinear", random_state=seed,
                                  max_iter=2000)  # fmt: skip
    polarity.fit(augmented, labels[polar], sample_weight=weights)
    size = 1 << bits
    coef = polarity.coef_[0]
    columns[:, count] = coef[:size]
    for index in range(count):
        columns[:, count + 1 + index] = coef[size * (index + 1) : size * (index + 2)]
    intercepts[count] = polarity.intercept_[0]
    intercepts[count + 1 : 2 * count + 1] = coef[size * (count + 1) :]

    # Neutral vs polar: all rows of the domains that have neutral rows, plus a sample of the others.
    neutral_domains = set(domain_of[labels == 2].tolist())
    if neutral_domains:
        in_neutral_domain = np.isin(domain_of, list(neutral_domains))
        others = np.flatnonzero(~in_neutral_domain)
        sample = rng.choice(others, size=min(len(others), int(params["neutral_review_sample"])), replace=False)
        rows = np.sort(np.concatenate([np.flatnonzero(in_neutral_domain), sample]))
        target = (labels[rows] == 2).astype(int)
        neutral = LogisticRegression(C=float(params["neutral_C"]), solver="liblinear", random_state=seed,
                                     class_weight={0: 1.0, 1: float(params["neutral_prior_weight"])},
                                     max_iter=1000)  # fmt: skip
        neutral.fit(features[rows], target)
        columns[:, 2 * count + 1] = neutral.coef_[0]
        intercepts[2 * count + 1] = neutral.intercept_[0]
    else:
        intercepts[2 * count + 1] = -20.0  # no neutral data: P(neutral) ≈ 0

    metadata: dict[str, Any] = {
        "version": version,
        "trained_at": started.isoformat(timespec="seconds"),
        "training_seconds": round((dt.datetime.now(dt.UTC) - started).total_seconds(), 1),
        "seed": seed,
        "hyperparameters": params,
        "domains": domains,
        "training_files": files_meta,
        "features": "char 1-3 grams, hashed (63-bit exact key, Fibonacci hash), count*idf / sqrt(sum count*idf^2)",
        "normalisation": "OpenCC t2s, full-width to half-width, lower case",
    }
    model = SentimentModel(bits=bits, domains=domains, weights=columns * idf[:, None], intercepts=intercepts,
                           idf_squared=idf**2, metadata=metadata)  # fmt: skip
    # Round-trip the float16 storage so the reported metrics are those of the saved artefact.
    model.weights = model.weights.astype(np.float16).astype(np.float32)
    model.idf_squared = model.idf_squared.astype(np.float16).astype(np.float32)
    metadata["dev_metrics"] = {Path(path).name: evaluate(model, path, binary=True) for path in dev_files}
    return model


def evaluate(model: SentimentModel, path: Path, *, binary: bool) -> dict[str, Any]:
    """``n``, ``accuracy``, ``macro_f1``, ``docs_per_s`` of ``model`` on a labelled CSV."""
    import time

    texts, labels = read_labelled_csv(path, allowed_labels=(0, 1) if binary else (0, 1, 2))
    _t2s()  # the converter's one-off set-up is not part of the scoring rate
    started = time.perf_counter()
    probabilities = model.predict_proba(texts)
    seconds = time.perf_counter() - started
    if binary:
        predicted = (probabilities[:, 2] > probabilities[:, 0]).astype(int)
        classes = (0, 1)
    else:
        predicted = np.array([(0, 2, 1)[index] for index in probabilities.argmax(axis=1)], dtype=np.int64)
        classes = (0, 1, 2)
    return {
        "n": len(labels),
        "accuracy": round(float((predicted == labels).mean()) if len(labels) else 0.0, 4),
        "macro_f1": round(macro_f1(labels, predicted, classes), 4),
        "docs_per_s": round(len(labels) / seconds, 1) if seconds > 0 else 0.0,
    }


def macro_f1(labels: np.ndarray, predicted: np.ndarray, classes: Sequence[int]) -> float:
    """Mean F1 over ``classes`` (a class with no true and no predicted rows counts as F1 = 0 only if present)."""
    scores = []
    for value in classes:
        true_positive = int(((predicted == value) & (labels == value)).sum())
        predicted_count = int((predicted == value).sum())
        actual_count = int((labels == value).sum())
        if predicted_count == 0 and actual_count == 0:
            continue
        scores.append(2 * true_positive / (predicted_count + actual_count))
    return float(np.mean(scores)) if scores else 0.0
