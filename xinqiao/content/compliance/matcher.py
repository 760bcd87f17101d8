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
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parser  # type: ignore[attr-defined]

import ahocorasick

try:  # a Rust automaton (DFA over UTF-8, character offsets back); pyahocorasick is the fallback
    import ahocorasick_rs
except ImportError:  # pragma: no cover - depends on the installed packages
    ahocorasick_rs = None

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
# An inline (?i) flag: such a regex is not read for anchors, first characters or literal strings (all case-sensitive).
_INLINE_IGNORECASE = re.compile(r"\(\?[aLmsux-]*i")
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
    if _INLINE_IGNORECASE.search(pattern):
        return None  # case-insensitive: not a set of literal strings
    items = list(sre_parser.parse(pattern, FLAGS))
    if _has_assertions(items):
        return None
    strings = _exact(items)
    if strings is None or "" in strings:
        return None
    return frozenset(strings)


Anchor = tuple[set[str], int, int | None]  # strings, and the range of their offset from the start of the match


def _range(items: Sequence[tuple[object, object]]) -> tuple[int, int | None]:
    """Minimum and maximum width of ``items`` (None = unbounded)."""
    low, high = sre_parser.SubPattern(sre_parser.State(), list(items)).getwidth()
    return int(low), None if high >= _UNBOUNDED else int(high)


def _shift(anchor: Anchor, low: int, high: int | None) -> Anchor:
    strings, offset_low, offset_high = anchor
    return strings, offset_low + low, None if high is None or offset_high is None else offset_high + high


def _required(items: Sequence[tuple[object, object]]) -> set[str] | None:
    """A set of strings such that every match of ``items`` contains one of them, or None."""
    found = _required_anchor(items)
    return None if found is None else found[0]


def _required_anchor(items: Sequence[tuple[object, object]]) -> Anchor | None:
    """A set of strings such that every match of ``items`` contains one of them, with the range of offsets (from
    the start of the match) at which that occurrence starts, or None."""
    items = list(items)
    candidates: list[Anchor] = []
    run: set[str] | None = None
    run_start = 0

    def flush() -> None:
        nonlocal run
        if run is not None and "" not in run:
            candidates.append(_shift((run, 0, 0), *_range(items[:run_start])))
        run = None

    for index, (op, av) in enumerate(items):
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
                run_start = index
            else:
                product = {a + b for a in run for b in strings}
                if len(product) > _MAX_SET:
                    flush()
                    run = set(strings)
                    run_start = index
                else:
                    run = product
            continue
        flush()
        inner: Anchor | None = None
        if op is SUBPATTERN:
            inner = _required_anchor(av[-1])  # type: ignore[index]
        elif ATOMIC is not None and op is ATOMIC:
            inner = _required_anchor(av)  # type: ignore[arg-type]
        elif op is BRANCH:
            union: set[str] = set()
            low: int | None = None
            high: int | None = 0
            for branch in av[1]:  # type: ignore[index]
                branch_anchor = _required_anchor(branch)
                if branch_anchor is None:
                    break
                union |= branch_anchor[0]
                low = branch_anchor[1] if low is None else min(low, branch_anchor[1])
                high = None if high is None or branch_anchor[2] is None else max(high, branch_anchor[2])
            else:
                inner = (union, low or 0, high)
        elif op in REPEATS and av[0] >= 1:  # type: ignore[index]
            inner = _required_anchor(av[2])  # type: ignore[index]
            if inner is not None:
                # The occurrence may be in any repetition, not only the first.
                count = av[1]  # type: ignore[index]
                step = _range(av[2])[1]  # type: ignore[index]
                if count is _UNBOUNDED or count >= _UNBOUNDED or step is None:
                    inner = (inner[0], inner[1], None)
                else:
                    inner = _shift(inner, 0, (count - 1) * step)
        if inner and inner[0]:
            candidates.append(_shift(inner, *_range(items[:index])))
    flush()
    if not candidates:
        return None
    best = max(candidates, key=lambda candidate: _anchor_score(candidate[0]))
    return best if -_anchor_score(best[0]) <= _MAX_ANCHOR_COST else None


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


class _LongestRun:
    """Longest run of one character class inside a slice of a text (one ``findall`` over a small window)."""

    _compiled: dict[str, re.Pattern[str]] = {}

    @classmethod
    def of(cls, source: str, text: str, low: int, high: int) -> int:
        pattern = cls._compiled.get(source)
        if pattern is None:
            pattern = re.compile(f"(?:{source})+", FLAGS)
            cls._compiled[source] = pattern
        return max(map(len, pattern.findall(text, low, high)), default=0)


