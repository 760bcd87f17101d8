"""The compliance checker: ``check(text, ...) -> Report``.

Order of evaluation (spec §3.1): normalise (§0.3) → one matcher pass → ad inference (§0.4) → lexical rules →
evasion hits → structural rules (phase 0, then phase 1) → negation is applied per hit (§0.5) → findings with
offsets in the original text. Pure Python; no Django.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .evaluation import Evaluation
from .matcher import Matcher
from .model import Report, check_content_type, parse_context
from .ruleset import CompiledRules, Group, Rule, RuleOverlay, compiled_rules
from .structural import PREDICATES, Predicate

__all__ = ["check", "infer_ad"]


def infer_ad(ev: Evaluation) -> tuple[bool, tuple[str, ...]]:
    """§0.4 ad-inference heuristic; returns the flag and the reasons that fired (stable codes)."""
    model = ev.model
    reasons = []
    if ev.content_type == "ad_creative":
        reasons.append("ad_creative")
    if model.flag("paid_promotion"):
        reasons.append("paid_promotion")
    price = ev.has("price_promo")
    if set(model.links) & ev.ruleset.link_kinds and (price or ev.has("service") or ev.has("subject_service")):
        reasons.append("link_with_service_or_price")
    if price:
        reasons.append("price_or_promotion")
    if (
        model.account_type == "hospital_official"
        and ev.has("cta")
        and (ev.has("doctor_named") or ev.has("service") or ev.has("subject_service"))
    ):
        reasons.append("official_call_to_action")
    return bool(reasons), tuple(reasons)


@dataclass(frozen=True)
class _Plan:
    """What to run for one content type (computed once per compiled rule set)."""

    groups: Mapping[str, tuple[Rule, Group]]  # matcher detector name → rule group
    structural: tuple[tuple[Rule, Predicate, frozenset[str]], ...]  # phase 0 (with the detectors it requires)
    structural_late: tuple[tuple[Rule, Predicate, frozenset[str]], ...]  # phase 1
    skip: frozenset[str]  # detectors of rules that do not apply
    matcher: Matcher  # the compiled matcher without those detectors


@functools.lru_cache(maxsize=256)
def _plan(compiled: CompiledRules, content_type: str) -> _Plan:
    missing = sorted({rule.structural for rule in compiled.ruleset.rules if rule.structural} - set(PREDICATES))
    if missing:
        raise ValueError(f"rules.yaml names unknown structural predicates: {missing}")
    groups: dict[str, tuple[Rule, Group]] = {}
    early: list[tuple[Rule, Predicate, frozenset[str]]] = []
    late: list[tuple[Rule, Predicate, frozenset[str]]] = []
    skip: set[str] = set()
    for rule in compiled.ruleset.rules:
        applies = content_type in rule.applies_to
        for group in rule.groups:
            if applies:
                groups[group.detector] = (rule, group)
            else:
                skip.add(group.detector)
        if not applies:
            skip.update(rule.detector_name(name) for name in rule.detectors)
            continue
        if rule.structural:
            phase, function, requires = PREDICATES[rule.structural]
            required = frozenset(rule.detector_name(name) for name in requires)
            (late if phase else early).append((rule, function, required))
    return _Plan(groups, tuple(early), tuple(late), frozenset(skip), compiled.matcher_without(frozenset(skip)))


def check(
    text: str,
    *,
    content_type: str = "article",
    is_ad: bool | None = None,
    context: Mapping[str, Any] | None = None,
    extra_rules: RuleOverlay | Sequence[Mapping[str, Any]] | None = None,
) -> Report:
    """Check ``text`` (title, body, cover text, OCR and subtitles concatenated) against the rule catalogue.

    ``is_ad`` None means "infer it" (§0.4); True/False is an author's or reviewer's decision. ``context`` carries the
    input model of §0.1 as plain dicts (links, media, account_type, ad_cert, hospital_profile, consents …); absent
    fields are unknown and the rules that need them are listed in ``Report.not_evaluated``. ``extra_rules`` adds a
    tenant's phrases, patterns and exceptions per rule id (a :class:`RuleOverlay` or a list of dicts).
    """
    if not isinstance(text, str):
        raise TypeError("text must be a string")
    check_content_type(content_type)
    if is_ad is not None and not isinstance(is_ad, bool):
        raise ValueError("is_ad must be True, False or None")
    model = parse_context(context)
    compiled: CompiledRules = compiled_rules(extra_rules)
    ruleset = compiled.ruleset
    plan = _plan(compiled, content_type)
    normaliser = ruleset.normaliser
    # One pass over the text as it is (after the frequent full-width punctuation): the automaton also reports the
    # normaliser's sentinels, and a text that is already normal (most are) is not scanned a second time.
    matcher = plan.matcher
    prefolded = normaliser.prefold(text)
    found = matcher.collect(prefolded)
    sentinels = matcher.sentinels(found)
    normalised = None if sentinels is None else normaliser.already_normal(text, prefolded, sentinels)
    if normalised is None:
        normalised = normaliser(text)
        found = matcher.collect(normalised.text)
    scan = matcher.finish(normalised.text, found)
    ev = Evaluation(compiled, normalised, scan, model, content_type, bool(is_ad))
    if is_ad is None:
        ad, reasons = infer_ad(ev)
        ev.is_ad = ad
    else:
        ad, reasons = is_ad, ("explicit",)

    for name, spans in scan.hits.items():
        found = plan.groups.get(name)
        if found is None:
            continue
        rule, group = found
        ad_mode = ev.ad_mode(rule)
        if group.only == "ad" and not ad_mode or group.only == "nonad" and ad_mode:
            continue
        for start, end in spans:
            if group.requires_sentence:
                low, high = ev.sentence(start)
                if not ev.lex_in(group.requires_sentence, low, high):
                    continue
            ev.emit(rule, start, end, group=group)

    if normalised.evasions:
        evasion_rule = ruleset.by_id["EVA-001"]
        for evasion in normalised.evasions:
            ev.emit(
                evasion_rule, evasion.start, evasion.end, negatable=False, exceptions=False, detail=evasion.canonical
            )

    matched = scan.hits.keys()
    for rule, function, required in plan.structural:
        if not required or not matched.isdisjoint(required):
            function(ev, rule)
    for rule, function, required in plan.structural_late:
        if not required or not matched.isdisjoint(required):
            function(ev, rule)

    return Report(
        findings=tuple(ev.findings()),
        is_ad=ad,
        ad_reasons=reasons,
        content_type=content_type,
        not_evaluated=tuple(sorted(ev.not_evaluated)),
        rules_version=ruleset.version,
    )
