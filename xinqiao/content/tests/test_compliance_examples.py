"""Every hit / no-hit example of shared/domain/compliance-rules.md, run through the engine.

The examples live in ``xinqiao/content/compliance/rules.yaml`` (``spec`` is the example verbatim; the other keys model
it as an input). ``expect`` is the severity the example's rule must report; no-hit examples expect no finding or
INFO, except two that the spec itself annotates as a WARN a reviewer approves or dismisses.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from xinqiao.content.compliance import Severity, base_ruleset, check

SPEC = Path(__file__).resolve().parents[4] / "shared" / "domain" / "compliance-rules.md"
FLAGGED = (Severity.WARN, Severity.BLOCK)


def _examples() -> list[tuple[str, str, int, dict[str, Any]]]:
    found = []
    for rule in base_ruleset().rules:
        for label in ("hit", "no_hit"):
            for index, example in enumerate(rule.examples.get(label, ())):
                found.append((rule.id, label, index, example))
    return found


EXAMPLES = _examples()


def _run(rule_id: str, example: dict[str, Any]) -> Severity | None:
    report = check(
        example["text"],
        content_type=example.get("content_type", "article"),
        is_ad=example.get("is_ad"),
        context=example.get("context"),
    )
    return report.severity_of(rule_id)


@pytest.mark.parametrize(
    ("rule_id", "label", "example"),
    [(rule_id, label, example) for rule_id, label, _index, example in EXAMPLES],
    ids=[f"{rule_id}-{label}-{index + 1}" for rule_id, label, index, _example in EXAMPLES],
)
def test_example(rule_id: str, label: str, example: dict[str, Any]) -> None:
    expected = Severity[example["expect"]] if example["expect"] else None

    got = _run(rule_id, example)

    assert got == expected


def test_precision_and_recall_over_all_spec_examples(capsys: pytest.CaptureFixture[str]) -> None:
    true_positive = false_positive = false_negative = exact = 0
    for rule_id, _label, _index, example in EXAMPLES:
        expected = Severity[example["expect"]] if example["expect"] else None
        got = _run(rule_id, example)
        exact += got == expected
        should_flag = expected in FLAGGED
        flagged = got in FLAGGED
        true_positive += should_flag and flagged
        false_positive += flagged and not should_flag
        false_negative += should_flag and not flagged
    precision = true_positive / (true_positive + false_positive)
    recall = true_positive / (true_positive + false_negative)
    with capsys.disabled():
        print(
            f"\ncompliance spec examples: {len(EXAMPLES)} ({true_positive} flagged), "
            f"precision {precision:.3f}, recall {recall:.3f}, exact severity {exact}/{len(EXAMPLES)}"
        )
    assert (precision, recall, exact) == (1.0, 1.0, len(EXAMPLES))


def test_every_rule_of_the_catalogue_is_present_with_its_examples() -> None:
    rules = base_ruleset().rules
    families = {}
    for rule in rules:
        families[rule.family] = families.get(rule.family, 0) + 1
    counts = {label: sum(len(rule.examples[label]) for rule in rules) for label in ("hit", "no_hit")}

    assert (len(rules), families, counts) == (
        59,
        {
            "STR": 10,
            "ABS": 5,
            "EFF": 5,
            "RATE": 2,
            "CMP": 1,
            "END": 3,
            "SUP": 4,
            "FAL": 4,
            "KP": 8,
            "PAT": 4,
            "CR": 3,
            "PII": 10,
        },
        {"hit": 125, "no_hit": 123},
    )


def test_example_labels_agree_with_the_spec() -> None:
    wrong = []
    for rule_id, label, index, example in EXAMPLES:
        expect = example["expect"]
        if label == "hit" and expect not in ("WARN", "BLOCK"):
            wrong.append((rule_id, label, index))
        # A no-hit example may only expect WARN where the spec's own annotation says WARN.
        if label == "no_hit" and expect not in (None, "INFO") and "WARN" not in example["spec"]:
            wrong.append((rule_id, label, index))

    assert wrong == []


def _spec_examples() -> dict[tuple[str, str], list[str]]:
    if not SPEC.is_file():
        pytest.skip(f"spec not found at {SPEC}")
    found: dict[tuple[str, str], list[str]] = {}
    rule_id = None
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"#{3,4} ([A-Z]+-\d{3})", line)
        if heading:
            rule_id = heading.group(1)
            continue
        examples = re.match(r"- \*\*Examples \((hit|no hit)\)\*\*: (.*)", line)
        if examples and rule_id:
            label = examples.group(1).replace(" ", "_")
            items = [item.strip() for item in re.split(r"[①②③④⑤⑥⑦⑧⑨]", examples.group(2)) if item.strip()]
            found[(rule_id, label)] = items
    return found


def test_rule_data_carries_every_spec_example_verbatim() -> None:
    spec = _spec_examples()
    ours: dict[tuple[str, str], list[str]] = {}
    for rule_id, label, _index, example in EXAMPLES:
        ours.setdefault((rule_id, label), []).append(example["spec"])

    assert ours == spec


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [item for inner in value.values() for item in _strings(inner)]
    if isinstance(value, list):
        return [item for inner in value for item in _strings(inner)]
    return []


def test_quoted_example_text_is_the_input() -> None:
    missing = []
    for rule_id, label, index, example in EXAMPLES:
        haystack = example["text"] + "\n" + "\n".join(_strings(example.get("context") or {}))
        for quoted in re.findall(r"「(.+?)」", example["spec"]):
            if quoted not in haystack:
                missing.append((rule_id, label, index, quoted))

    assert missing == []
