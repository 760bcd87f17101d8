"""Stage 5: hospital crisis topics from the hospital's editable lexicon (医患纠纷, 收费争议 …).

A topic is hit when any of its keywords occurs in the normalised text. All keywords of all active topics go into
one Aho-Corasick automaton with overlapping matches (a keyword inside a longer one of another topic still counts),
so the cost does not grow with the size of the lexicon. Keywords are normalised like texts, so a traditional or
full-width keyword in the lexicon still matches.

The topic weight that feeds the severity score is the largest weight among the topics hit (see severity.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from xinqiao.listening.pipeline.normalise import normalise_text


@dataclass(frozen=True, slots=True)
class Topic:
    code: str
    name: str
    weight: float
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class Lexicon:
    """A picklable lexicon: the active topics with normalised keywords."""

    topics: tuple[Topic, ...]

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for topic in self.topics:
            digest.update(f"{topic.code}\x1f{topic.weight}\x1f{'|'.join(topic.keywords)}\x1e".encode())
        return digest.hexdigest()

    def weight_of(self, codes: Iterable[str]) -> float:
        weights = {topic.code: topic.weight for topic in self.topics}
        return max((weights.get(code, 0.0) for code in codes), default=0.0)


def lexicon_from(entries: Iterable[tuple[str, str, float, Iterable[str]]]) -> Lexicon:
    """Build a lexicon from (code, name, weight, keywords) entries; keywords normalised, blanks dropped."""
    topics = []
    for code, name, weight, keywords in entries:
        cleaned = []
        for keyword in keywords:
            text = normalise_text(str(keyword)).text
            if text and text not in cleaned:
                cleaned.append(text)
        if cleaned:
            topics.append(Topic(code=code, name=name, weight=float(weight), keywords=tuple(cleaned)))
    return Lexicon(tuple(topics))


class TopicMatcher:
    def __init__(self, lexicon: Lexicon) -> None:
        import ahocorasick_rs

        self.lexicon = lexicon
        patterns: list[str] = []
        self._owners: list[tuple[str, ...]] = []
        index: dict[str, int] = {}
        owners: list[list[str]] = []
        for topic in lexicon.topics:
            for keyword in topic.keywords:
                if keyword not in index:
                    index[keyword] = len(patterns)
                    patterns.append(keyword)
                    owners.append([])
                if topic.code not in owners[index[keyword]]:
                    owners[index[keyword]].append(topic.code)
        self._owners = [tuple(codes) for codes in owners]
        self._weights = {topic.code: topic.weight for topic in lexicon.topics}
        self._automaton = ahocorasick_rs.AhoCorasick(patterns) if patterns else None

    def topics(self, text: str) -> list[str]:
        """Topic codes hit, heaviest first (ties by code)."""
        if self._automaton is None or not text:
            return []
        hit: set[str] = set()
        for pattern_index, _start, _end in self._automaton.find_matches_as_indexes(text, overlapping=True):
            hit.update(self._owners[pattern_index])
        weights = self._weights
        return sorted(hit, key=lambda code: (-weights[code], code))

    def weight(self, codes: list[str]) -> float:
        return max((self._weights[code] for code in codes), default=0.0)


@lru_cache(maxsize=32)
def _matcher_for(fingerprint: str, lexicon: Lexicon) -> TopicMatcher:
    return TopicMatcher(lexicon)


def matcher_for(lexicon: Lexicon) -> TopicMatcher:
    return _matcher_for(lexicon.fingerprint, lexicon)


def topics_batch(texts: list[str], lexicon: Lexicon) -> list[list[str]]:
    matcher = matcher_for(lexicon)
    return [matcher.topics(text) for text in texts]
