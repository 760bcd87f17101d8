"""One-pass multi-pattern matcher: Aho-Corasick for phrases, anchor-gated regexes for patterns.

Every detector (a named set of phrases and regexes) is compiled into a single Aho-Corasick automaton. Phrases are
keys of the automaton. For each regex the compiler derives a small set of *anchor* literals, at least one of which
occurs in every match (read from the regex's parse tree), and adds them to the same automaton. Scanning a text is
one pass of the automaton; a regex then only runs in windows around its anchors' occurrences (bounded by the
regex's maximum width, or the line for unbounded regexes). Regexes without a usable anchor run over the whole text;
the rule data keeps those few.

This gives the same matches as running every regex over the whole text (the naive baseline in
``bench/compliance.py`` checks that), at a fraction of the cost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parser  # type: ignore[attr-defined]

import ahocorasick

_MAX_SET = 256
_MAX_CLASS = 16
# A larger class may still extend a literal run (患者 + a surname: 600 three-character anchors).
_MAX_RUN_CLASS = 128
_MAX_RUN_SET = 1024
# An anchor set this costly (e.g. 100 single surname characters) is worse than a plain scan with a class prefix.
_MAX_ANCHOR_COST = 400
_MAX_REPEAT_EXPAND = 4
_UNBOUNDED = sre_constants.MAXREPEAT
# Characters so frequent in Chinese text that they make poor anchors.
_FREQUENT = {
    ",": 9,
    "、": 6,
    "。": 6,
    ":": 6,
    "(": 5,
    ")": 5,
    " ": 8,
    ".": 3,
    "-": 3,
    "的": 9,
    "是": 6,
    "一": 6,
    "不": 6,
    "了": 6,
    "在": 6,
    "有": 5,
    "人": 5,
    "大": 5,
    "小": 4,
    "中": 5,
    "0": 4,
    "1": 4,
    "2": 4,
    "天": 4,
    "日": 4,
    "月": 4,
    "年": 4,
    "次": 4,
    "名": 4,
    "位": 3,
    "号": 3,
    "室": 2,
    "床": 2,
    "时": 4,
    "老": 3,
}

# Patterns are compiled with re.ASCII: the text is NFKC-normalised (full-width digits and spaces are ASCII), and
# ASCII classes let sre scan ahead much faster than Unicode categories. \b then treats CJK as non-word characters.
FLAGS = re.ASCII
# Words so common in medical text that they make poor anchors when a rarer required literal exists.
_COMMON_WORDS = frozenset(
    "手术 治疗 检查 体检 患者 医生 医院 健康 疾病 症状 服务 药物 用药 护理 预防 康复 病人 时间 建议 饮食 "  # noqa: SIM905
    "专家 主任 门诊 科室 技术 方法 效果 安全 有效 成功 帮助 需要 可以 我们".split()
)

LITERAL = sre_constants.LITERAL
IN = sre_constants.IN
RANGE = sre_constants.RANGE
CATEGORY = sre_constants.CATEGORY
NEGATE = sre_constants.NEGATE
SUBPATTERN = sre_constants.SUBPATTERN
BRANCH = sre_constants.BRANCH
REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT)
ZERO_WIDTH = (sre_constants.AT, sre_constants.ASSERT, sre_constants.ASSERT_NOT)
ATOMIC = getattr(sre_constants, "ATOMIC_GROUP", None)


def _exact_node(op: object, av: object, max_class: int = _MAX_CLASS) -> set[str] | None:
    """All strings one parse node can match, if that set is small and finite."""
    if op is LITERAL:
        return {chr(av)}  # type: ignore[arg-type]
    if op is IN:
        chars: set[str] = set()
        for item_op, item_av in av:  # type: ignore[attr-defined]
            if item_op is LITERAL:
                chars.add(chr(item_av))
            elif item_op is RANGE:
                low, high = item_av
                if high - low >= max_class:
                    return None
                chars.update(chr(code) for code in range(low, high + 1))
            elif item_op is CATEGORY and item_av is sre_constants.CATEGORY_DIGIT:
                # Text is NFKC-normalised, so digits are ASCII (other scripts' digits are not anchored).
                chars.update("0123456789")
            else:
                return None
        return chars if len(chars) <= max_class else None
    if op is SUBPATTERN:
        return _exact(av[-1])  # type: ignore[index]
    if op is BRANCH:
        union: set[str] = set()
        for branch in av[1]:  # type: ignore[index]
            strings = _exact(branch)
            if strings is None:
                return None
            union |= strings
        return union if len(union) <= _MAX_SET else None
    if op in REPEATS:
        low, high, inner = av  # type: ignore[misc]
        if high is _UNBOUNDED or high > _MAX_REPEAT_EXPAND:
            return None
        inner_strings = _exact(inner)
        if inner_strings is None:
            return None
        result: set[str] = set()
        for count in range(low, high + 1):
            combos = {""}
            for _ in range(count):
                combos = {a + b for a in combos for b in inner_strings}
                if len(combos) > _MAX_SET:
                    return None
            result |= combos
        return result if len(result) <= _MAX_SET else None
    if op in ZERO_WIDTH:
        return {""}
    return None


def _exact(items: Sequence[tuple[object, object]]) -> set[str] | None:
    result = {""}
    for op, av in items:
        strings = _exact_node(op, av)
        if strings is None:
            return None
        result = {a + b for a in result for b in strings}
        if len(result) > _MAX_SET:
            return None
    return result


def _has_assertions(items: Sequence[tuple[object, object]]) -> bool:
    for op, av in items:
        if op in ZERO_WIDTH:
            return True
        if op is SUBPATTERN and _has_assertions(av[-1]):  # type: ignore[index]
            return True
        if op is BRANCH and any(_has_assertions(branch) for branch in av[1]):  # type: ignore[index]
            return True
        if op in REPEATS and _has_assertions(av[2]):  # type: ignore[index]
            return True
    return False


def literal_strings(pattern: str) -> frozenset[str] | None:
    """The finite set of strings a regex matches, if it is a plain alternation of literals (no look-arounds)."""
    items = list(sre_parser.parse(pattern, FLAGS))
    if _has_assertions(items):
        return None
    strings = _exact(items)
    if strings is None or "" in strings:
        return None
    return frozenset(strings)


def _required(items: Sequence[tuple[object, object]]) -> set[str] | None:
    """A set of strings such that every match of ``items`` contains one of them, or None."""
    candidates: list[set[str]] = []
    run: set[str] | None = None

    def flush() -> None:
        nonlocal run
        if run is not None and "" not in run:
            candidates.append(run)
        run = None

    for op, av in items:
        if op in ZERO_WIDTH:
            continue
        strings = _exact_node(op, av)
        if strings is None and run is not None:
            # A literal run followed by a larger class, directly or as the first item of a group (患者 + surname):
            # extend the run by that one character, then close it.
            head = (op, av) if op is IN else (list(av[-1])[0] if op is SUBPATTERN and len(av[-1]) else None)  # type: ignore[index,arg-type]
            if head is not None and head[0] is IN:
                wide = _exact_node(head[0], head[1], _MAX_RUN_CLASS)
                if wide is not None and len(run) * len(wide) <= _MAX_RUN_SET:
                    run = {a + b for a in run for b in wide}
                    if op is IN:
                        continue
                    flush()
                    continue
        if strings is not None:
            if run is None:
                run = set(strings)
            else:
                product = {a + b for a in run for b in strings}
                if len(product) > _MAX_SET:
                    flush()
                    run = set(strings)
                else:
                    run = product
            continue
        flush()
        inner: set[str] | None = None
        if op is SUBPATTERN:
            inner = _required(av[-1])  # type: ignore[index]
        elif ATOMIC is not None and op is ATOMIC:
            inner = _required(av)  # type: ignore[arg-type]
        elif op is BRANCH:
            union: set[str] = set()
            for branch in av[1]:  # type: ignore[index]
                branch_set = _required(branch)
                if branch_set is None:
                    union = set()
                    inner = None
                    break
                union |= branch_set
            else:
                inner = union
        elif op in REPEATS and av[0] >= 1:  # type: ignore[index]
            inner = _required(av[2])  # type: ignore[index]
        if inner:
            candidates.append(inner)
    flush()
    if not candidates:
        return None
    best = max(candidates, key=_anchor_score)
    return best if -_anchor_score(best) <= _MAX_ANCHOR_COST else None


def _anchor_cost(string: str) -> float:
    """Rough expected frequency of an anchor in medical Chinese text (lower is rarer)."""
    if len(string) >= 3:
        return 0.3
    if len(string) == 2:
        return 8 if string in _COMMON_WORDS else 1
    return 10 + 3 * _FREQUENT.get(string, 0)


def _anchor_score(strings: set[str]) -> float:
    return -sum(_anchor_cost(string) for string in strings)


def _width(items: Sequence[tuple[object, object]]) -> int | None:
    high = sre_parser.SubPattern(sre_parser.State(), list(items)).getwidth()[1]
    return None if high >= _UNBOUNDED else int(high)


_CATEGORY_SOURCE = {
    sre_constants.CATEGORY_DIGIT: r"\d",
    sre_constants.CATEGORY_NOT_DIGIT: r"\D",
    sre_constants.CATEGORY_SPACE: r"\s",
    sre_constants.CATEGORY_NOT_SPACE: r"\S",
    sre_constants.CATEGORY_WORD: r"\w",
    sre_constants.CATEGORY_NOT_WORD: r"\W",
}


def _class_source(op: object, av: object) -> str | None:
    """Regex source of a single-character node (to measure its longest run in a text)."""
    if op is LITERAL:
        return re.escape(chr(av))  # type: ignore[arg-type]
    if op is sre_constants.NOT_LITERAL:
        return "[^" + re.escape(chr(av)) + "]"  # type: ignore[arg-type]
    if op is sre_constants.ANY:
        return "."
    if op is IN:
        parts = []
        for item_op, item_av in av:  # type: ignore[attr-defined]
            if item_op is NEGATE:
                parts.append("^")
            elif item_op is LITERAL:
                parts.append(re.escape(chr(item_av)))
            elif item_op is RANGE:
                parts.append(re.escape(chr(item_av[0])) + "-" + re.escape(chr(item_av[1])))
            elif item_op is CATEGORY and item_av in _CATEGORY_SOURCE:
                parts.append(_CATEGORY_SOURCE[item_av])
            else:
                return None
        return "[" + "".join(parts) + "]"
    return None


Terms = tuple[int, tuple[tuple[str, int], ...]]


def _add_terms(total: dict[str, int], extra: Sequence[tuple[str, int]], times: int = 1) -> None:
    for source, count in extra:
        total[source] = total.get(source, 0) + count * times


def _width_terms(items: Sequence[tuple[object, object]]) -> Terms | None:
    """Maximum match width as ``fixed + sum(count * longest_run(class))`` over the text being scanned; None if an
    unbounded repeat is not over a single character class.

    An unbounded repeat of one character class (``\\d+``, ``\\s*``, ``[一二三]+``, ``.*``) can never match more
    characters than the longest run of that class in the text, so search windows stay small and results exact."""
    fixed = 0
    runs: dict[str, int] = {}
    for op, av in items:
        if op in REPEATS:
            _low, high, inner = av  # type: ignore[misc]
            inner_items = list(inner)
            if high is _UNBOUNDED:
                if len(inner_items) != 1:
                    return None
                source = _class_source(*inner_items[0])
                if source is None:
                    return None
                runs[source] = runs.get(source, 0) + 1
                continue
            terms = _width_terms(inner_items)
            if terms is None:
                return None
            fixed += high * terms[0]
            _add_terms(runs, terms[1], high)
        elif op is SUBPATTERN or (ATOMIC is not None and op is ATOMIC):
            terms = _width_terms(av[-1] if op is SUBPATTERN else av)  # type: ignore[index,arg-type]
            if terms is None:
                return None
            fixed += terms[0]
            _add_terms(runs, terms[1])
        elif op is BRANCH:
            best_fixed = 0
            best_runs: dict[str, int] = {}
            for branch in av[1]:  # type: ignore[index]
                terms = _width_terms(branch)
                if terms is None:
                    return None
                best_fixed = max(best_fixed, terms[0])
                for source, count in terms[1]:
                    best_runs[source] = max(best_runs.get(source, 0), count)
            fixed += best_fixed
            _add_terms(runs, tuple(best_runs.items()))
        elif op in ZERO_WIDTH:
            continue
        else:
            width = _width([(op, av)])
            if width is None:
                return None
            fixed += width
    return fixed, tuple(sorted(runs.items()))


_SMALL_CLASSES = {r"[\d]": "0123456789", r"[\s]": " \t\n\r\f\v"}


class RunLengths:
    """An upper bound of the longest run of each character class in one text, computed on first use.

    For small classes (digits, whitespace, a handful of literal characters) the bound is the number of such
    characters in the text (a few ``str.count`` calls); other classes get their longest run measured."""

    _compiled: dict[str, re.Pattern[str]] = {}
    _members: dict[str, str | None] = {}

    def __init__(self, text: str) -> None:
        self.text = text
        self.cache: dict[str, int] = {}

    _last: RunLengths | None = None

    @classmethod
    def of(cls, text: str) -> RunLengths:
        """The run lengths of ``text``, shared by consecutive lazy evaluations of the same text."""
        last = cls._last
        if last is None or last.text is not text:
            last = cls(text)
            cls._last = last
        return last

    @classmethod
    def _class_members(cls, source: str) -> str | None:
        if source not in cls._members:
            members = _SMALL_CLASSES.get(source)
            if members is None:
                parsed = list(sre_parser.parse(source, FLAGS))
                chars = _exact(parsed) if len(parsed) == 1 else None
                members = "".join(sorted(chars)) if chars and all(len(char) == 1 for char in chars) else None
            cls._members[source] = members
        return cls._members[source]

    def __call__(self, source: str) -> int:
        found = self.cache.get(source)
        if found is None:
            members = self._class_members(source)
            if members is not None:
                text = self.text
                found = sum(text.count(char) for char in members)
            else:
                pattern = self._compiled.get(source)
                if pattern is None:
                    pattern = re.compile(f"(?:{source})+", FLAGS)
                    self._compiled[source] = pattern
                found = max((len(run) for run in pattern.findall(self.text)), default=0)
            self.cache[source] = found
        return found


def _lookahead_reach(items: Sequence[tuple[object, object]]) -> int | None:
    """How far past the match a look-ahead can read (None = unbounded)."""
    reach = 0
    stack = [list(items)]
    while stack:
        for op, av in stack.pop():
            if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
                direction, inner = av  # type: ignore[misc]
                if direction == 1:
                    width = _width(inner)
                    if width is None:
                        return None
                    reach = max(reach, width)
                stack.append(list(inner))
            elif op is SUBPATTERN:
                stack.append(list(av[-1]))  # type: ignore[index]
            elif op is BRANCH:
                stack.extend(list(branch) for branch in av[1])  # type: ignore[index]
            elif op in REPEATS:
                stack.append(list(av[2]))  # type: ignore[index]
    return reach


@dataclass(frozen=True)
class PatternPlan:
    """How one regex is run: its anchors, and the window it needs around each anchor."""

    anchors: frozenset[str] | None
    width: int | None  # maximum match width, None = unbounded (window = the line)
    terms: Terms | None  # width as fixed + runs of character classes in the text (see _width_terms)
    reach: int | None  # look-ahead reach past the match, None = unbounded (to the line end)
    at_start: bool = False  # the regex begins with ^ (only position 0 can match)
    min_digits: int = 0  # anchors are single digits and every match holds at least this many digits

    def window_width(self, runs: RunLengths | None) -> int | None:
        if self.width is not None:
            return self.width
        if self.terms is None or runs is None:
            return None
        return self.terms[0] + sum(count * runs(source) for source, count in self.terms[1])


def plan_pattern(pattern: str, flags: int = FLAGS) -> PatternPlan:
    if flags & re.IGNORECASE:
        return PatternPlan(None, None, None)
    parsed = sre_parser.parse(pattern, flags)
    items = list(parsed)
    at_start = (
        bool(items)
        and items[0][0] is sre_constants.AT
        and items[0][1] in (sre_constants.AT_BEGINNING, sre_constants.AT_BEGINNING_STRING)
        and not flags & re.MULTILINE
    )
    anchors = _required(items)
    width = _width(items)
    # The density filter counts anchor hits as digits, so it needs every digit to be an anchor.
    digits_only = anchors == set("0123456789")
    return PatternPlan(
        frozenset(anchors) if anchors else None,
        width,
        _width_terms(items) if width is None else None,
        _lookahead_reach(items),
        at_start,
        _min_digits(items) if digits_only else 0,
    )


def _min_digits(items: Sequence[tuple[object, object]]) -> int:
    """Fewest digit characters any match of ``items`` contains."""
    total = 0
    for op, av in items:
        if op is LITERAL:
            total += chr(av).isdigit()  # type: ignore[arg-type]
        elif op is IN:
            chars = _exact_node(op, av)
            total += chars is not None and all(char.isdigit() for char in chars)
        elif op is SUBPATTERN:
            total += _min_digits(av[-1])  # type: ignore[index]
        elif op is BRANCH:
            total += min(_min_digits(branch) for branch in av[1])  # type: ignore[index]
        elif op in REPEATS:
            total += av[0] * _min_digits(av[2])  # type: ignore[index]
    return total


def _digit_dense(anchors: list[tuple[int, int]], needed: int, width: int | None) -> list[tuple[int, int]]:
    """Digit anchors that have at least ``needed`` digits within one match width of them."""
    if width is None:
        return anchors
    anchors.sort()
    kept = []
    low = 0
    count = len(anchors)
    for high in range(count):
        while anchors[high][0] - anchors[low][0] >= width:
            low += 1
        if high - low + 1 >= needed:
            kept.extend(anchors[low : high + 1])
    return sorted(set(kept))


class GatedPattern:
    """A regex run only in windows around its anchors, which one literal-alternation regex finds (sre scans a
    literal alternation at C speed; most rule regexes would otherwise be tried at every position)."""

    def __init__(self, source: str) -> None:
        self.pattern = re.compile(source, FLAGS)
        self.plan = plan_pattern(source)
        anchors = self.plan.anchors
        if anchors and not self.plan.at_start:
            ordered = sorted(anchors, key=len, reverse=True)
            self.anchor_re: re.Pattern[str] | None = re.compile(
                "|".join(re.escape(anchor) for anchor in ordered), FLAGS
            )
        else:
            self.anchor_re = None

    def spans(self, text: str, low: int = 0, high: int | None = None) -> list[tuple[int, int]]:
        size = len(text)
        high = size if high is None else min(high, size)
        low = max(0, low)
        if self.plan.at_start:
            match = self.pattern.match(text, 0, high) if low == 0 else None
            return [match.span()] if match is not None and match.end() > match.start() else []
        if self.anchor_re is None:
            return [match.span() for match in self.pattern.finditer(text, low, high) if match.end() > match.start()]
        runs = RunLengths.of(text)
        width = self.plan.window_width(runs)
        search_low = low if width is None else max(0, low - width)
        search_high = high if width is None else min(size, high + width)
        anchors = [match.span() for match in self.anchor_re.finditer(text, search_low, search_high)]
        if not anchors:
            return []
        found = []
        for window_low, window_high in _windows(text, size, anchors, self.plan, runs):
            for match in self.pattern.finditer(text, max(window_low, low), min(window_high, high)):
                if match.end() > match.start():
                    found.append(match.span())
        return found

    def search(self, text: str, low: int = 0, high: int | None = None) -> bool:
        size = len(text)
        high = size if high is None else min(high, size)
        low = max(0, low)
        if self.anchor_re is None or self.plan.at_start:
            if self.plan.at_start:
                return bool(self.spans(text, low, high))
            return self.pattern.search(text, low, high) is not None
        runs = RunLengths.of(text)
        width = self.plan.window_width(runs)
        reach = self.plan.reach
        for anchor in self.anchor_re.finditer(
            text, low if width is None else max(0, low - width), high if width is None else min(size, high + width)
        ):
            if width is None:
                window_low = text.rfind("\n", 0, anchor.start()) + 1
                line_end = text.find("\n", anchor.end())
                window_high = size if line_end == -1 else line_end
            else:
                window_low = anchor.end() - width
                window_high = anchor.start() + width
                if reach is None:
                    line_end = text.find("\n", window_high)
                    window_high = size if line_end == -1 else line_end
                else:
                    window_high += reach
            if self.pattern.search(text, max(low, window_low), min(high, window_high)) is not None:
                return True
        return False


class LazyLexicon:
    """A lexicon evaluated on demand: its phrases as one literal alternation, its regexes gated by anchors."""

    def __init__(self, phrases: Sequence[str], patterns: Sequence[str]) -> None:
        literal = set(phrases)
        gated = []
        for source in patterns:
            strings = literal_strings(source)
            if strings is None:
                gated.append(GatedPattern(source))
            else:
                literal |= strings
        ordered = sorted(literal, key=len, reverse=True)
        self.phrases = re.compile("|".join(re.escape(phrase) for phrase in ordered), FLAGS) if ordered else None
        self.patterns = tuple(gated)

    def spans(self, text: str, low: int = 0, high: int | None = None) -> list[tuple[int, int]]:
        high = len(text) if high is None else min(high, len(text))
        low = max(0, low)
        found: list[tuple[int, int]] = []
        if self.phrases is not None:
            found.extend(match.span() for match in self.phrases.finditer(text, low, high))
        for pattern in self.patterns:
            found.extend(pattern.spans(text, low, high))
        if len(self.patterns) + (self.phrases is not None) > 1:
            found = sorted(set(found))
        return found

    def search(self, text: str, low: int = 0, high: int | None = None) -> bool:
        high = len(text) if high is None else min(high, len(text))
        low = max(0, low)
        if self.phrases is not None and self.phrases.search(text, low, high) is not None:
            return True
        return any(pattern.search(text, low, high) for pattern in self.patterns)


@dataclass(frozen=True)
class Detector:
    """A named set of phrases and regexes; the matcher reports the spans each detector matched."""

    name: str
    phrases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


_EMPTY: list[tuple[int, int]] = []


class Scan:
    """Result of one matcher pass: sorted spans per detector name, in the normalised text."""

    __slots__ = ("hits", "known", "text")

    def __init__(self, text: str, known: frozenset[str], hits: dict[str, list[tuple[int, int]]]) -> None:
        self.text = text
        self.known = known
        self.hits = hits  # only detectors that matched

    def get(self, name: str) -> list[tuple[int, int]]:
        return self.hits.get(name, _EMPTY)

    def has(self, name: str) -> bool:
        return name in self.hits

    def knows(self, name: str) -> bool:
        return name in self.known

    def names_with_hits(self) -> list[str]:
        return list(self.hits)


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _hex(text: str) -> str:
    """The automaton reads text as UTF-16 code units in hex, each unit preceded by ``|``: every trie node then has
    at most 16 children, and a key (which starts with ``|``) can only match at a character boundary.

    pyahocorasick looks children up by a linear scan, so a trie over raw CJK characters (hundreds of distinct first
    characters at the root) costs far more per character than five steps with at most 16 children each. Astral
    characters are replaced 1:1 by U+FFFD first so that one character is always one code unit."""
    if not text.isascii() and _ASTRAL.search(text) is not None:
        text = _ASTRAL.sub("\ufffd", text)
    return "|" + text.encode("utf-16-be").hex("|", 2) if text else ""


class Matcher:
    """Compiled detectors: ``scan(text)`` finds every phrase and regex match of every detector."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self.detectors = tuple(detectors)
        self.index = {detector.name: position for position, detector in enumerate(self.detectors)}
        if len(self.index) != len(self.detectors):
            raise ValueError("detector names must be unique")
        self.known = frozenset(self.index)
        keys: dict[str, tuple[int, list[int], list[int]]] = {}
        self.patterns: list[tuple[int, re.Pattern[str], PatternPlan]] = []
        self.unanchored: list[int] = []
        for position, detector in enumerate(self.detectors):
            for phrase in detector.phrases:
                if not phrase:
                    raise ValueError(f"{detector.name}: empty phrase")
                entry = keys.setdefault(phrase, (len(phrase), [], []))
                if position not in entry[1]:
                    entry[1].append(position)
            for source in detector.patterns:
                literals = literal_strings(source)
                if literals is not None:
                    # A plain alternation of literals is matched by the automaton like phrases.
                    for phrase in literals:
                        entry = keys.setdefault(phrase, (len(phrase), [], []))
                        if position not in entry[1]:
                            entry[1].append(position)
                    continue
                compiled = re.compile(source, FLAGS)
                plan = plan_pattern(source)
                pattern_index = len(self.patterns)
                self.patterns.append((position, compiled, plan))
                if plan.anchors is None:
                    self.unanchored.append(pattern_index)
                    continue
                for anchor in plan.anchors:
                    keys.setdefault(anchor, (len(anchor), [], []))[2].append(pattern_index)
        automaton = ahocorasick.Automaton()
        for key, (length, phrase_detectors, pattern_indexes) in keys.items():
            encoded = _hex(key)
            automaton.add_word(
                encoded, (len(encoded) - 1, length, tuple(phrase_detectors), tuple(sorted(set(pattern_indexes))))
            )
        if len(automaton):
            automaton.make_automaton()
        self.automaton = automaton

    def stats(self) -> dict[str, int]:
        return {
            "detectors": len(self.detectors),
            "phrases": sum(len(detector.phrases) for detector in self.detectors),
            "patterns": len(self.patterns),
            "unanchored_patterns": len(self.unanchored),
            "automaton_keys": len(self.automaton),
        }

    def scan(self, text: str, skip: frozenset[str] = frozenset()) -> Scan:
        """Find every match of every detector except those named in ``skip`` (rules that do not apply)."""
        hits: list[list[tuple[int, int]]] = [[] for _ in self.detectors]
        anchored: dict[int, list[tuple[int, int]]] = {}
        if len(self.automaton):
            for end, (back, length, phrase_detectors, pattern_indexes) in self.automaton.iter(_hex(text)):
                start = (end - back) // 5
                stop = start + length
                for detector in phrase_detectors:
                    hits[detector].append((start, stop))
                for pattern_index in pattern_indexes:
                    found = anchored.get(pattern_index)
                    if found is None:
                        anchored[pattern_index] = [(start, stop)]
                    else:
                        found.append((start, stop))
        size = len(text)
        patterns = self.patterns
        runs = RunLengths.of(text)
        skipped = {self.index[name] for name in skip if name in self.index} if skip else ()
        for pattern_index, anchors in anchored.items():
            detector, compiled, plan = patterns[pattern_index]
            if detector in skipped:
                continue
            if plan.min_digits and len(anchors) < plan.min_digits:
                continue
            target = hits[detector]
            if plan.min_digits:
                anchors = _digit_dense(anchors, plan.min_digits, plan.window_width(runs))
                if not anchors:
                    continue
            for low, high in _windows(text, size, anchors, plan, runs):
                for match in compiled.finditer(text, low, high):
                    if match.end() > match.start():
                        target.append((match.start(), match.end()))
        for pattern_index in self.unanchored:
            detector, compiled, plan = patterns[pattern_index]
            if detector in skipped:
                continue
            target = hits[detector]
            if plan.at_start:
                match = compiled.match(text)
                if match is not None and match.end() > match.start():
                    target.append((match.start(), match.end()))
                continue
            for match in compiled.finditer(text):
                if match.end() > match.start():
                    target.append((match.start(), match.end()))
        found: dict[str, list[tuple[int, int]]] = {}
        names = self.detectors
        for position, target in enumerate(hits):
            if target:
                found[names[position].name] = sorted(set(target)) if len(target) > 1 else target
        return Scan(text, self.known, found)


def _windows(
    text: str, size: int, anchors: list[tuple[int, int]], plan: PatternPlan, runs: RunLengths | None = None
) -> list[tuple[int, int]]:
    """Merged search windows around anchor occurrences."""
    width = plan.window_width(runs)
    reach = plan.reach
    windows: list[tuple[int, int]] = []
    anchors.sort()
    for anchor_start, anchor_end in anchors:
        if width is None:
            low = text.rfind("\n", 0, anchor_start) + 1
            high = text.find("\n", anchor_end)
            high = size if high == -1 else high
        else:
            low = max(0, anchor_end - width)
            high = anchor_start + width
            if reach is None:
                line_end = text.find("\n", high)
                high = size if line_end == -1 else line_end
            else:
                high += reach
            high = min(size, high)
        if windows and low <= windows[-1][1]:
            if high > windows[-1][1]:
                windows[-1] = (windows[-1][0], high)
        else:
            windows.append((low, high))
    return windows
