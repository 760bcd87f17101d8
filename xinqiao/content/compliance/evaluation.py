"""State of one check: normalised text, scan, input model, ad flag, and the finding pipeline.

Every hit goes through :meth:`Evaluation.emit`: severity by ad/non-ad mode and overrides, clause-level exceptions,
global exceptions, negation/quotation/debunking (§0.5), evasion flag, and the mapping back to original offsets.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from xinqiao.lib.identity import mask_id_number, mask_mobile, mask_name

from .matcher import Scan
from .model import Finding, InputModel, finding_from_fields
from .normalise import Normalised
from .ruleset import Group, Rule, RuleSet, Severity

if TYPE_CHECKING:
    from .ruleset import CompiledRules


_NO_SPANS: list[tuple[int, int]] = []
_LEXICON_KEYS: dict[str, str] = {}


def _lexicon_key(name: str) -> str:
    """The matcher's detector name of a scanned lexicon (memoised: the engine asks for a few names many times)."""
    key = _LEXICON_KEYS[name] = f"lex.{name}"
    return key


def _any_within(spans: list[tuple[int, int]], low: int, high: int) -> bool:
    """True if a span of ``spans`` (sorted) starts in ``[low, high)``."""
    index = bisect.bisect_left(spans, (low, -1))
    return index < len(spans) and spans[index][0] < high


@dataclass
class Hit:
    """A rule hit before it becomes a :class:`Finding` (normalised-text coordinates)."""

    rule: Rule
    start: int
    end: int
    severity: Severity
    negated: bool = False
    evasion: bool = False
    detail: str = ""
    document: bool = False
    stage1: bool = False  # offsets are in Normalised.stage1
    related_rule: str = ""
    masked: str = ""


