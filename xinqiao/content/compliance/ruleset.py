"""Loading, validating and compiling the rule data (``rules.yaml`` + ``data/``), with per-tenant overlays.

A :class:`CompiledRules` is built once per rule version and cached: the base catalogue under its content hash, an
overlay (a hospital admin's extra phrases, patterns and exceptions per rule id, as plain dicts) under the version
key the caller gives, or the hash of the overlay when no key is given.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from pathlib import Path
from typing import Any

import yaml

from .matcher import FLAGS, Detector, LazyLexicon, Matcher
from .normalise import CJK_CLASS, Normaliser, load_evasion_map, t2s_table

HERE = Path(__file__).resolve().parent
RULES_FILE = HERE / "rules.yaml"
CONTENT_TYPES = ("article", "video_script", "note", "live_script", "ad_creative", "comment_reply")


# Lexicons of medical terms whose surname-initial entries are PII-005 false friends.
_TERM_LEXICONS = ("disease", "drug", "rx_drug", "technique", "rare_disease")


class Severity(IntEnum):
    INFO = 1
    WARN = 2
    BLOCK = 3

    def __str__(self) -> str:
        return self.name


def parse_severity(value: object, where: str) -> Severity | None:
    if value is None:
        return None
    if isinstance(value, str) and value in Severity.__members__:
        return Severity[value]
    raise ValueError(f"{where}: severity must be BLOCK, WARN, INFO or null, not {value!r}")


@dataclass(frozen=True)
class RuleException:
    pattern: re.Pattern[str]
    scope: str = "both"  # ad | nonad | both
    effect: str = "cancel"  # cancel | info
    requires: str | None = None  # verified_honors | public_health_program


@dataclass(frozen=True)
class SeverityOverride:
    when_text: re.Pattern[str] | None
    when_sentence: re.Pattern[str] | None
    sev_ad: Severity | None
    sev_nonad: Severity | None
    has_ad: bool
    has_nonad: bool


@dataclass(frozen=True)
class Group:
    """Phrases and patterns of a rule that share conditions; group 0 holds the rule's top-level lists."""

    name: str
    detector: str  # matcher detector name
    phrases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    only: str | None = None  # ad | nonad
    requires_sentence: str | None = None  # lexicon name that must hit in the same sentence
    sev_ad: Severity | None = None
    sev_nonad: Severity | None = None
    has_severity: bool = False