def _terms_width(text: str, size: int, start: int, end: int, terms: Terms) -> int:
    """Maximum width of a match that contains the anchor ``[start, end)``, for a regex whose width is
    ``fixed + sum(count * longest_run(class))`` (see :func:`_width_terms`).

    The runs are measured locally: with ``d`` at least the bound computed from the runs inside ``[start - d, end + d]``,
    no match containing the anchor can leave that window (the part of the match inside the window is made of the
    fixed items and of class runs inside the window, so it is no longer than the bound, hence no longer than ``d``,
    while a match that left the window would have more than ``d`` characters inside it). ``d`` grows from the
    bound for runs of one character until it holds; in prose it holds at once."""
    fixed, classes = terms
    reach = fixed + sum(count for _source, count in classes)
    while True:
        low = max(0, start - reach)
        high = min(size, end + reach)
        bound = fixed
        for source, count in classes:
            bound += count * _LongestRun.of(source, text, low, high)
        if bound <= reach or (low == 0 and high == size):  # the runs of the whole text bound every match
            return bound
        reach = bound


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


# A regex whose every match holds at least this many digits within a bounded width is gated by the text's digit
# clusters instead of by anchors in the automaton (phone, ID, card and record numbers: digits are frequent in health
# text, 150分钟 or 5克, but long digit sequences are rare).
_DIGIT_GATE = 5
# Up to this many candidate starts per anchor occurrence, ``match`` at each start is cheaper than a window search.
_MAX_START_OFFSETS = 8


@dataclass(frozen=True)
class PatternPlan:
    """How one regex is run: its anchors, and the window it needs around each anchor."""

    anchors: frozenset[str] | None
    width: int | None  # maximum match width, None = unbounded (window = the line)
    terms: Terms | None  # width as fixed + runs of character classes in the text (see _width_terms)
    reach: int | None  # look-ahead reach past the match, None = unbounded (to the line end)
    at_start: bool = False  # the regex begins with ^ (only position 0 can match)
    min_digits: int = 0  # every match holds at least this many digits
    # Offsets from the start of a match at which an anchor occurrence can start, when there are few of them: the
    # regex is then tried with ``match`` at each candidate start instead of searching windows.
    start_offsets: tuple[int, ...] | None = None
    first_chars: frozenset[str] | None = None  # every match starts with one of these (None: unknown or too many)

    @property
    def digit_gated(self) -> bool:
        return self.min_digits >= _DIGIT_GATE and self.width is not None and not self.at_start

    def anchor_width(self, text: str, size: int, start: int, end: int) -> int | None:
        """Maximum width of a match around the anchor ``[start, end)``; None = unbounded (window = the line)."""
        if self.width is not None:
            return self.width
        if self.terms is None:
            return None
        return _terms_width(text, size, start, end, self.terms)


def plan_pattern(pattern: str, flags: int = FLAGS) -> PatternPlan:
    if flags & re.IGNORECASE or _INLINE_IGNORECASE.search(pattern):
        # Anchors and first characters are read case-sensitively: a case-insensitive regex is scanned in full.
        return PatternPlan(None, None, None, None)
    parsed = sre_parser.parse(pattern, flags)
    items = list(parsed)
    at_start = (
        bool(items)
        and items[0][0] is sre_constants.AT
        and items[0][1] in (sre_constants.AT_BEGINNING, sre_constants.AT_BEGINNING_STRING)
        and not flags & re.MULTILINE
    )
    anchor = _required_anchor(items)
    anchors = anchor[0] if anchor is not None else None
    start_offsets = None
    if anchor is not None and anchor[2] is not None and anchor[2] - anchor[1] < _MAX_START_OFFSETS:
        start_offsets = tuple(range(anchor[1], anchor[2] + 1))
    width = _width(items)
    first_chars = _first_chars(items)
    return PatternPlan(
        frozenset(anchors) if anchors else None,
        width,
        _width_terms(items) if width is None else None,
        _lookahead_reach(items),
        at_start,
        _min_digits(items),
        start_offsets,
        frozenset(first_chars) if first_chars is not None else None,
    )


