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
from .model import Finding, InputModel
from .normalise import Normalised
from .ruleset import Group, Rule, RuleSet, Severity

if TYPE_CHECKING:
    from .ruleset import CompiledRules


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
        self._sentence_stops: list[int] | None = None
        self._clause_stops: list[int] | None = None
        self._reply_mode: bool | None = None
        self.facts: dict[str, object] = {}
        self._lazy_cache: dict[str, list[tuple[int, int]]] = {}
        self._presence: dict[str, bool] = {}
        negation = self.ruleset.negation
        self._clause_chars = self.ruleset.sentence_chars + self.ruleset.clause_chars
        self._negation = negation

    # -- units ----------------------------------------------------------------------------------------------------
    def _unit(self, position: int, stops: list[int]) -> tuple[int, int]:
        index = bisect.bisect_left(stops, position)
        start = stops[index - 1] + 1 if index > 0 else 0
        end = stops[index] if index < len(stops) else len(self.text)
        return start, end

    def _stops(self, characters: str) -> list[int]:
        pattern = "[" + "".join(re.escape(char) for char in characters) + "]"
        return [match.start() for match in re.finditer(pattern, self.text)]

    def sentence(self, position: int) -> tuple[int, int]:
        """Bounds of the sentence around ``position`` (split on 。!?; and line breaks)."""
        if self._sentence_stops is None:
            self._sentence_stops = self._stops(self.ruleset.sentence_chars)
        return self._unit(position, self._sentence_stops)

    def clause(self, position: int) -> tuple[int, int]:
        """Bounds of the clause around ``position`` (sentence separators plus ,、:)."""
        if self._clause_stops is None:
            self._clause_stops = self._stops(self._clause_chars)
        return self._unit(position, self._clause_stops)

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
            cached = self.ruleset.lazy[key].spans(self.text)
            self._lazy_cache[key] = cached
        return cached

    def _spans(self, key: str, lazy_key: str) -> list[tuple[int, int]]:
        if self.scan.knows(key):
            return self.scan.get(key)
        return self._lazy_all(lazy_key)

    def _has(self, key: str, lazy_key: str) -> bool:
        if self.scan.knows(key):
            return self.scan.has(key)
        cached = self._lazy_cache.get(lazy_key)
        if cached is not None:
            return bool(cached)
        present = self._presence.get(lazy_key)
        if present is None:
            present = self.ruleset.lazy[lazy_key].search(self.text)
            self._presence[lazy_key] = present
        return present

    def _within(self, key: str, lazy_key: str, low: int, high: int) -> bool:
        if self.scan.knows(key):
            spans = self.scan.hits.get(key)
            return spans is not None and self.any_within(spans, low, high)
        cached = self._lazy_cache.get(lazy_key)
        if cached is not None:
            return self.any_within(cached, low, high)
        if self._presence.get(lazy_key) is False:
            return False
        return self.ruleset.lazy[lazy_key].search(self.text, low, high)

    def lex(self, name: str) -> list[tuple[int, int]]:
        """All spans of a lexicon, sorted."""
        return self._spans(f"lex.{name}", name)

    def has(self, name: str) -> bool:
        return self._has(f"lex.{name}", name)

    def lex_in(self, name: str, low: int, high: int) -> bool:
        """True if the lexicon matches inside ``[low, high)`` (scanned: a match starts there)."""
        return self._within(f"lex.{name}", name, low, high)

    def first(self, name: str) -> tuple[int, int] | None:
        key = f"lex.{name}"
        if self.scan.knows(key):
            spans = self.scan.get(key)
            return spans[0] if spans else None
        spans = self._lazy_all(name)
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
        index = bisect.bisect_left(spans, (low, -1))
        return index < len(spans) and spans[index][0] < high

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
        clause_low, clause_high = self.clause(start)
        traps = [match.span() for match in negation.trap.finditer(text, clause_low, max(clause_high, end))]
        for low, high in traps:
            if low < end and start < high:
                return False  # the hit is part of a double negation: a positive claim
        window_low = max(clause_low, start - negation.window)
        cues = [match.start() for match in negation.cues.finditer(text, window_low, start)]
        if cues:
            if negation.non_cues is not None:
                traps.extend(
                    match.span()
                    for match in negation.non_cues.finditer(
                        text, max(clause_low, window_low - 6), min(len(text), start + 6)
                    )
                    if not (match.start() < end and start < match.end())
                )
            for position in cues:
                if not any(low <= position < high for low, high in traps):
                    return True
        sentence_low, sentence_high = self.sentence(start)
        sentence_high = max(sentence_high, end)
        for marker in negation.debunk.finditer(text, sentence_low, sentence_high):
            if marker.end() <= start or marker.start() >= end:
                return True
        if negation.quote_chars.search(text, sentence_low, sentence_high) is not None and self._quoted(
            start, end, sentence_low, sentence_high
        ):
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
        original = self.norm.original
        for rule_id, hits in self.hits.items():
            rule = self.ruleset.by_id[rule_id]
            for hit in _merge(hits):
                if hit.document:
                    start = end = 0
                    text = ""
                elif hit.stage1:
                    start, end = self.norm.stage1_span(hit.start, hit.end)
                    text = original[start:end]
                else:
                    start, end = self.norm.span(hit.start, hit.end)
                    text = original[start:end]
                if rule.family == "PII" or hit.masked:
                    text = hit.masked or mask_pii(rule.id, text)
                autofix = f"{rule.autofix}:{rule.fix_zh}" if rule.autofix else ""
                findings.append(
                    Finding(
                        rule_id=rule.id,
                        severity=hit.severity,
                        start=start,
                        end=end,
                        text=text,
                        fix=rule.fix,
                        citation=rule.citation_text,
                        title=f"{rule.title_zh} / {rule.title_en}",
                        negated=hit.negated,
                        evasion=hit.evasion,
                        detail=hit.detail,
                        autofix=autofix,
                        related_rule=hit.related_rule,
                    )
                )
        findings.sort(key=lambda finding: (finding.start, finding.end, -finding.severity, finding.rule_id))
        return findings


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