@dataclass(frozen=True)
class Rule:
    id: str
    family: str
    title_zh: str
    title_en: str
    citation: tuple[Mapping[str, str], ...]
    applies_to: frozenset[str]
    sev_ad: Severity | None
    sev_nonad: Severity | None
    negation: str
    groups: tuple[Group, ...] = ()
    exceptions: tuple[RuleException, ...] = ()
    severity_overrides: tuple[SeverityOverride, ...] = ()
    structural: str | None = None
    detectors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    lazy_detectors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    global_exceptions: bool = True
    fix: str = ""
    fix_zh: str = ""
    autofix: str | None = None
    inherit_families: tuple[str, ...] = ()
    examples: Mapping[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def citation_text(self) -> str:
        parts = []
        for item in self.citation:
            law = item.get("law", "")
            article = str(item.get("article", "") or "")
            parts.append(f"《{law}》{article}" if article else f"《{law}》")
        return "; ".join(parts)

    @functools.cached_property
    def _detector_names(self) -> dict[str, str]:
        return {}

    @functools.cached_property
    def compiled_detectors(self) -> dict[str, tuple[re.Pattern[str], ...]]:
        """The regexes of the rule's named detectors (scanned and lazy), compiled, for predicates that re-match."""
        return {
            name: tuple(re.compile(source, FLAGS) for source in sources)
            for name, sources in (*self.detectors.items(), *self.lazy_detectors.items())
        }

    @functools.cached_property
    def finding_constants(self) -> dict[str, str]:
        """The fields every finding of this rule shares."""
        return {
            "fix": self.fix,
            "citation": self.citation_text,
            "title": f"{self.title_zh} / {self.title_en}",
            "autofix": f"{self.autofix}:{self.fix_zh}" if self.autofix else "",
        }

    def detector_name(self, name: str) -> str:
        names = self._detector_names
        full = names.get(name)
        if full is None:
            full = names[name] = f"{self.id}.{name}"
        return full


@dataclass(frozen=True)
class NegationConfig:
    window: int
    cues: re.Pattern[str]
    debunk: re.Pattern[str]
    traps: tuple[re.Pattern[str], ...]
    quotes: tuple[tuple[str, str], ...]
    non_cues: re.Pattern[str] | None

    @functools.cached_property
    def trap(self) -> re.Pattern[str]:
        """All double-negation traps as one regex."""
        return re.compile("|".join(f"(?:{trap.pattern})" for trap in self.traps) or "(?!)", FLAGS)

    @functools.cached_property
    def quote_chars(self) -> re.Pattern[str]:
        chars = {char for pair in self.quotes for char in pair}
        return re.compile("[" + "".join(re.escape(char) for char in sorted(chars)) + "]")


@dataclass(frozen=True)
class RuleSet:
    version: str
    rules: tuple[Rule, ...]
    engine_rules: tuple[Rule, ...]
    lexicons: Mapping[str, Detector]  # scanned by the one-pass matcher
    lazy: Mapping[str, LazyLexicon]  # every other lexicon and lazy rule detector, evaluated on demand
    phrases: Mapping[str, tuple[str, ...]]  # phrase list of every lexicon
    local_patterns: Mapping[str, tuple[re.Pattern[str], ...]]
    normaliser: Normaliser
    negation: NegationConfig
    sentence_chars: str
    clause_chars: str
    link_kinds: frozenset[str]
    surnames: str
    compound_surnames: tuple[str, ...]
    false_friends: tuple[str, ...]
    subject_mapping: Mapping[str, str]

    @functools.cached_property
    def sentence_re(self) -> re.Pattern[str]:
        return re.compile("[" + "".join(re.escape(char) for char in self.sentence_chars) + "]")

    @functools.cached_property
    def clause_re(self) -> re.Pattern[str]:
        return re.compile("[" + "".join(re.escape(char) for char in self.sentence_chars + self.clause_chars) + "]")

    @functools.cached_property
    def false_friend_re(self) -> re.Pattern[str]:
        ordered = sorted(self.false_friends, key=len, reverse=True)
        return re.compile("|".join(re.escape(word) for word in ordered) or "(?!)")

    @functools.cached_property
    def by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in (*self.rules, *self.engine_rules)}