def _first_chars(items: Sequence[tuple[object, object]]) -> set[str] | None:
    """The characters a match of ``items`` can start with, if that set is small and known (look-arounds are
    skipped, which can only make the set larger)."""
    result: set[str] = set()
    for op, av in items:
        if op in ZERO_WIDTH:
            continue
        chars: set[str] | None
        if op is LITERAL:
            chars = {chr(av)}  # type: ignore[arg-type]
        elif op is IN:
            chars = _exact_node(op, av, _MAX_RUN_CLASS * 2)
        elif op is SUBPATTERN:
            chars = _first_chars(av[-1])  # type: ignore[index]
        elif ATOMIC is not None and op is ATOMIC:
            chars = _first_chars(av)  # type: ignore[arg-type]
        elif op is BRANCH:
            chars = set()
            for branch in av[1]:  # type: ignore[index]
                branch_chars = _first_chars(branch)
                if branch_chars is None:
                    return None
                chars |= branch_chars
        elif op in REPEATS:
            chars = _first_chars(av[2])  # type: ignore[index]
        else:
            return None
        if chars is None:
            return None
        result |= chars
        if _range([(op, av)])[0] > 0:
            return result
    return None  # every item can match empty: a match may start anywhere


def _min_digits(items: Sequence[tuple[object, object]]) -> int:
    """Fewest digit characters any match of ``items`` contains."""
    total = 0
    for op, av in items:
        if op is LITERAL:
            total += chr(av).isdigit()  # type: ignore[arg-type]
        elif op is IN:
            chars = _exact_node(op, av)
            total += chars is not None and all(char in "0123456789" for char in chars)
        elif op is SUBPATTERN:
            total += _min_digits(av[-1])  # type: ignore[index]
        elif op is BRANCH:
            total += min(_min_digits(branch) for branch in av[1])  # type: ignore[index]
        elif op in REPEATS:
            total += av[0] * _min_digits(av[2])  # type: ignore[index]
    return total


def _digit_clusters(digits: Sequence[tuple[int, int]], gap: int, needed: int) -> list[tuple[int, int, int]]:
    """Groups of digits (spans of single digits, in text order) whose gaps are shorter than ``gap``, as ``(start,
    end, digits)``, keeping the groups with at least ``needed`` digits. A match of a digit-gated regex (width <=
    ``gap``) has all its digits in one group, so it lies within ``width`` characters of a group that holds at least
    its minimum number of digits."""
    clusters: list[tuple[int, int, int]] = []
    start = end = -gap
    count = 0
    for position, _end in digits:
        if position - end < gap:
            end = position + 1
            count += 1
            continue
        if count >= needed:
            clusters.append((start, end, count))
        start, end, count = position, position + 1, 1
    if count >= needed:
        clusters.append((start, end, count))
    return clusters


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
        # A match inside [low, high) contains an anchor inside [low, high).
        anchors = [match.span() for match in self.anchor_re.finditer(text, low, high)]
        if not anchors:
            return []
        found = []
        for window_low, window_high in _windows(text, size, anchors, self.plan):
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
        plan = self.plan
        reach = plan.reach
        for anchor in self.anchor_re.finditer(text, low, high):
            anchor_start, anchor_end = anchor.span()
            width = plan.anchor_width(text, size, anchor_start, anchor_end)
            if width is None:
                window_low = text.rfind("\n", 0, anchor_start) + 1
                line_end = text.find("\n", anchor_end)
                window_high = size if line_end == -1 else line_end
            else:
                window_low = anchor_end - width
                window_high = anchor_start + width
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
        if high is None:
            high = len(text)
        if low < 0:
            low = 0
        if self.phrases is not None and self.phrases.search(text, low, high) is not None:
            return True
        return bool(self.patterns) and any(pattern.search(text, low, high) for pattern in self.patterns)


@dataclass(frozen=True)
class Detector:
    """A named set of phrases and regexes; the matcher reports the spans each detector matched."""

    name: str
    phrases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


_EMPTY: list[tuple[int, int]] = []


