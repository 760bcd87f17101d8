"""Regressions reported by users of the compliance engine, and the exactness of its fast paths: the two automaton
backends, the already-normal shortcut, anchor start candidates and digit-cluster gating, each against full scans."""

from __future__ import annotations

import re

import pytest

from xinqiao.content.compliance import Severity, base_ruleset, check, compiled_rules
from xinqiao.content.compliance.matcher import FLAGS, Matcher, ahocorasick_rs, literal_strings


# -- PII-005: health advice is not a person's name ------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "流感高发季节,戴口罩,勤洗手,多喝水。",
        "预防流感:戴口罩、勤洗手、多通风。",
        "戴口罩,勤洗手,少去人群密集的地方,可以预防流感。",
        "糖尿病患者饮食建议:多喝水,少吃盐,早睡早起。",
        "高血压患者要少吃盐,早睡早起,戴眼镜的患者复查时带上眼镜。",
        "糖尿病患者可以多吃白菜、黄瓜、胡萝卜,少吃盐。",
        "高血压患者饮食:陈皮、金银花、罗汉果,泡水喝。",
        "冬季哮喘高发,外出时戴帽子,戴手套,注意保暖。",
    ],
)
def test_common_health_phrases_are_not_names(text: str) -> None:
    report = check(text)

    assert [finding.text for finding in report.findings if finding.rule_id in ("PII-005", "PAT-002")] == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("患者王建国确诊糖尿病后住院治疗。", "王建国"),
        ("流感高发季节,戴志强确诊流感后住院。", "戴志强"),
        ("李秀英确诊乳腺癌后在我院接受了手术。", "李秀英"),
    ],
)
def test_real_names_next_to_a_diagnosis_are_still_blocked(text: str, name: str) -> None:
    findings = check(text).for_rule("PII-005")

    assert [(finding.severity, text[finding.start : finding.end], finding.text) for finding in findings] == [
        (Severity.BLOCK, name, name[0] + "*")
    ]


def test_medical_terms_that_start_with_a_surname_are_false_friends() -> None:
    false_friends = set(base_ruleset().false_friends)

    assert {"戴口罩", "黄瓜", "胡萝卜", "黄疸", "白内障", "黄体酮"} <= false_friends


# -- KP-001: the disclaimer a hospital writes satisfies the rule ----------------------------------------------------
_KEPU = "高血压患者要坚持低盐饮食,规律服药,定期监测血压。"


def test_the_rules_own_fix_text_satisfies_kp_001() -> None:
    rule = base_ruleset().by_id["KP-001"]

    before = check(_KEPU)
    after = check(_KEPU + rule.fix_zh)

    assert (before.severity_of("KP-001"), after.severity_of("KP-001")) == (Severity.BLOCK, None)
    assert rule.fix_zh == "本内容仅供健康科普参考,不能替代面诊,具体诊疗请遵医嘱。"


@pytest.mark.parametrize(
    "disclaimer",
    [
        "以上内容仅供参考,具体请遵医嘱。",
        "本文仅供健康科普参考,具体诊疗请遵医嘱。",
        "本文仅供科普,不能代替医生诊断。",
        "本文内容不能代替医生的诊断和治疗。",
        "文中内容仅作参考,不构成医疗建议,请在医生指导下用药。",
        "本文仅供大家参考,如有不适请及时就诊。",
        "內容僅供參考,具體請遵醫囑。",  # Traditional characters are folded first
    ],
)
def test_disclaimer_variants_satisfy_kp_001(disclaimer: str) -> None:
    assert check(_KEPU + disclaimer).severity_of("KP-001") is None


@pytest.mark.parametrize(
    "disclaimer",
    [
        "仅供参考。",  # no hint to see a doctor
        "如有不适请及时就医。",  # no "for reference only"
        "保健品不能代替药物治疗,仅供参考。",  # 不能代替 something other than a doctor
    ],
)
def test_half_a_disclaimer_still_blocks(disclaimer: str) -> None:
    assert check(_KEPU + disclaimer).severity_of("KP-001") is Severity.BLOCK