def _read_lines(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


def _as_list(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise ValueError(f"{where}: expected a list")


class _Loader:
    """Turns the YAML document into :class:`RuleSet` objects, validating as it goes."""

    def __init__(self, document: Mapping[str, Any], base: Path) -> None:
        self.document = document
        self.base = base
        surname_lines = _read_lines(base / "data" / "surnames.txt")
        self.surnames = surname_lines[0]
        self.compound_surnames = tuple(surname_lines[1:])
        normalisation = document["normalisation"]
        self.normaliser = Normaliser(
            separators=normalisation["separators"],
            max_run=int(normalisation["max_run"]),
            keep_if_contains=normalisation["keep_if_contains"],
            zero_width=normalisation["zero_width"],
            nfkc_keep=normalisation.get("nfkc_keep", ""),
            evasion_entries=load_evasion_map(
                (base / "data" / "evasion_map.tsv").read_text(encoding="utf-8").splitlines()
            ),
        )

    # -- text helpers -------------------------------------------------------------------------------------------
    def phrase(self, phrase: str) -> str:
        """Rule phrases go through the same character folding as the text they are matched against."""
        return self.normaliser.fold(str(phrase))

    def pattern(self, source: str, where: str) -> str:
        source = (
            str(source)
            .replace("{COMPOUND_SURNAME}", "|".join(self.compound_surnames))
            .replace("{SURNAME}", self.surnames)
            .replace("{CJK}", CJK_CLASS)
        )
        # Traditional characters in a pattern are folded like the text; ASCII regex syntax is untouched.
        t2s = t2s_table()
        source = "".join(t2s.get(char, char) for char in source)
        try:
            re.compile(source, FLAGS)
        except re.error as exc:
            raise ValueError(f"{where}: invalid regex {source!r}: {exc}") from exc
        return source

    def phrases(self, values: object, where: str) -> tuple[str, ...]:
        result = []
        for value in _as_list(values, where):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{where}: phrases must be non-empty strings")
            folded = self.phrase(value)
            if folded not in result:
                result.append(folded)
        return tuple(result)

    def patterns(self, values: object, where: str) -> tuple[str, ...]:
        result = []
        for value in _as_list(values, where):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{where}: patterns must be non-empty strings")
            result.append(self.pattern(value, where))
        return tuple(result)

    # -- sections -----------------------------------------------------------------------------------------------
    def lexicons(
        self,
    ) -> tuple[
        dict[str, Detector],
        dict[str, LazyLexicon],
        dict[str, tuple[str, ...]],
        dict[str, tuple[re.Pattern[str], ...]],
    ]:
        scanned: dict[str, Detector] = {}
        lazy: dict[str, LazyLexicon] = {}
        phrase_lists: dict[str, tuple[str, ...]] = {}
        local: dict[str, tuple[re.Pattern[str], ...]] = {}
        specs = dict(self.document["lexicons"])
        specs["subject_service"] = {"phrases": list(self.subject_mapping()), "scan": True}
        for name, spec in specs.items():
            where = f"lexicon {name}"
            phrases = list(self.phrases(spec.get("phrases"), where))
            if "file" in spec:
                phrases.extend(self.phrase(line) for line in _read_lines(self.base / spec["file"]))
            phrases = list(dict.fromkeys(phrases))
            patterns = self.patterns(spec.get("patterns"), where)
            local[name] = tuple(re.compile(source, FLAGS) for source in patterns)
            phrase_lists[name] = tuple(phrases)
            if spec.get("scan") is True:
                scanned[name] = Detector(f"lex.{name}", tuple(phrases), patterns)
            else:
                lazy[name] = LazyLexicon(phrases, patterns)
        return scanned, lazy, phrase_lists, local

    def false_friends(self, phrase_lists: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
        """Words that start with a surname character but are not names (PII-005 step 3): the data file, plus every
        term of the medical lexicons that starts with a surname (黄疸, 白内障, 胡萝卜素 … a name candidate cut out of
        a medical term is never a person)."""
        words = [self.phrase(line) for line in _read_lines(self.base / "data" / "surname_false_friends.txt")]
        surnames = set(self.surnames)
        for name in _TERM_LEXICONS:
            words.extend(
                phrase
                for phrase in phrase_lists.get(name, ())
                if phrase[:1] in surnames or phrase.startswith(self.compound_surnames)
            )
        return tuple(dict.fromkeys(words))

    def subject_mapping(self) -> dict[str, str]:
        path = self.base / "data" / "subject_mapping.csv"
        with path.open(encoding="utf-8", newline="") as handle:
            return {self.phrase(row["service"]): row["subject"] for row in csv.DictReader(handle)}

    def negation(self) -> NegationConfig:
        section = self.document["negation"]
        return NegationConfig(
            window=int(section["window"]),
            cues=re.compile(self.pattern(section["cues"], "negation.cues"), FLAGS),
            debunk=re.compile(self.pattern(section["debunk"], "negation.debunk"), FLAGS),
            traps=tuple(re.compile(self.pattern(trap, "negation.traps"), FLAGS) for trap in section["traps"]),
            quotes=tuple((pair[0], pair[1]) for pair in section["quotes"]),
            non_cues=re.compile(self.pattern(section["non_cues"], "negation.non_cues"), FLAGS)
            if section.get("non_cues")
            else None,
        )

    def rule(self, spec: Mapping[str, Any]) -> Rule:
        rule_id = spec["id"]
        if not re.fullmatch(r"[A-Z]+-\d{3}", rule_id):
            raise ValueError(f"rule id {rule_id!r} is not of the form ABC-001")
        where = f"rule {rule_id}"
        groups = []
        top_phrases = self.phrases(spec.get("phrases"), where)
        top_patterns = self.patterns(spec.get("patterns"), where)
        if top_phrases or top_patterns:
            groups.append(Group("main", f"{rule_id}#0", top_phrases, top_patterns))
        for group_spec in _as_list(spec.get("groups"), where):
            index = len(groups)
            group_where = f"{where} group {group_spec.get('name')}"
            phrases = list(self.phrases(group_spec.get("phrases"), group_where))
            if "lexicon" in group_spec:
                lexicon = self.document["lexicons"][group_spec["lexicon"]]
                phrases.extend(self.phrase(line) for line in _read_lines(self.base / lexicon["file"]))
            if group_spec.get("only") not in (None, "ad", "nonad"):
                raise ValueError(f"{group_where}: only must be ad or nonad")
            groups.append(
                Group(
                    name=group_spec.get("name", f"group{index}"),
                    detector=f"{rule_id}#{index}",
                    phrases=tuple(dict.fromkeys(phrases)),
                    patterns=self.patterns(group_spec.get("patterns"), group_where),
                    only=group_spec.get("only"),
                    requires_sentence=group_spec.get("requires_sentence"),
                    sev_ad=parse_severity(group_spec.get("sev_ad"), group_where),
                    sev_nonad=parse_severity(group_spec.get("sev_nonad"), group_where),
                    has_severity="sev_ad" in group_spec or "sev_nonad" in group_spec,
                )
            )
        exceptions = tuple(self.exception(item, where) for item in _as_list(spec.get("exceptions"), where))
        overrides = []
        for item in _as_list(spec.get("severity_overrides"), where):
            overrides.append(
                SeverityOverride(
                    when_text=re.compile(self.pattern(item["when_text"], where), FLAGS)
                    if "when_text" in item
                    else None,
                    when_sentence=re.compile(self.pattern(item["when_sentence"], where), FLAGS)
                    if "when_sentence" in item
                    else None,
                    sev_ad=parse_severity(item.get("sev_ad"), where),
                    sev_nonad=parse_severity(item.get("sev_nonad"), where),
                    has_ad="sev_ad" in item,
                    has_nonad="sev_nonad" in item,
                )
            )
        applies_to = frozenset(spec.get("applies_to") or CONTENT_TYPES)
        if not applies_to <= set(CONTENT_TYPES):
            raise ValueError(f"{where}: unknown content type in applies_to")
        negation = spec.get("negation", "standard")
        if negation not in ("standard", "none"):
            raise ValueError(f"{where}: negation must be standard or none")
        detectors = {
            name: self.patterns(values, f"{where} detector {name}")
            for name, values in (spec.get("detectors") or {}).items()
        }
        lazy_detectors = {
            name: self.patterns(values, f"{where} detector {name}")
            for name, values in (spec.get("lazy_detectors") or {}).items()
        }
        return Rule(
            id=rule_id,
            family=spec["family"],
            title_zh=spec["title_zh"],
            title_en=spec["title_en"],
            citation=tuple(spec.get("citation") or ()),
            applies_to=applies_to,
            sev_ad=parse_severity(spec.get("sev_ad"), where),
            sev_nonad=parse_severity(spec.get("sev_nonad"), where),
            negation=negation,
            groups=tuple(groups),
            exceptions=exceptions,
            severity_overrides=tuple(overrides),
            structural=spec.get("structural"),
            detectors=detectors,
            lazy_detectors=lazy_detectors,
            global_exceptions=bool(spec.get("global_exceptions", True)),
            fix=str(spec.get("fix", "")),
            fix_zh=str(spec.get("fix_zh", "")),
            autofix=spec.get("autofix"),
            inherit_families=tuple(spec.get("inherit_families") or ()),
            examples=spec.get("examples") or {},
        )

    def exception(self, item: Mapping[str, Any] | str, where: str) -> RuleException:
        if isinstance(item, str):
            item = {"pattern": item}
        scope = item.get("scope", "both")
        effect = item.get("effect", "cancel")
        if scope not in ("ad", "nonad", "both") or effect not in ("cancel", "info"):
            raise ValueError(f"{where}: exception scope must be ad|nonad|both and effect cancel|info")
        requires = item.get("requires")
        if requires not in (None, "verified_honors", "public_health_program"):
            raise ValueError(f"{where}: unknown exception requirement {requires!r}")
        return RuleException(re.compile(self.pattern(item["pattern"], where), FLAGS), scope, effect, requires)

    def ruleset(self, version: str) -> RuleSet:
        lexicons, lazy, phrase_lists, local = self.lexicons()
        rules = tuple(self.rule(spec) for spec in self.document["rules"])
        engine_rules = tuple(self.rule(spec) for spec in self.document.get("engine_rules") or ())
        ids = [rule.id for rule in (*rules, *engine_rules)]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate rule ids in rules.yaml")
        for rule in rules:
            for name, patterns in rule.lazy_detectors.items():
                lazy[rule.detector_name(name)] = LazyLexicon((), patterns)
        return RuleSet(
            version=version,
            rules=rules,
            engine_rules=engine_rules,
            lexicons=lexicons,
            lazy=lazy,
            phrases=phrase_lists,
            local_patterns=local,
            normaliser=self.normaliser,
            negation=self.negation(),
            sentence_chars=self.document["units"]["sentence"],
            clause_chars=self.document["units"]["clause"],
            link_kinds=frozenset(self.document["ad_inference"]["link_kinds"]),
            surnames=self.surnames,
            compound_surnames=self.compound_surnames,
            false_friends=self.false_friends(phrase_lists),
            subject_mapping=self.subject_mapping(),
        )


def _base_version() -> str:
    digest = hashlib.sha256(RULES_FILE.read_bytes())
    for path in sorted((HERE / "data").iterdir()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return "base-" + digest.hexdigest()[:12]


@functools.cache
def _document() -> tuple[str, Mapping[str, Any]]:
    return _base_version(), yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))


@functools.cache
def base_ruleset() -> RuleSet:
    version, document = _document()
    return _Loader(document, HERE).ruleset(version)


# -- overlays --------------------------------------------------------------------------------------------------
_OVERLAY_KEYS = {"rule_id", "phrases", "patterns", "exceptions"}


@dataclass(frozen=True)
class RuleOverlay:
    """Per-tenant additions: extra phrases, patterns and exceptions per rule id, under a version key.

    ``items`` are plain dicts such as ``{"rule_id": "ABS-001", "phrases": ["天下第一"], "exceptions": ["…"]}``,
    as an admin UI stores them. The compiled matcher is cached under ``version`` (use e.g. the hospital id and the
    admin table's revision); an empty version means "hash the items".
    """

    items: tuple[Mapping[str, Any], ...]
    version: str = ""

    @classmethod
    def coerce(cls, value: RuleOverlay | Sequence[Mapping[str, Any]] | None) -> RuleOverlay | None:
        if value is None or isinstance(value, RuleOverlay):
            return value
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ValueError("extra_rules must be a RuleOverlay or a list of dicts")
        return cls(tuple(value))

    def key(self) -> str:
        if self.version:
            return self.version
        canonical = json.dumps(list(self.items), ensure_ascii=False, sort_keys=True, default=str)
        return "overlay-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def apply_overlay(base: RuleSet, overlay: RuleOverlay) -> RuleSet:
    """A new rule set with the overlay's phrases/patterns (as an extra group) and exceptions added."""
    _, document = _document()
    loader = _Loader(document, HERE)
    additions: dict[str, dict[str, list[Any]]] = {}
    for position, item in enumerate(overlay.items):
        where = f"extra_rules[{position}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: must be a dict")
        unknown = set(item) - _OVERLAY_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_OVERLAY_KEYS)}")
        rule_id = item.get("rule_id")
        if rule_id not in base.by_id:
            raise ValueError(f"{where}: unknown rule id {rule_id!r}")
        bucket = additions.setdefault(rule_id, {"phrases": [], "patterns": [], "exceptions": []})
        bucket["phrases"].extend(loader.phrases(item.get("phrases"), f"{where} ({rule_id})"))
        bucket["patterns"].extend(loader.patterns(item.get("patterns"), f"{where} ({rule_id})"))
        bucket["exceptions"].extend(
            loader.exception(exception, f"{where} ({rule_id})") for exception in _as_list(item.get("exceptions"), where)
        )
    rules = []
    for rule in base.rules:
        bucket = additions.get(rule.id)
        if bucket is None:
            rules.append(rule)
            continue
        groups = rule.groups
        if bucket["phrases"] or bucket["patterns"]:
            groups = (
                *groups,
                Group(
                    "overlay", f"{rule.id}#overlay", tuple(dict.fromkeys(bucket["phrases"])), tuple(bucket["patterns"])
                ),
            )
        rules.append(replace(rule, groups=groups, exceptions=(*rule.exceptions, *bucket["exceptions"])))
    return replace(base, version=f"{base.version}+{overlay.key()}", rules=tuple(rules))


