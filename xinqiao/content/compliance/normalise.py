"""Text normalisation for the compliance checker (spec §0.3), with offset maps back to the original text.

Steps, in order:

1. character level: Unicode NFKC (full-width → half-width, ``①`` → ``1``), Traditional → Simplified (OpenCC ``t2s``
   character table), zero-width characters removed;
2. anti-evasion collapse: a run of up to 3 separators between two CJK characters is deleted (``根·治`` → ``根治``);
3. evasion dictionary (``data/evasion_map.tsv``): ``zui`` → ``最``, ``bao治`` → ``包治`` …

Every step keeps an :class:`OffsetMap`, so a hit in the normalised text maps back to a span of the original text.
The common case (simplified Chinese with full-width punctuation) never leaves the fast path: a handful of
``str.replace`` calls for the frequent punctuation and one regex search that finds nothing.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

CJK_CLASS = "\u4e00-\u9fa5"
_CJK_RANGES = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00), (0x20000, 0x2A6E0))
# Supplementary planes that carry look-alike letters and digits used for evasion (𝟏, 🄰 …).
_EXTRA_NFKC_RANGES = ((0x1D400, 0x1D800), (0x1F100, 0x1F200), (0x2F800, 0x2FA20))
# Frequent full-width characters: replaced with str.replace (C speed) before the general pass.
_FREQUENT = "，。！？（）：；％　～＋－＝"
_ZERO_WIDTH_DEFAULT = "\u200b\u200c\u200d\u2060\ufeff"


@dataclass(frozen=True)
class OffsetMap:
    """Maps character positions of a derived string back to the string it was derived from.

    The map is piecewise: run ``i`` starts at derived position ``starts[i]`` and maps to source position
    ``sources[i]``. A run with ``spans[i] == 0`` is a one-to-one copy; a run with ``spans[i] > 0`` is a replacement
    whose every derived character maps to the whole source block ``[sources[i], sources[i] + spans[i])``.
    An empty map is the identity.
    """

    starts: tuple[int, ...] = ()
    sources: tuple[int, ...] = ()
    spans: tuple[int, ...] = ()

    @property
    def is_identity(self) -> bool:
        return not self.starts

    def start(self, position: int) -> int:
        """Source position of the derived character at ``position``."""
        if not self.starts:
            return position
        index = bisect.bisect_right(self.starts, position) - 1
        if index < 0:
            return position
        if self.spans[index]:
            return self.sources[index]
        return self.sources[index] + position - self.starts[index]

    def end(self, position: int) -> int:
        """Source end (exclusive) of the derived character at ``position``."""
        if not self.starts:
            return position + 1
        index = bisect.bisect_right(self.starts, position) - 1
        if index < 0:
            return position + 1
        if self.spans[index]:
            return self.sources[index] + self.spans[index]
        return self.sources[index] + position - self.starts[index] + 1


class _MapBuilder:
    """Builds a derived string from pieces of a source string while recording an :class:`OffsetMap`."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.parts: list[str] = []
        self.starts: list[int] = []
        self.sources: list[int] = []
        self.spans: list[int] = []
        self.position = 0

    def copy(self, start: int, end: int) -> None:
        if start >= end:
            return
        self.parts.append(self.source[start:end])
        self.starts.append(self.position)
        self.sources.append(start)
        self.spans.append(0)
        self.position += end - start

    def replace(self, start: int, end: int, replacement: str) -> None:
        """Emit ``replacement`` for the source block ``[start, end)``; an empty replacement deletes it."""
        if not replacement:
            return
        self.parts.append(replacement)
        self.starts.append(self.position)
        self.sources.append(start)
        self.spans.append(0 if len(replacement) == end - start == 1 else end - start)
        self.position += len(replacement)

    def build(self) -> tuple[str, OffsetMap]:
        return "".join(self.parts), OffsetMap(tuple(self.starts), tuple(self.sources), tuple(self.spans))


@dataclass(frozen=True)
class EvasionEntry:
    source: str
    canonical: str
    is_regex: bool


@dataclass(frozen=True)
class Evasion:
    """One evasion-dictionary replacement, in normalised-text coordinates."""

    start: int
    end: int
    canonical: str