class Evaluation:
    def __init__(
        self,
        compiled: CompiledRules,
        normalised: Normalised,
        scan: Scan,
        model: InputModel,
        content_type: str,
        is_ad: bool,
    ) -> None:
        self.compiled = compiled
        self.ruleset: RuleSet = compiled.ruleset
        self.norm = normalised
        self.text = normalised.text
        self.scan = scan
        self.model = model
        self.content_type = content_type
        self.is_ad = is_ad
        self.hits: dict[str, list[Hit]] = {}
        self.not_evaluated: list[str] = []
        self._reversed: str | None = None
        self._sentence_cache: dict[int, tuple[int, int]] = {}
        self._clause_cache: dict[int, tuple[int, int]] = {}
        self._reply_mode: bool | None = None
        self.facts: dict[str, object] = {}
        self._lazy_cache: dict[str, list[tuple[int, int]]] = {}
        self._presence: dict[str, bool] = {}
        self._negation = self.ruleset.negation
        self._negation_cache: dict[tuple[str, int, int], list] = {}
        self._known = scan.known
        self._scanned = scan.hits
        self._lazy = self.ruleset.lazy

    # -- units ----------------------------------------------------------------------------------------------------
    # A unit is the stretch between two stop characters. Its bounds are found on demand with two searches of one
    # precompiled character class (forward in the text, and forward in the reversed text for the start), which is
    # cheaper than listing every stop of an article when only a few dozen positions are ever asked about.
    def _unit(self, position: int, stops: re.Pattern[str], cache: dict[int, tuple[int, int]]) -> tuple[int, int]:
        found = cache.get(position)
        if found is not None:
            return found
        text = self.text
        size = len(text)
        after = stops.search(text, position)
        end = after.start() if after is not None else size
        reversed_text = self._reversed
        if reversed_text is None:
            reversed_text = self._reversed = text[::-1]
        before = stops.search(reversed_text, size - position)
        start = size - before.start() if before is not None else 0
        found = (start, end)
        cache[position] = found
        return found

    def sentence(self, position: int) -> tuple[int, int]:
        """Bounds of the sentence around ``position`` (split on 。!?; and line breaks)."""
        return self._unit(position, self.ruleset.sentence_re, self._sentence_cache)

    def clause(self, position: int) -> tuple[int, int]:
        """Bounds of the clause around ``position`` (sentence separators plus ,、:)."""
        return self._unit(position, self.ruleset.clause_re, self._clause_cache)

    def next_sentence_end(self, position: int) -> int:
        _, end = self.sentence(position)
        if end >= len(self.text):
            return end
        return self.sentence(end + 1)[1]

    # -- lexicon helpers ------------------------------------------------------------------------------------------
    # Scanned detectors come from the one-pass matcher; lazy ones run their regex only when asked, and only over the
    # window asked for (presence checks stop at the first match).
    def _lazy_all(self, key: str) -> list[tuple[int, int]]:
        cached = self._lazy_cache.get(key)
        if cached is None:
            cached = self._lazy[key].spans(self.text)
            self._lazy_cache[key] = cached
        return cached

    def _spans(self, key: str, lazy_key: str) -> list[tuple[int, int]]:
        if key in self._known:
            return self._scanned.get(key, _NO_SPANS)
        return self._lazy_all(lazy_key)

    def _has(self, key: str, lazy_key: str) -> bool:
        if key in self._known:
            return key in self._scanned
        cached = self._lazy_cache.get(lazy_key)
        if cached is not None:
            return bool(cached)
        present = self._presence.get(lazy_key)
        if present is None:
            present = self._lazy[lazy_key].search(self.text)
            self._presence[lazy_key] = present
        return present

    def _within(self, key: str, lazy_key: str, low: int, high: int) -> bool:
        if key in self._known:
            spans = self._scanned.get(key)
            return spans is not None and _any_within(spans, low, high)
        cached = self._lazy_cache.get(lazy_key)
        if cached is not None:
            return _any_within(cached, low, high)
        if self._presence.get(lazy_key) is False:
            return False
        return self._lazy[lazy_key].search(self.text, low, high)

    def lex(self, name: str) -> list[tuple[int, int]]:
        """All spans of a lexicon, sorted."""
        return self._spans(_LEXICON_KEYS.get(name) or _lexicon_key(name), name)

    def has(self, name: str) -> bool:
        return self._has(_LEXICON_KEYS.get(name) or _lexicon_key(name), name)

    def lex_in(self, name: str, low: int, high: int) -> bool:
        """True if the lexicon matches inside ``[low, high)`` (scanned: a match starts there)."""
        return self._within(_LEXICON_KEYS.get(name) or _lexicon_key(name), name, low, high)

    def first(self, name: str) -> tuple[int, int] | None:
        spans = self.lex(name)
        return spans[0] if spans else None

    def detector(self, rule: Rule, name: str) -> list[tuple[int, int]]:
        full = rule.detector_name(name)
        return self._spans(full, full)

    def detector_in(self, rule: Rule, name: str, low: int, high: int) -> bool:
        full = rule.detector_name(name)
        return self._within(full, full, low, high)

    @staticmethod
    def any_within(spans: list[tuple[int, int]], low: int, high: int) -> bool:
        """True if a span (sorted list) starts in ``[low, high)``."""
        return _any_within(spans, low, high)

    def local(self, name: str, text: str) -> bool:
        return any(pattern.search(text) for pattern in self.ruleset.local_patterns[name])

    # -- severity pipeline ----------------------------------------------------------------------------------------
    def ad_mode(self, rule: Rule) -> bool:
        """Comment replies run EFF/RATE/ABS/CMP with the ad severity when they carry a call to action (CR-003)."""
        if self.content_type == "comment_reply" and rule.family in {"EFF", "RATE", "ABS", "CMP"}:
            if self._reply_mode is None:
                self._reply_mode = self.is_ad or self.has("reply_cta")
            return self._reply_mode
        return self.is_ad

    def base_severity(self, rule: Rule, group: Group | None, start: int, end: int) -> Severity | None:
        ad = self.ad_mode(rule)
        if group is not None and group.has_severity:
            severity = group.sev_ad if ad else group.sev_nonad
        else:
            severity = rule.sev_ad if ad else rule.sev_nonad
        if severity is None:
            return None
        for override in rule.severity_overrides:
            if ad and not override.has_ad or not ad and not override.has_nonad:
                continue
            if override.when_text is not None and not override.when_text.search(self.text, start, end):
                continue
            if override.when_sentence is not None:
                low, high = self.sentence(start)
                if not override.when_sentence.search(self.text, low, max(high, end)):
                    continue
            replacement = override.sev_ad if ad else override.sev_nonad
            if replacement is not None:
                severity = replacement
        return severity

    def _exception(self, rule: Rule, start: int, end: int, severity: Severity) -> Severity | None:
        """Apply clause-level exceptions; None = the hit is cancelled."""
        if not rule.exceptions:
            return severity
        ad = self.ad_mode(rule)
        low = self.clause(start)[0]
        high = self.clause(max(start, end - 1))[1]
        for exception in rule.exceptions:
            if exception.scope == "ad" and not ad or exception.scope == "nonad" and ad:
                continue
            match = exception.pattern.search(self.text, low, high)
            if match is None:
                continue
            if exception.requires == "verified_honors" and not self.honour_verified(match.group()):
                continue
            if exception.requires == "public_health_program" and not self.model.flag("public_health_program"):
                continue
            if exception.effect == "cancel":
                return None
            severity = Severity.INFO
        return severity

    def honour_verified(self, claim: str) -> bool:
        from .structural import fold_all  # local import: structural imports this module

        claim = self.ruleset.normaliser.fold(claim)
        honours = fold_all(self, self.model.profile.get("verified_honors") or ())
        return any(claim in honour or honour in claim for honour in honours if honour)

    def _contained(self, name: str, start: int, end: int) -> bool:
        """True if a match of lexicon ``name`` covers ``[start, end)``."""
        key = _LEXICON_KEYS.get(name) or _lexicon_key(name)
        if key in self._known:
            return any(low <= start and end <= high for low, high in self._scanned.get(key, _NO_SPANS))
        if self._presence.get(name) is False:
            return False
        spans = self.ruleset.lazy[name].spans(self.text, start - 12, end + 12)
        return any(low <= start and end <= high for low, high in spans)

    def _global_exception(self, start: int, end: int) -> bool:
        return self._contained("global_exception", start, end)

    def _institution(self, start: int, end: int) -> bool:
        if self._contained("institution_name", start, end):
            return True
        first_name = self.facts.get("first_name_spans")
        if first_name is None:
            first_name = []
            name = self.ruleset.normaliser.fold(str(self.model.profile.get("first_name") or ""))
            if name:
                position = self.text.find(name)
                while position != -1:
                    first_name.append((position, position + len(name)))
                    position = self.text.find(name, position + 1)
            self.facts["first_name_spans"] = first_name
        return any(low <= start and end <= high for low, high in first_name)  # type: ignore[attr-defined]

    def negated(self, start: int, end: int) -> bool:
        """§0.5: a negation cue up to ``window`` characters before the hit in its clause, a debunk marker in its
        sentence, or a quoted hit whose sentence negates or debunks anywhere. Double-negation traps never count."""
        text = self.text
        negation = self._negation
        cache = self._negation_cache
        clause_low, clause_high = self.clause(start)
        # Per clause and per sentence, the traps, debunk markers and quote presence are the same for every hit.
        clause_key = ("trap", clause_low, max(clause_high, end))
        traps = cache.get(clause_key)
        if traps is None:
            traps = cache[clause_key] = [match.span() for match in negation.trap.finditer(text, *clause_key[1:])]
        for low, high in traps:
            if low < end and start < high:
                return False  # the hit is part of a double negation: a positive claim
        window_low = max(clause_low, start - negation.window)
        cues = [match.start() for match in negation.cues.finditer(text, window_low, start)]
        if cues:
            if negation.non_cues is not None:
                traps = [
                    *traps,
                    *(
                        match.span()
                        for match in negation.non_cues.finditer(
                            text, max(clause_low, window_low - 6), min(len(text), start + 6)
                        )
                        if not (match.start() < end and start < match.end())
                    ),
                ]
            for position in cues:
                if not any(low <= position < high for low, high in traps):
                    return True
        sentence_low, sentence_high = self.sentence(start)
        sentence_high = max(sentence_high, end)
        sentence_key = ("debunk", sentence_low, sentence_high)
        markers = cache.get(sentence_key)
        if markers is None:
            markers = cache[sentence_key] = [
                match.span() for match in negation.debunk.finditer(text, sentence_low, sentence_high)
            ]
        for marker_start, marker_end in markers:
            if marker_end <= start or marker_start >= end:
                return True
        quote_key = ("quote", sentence_low, sentence_high)
        quoted = cache.get(quote_key)
        if quoted is None:
            quoted = cache[quote_key] = [negation.quote_chars.search(text, sentence_low, sentence_high) is not None]
        if quoted[0] and self._quoted(start, end, sentence_low, sentence_high):
            for cue in negation.cues.finditer(text, sentence_low, sentence_high):
                if (cue.end() <= start or cue.start() >= end) and not any(
                    low <= cue.start() < high for low, high in traps
                ):
                    return True
        return False

    def _quoted(self, start: int, end: int, low: int, high: int) -> bool:
        text = self.text
        for opening, closing in self._negation.quotes:
            if opening == closing:
                if text.count(opening, low, start) % 2 == 1 and text.find(closing, end, high) != -1:
                    return True
                continue
            last_open = text.rfind(opening, low, start)
            if last_open != -1 and text.rfind(closing, last_open, start) == -1 and text.find(closing, end, high) != -1:
                return True
        return False

    def overlaps_evasion(self, start: int, end: int) -> bool:
        return any(evasion.start < end and start < evasion.end for evasion in self.norm.evasions)

    def emit(
        self,
        rule: Rule,
        start: int,
        end: int,
        *,
        severity: Severity | None = None,
        group: Group | None = None,
        negatable: bool = True,
        exceptions: bool = True,
        detail: str = "",
        document: bool = False,
        stage1: bool = False,
        related_rule: str = "",
        masked: str = "",
    ) -> Hit | None:
        """Turn a raw hit into a :class:`Hit` (or drop it); returns what was recorded."""
        if severity is None:
            severity = self.base_severity(rule, group, start, end)
            if severity is None:
                return None
        if exceptions and not document and not stage1:
            severity = self._exception(rule, start, end, severity)
            if severity is None:
                return None
            if rule.global_exceptions and self._global_exception(start, end):
                return None
            if rule.family == "ABS" and self._institution(start, end):
                return None
        negated = False
        if negatable and rule.negation == "standard" and not document and not stage1 and self.negated(start, end):
            negated = True
            if self.ad_mode(rule):
                if severity is Severity.BLOCK:
                    severity = Severity.WARN
            else:
                severity = Severity.INFO
        evasion = not document and not stage1 and bool(self.norm.evasions) and self.overlaps_evasion(start, end)
        hit = Hit(rule, start, end, severity, negated, evasion, detail, document, stage1, related_rule, masked)
        self.hits.setdefault(rule.id, []).append(hit)
        return hit

    def skip(self, rule: Rule) -> None:
        """Record that a structural rule could not be evaluated for lack of input-model data."""
        if rule.id not in self.not_evaluated:
            self.not_evaluated.append(rule.id)

    def rule_hits(self, rule_ids: Iterable[str], minimum: Severity = Severity.WARN) -> list[Hit]:
        return [hit for rule_id in rule_ids for hit in self.hits.get(rule_id, ()) if hit.severity >= minimum]

    # -- findings -------------------------------------------------------------------------------------------------
    def findings(self) -> list[Finding]:
        findings: list[Finding] = []
        norm = self.norm
        original = norm.original
        identity = len(norm.maps) == 1 and norm.maps[0].is_identity  # offsets already index the original
        by_id = self.ruleset.by_id
        for rule_id, hits in self.hits.items():
            rule = by_id[rule_id]
            constants = rule.finding_constants
            pii = rule.family == "PII"
            for hit in _merge(hits):
                if hit.document:
                    start = end = 0
                    text = ""
                elif identity:
                    start, end = hit.start, hit.end
                    text = original[start:end]
                elif hit.stage1:
                    start, end = norm.stage1_span(hit.start, hit.end)
                    text = original[start:end]
                else:
                    start, end = norm.span(hit.start, hit.end)
                    text = original[start:end]
                if pii or hit.masked:
                    text = hit.masked or mask_pii(rule_id, text)
                findings.append(
                    finding_from_fields(
                        {
                            "rule_id": rule_id,
                            "severity": hit.severity,
                            "start": start,
                            "end": end,
                            "text": text,
                            **constants,
                            "negated": hit.negated,
                            "evasion": hit.evasion,
                            "detail": hit.detail,
                            "related_rule": hit.related_rule,
                        }
                    )
                )
        findings.sort(key=_finding_order)
        return findings