@dataclass(frozen=True, eq=False)  # hashed by identity: one object per cached rule version
class CompiledRules:
    ruleset: RuleSet
    matcher: Matcher
    detectors: tuple[Detector, ...] = ()
    _variants: dict[frozenset[str], Matcher] = field(default_factory=dict)

    def matcher_without(self, skip: frozenset[str]) -> Matcher:
        """A matcher without the detectors of rules that do not apply (built once per set, e.g. per content type)."""
        if not skip:
            return self.matcher
        found = self._variants.get(skip)
        if found is None:
            found = Matcher(
                [detector for detector in self.detectors if detector.name not in skip],
                sentinels=self.ruleset.normaliser.sentinel_keys,
            )
            self._variants[skip] = found
        return found

    def inventory(self) -> list[Detector]:
        """Every phrase list and regex the rules run over the text: the matcher's detectors plus the lazily
        evaluated lexicons and rule detectors (used by the naive baseline of bench/compliance.py)."""
        _, document = _document()
        detectors = list(self.matcher.detectors)
        for name, spec in document["lexicons"].items():
            if name in self.ruleset.lexicons or spec.get("scan") is False:
                continue
            patterns = tuple(pattern.pattern for pattern in self.ruleset.local_patterns[name])
            detectors.append(Detector(f"lazy.{name}", self.ruleset.phrases[name], patterns))
        detectors.append(Detector("lazy.subject_service", self.ruleset.phrases["subject_service"]))
        for rule in self.ruleset.rules:
            for name, patterns in rule.lazy_detectors.items():
                detectors.append(Detector(f"lazy.{rule.detector_name(name)}", (), patterns))
        return detectors