@dataclass(frozen=True)
class Normalised:
    """The normalised text and everything needed to map its positions back to the original."""

    original: str
    text: str
    stage1: str  # after the character-level step only (separators still present)
    maps: tuple[OffsetMap, ...]  # text → … → original, applied in order
    evasions: tuple[Evasion, ...] = field(default=())

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original-text span of the normalised span ``[start, end)``."""
        if end <= start:
            for offset_map in self.maps:
                start = offset_map.start(start)
            return start, start
        last = end - 1
        for offset_map in self.maps:
            start = offset_map.start(start)
            last = offset_map.end(last) - 1
        return start, last + 1

    def stage1_span(self, start: int, end: int) -> tuple[int, int]:
        """Original-text span of a span of :attr:`stage1`."""
        stage1_map = self.maps[-1]
        if end <= start:
            return stage1_map.start(start), stage1_map.start(start)
        return stage1_map.start(start), stage1_map.end(end - 1)


@functools.cache
def t2s_table() -> dict[str, str]:
    """Character-level Traditional → Simplified table built once from OpenCC's ``t2s`` dictionary."""
    import opencc  # imported lazily: building the table is the only use

    chars = [chr(code) for low, high in _CJK_RANGES for code in range(low, high)]
    converted = opencc.OpenCC("t2s").convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):  # OpenCC never merges lines; guard against a changed dictionary format
        raise RuntimeError("OpenCC t2s changed the number of lines")
    return {char: simple for char, simple in zip(chars, converted, strict=True) if simple != char and len(simple) == 1}


@dataclass(frozen=True)
class CharTables:
    one_to_one: dict[str, str]
    frequent: tuple[tuple[str, str], ...]
    rare: re.Pattern[str]  # characters that need the general pass
    expanding: dict[str, str]  # characters whose replacement is not exactly one character (or is empty)
    expanding_re: re.Pattern[str]


@functools.cache
def char_tables(zero_width: str = _ZERO_WIDTH_DEFAULT, keep: str = "…‥℃℉") -> CharTables:
    t2s = t2s_table()
    one_to_one: dict[str, str] = {}
    expanding: dict[str, str] = {}
    ranges = ((0x80, 0x10000), *_EXTRA_NFKC_RANGES)
    for low, high in ranges:
        for code in range(low, high):
            char = chr(code)
            if char in keep or 0xD800 <= code < 0xE000:
                continue
            folded = unicodedata.normalize("NFKC", char)
            folded = "".join(t2s.get(part, part) for part in folded)
            if folded == char:
                continue
            if len(folded) == 1:
                one_to_one[char] = folded
            else:
                expanding[char] = folded
    for traditional, simple in t2s.items():
        one_to_one.setdefault(traditional, simple)
    for char in zero_width:
        one_to_one.pop(char, None)
        expanding[char] = ""
    frequent = tuple((char, one_to_one[char]) for char in _FREQUENT if char in one_to_one)
    rare_chars = sorted(set(one_to_one) - {char for char, _ in frequent} | set(expanding))
    # Only BMP characters in the class: sre compiles it to a constant-time bitmap (a class with astral characters
    # becomes a list of ranges searched one by one). Astral characters are caught by a second, range-only class.
    bmp = "".join(re.escape(char) for char in rare_chars if ord(char) < 0x10000)
    rare = re.compile(f"[{bmp}\U00010000-\U0010ffff]")
    expanding_re = re.compile(
        "[" + "".join(re.escape(char) for char in sorted(expanding) if ord(char) < 0x10000) + "\U00010000-\U0010ffff]"
    )
    return CharTables(one_to_one, frequent, rare, expanding, expanding_re)


def fold_frequent(text: str, tables: CharTables) -> str:
    """The frequent full-width characters of step 1 (，→, …): one-to-one, so offsets do not move."""
    for char, replacement in tables.frequent:
        if char in text:
            text = text.replace(char, replacement)
    return text