# -- exactness of the fast paths ------------------------------------------------------------------------------------
def _texts() -> list[str]:
    """Spec examples in several arrangements, plus digit-heavy and whitespace-heavy text around the anchors."""
    examples = [str(example["text"]) for rule in base_ruleset().rules for example in rule.examples["hit"]]
    return [
        "\n".join(examples),
        "".join(reversed(examples)),
        "电话:" + " " * 40 + "13800138000,预约  挂号 0571 - 88888888,400 800 1234",
        "卡号6 2 2 2 0 2 1 2 3 4 5 6 7 8 9 0 1 2 8,身份证11010519491231002X,护照E12345678",
        "3床、12号床、病区5,35岁男性,6个月宝宝,治愈率98%,累计治愈1 2 0 0 0余例,已帮助3万余位患者",
        "治愈率高达   98 %,每天 3 次,每次 2 片。联系邮箱 someone.name@example.com,微信 abc_12345",
        "一三八 零零一三 八零零零,幺八六、一二三四、五六七八",
    ]


def _full_scan(detector_phrases: tuple[str, ...], detector_patterns: tuple[str, ...], text: str) -> set:
    expected = set()
    for phrase in detector_phrases:
        expected |= {(m.start(), m.start() + len(phrase)) for m in re.finditer(f"(?={re.escape(phrase)})", text)}
    for pattern in detector_patterns:
        literals = literal_strings(pattern)
        if literals is not None:
            for literal in literals:
                expected |= {
                    (m.start(), m.start() + len(literal)) for m in re.finditer(f"(?={re.escape(literal)})", text)
                }
        else:
            expected |= {m.span() for m in re.finditer(pattern, text, FLAGS) if m.end() > m.start()}
    return expected


@pytest.mark.parametrize(
    "backend",
    [
        "pyahocorasick",
        pytest.param(
            "ahocorasick_rs",
            marks=pytest.mark.skipif(ahocorasick_rs is None, reason="ahocorasick_rs is not installed"),
        ),
    ],
)
def test_each_automaton_backend_finds_exactly_what_full_regex_scans_find(backend: str) -> None:
    compiled = compiled_rules()
    matcher = Matcher(compiled.detectors, backend=backend, sentinels=compiled.ruleset.normaliser.sentinel_keys)
    normaliser = compiled.ruleset.normaliser
    mismatches = []
    for raw in _texts():
        text = normaliser(raw).text
        scan = matcher.scan(text)
        for detector in matcher.detectors:
            if set(scan.get(detector.name)) != _full_scan(detector.phrases, detector.patterns, text):
                mismatches.append((raw[:12], detector.name))

    assert (matcher.automaton.backend, mismatches) == (backend, [])


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("高血压患者要坚持低盐饮食,以上内容仅供参考。", True),
        ("高血压患者，要坚持低盐饮食（每天5克）。", True),  # frequent full-width punctuation only
        ("门诊时间8:00-17:00,电话 0571-88888888", True),  # separators, but not between CJK characters
        ("藥到病除", False),  # Traditional
        ("包\u200b治百病", False),  # zero-width character
        ("根·治颈椎病", False),  # separator inside a CJK word
        ("我们zui好的技术", False),  # evasion spelling
        ("𝟏𝟎𝟎%有效", False),  # astral compatibility digits
    ],
)
def test_already_normal_shortcut_agrees_with_full_normalisation(text: str, normal: bool) -> None:
    compiled = compiled_rules()
    normaliser = compiled.ruleset.normaliser
    prefolded = normaliser.prefold(text)
    sentinels = compiled.matcher.scan(prefolded).sentinels
    full = normaliser(text)

    shortcut = normaliser.already_normal(text, prefolded, sentinels)

    assert (shortcut is not None, full.text == prefolded and not full.evasions) == (normal, normal)
    if shortcut is not None:
        assert (shortcut.text, shortcut.stage1, shortcut.evasions, shortcut.span(0, len(text))) == (
            full.text,
            full.stage1,
            full.evasions,
            full.span(0, len(text)),
        )


def test_lone_surrogate_is_checked_not_crashed() -> None:
    report = check("我院治愈率高达95%\ud800,包治百病")

    assert [(finding.rule_id, finding.severity) for finding in report.findings if finding.rule_id == "EFF-001"] == [
        ("EFF-001", Severity.BLOCK)
    ]


def test_case_insensitive_overlay_pattern_matches_in_any_case() -> None:
    overlay = [{"rule_id": "EFF-005", "patterns": ["(?i)miracle ?cure"]}]

    report = check("这款产品号称 Miracle Cure,也叫 MIRACLECURE。", extra_rules=overlay)

    assert [finding.text for finding in report.for_rule("EFF-005")] == ["Miracle Cure", "MIRACLECURE"]
