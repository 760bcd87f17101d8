"""Stage 2: which of the hospital's entities a mention names, with positions.

All names and aliases of the hospital, its departments and doctors (plus ``WatchedName`` rows) go into one
Aho-Corasick automaton (``ahocorasick_rs``, leftmost-longest), so a mention is scanned once whatever the number of
names: O(text length + matches) instead of O(names × text length) for one search per name. Leftmost-longest makes
the more specific name win where names overlap (一院心内 → the department, not 一院 → the hospital).

Names are normalised exactly like mention texts (width, traditional → simplified, case), and matching runs on the
normalised text, so positions refer to ``Normalised.text``; red-line rules measure proximity on the same text.

Entity keys: ``"hospital"``, ``"department:<pk>"``, ``"doctor:<pk>"``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from xinqiao.listening.pipeline.normalise import normalise_text

MIN_NAME_LENGTH = 2  # a single character (e.g. a one-character alias) would match everywhere


@dataclass(frozen=True, slots=True)
class EntityMatch:
    key: str
    start: int
    end: int
    name: str


@dataclass(frozen=True)
class NameTable:
    """The names to look for: a picklable tuple of (name, entity key), normalised and de-duplicated.

    When two entities share a name, the first one listed keeps it (the hospital before departments before
    doctors before watched names, as :func:`name_table` is usually fed)."""

    names: tuple[tuple[str, str], ...]

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for name, key in self.names:
            digest.update(f"{name}\x1f{key}\x1e".encode())
        return digest.hexdigest()


def name_table(pairs: Iterable[tuple[str, str]]) -> NameTable:
    seen: dict[str, str] = {}
    for raw, key in pairs:
        name = normalise_text(raw or "").text.replace(" ", "")
        if len(name) < MIN_NAME_LENGTH or name in seen:
            continue
        seen[name] = key
    return NameTable(tuple(seen.items()))


class EntityMatcher:
    def __init__(self, table: NameTable) -> None:
        import ahocorasick_rs

        self.table = table
        self._names = [name for name, _key in table.names]
        self._keys = [key for _name, key in table.names]
        self._automaton = (
            ahocorasick_rs.AhoCorasick(self._names, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
            if self._names
            else None
        )

    def matches(self, text: str) -> list[EntityMatch]:
        if self._automaton is None or not text:
            return []
        names, keys = self._names, self._keys
        return [
            EntityMatch(keys[index], start, end, names[index])
            for index, start, end in self._automaton.find_matches_as_indexes(text)
        ]

    def keys(self, text: str) -> list[str]:
        return sorted({match.key for match in self.matches(text)})


@lru_cache(maxsize=32)
def _matcher_for(fingerprint: str, table: NameTable) -> EntityMatcher:
    return EntityMatcher(table)


def matcher_for(table: NameTable) -> EntityMatcher:
    """The automaton for a table, built once per process (automata cannot be pickled, tables can)."""
    return _matcher_for(table.fingerprint, table)


def match_batch(texts: list[str], table: NameTable) -> list[list[EntityMatch]]:
    matcher = matcher_for(table)
    return [matcher.matches(text) for text in texts]