class Scan:
    """Result of one matcher pass: sorted spans per detector name, in the normalised text."""

    __slots__ = ("hits", "known", "sentinels", "text")

    def __init__(
        self,
        text: str,
        known: frozenset[str],
        hits: dict[str, list[tuple[int, int]]],
        sentinels: list[tuple[int, int]] | None = None,
    ) -> None:
        self.text = text
        self.known = known
        self.hits = hits  # only detectors that matched
        self.sentinels = sentinels  # occurrences of the matcher's sentinel keys (None: it has none)

    def get(self, name: str) -> list[tuple[int, int]]:
        return self.hits.get(name, _EMPTY)

    def has(self, name: str) -> bool:
        return name in self.hits

    def knows(self, name: str) -> bool:
        return name in self.known

    def names_with_hits(self) -> list[str]:
        return list(self.hits)


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _hex(text: str) -> str:
    """pyahocorasick reads text as UTF-16 code units in hex, each unit preceded by ``|``: every trie node then has
    at most 16 children, and a key (which starts with ``|``) can only match at a character boundary.

    pyahocorasick looks children up by a linear scan, so a trie over raw CJK characters (hundreds of distinct first
    characters at the root) costs far more per character than five steps with at most 16 children each. Astral
    characters are replaced 1:1 by U+FFFD first so that one character is always one code unit."""
    if not text.isascii() and _ASTRAL.search(text) is not None:
        text = _ASTRAL.sub("\ufffd", text)
    return "|" + text.encode("utf-16-be").hex("|", 2) if text else ""


class Automaton:
    """All keys of a matcher in one Aho-Corasick automaton, each key with the *slots* (small integers) its
    occurrences go to; ``collect(text)`` returns ``{slot: [(start, end), ...]}`` over every occurrence of every key
    (overlapping ones included), each list in order of the occurrences' ends.

    Backends: ``ahocorasick_rs`` (a DFA, about three times faster on CJK text) when it is installed, otherwise
    pyahocorasick over the hex form of the text (see :func:`_hex`). Both report exactly the same occurrences."""

    def __init__(self, keys: dict[str, tuple[int, ...]], backend: str | None = None) -> None:
        self.backend = backend or ("ahocorasick_rs" if ahocorasick_rs is not None else "pyahocorasick")
        self.size = len(keys)
        if self.backend == "ahocorasick_rs":
            if ahocorasick_rs is None:
                raise ValueError("the ahocorasick_rs backend is not installed")
            self.slots = list(keys.values())
            self.rust = (
                ahocorasick_rs.AhoCorasick(list(keys), implementation=ahocorasick_rs.Implementation.DFA)
                if keys
                else None
            )
            return
        if self.backend != "pyahocorasick":
            raise ValueError(f"unknown automaton backend {backend!r}")
        # The hex form replaces astral characters with U+FFFD (see _hex), in keys as in texts: keys that differ only
        # there become one key, with the union of their slots (a text's astral character then stands for any).
        merged: dict[str, tuple[int, set[int]]] = {}
        for key, slots in keys.items():
            encoded = _hex(key)
            merged.setdefault(encoded, (len(key), set()))[1].update(slots)
        automaton = ahocorasick.Automaton()
        for encoded, (length, slots) in merged.items():
            automaton.add_word(encoded, (len(encoded) - 1, length, tuple(sorted(slots))))
        if merged:
            automaton.make_automaton()
        self.python = automaton

    def __len__(self) -> int:
        return self.size

    def collect(self, text: str) -> defaultdict[int, list[tuple[int, int]]]:
        buckets: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)
        if not self.size or not text:
            return buckets
        if self.backend == "ahocorasick_rs":
            try:
                found = self.rust.find_matches_as_indexes(text, overlapping=True)  # type: ignore[union-attr]
            except UnicodeEncodeError:  # a lone surrogate: no key contains one, so it can stand for any character
                found = self.rust.find_matches_as_indexes(_SURROGATE.sub("\ufffd", text), overlapping=True)  # type: ignore[union-attr]
            key_slots = self.slots
            for index, start, end in found:
                span = (start, end)
                for slot in key_slots[index]:
                    buckets[slot].append(span)
            return buckets
        try:
            encoded = _hex(text)
        except UnicodeEncodeError:
            encoded = _hex(_SURROGATE.sub("\ufffd", text))
        for end, (back, length, slots) in self.python.iter(encoded):
            start = (end - back) // 5
            span = (start, start + length)
            for slot in slots:
                buckets[slot].append(span)
        return buckets


