"""Medical-advertising compliance engine (spec: shared/domain/compliance-rules.md).

``check(text, content_type=..., is_ad=..., context=..., extra_rules=...) -> Report``; see engine.py.
"""

from __future__ import annotations

from .engine import check, infer_ad
from .model import Finding, Report
from .normalise import content_sha256
from .ruleset import RuleOverlay, Severity, base_ruleset, compiled_rules

__all__ = [
    "Finding",
    "Report",
    "RuleOverlay",
    "Severity",
    "base_ruleset",
    "check",
    "compiled_rules",
    "content_sha256",
    "infer_ad",
]