def compile_ruleset(ruleset: RuleSet) -> CompiledRules:
    detectors: list[Detector] = list(ruleset.lexicons.values())
    # (lazy lexicons and lazy rule detectors are not part of the matcher)
    for rule in (*ruleset.rules, *ruleset.engine_rules):
        for group in rule.groups:
            detectors.append(Detector(group.detector, group.phrases, group.patterns))
        for name, patterns in rule.detectors.items():
            detectors.append(Detector(rule.detector_name(name), (), patterns))
    return CompiledRules(ruleset, Matcher(detectors, sentinels=ruleset.normaliser.sentinel_keys), tuple(detectors))


_CACHE: OrderedDict[str, CompiledRules] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 32
_BASE: list[CompiledRules] = []


def compiled_rules(extra_rules: RuleOverlay | Sequence[Mapping[str, Any]] | None = None) -> CompiledRules:
    """The compiled matcher for the base catalogue plus ``extra_rules``, built once per version key."""
    if extra_rules is None and _BASE:
        return _BASE[0]
    overlay = RuleOverlay.coerce(extra_rules)
    base = base_ruleset()
    key = base.version if overlay is None or not overlay.items else f"{base.version}+{overlay.key()}"
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            return cached
    ruleset = base if overlay is None or not overlay.items else apply_overlay(base, overlay)
    compiled = compile_ruleset(ruleset)
    with _CACHE_LOCK:
        _CACHE[key] = compiled
        if ruleset is base and not _BASE:
            _BASE.append(compiled)  # the base catalogue is never evicted (it is what most calls use)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return compiled