class Matcher:
    """Compiled detectors: ``scan(text)`` finds every phrase and regex match of every detector."""

    def __init__(
        self, detectors: Sequence[Detector], backend: str | None = None, sentinels: Sequence[str] = ()
    ) -> None:
        """``sentinels`` are extra keys whose occurrences :meth:`scan` reports in ``Scan.sentinels`` (the
        normaliser's proof that a text is already normal, see ``Normaliser.already_normal``)."""
        self.detectors = tuple(detectors)
        self.names = tuple(detector.name for detector in self.detectors)
        self.index = {name: position for position, name in enumerate(self.names)}
        if len(self.index) != len(self.detectors):
            raise ValueError("detector names must be unique")
        self.known = frozenset(self.index)
        keys: dict[str, tuple[int, list[int], list[int]]] = {}
        self.patterns: list[tuple[int, re.Pattern[str], PatternPlan]] = []
        self.unanchored: list[int] = []
        self.digit_gated: list[int] = []
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
                if plan.digit_gated:
                    self.digit_gated.append(pattern_index)
                    continue
                if plan.anchors is None:
                    self.unanchored.append(pattern_index)
                    continue
                for anchor in plan.anchors:
                    keys.setdefault(anchor, (len(anchor), [], []))[2].append(pattern_index)
        # Widest digit-gated regex: digit runs closer than this belong to one cluster.
        self.digit_gap = max((self.patterns[index][2].width or 0 for index in self.digit_gated), default=0)
        self.digit_needed = min((self.patterns[index][2].min_digits for index in self.digit_gated), default=0)
        # Digits are found by the automaton too (one key per digit, reported under an extra slot after the
        # detectors): a str-level regex scan for digit runs would cost more than the whole automaton pass.
        self.digit_slot = len(self.detectors)
        if self.digit_gated:
            for digit in "0123456789":
                entry = keys.setdefault(digit, (1, [], []))
                entry[1].append(self.digit_slot)
        self.sentinel_slot = self.digit_slot + 1 if sentinels else -1
        for sentinel in sentinels:
            if sentinel:
                keys.setdefault(sentinel, (len(sentinel), [], []))[1].append(self.sentinel_slot)
        # Slots: one per detector (phrase occurrences), then the digits, the sentinels, then one per anchored
        # pattern (anchor occurrences).
        self.pattern_slot = self.digit_slot + 2
        self.automaton = Automaton(
            {
                key: (*phrase_detectors, *(self.pattern_slot + index for index in sorted(set(pattern_indexes))))
                for key, (_length, phrase_detectors, pattern_indexes) in keys.items()
            },
            backend,
        )

    def stats(self) -> dict[str, int]:
        return {
            "detectors": len(self.detectors),
            "phrases": sum(len(detector.phrases) for detector in self.detectors),
            "patterns": len(self.patterns),
            "unanchored_patterns": len(self.unanchored),
            "digit_gated_patterns": len(self.digit_gated),
            "automaton_keys": len(self.automaton),
            "automaton_backend": self.automaton.backend,  # type: ignore[dict-item]
        }

    def scan(self, text: str, skip: frozenset[str] = frozenset()) -> Scan:
        """Find every match of every detector except those named in ``skip`` (rules that do not apply)."""
        return self.finish(text, self.collect(text), skip)

    def collect(self, text: str) -> defaultdict[int, list[tuple[int, int]]]:
        """The automaton pass alone: key occurrences by slot (see :meth:`sentinels` and :meth:`finish`)."""
        return self.automaton.collect(text)

    def sentinels(self, hits: Mapping[int, list[tuple[int, int]]]) -> list[tuple[int, int]] | None:
        """Occurrences of the sentinel keys in a :meth:`collect` result (None: the matcher has no sentinels)."""
        return hits.get(self.sentinel_slot, []) if self.sentinel_slot >= 0 else None

    def finish(
        self, text: str, hits: defaultdict[int, list[tuple[int, int]]], skip: frozenset[str] = frozenset()
    ) -> Scan:
        """The regexes, run around their anchors' occurrences found by :meth:`collect` on the same ``text``."""
        pattern_slot = self.pattern_slot
        anchored = [(slot - pattern_slot, spans) for slot, spans in hits.items() if slot >= pattern_slot]
        size = len(text)
        patterns = self.patterns
        skipped = {self.index[name] for name in skip if name in self.index} if skip else ()
        for pattern_index, anchors in anchored:
            detector, compiled, plan = patterns[pattern_index]
            if detector in skipped:
                continue
            offsets = plan.start_offsets
            if offsets is None:
                found = [
                    match.span()
                    for low, high in _windows(text, size, anchors, plan)
                    for match in compiled.finditer(text, low, high)
                    if match.end() > match.start()
                ]
            else:
                found = _match_at_starts(text, compiled, anchors, offsets, plan.first_chars)
            if found:
                hits[detector].extend(found)
        if self.digit_gated and size:
            clusters = None
            for pattern_index in self.digit_gated:
                detector, compiled, plan = patterns[pattern_index]
                if detector in skipped:
                    continue
                if clusters is None:
                    clusters = _digit_clusters(hits.get(self.digit_slot, ()), self.digit_gap, self.digit_needed)
                    if not clusters:
                        break
                width = plan.width or 0
                windows = [
                    (cluster_start - width, cluster_end + width)
                    for cluster_start, cluster_end, digits in clusters
                    if digits >= plan.min_digits
                ]
                if not windows:
                    continue
                found = [
                    match.span()
                    for low, high in _merge_windows(text, size, windows, plan.reach)
                    for match in compiled.finditer(text, low, high)
                    if match.end() > match.start()
                ]
                if found:
                    hits[detector].extend(found)
        for pattern_index in self.unanchored:
            detector, compiled, plan = patterns[pattern_index]
            if detector in skipped:
                continue
            if plan.at_start:
                match = compiled.match(text)
                found = [match.span()] if match is not None and match.end() > match.start() else []
            else:
                found = [match.span() for match in compiled.finditer(text) if match.end() > match.start()]
            if found:
                hits[detector].extend(found)
        names = self.names
        detector_count = self.digit_slot
        sentinels = self.sentinels(hits)
        return Scan(
            text,
            self.known,
            {
                names[position]: sorted(set(spans)) if len(spans) > 1 else spans
                for position, spans in sorted(hits.items())  # detector order: rules are evaluated in it
                if position < detector_count and spans
            },
            sentinels,
        )


