"""Stage 3: near-duplicate clustering of reposts and copy-paste (MinHash + LSH bands).

Signatures
    Character 3-shingles of the normalised text with spaces and punctuation removed (Chinese has no word
    boundaries, and 3-grams survive the small edits reposters make). Each shingle (three code points packed into
    one 63-bit integer) is folded to 32 bits by a multiply-shift, then datasketch's MinHash (``scheme="affine32"``,
    its default: MurmurHash3 fmix, then ``a·h + b mod 2^32``; ``NUM_PERM`` = 64, seed 1) gives the signature. The
    shingling, mixing, permutations and minimum run in numpy over a whole batch at once (``np.minimum.reduceat``),
    with no Python call per shingle; the result is bit-for-bit what ``datasketch.MinHash.update_batch`` gives for
    the same shingle hashes (tested).

LSH bands
    64 values = ``BANDS`` 16 × ``ROWS`` 4. Two texts with Jaccard similarity s share at least one band with
    probability 1 − (1 − s⁴)¹⁶: 0.12 at s = 0.3, 0.64 at 0.5, 0.99 at 0.7, 1.0 at 0.9. The S-curve's midpoint
    (1/16)^(1/4) = 0.5 sits at ``JACCARD_THRESHOLD``: a repost with a few characters changed or a tail added keeps
    s ≥ 0.6 on texts of 30+ characters, while two different complaints about the same department stay below 0.3.
    Every candidate pair is then verified on the signatures (share of equal values ≥ ``JACCARD_THRESHOLD``), which
    removes most band false positives. Texts shorter than ``MIN_CHARS`` (after cleaning) are not clustered: short
    comments such as 谢谢医生 are alike by nature, not copies of one story.

Across batches and processes
    A band key is a 63-bit integer (band index and its four values mixed), stored as ``LshBucket`` rows. A batch is
    first clustered on its own (:func:`cluster_batch`, pure), then :func:`attach_and_merge` joins its local clusters
    to clusters already stored, given the stored signatures of the bucket hits, and names the stored clusters a
    local cluster bridges, which the service merges. The service does the lookup in one query; a distributed engine
    would do the same as a keyed join on ``band_key``.

A repost whose source names its parent (``parent_external_id``) joins the parent's cluster whatever its wording.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

NUM_PERM = 64
BANDS = 16
ROWS = 4
SHINGLE = 3
JACCARD_THRESHOLD = 0.5
MIN_CHARS = 10
SEED = 1
SCHEME = "affine32"  # datasketch 2's default: h -> a*fmix32(h) + b mod 2^32
CHUNK_SHINGLES = 65_536  # rows of the (shingles × permutations) uint32 matrix per numpy step, 16 MB

_MAX_HASH = np.uint64((1 << 32) - 1)
_MASK63 = np.uint64((1 << 63) - 1)
_NON_WORD_RE = re.compile(r"[\W_]+")

assert BANDS * ROWS == NUM_PERM


@lru_cache(maxsize=1)
def permutations() -> tuple[np.ndarray, np.ndarray]:
    """datasketch's own permutation parameters for (NUM_PERM, SEED), so signatures stay datasketch MinHashes."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def _fmix32(values: np.ndarray) -> np.ndarray:
    from datasketch.minhash import _fmix

    return _fmix(values, 32)


def clean(text: str) -> str:
    """Letters and digits only: punctuation, spaces and symbols do not make two posts different."""
    return _NON_WORD_RE.sub("", text)