def _finding_order(finding: Finding) -> tuple[int, int, int, str]:
    return finding.start, finding.end, -finding.severity, finding.rule_id


def _merge(hits: list[Hit]) -> list[Hit]:
    """Drop hits contained in another hit of the same rule, keeping the larger severity on the outer one."""
    if len(hits) < 2:
        return hits
    ordered = sorted(hits, key=lambda hit: (hit.document, hit.stage1, hit.start, -hit.end))
    kept: list[Hit] = []
    for hit in ordered:
        if kept:
            last = kept[-1]
            if (
                last.document == hit.document
                and last.stage1 == hit.stage1
                and last.start <= hit.start
                and hit.end <= last.end
                and last.related_rule == hit.related_rule
            ):
                if hit.severity > last.severity and not last.negated:
                    last.severity = hit.severity
                if hit.detail and not last.detail:
                    last.detail = hit.detail
                continue
        kept.append(hit)
    return kept


def mask_pii(rule_id: str, text: str) -> str:
    """Masked preview of a PII hit (spec §2: logs and reviewer UIs show the masked value only)."""
    digits = "".join(char for char in text if char.isdigit() or char in "Xx")
    if rule_id == "PII-001" and len(digits) >= 11:
        return mask_mobile(digits[-11:])
    if rule_id == "PII-002" and len(digits) >= 15:
        return mask_id_number(digits.upper())
    if rule_id == "PII-003" and len(digits) >= 8:
        return f"{digits[:4]} **** **** {digits[-4:]}"
    if rule_id == "PII-005":
        return mask_name(text)
    if rule_id == "PII-004" and len(text) > 4:
        return "*" * (len(text) - 4) + text[-4:]
    if len(text) <= 2:
        return "*" * len(text)
    return text[:1] + "*" * (len(text) - 2) + text[-1:]