def _match_at_starts(
    text: str,
    compiled: re.Pattern[str],
    anchors: list[tuple[int, int]],
    offsets: tuple[int, ...],
    first_chars: frozenset[str] | None = None,
) -> list[tuple[int, int]]:
    """What ``compiled.finditer(text)`` finds, given every occurrence of the regex's anchors and the offsets at
    which an anchor occurrence can start inside a match: every match starts at one of the candidate positions, and
    a match attempt at a position is the one a full scan makes there, so trying the candidates in order and skipping
    those inside the previous match gives the same non-overlapping sequence."""
    if offsets == (0,):
        starts = sorted({start for start, _end in anchors}) if len(anchors) > 1 else [anchors[0][0]]
    else:
        starts = sorted({start - offset for start, _end in anchors for offset in offsets if start >= offset})
        if first_chars is not None:  # a start whose character no match begins with needs no attempt
            starts = [start for start in starts if text[start] in first_chars]
    found: list[tuple[int, int]] = []
    last_end = -1
    match_at = compiled.match
    for start in starts:
        if start < last_end:
            continue
        match = match_at(text, start)
        if match is not None:
            end = match.end()
            if end > start:
                found.append((start, end))
                last_end = end
    return found


def _merge_windows(text: str, size: int, windows: list[tuple[int, int]], reach: int | None) -> list[tuple[int, int]]:
    """Clip ``(low, high)`` windows to the text, extend them by the look-ahead reach (or to the line end), merge."""
    merged: list[tuple[int, int]] = []
    for low, high in sorted(windows):
        low = max(0, low)
        if reach is None:
            line_end = text.find("\n", high)
            high = size if line_end == -1 else line_end
        else:
            high = min(size, high + reach)
        if merged and low <= merged[-1][1]:
            if high > merged[-1][1]:
                merged[-1] = (merged[-1][0], high)
        else:
            merged.append((low, high))
    return merged


def _windows(text: str, size: int, anchors: list[tuple[int, int]], plan: PatternPlan) -> list[tuple[int, int]]:
    """Merged search windows around anchor occurrences."""
    width = plan.width
    reach = plan.reach
    windows: list[tuple[int, int]] = []
    anchors.sort()
    for anchor_start, anchor_end in anchors:
        span = plan.anchor_width(text, size, anchor_start, anchor_end) if width is None else width
        if span is None:
            low = text.rfind("\n", 0, anchor_start) + 1
            high = text.find("\n", anchor_end)
            high = size if high == -1 else high
        else:
            low = max(0, anchor_end - span)
            high = anchor_start + span
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