def splitmix64(values: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _fold(packed: np.ndarray) -> np.ndarray:
    """A 63-bit packed shingle to 32 bits (multiply-shift); datasketch's fmix then avalanches it."""
    with np.errstate(over="ignore"):
        return ((packed * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)).astype(np.uint32)


def shingle_hashes(cleaned: str) -> np.ndarray:
    """32-bit hashes of the character 3-shingles of one cleaned text (a shorter text is one shingle)."""
    hashes, _sizes = batch_shingle_hashes([cleaned])
    return hashes


def batch_shingle_hashes(cleaned_texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The shingle hashes of many texts in one array, and how many belong to each text (in order)."""
    lengths = np.fromiter((len(text) for text in cleaned_texts), dtype=np.int64, count=len(cleaned_texts))
    codes = np.frombuffer("".join(cleaned_texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    counts = np.where(lengths >= SHINGLE, lengths - (SHINGLE - 1), np.minimum(lengths, 1))
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.uint32), counts
    first = np.repeat(starts, counts) + (np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts))
    padded = np.concatenate((codes, np.zeros(SHINGLE - 1, dtype=np.uint64)))
    packed = (padded[first] << np.uint64(42)) | (padded[first + 1] << np.uint64(21)) | padded[first + 2]
    short = np.flatnonzero((lengths < SHINGLE) & (lengths > 0))
    for index in short:  # a text of one or two characters: the shingle is the text itself
        position = int(np.cumsum(counts)[index] - 1)
        value = np.uint64(0)
        for code in codes[starts[index] : starts[index] + lengths[index]]:
            value = (value << np.uint64(21)) | code
        packed[position] = value
    return _fold(packed), counts


def signatures(cleaned_texts: Sequence[str]) -> np.ndarray:
    """MinHash signatures (n × NUM_PERM, uint32) of many cleaned texts at once."""
    a, b = permutations()
    out = np.full((len(cleaned_texts), NUM_PERM), np.uint32(0xFFFFFFFF), dtype=np.uint32)
    if not cleaned_texts:
        return out
    hashes, counts = batch_shingle_hashes(cleaned_texts)
    mixed = _fmix32(hashes)
    ends = np.cumsum(counts)
    text = 0
    while text < len(cleaned_texts):
        stop = text + 1
        begin = int(ends[text] - counts[text])
        while stop < len(cleaned_texts) and ends[stop] - begin <= CHUNK_SHINGLES:
            stop += 1
        sizes = counts[text:stop]
        nonempty = np.flatnonzero(sizes)
        if nonempty.size:
            block = mixed[begin : int(ends[stop - 1])].reshape(-1, 1)
            permuted = block * a + b  # uint32: wraps modulo 2^32, as datasketch's affine32
            offsets = np.concatenate(([0], np.cumsum(sizes[nonempty])[:-1]))
            out[text + nonempty] = np.minimum.reduceat(permuted, offsets, axis=0)
        text = stop
    return out


def band_keys(signature_matrix: np.ndarray) -> np.ndarray:
    """One 63-bit key per band (n × BANDS, int64), mixing the band index with its ROWS values."""
    n = signature_matrix.shape[0]
    bands = signature_matrix.reshape(n, BANDS, ROWS)
    with np.errstate(over="ignore"):
        key = splitmix64(np.arange(BANDS, dtype=np.uint64)[None, :] + np.uint64(0x5851F42D4C957F2D))
        key = np.broadcast_to(key, (n, BANDS)).copy()
        for row in range(ROWS):
            key = splitmix64(key ^ bands[:, :, row].astype(np.uint64))
    return (key & _MASK63).astype(np.int64)


def similarity(left: np.ndarray, right: np.ndarray) -> float:
    """Estimated Jaccard similarity: the share of equal signature values."""
    return float(np.count_nonzero(left == right)) / NUM_PERM


def to_bytes(signature: np.ndarray) -> bytes:
    return signature.astype("<u4").tobytes()


def from_bytes(data: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype="<u4")


@dataclass(frozen=True, slots=True)
class DedupItem:
    """What clustering keeps of one mention."""

    signature: bytes | None  # None: too short to cluster
    band_keys: tuple[int, ...]
    local_cluster: int  # index (in the batch) of the first mention of its in-batch cluster


def cluster_batch(
    normalised_texts: Sequence[str],
    *,
    platforms: Sequence[str] | None = None,
    external_ids: Sequence[str] | None = None,
    parent_external_ids: Sequence[str] | None = None,
) -> list[DedupItem]:
    """Cluster one batch on its own. Each mention is compared with the first holder of each of its bands
    (O(n × BANDS), no pairwise pass), and joins the cluster of its parent when the parent is in the batch."""
    n = len(normalised_texts)
    cleaned = [clean(text) for text in normalised_texts]
    eligible = [index for index, text in enumerate(cleaned) if len(text) >= MIN_CHARS]
    matrix = signatures([cleaned[index] for index in eligible]) if eligible else np.zeros((0, NUM_PERM), np.uint64)
    keys = band_keys(matrix) if eligible else np.zeros((0, BANDS), np.int64)
    parent = list(range(n))

    def find(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    def union(left: int, right: int) -> None:
        root_left, root_right = find(left), find(right)
        if root_left != root_right:
            # the earlier mention stays the root: local_cluster is the index of the cluster's first mention
            parent[max(root_left, root_right)] = min(root_left, root_right)

    row_of = {index: row for row, index in enumerate(eligible)}
    holders: dict[int, int] = {}
    key_rows = keys.tolist()
    for row, index in enumerate(eligible):
        checked: set[int] = set()
        for key in key_rows[row]:
            holder = holders.setdefault(key, index)
            if holder == index or holder in checked:
                continue
            checked.add(holder)
            if find(holder) != find(index) and similarity(matrix[row], matrix[row_of[holder]]) >= JACCARD_THRESHOLD:
                union(holder, index)
    if platforms is not None and external_ids is not None and parent_external_ids is not None:
        position = {(platforms[i], external_ids[i]): i for i in range(n)}
        for index in range(n):
            parent_id = parent_external_ids[index]
            if parent_id:
                target = position.get((platforms[index], parent_id))
                if target is not None and target != index:
                    union(target, index)
    items = []
    for index in range(n):
        row = row_of.get(index)
        if row is None:
            items.append(DedupItem(None, (), find(index)))
        else:
            items.append(DedupItem(to_bytes(matrix[row]), tuple(key_rows[row]), find(index)))
    return items


def _verified_votes(
    items: Sequence[DedupItem], known: Mapping[int, Sequence[tuple[int, bytes]]]
) -> dict[int, dict[int, int]]:
    """Per local cluster: for each stored cluster, how many of its members have a verified hit in it."""
    votes: dict[int, dict[int, int]] = {}
    for item in items:
        if item.signature is None:
            continue
        signature = None
        verified: set[int] = set()
        for key in item.band_keys:
            for cluster_id, stored in known.get(key, ()):
                if cluster_id in verified:
                    continue
                if signature is None:
                    signature = from_bytes(item.signature)
                if similarity(signature, from_bytes(stored)) >= JACCARD_THRESHOLD:
                    verified.add(cluster_id)
        for cluster_id in verified:
            tally = votes.setdefault(item.local_cluster, {})
            tally[cluster_id] = tally.get(cluster_id, 0) + 1
    return votes


def _chosen(votes: Mapping[int, Mapping[int, int]]) -> dict[int, int]:
    return {
        local: min(tally, key=lambda cluster_id: (-tally[cluster_id], cluster_id)) for local, tally in votes.items()
    }


def attach_to_known(
    items: Sequence[DedupItem],
    known: Mapping[int, Sequence[tuple[int, bytes]]],
) -> dict[int, int]:
    """Map local clusters (by their first mention's index) to stored clusters.

    ``known`` maps a band key to the (cluster id, signature) pairs stored under it. A local cluster joins the
    stored cluster whose verified hits are most frequent among its members (ties: the older, lower id); local
    clusters without a verified hit stay new. Stored clusters are not merged here (see ``attach_and_merge``)."""
    return _chosen(_verified_votes(items, known))


def attach_and_merge(
    items: Sequence[DedupItem],
    known: Mapping[int, Sequence[tuple[int, bytes]]],
) -> tuple[dict[int, int], dict[int, int]]:
    """``attach_to_known``, and the stored clusters this batch shows to be one story.

    A local cluster with verified hits in several stored clusters bridges them: its members are near-duplicates of
    members of each (in a batch, union-find joins such chains too). Bridged clusters merge into the oldest (lowest
    id); the merges chain (A–B in one local cluster, B–C in another: all three). Returns (local cluster → stored
    cluster, already resolved to the survivor; absorbed stored cluster → survivor)."""
    votes = _verified_votes(items, known)
    parent: dict[int, int] = {}

    def root(cluster_id: int) -> int:
        while parent.get(cluster_id, cluster_id) != cluster_id:
            cluster_id = parent[cluster_id]
        return cluster_id

    for tally in votes.values():
        ids = sorted(tally)
        for other in ids[1:]:
            low, high = sorted((root(ids[0]), root(other)))
            if low != high:
                parent[high] = low
    merges = {cluster_id: root(cluster_id) for cluster_id in parent if root(cluster_id) != cluster_id}
    attached = {local: merges.get(cluster_id, cluster_id) for local, cluster_id in _chosen(votes).items()}
    return attached, merges