def fold_characters(text: str, tables: CharTables) -> tuple[str, OffsetMap]:
    """Step 1: NFKC + t2s + zero-width removal, one character at a time."""
    text = fold_frequent(text, tables)
    if tables.rare.search(text) is None:
        return text, OffsetMap()
    one_to_one = tables.one_to_one
    if tables.expanding_re.search(text) is None:
        return tables.rare.sub(lambda match: one_to_one.get(match.group(), match.group()), text), OffsetMap()
    builder = _MapBuilder(text)
    position = 0
    for match in tables.rare.finditer(text):
        char = match.group()
        start = match.start()
        replacement = tables.expanding.get(char)
        if replacement is None:
            replacement = one_to_one.get(char)
            if replacement is None:  # an astral character with no mapping: keep it
                continue
        builder.copy(position, start)
        builder.replace(start, start + 1, replacement)
        position = start + 1
    builder.copy(position, len(text))
    return builder.build()


@dataclass(frozen=True)
class Normaliser:
    """Compiled normalisation settings (from the ``normalisation`` section of the rule data)."""

    separators: str
    max_run: int
    keep_if_contains: str
    zero_width: str
    nfkc_keep: str
    evasion_entries: tuple[EvasionEntry, ...]

    @functools.cached_property
    def tables(self) -> CharTables:
        return char_tables(self.zero_width, self.nfkc_keep)

    @functools.cached_property
    def separator_members(self) -> frozenset[str]:
        """The separator characters a collapsible run is made of (without the kept boundary characters: a run
        that contains one is never collapsed)."""
        members = set(re.sub(r"\\(.)", r"\1", self.separators.strip("[]").replace("\\s", "")))
        members.discard("\\")
        members |= {" ", "\t", "\f", "\v", "\u3000", "\u00a0", "\\"}
        members -= set(self.keep_if_contains) | {"\r", "\n"}
        members |= set(self.tables.one_to_one.get(char, char) for char in list(members))
        members -= set(self.keep_if_contains) | {"\r", "\n"}
        return frozenset(members)

    @functools.cached_property
    def collapse_re(self) -> re.Pattern[str]:
        # The class written out, so the regex starts with a plain character class and sre can skip ahead at C speed.
        members = self.separator_members
        body = "".join(re.escape(char) for char in sorted(members))
        # Written as "one, then up to max_run - 1 more" so the regex starts with a class (sre's prefix scan).
        return re.compile(f"[{body}][{body}]{{0,{self.max_run - 1}}}(?=[{CJK_CLASS}])")

    @functools.cached_property
    def evasion_re(self) -> re.Pattern[str] | None:
        """Alternation of the evasion spellings; each alternative starts with its literal (fast prefix scan).

        The "not inside a longer Latin word" guard on the left is checked in Python (a leading look-behind would
        defeat sre's prefix scan)."""
        if not self.evasion_entries:
            return None
        alternatives = []
        for entry in self.evasion_entries:
            body = entry.source if entry.is_regex else re.escape(entry.source)
            if not entry.is_regex and entry.source[-1:].isascii() and entry.source[-1:].isalpha():
                body += "(?![A-Za-z])"
            alternatives.append(f"(?:{body})")
        # Non-capturing alternatives: capture groups would stop sre from scanning ahead on the first characters.
        return re.compile("|".join(alternatives))

    def fold(self, text: str) -> str:
        """Character-level folding only (used for rule phrases and titles)."""
        return fold_characters(text, self.tables)[0]

    # -- the already-normal fast path -----------------------------------------------------------------------------
    # Most published text is already normal once its frequent full-width punctuation is folded: no Traditional or
    # compatibility characters, no separators inside CJK words, no evasion spellings. Rather than three more regex
    # scans to prove that, the matcher's automaton carries these "sentinel" strings as extra keys and reports their
    # occurrences in the same pass (see ``Matcher(sentinels=...)``); only a text with sentinel occurrences that
    # matter goes through :meth:`__call__` and is scanned again.
    @functools.cached_property
    def sentinel_keys(self) -> tuple[str, ...]:
        """Strings whose absence (after :meth:`prefold`) proves that normalisation changes nothing; empty when that
        cannot be decided from literal occurrences (regex entries in the evasion dictionary)."""
        if any(entry.is_regex for entry in self.evasion_entries):
            return ()
        keys = self.sentinel_chars | self.separator_members
        keys |= {entry.source for entry in self.evasion_entries}
        return tuple(sorted(keys))

    @functools.cached_property
    def sentinel_chars(self) -> frozenset[str]:
        """Characters that step 1 changes, apart from the frequent ones :meth:`prefold` handles."""
        tables = self.tables
        return frozenset(set(tables.one_to_one) - {char for char, _ in tables.frequent} | set(tables.expanding))

    def prefold(self, text: str) -> str:
        return fold_frequent(text, self.tables)

    def already_normal(self, original: str, prefolded: str, sentinels: Iterable[tuple[int, int]]) -> Normalised | None:
        """The :class:`Normalised` of ``original`` if ``prefolded`` (its :meth:`prefold`) is already normal, given
        every occurrence of :attr:`sentinel_keys` in ``prefolded``; None if the full normalisation is needed. A
        separator only matters between CJK characters; any other sentinel occurrence sends the text the long way."""
        if not self.sentinel_keys:
            return None
        separators = self.separator_members
        collapse = self.collapse_re
        for start, end in sentinels:
            key = prefolded[start:end]
            if key not in separators or key in self.sentinel_chars:
                return None
            if start > 0 and "\u4e00" <= prefolded[start - 1] <= "\u9fa5" and collapse.match(prefolded, start):
                return None
        return Normalised(original, prefolded, prefolded, (OffsetMap(),))

    def __call__(self, text: str) -> Normalised:
        stage1, stage1_map = fold_characters(text, self.tables)
        collapsed, collapse_map = self._collapse(stage1)
        maps = [collapse_map, stage1_map]
        evasions: tuple[Evasion, ...] = ()
        if self.evasion_re is not None and self.evasion_re.search(collapsed) is not None:
            collapsed, evasion_map, evasions = self._evasions(collapsed)
            if evasions:
                maps.insert(0, evasion_map)
        return Normalised(
            text, collapsed, stage1, tuple(m for m in maps[:-1] if not m.is_identity) + (maps[-1],), evasions
        )

    def _collapse(self, text: str) -> tuple[str, OffsetMap]:
        matches = [
            match
            for match in self.collapse_re.finditer(text)
            if match.start() > 0 and "\u4e00" <= text[match.start() - 1] <= "\u9fa5"
        ]
        if not matches:
            return text, OffsetMap()
        builder = _MapBuilder(text)
        position = 0
        for match in matches:
            builder.copy(position, match.start())
            position = match.end()
        builder.copy(position, len(text))
        return builder.build()

    def _evasions(self, text: str) -> tuple[str, OffsetMap, tuple[Evasion, ...]]:
        assert self.evasion_re is not None
        builder = _MapBuilder(text)
        found: list[Evasion] = []
        position = 0
        literal = {entry.source: entry for entry in self.evasion_entries if not entry.is_regex}
        for match in self.evasion_re.finditer(text):
            entry = literal.get(match.group()) or next(
                item
                for item in self.evasion_entries
                if item.is_regex and re.fullmatch(item.source, match.group()) is not None
            )
            if not entry.is_regex and entry.source[:1].isascii() and entry.source[:1].isalnum():
                before = text[match.start() - 1 : match.start()]
                if before.isascii() and before.isalnum():
                    continue  # inside a longer Latin word or number
            canonical = entry.canonical
            builder.copy(position, match.start())
            start = builder.position
            builder.replace(match.start(), match.end(), canonical)
            found.append(Evasion(start, start + len(canonical), canonical))
            position = match.end()
        builder.copy(position, len(text))
        derived, offset_map = builder.build()
        return derived, offset_map, tuple(found)


def load_evasion_map(lines: Iterable[str]) -> tuple[EvasionEntry, ...]:
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        columns = line.rstrip("\n").split("\t")
        if len(columns) != 3 or columns[2] not in {"literal", "regex"}:
            raise ValueError(f"evasion_map.tsv line {number}: expected 'from<TAB>to<TAB>literal|regex'")
        if columns[2] == "regex":
            re.compile(columns[0])
        entries.append(EvasionEntry(columns[0], columns[1], columns[2] == "regex"))
    return tuple(entries)


def content_sha256(normalised_text: str) -> str:
    """Hash of normalised content, compared with ``ad_cert.approved_sample_sha256`` (STR-003)."""
    return hashlib.sha256(normalised_text.encode("utf-8")).hexdigest()
