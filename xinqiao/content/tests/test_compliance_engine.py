"""Engine behaviour beyond the spec examples: normalisation and offsets, ad inference, negation, PII validation,
tenant overlays, input validation, and the one-pass matcher against full regex scans."""

from __future__ import annotations

import json
import re

import pytest

from xinqiao.content.compliance import RuleOverlay, Severity, base_ruleset, check, compiled_rules, content_sha256
from xinqiao.content.compliance.matcher import FLAGS, literal_strings, plan_pattern
from xinqiao.content.compliance.structural import id_number_confidence, luhn_valid


def _rules(report, severity=None):  # noqa: ANN001, ANN202 - small test helper
    return sorted({finding.rule_id for finding in report.findings if severity is None or finding.severity == severity})


# -- normalisation and offsets ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "rule_id", "matched"),
    [
        ("根·治颈椎病", "EFF-001", "根·治"),  # separator between CJK characters
        ("治 愈保证,永 不 复 发", "EFF-001", "永 不 复 发"),
        ("最*好的医院", "ABS-002", "最*好"),
        ("藥到病除", "EFF-001", "藥到病除"),  # Traditional → Simplified
        ("１００％安全", "ABS-004", "１００％安全"),  # full-width → half-width
        ("包\u200b治百病", "EFF-001", "包\u200b治百病"),  # zero-width character
    ],
)
def test_evasion_is_normalised_and_offsets_point_into_the_original(text: str, rule_id: str, matched: str) -> None:
    report = check(text)

    finding = report.for_rule(rule_id)[0]
    assert (text[finding.start : finding.end], finding.text) == (matched, matched)


def test_sentence_boundaries_are_not_collapsed() -> None:
    normalised = base_ruleset().normaliser("天气转凉。最好多喝水、注意保暖\n最近")

    assert normalised.text == "天气转凉。最好多喝水、注意保暖\n最近"


def test_evasion_dictionary_hit_is_a_warning_and_the_rule_runs_on_the_canonical_form() -> None:
    text = "我们zui好的技术,bao治百病"

    report = check(text)

    evasions = report.for_rule("EVA-001")
    cure = report.for_rule("EFF-001")
    assert [(finding.severity, text[finding.start : finding.end]) for finding in evasions] == [
        (Severity.WARN, "zui"),
        (Severity.WARN, "bao治"),
    ]
    assert [(finding.severity, finding.text, finding.evasion) for finding in cure] == [
        (Severity.BLOCK, "bao治百病", True)
    ]
    assert [finding.text for finding in report.for_rule("ABS-002")] == ["zui好"]


def test_latin_evasion_spelling_inside_a_word_is_left_alone() -> None:
    assert _rules(check("Huizui 医院")) == []


def test_expanding_characters_keep_offsets() -> None:
    text = "⑩年经验,保证治愈"

    finding = check(text).for_rule("EFF-001")[0]

    assert text[finding.start : finding.end] == "保证治愈"


def test_content_hash_is_of_the_normalised_text() -> None:
    normaliser = base_ruleset().normaliser

    assert content_sha256(normaliser("门诊时间：8:00").text) == content_sha256(normaliser("门诊时间:8:00").text)


# -- ad inference (§0.4) ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "content_type", "context", "reasons"),
    [
        ("眼科门诊时间调整", "ad_creative", None, ("ad_creative",)),
        ("种植牙限时优惠", "article", None, ("price_or_promotion",)),
        ("种植牙体验分享", "note", {"links": [{"kind": "purchase"}]}, ("link_with_service_or_price",)),
        ("王主任专家门诊,欢迎预约", "article", {"account_type": "hospital_official"}, ("official_call_to_action",)),
        ("冬季注意保暖", "article", {"paid_promotion": True}, ("paid_promotion",)),
        ("冬季注意保暖", "article", {"links": [{"kind": "purchase"}]}, ()),
    ],
)
def test_ad_inference(text: str, content_type: str, context: dict | None, reasons: tuple[str, ...]) -> None:
    report = check(text, content_type=content_type, context=context)

    assert (report.is_ad, report.ad_reasons) == (bool(reasons), reasons)


def test_explicit_ad_flag_overrides_inference() -> None:
    report = check("种植牙限时优惠", is_ad=False)

    assert (report.is_ad, report.ad_reasons) == (False, ("explicit",))


# -- negation, debunking, quotation (§0.5) -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "is_ad", "severity", "negated"),
    [
        ("包治百病", False, Severity.BLOCK, False),
        ("目前不存在包治百病的药", False, Severity.INFO, True),  # negation cue before the hit
        ("目前不存在包治百病的药", True, Severity.WARN, True),  # ads: BLOCK drops to WARN only
        ("包治百病的说法是谣言", False, Severity.INFO, True),  # debunk marker in the sentence
        ("他说“包治百病”,这不可能", False, Severity.INFO, True),  # quoted, negated later in the sentence
        ("不孕不育,包治百病", False, Severity.BLOCK, False),  # cue in another clause
        ("没有我们治不好的", False, Severity.BLOCK, False),  # double negation: a positive claim
    ],
)
def test_negation(text: str, is_ad: bool, severity: Severity, negated: bool) -> None:
    finding = check(text, is_ad=is_ad).for_rule("EFF-001")[0]

    assert (finding.severity, finding.negated) == (severity, negated)


def test_words_that_contain_a_cue_character_do_not_negate() -> None:
    finding = check("我院不孕不育治愈率高达95%。").for_rule("RATE-001")[0]

    assert (finding.severity, finding.negated) == (Severity.BLOCK, False)


def test_reply_with_call_to_action_takes_the_ad_severity() -> None:
    report = check("我院技术最先进,欢迎预约", content_type="comment_reply")

    assert [(finding.severity, finding.related_rule) for finding in report.for_rule("CR-003")] == [
        (Severity.BLOCK, "ABS-002")
    ]


# -- PII ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("number", "confidence"),
    [
        ("11010519491231002X", "high"),
        ("440524188001010014", "high"),
        ("110101199003071233", "high"),
        ("32010619850715432X", "high"),
        ("44030519900101123X", "high"),
        ("510107200002293019", "high"),
        ("110101199003071234", "medium"),
        ("320106198507154321", "medium"),
        ("110101200002301231", None),
    ],
)
def test_id_number_confidence_follows_gb_11643(number: str, confidence: str | None) -> None:
    assert id_number_confidence(number) == confidence


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("6222021234567890128", True),
        ("6217000000123456786", True),
        ("6222600260001072444", True),
        ("6228480012345671", True),
        ("6222600260001072445", False),
    ],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("身份证号110101199003071234", Severity.WARN),  # checksum fails: still personal data
        ("身份证号110101********1233", Severity.INFO),  # masked form
        ("身份证号110101900307123", Severity.WARN),  # 15-digit legacy number next to a keyword
        ("编号110101900307123", None),  # 15 digits without a keyword
    ],
)
def test_id_number_severity(text: str, severity: Severity | None) -> None:
    assert check(text).severity_of("PII-002") == severity


def test_valid_id_number_is_not_reported_as_a_bank_card() -> None:
    report = check("账号11010519491231002X")

    assert (report.severity_of("PII-002"), report.severity_of("PII-003")) == (Severity.BLOCK, None)


def test_mobile_number_spelled_in_chinese_numerals_is_an_evasion_warning() -> None:
    finding = check("加我电话幺三八 零零一三 八零零零").for_rule("PII-001")[0]

    assert (finding.severity, finding.detail) == (
        Severity.WARN,
        "mobile number spelled with Chinese numerals (evasion)",
    )


def test_allowlisted_hotline_is_not_reported() -> None:
    context = {"hospital_profile": {"phone": "138-0013-8000"}}

    assert check("热线13800138000", context=context).severity_of("PII-001") is None


def test_findings_never_carry_the_raw_identifier() -> None:
    text = "患者王建国,身份证号11010519491231002X,手机13800138000,卡号6222021234567890128"

    report = check(text, context={"patient_story": True})

    payload = json.dumps(report.to_dict(), ensure_ascii=False)
    assert [
        raw for raw in ("11010519491231002X", "13800138000", "6222021234567890128", "王建国") if raw in payload
    ] == []
    assert {finding.text for finding in report.findings if finding.rule_id in ("PII-001", "PII-002", "PII-003")} == {
        "138****8000",
        "110105********002X",
        "6222 **** **** 0128",
    }


def test_tenant_record_number_format() -> None:
    context = {"record_number_formats": [{"name": "住院号", "regex": r"ZY\d{8}"}]}

    finding = check("复查编码ZY20230087", context=context).for_rule("PII-004")[0]

    assert (finding.severity, finding.text, finding.detail) == (
        Severity.BLOCK,
        "******0087",
        "configured format 住院号",
    )


# -- input model --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"content_type": "poster"}, "content_type must be one of"),
        ({"context": {"acount_type": "department"}}, "unknown keys ['acount_type']"),
        ({"context": {"account_type": "robot"}}, "context['account_type'] must be one of"),
        ({"context": {"links": [{"kind": "fax"}]}}, "context['links'] items must be objects with a kind"),
        ({"context": {"media": [{"face_detected": "yes"}]}}, "context['media'][].face_detected must be true or false"),
        ({"context": {"publish_date": "next week"}}, "context['publish_date'] must be an ISO date"),
        ({"context": {"record_number_formats": [{"regex": "ZY("}]}}, "context['record_number_formats']: invalid regex"),
        ({"is_ad": "yes"}, "is_ad must be True, False or None"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check("冬季注意保暖", **kwargs)


def test_rules_without_their_input_data_are_listed_as_not_evaluated() -> None:
    report = check("三甲医院专家坐诊,试管婴儿门诊。胰岛素剂量怎么调")

    assert report.not_evaluated == ("FAL-002", "FAL-003", "KP-008")


def test_report_is_json_serialisable() -> None:
    report = check("保证治愈", is_ad=True)

    data = json.loads(json.dumps(report.to_dict(), ensure_ascii=False))

    assert (data["is_ad"], data["max_severity"], sorted(finding["rule_id"] for finding in data["findings"])) == (
        True,
        "BLOCK",
        ["EFF-001", "STR-001", "STR-002", "STR-005"],
    )


# -- tenant overlays ----------------------------------------------------------------------------------------------
def test_overlay_adds_phrases_and_exceptions_per_rule() -> None:
    overlay = RuleOverlay(
        items=(
            {"rule_id": "ABS-001", "phrases": ["天花板级"]},
            {"rule_id": "SUP-003", "exceptions": ["武警部队开展联合应急演练"]},
        ),
        version="hospital-7:r3",
    )
    text = "天花板级的服务。我院与驻地武警部队开展联合应急演练"

    base = check(text)
    tenant = check(text, extra_rules=overlay)

    assert (_rules(base), _rules(tenant)) == (["SUP-003"], ["ABS-001"])
    assert tenant.rules_version == f"{base.rules_version}+hospital-7:r3"


def test_overlay_is_compiled_once_per_version_key() -> None:
    items = [{"rule_id": "EFF-005", "phrases": ["神仙疗法"]}]

    first = compiled_rules(RuleOverlay(tuple(items), version="tenant-x:1"))
    again = compiled_rules(RuleOverlay(tuple(items), version="tenant-x:1"))
    plain_list = compiled_rules(items)

    assert (first is again, first is plain_list, check("神仙疗法", extra_rules=items).severity_of("EFF-005")) == (
        True,
        False,
        Severity.WARN,
    )


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"rule_id": "XYZ-001", "phrases": ["a"]}], "unknown rule id 'XYZ-001'"),
        ([{"rule_id": "ABS-001", "patterns": ["最(好"]}], "invalid regex"),
        ([{"rule_id": "ABS-001", "phrases": [""]}], "phrases must be non-empty strings"),
        ([{"rule_id": "ABS-001", "severity": "INFO"}], "unknown keys ['severity']"),
        ("ABS-001", "extra_rules must be a RuleOverlay or a list of dicts"),
    ],
)
def test_bad_overlay_is_rejected(items: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check("冬季注意保暖", extra_rules=items)  # type: ignore[arg-type]


# -- the one-pass matcher -----------------------------------------------------------------------------------------
def test_anchor_extraction() -> None:
    assert plan_pattern(r"(?:治愈|有效)率").anchors == frozenset({"治愈率", "有效率"})
    assert plan_pattern(r"最(?:佳|优)|唯一").anchors == frozenset({"最佳", "最优", "唯一"})
    assert plan_pattern(r"[\u4e00-\u9fa5]{2,8}(?:术|疗法|技术)").anchors == frozenset({"术", "疗法", "技术"})
    assert plan_pattern(r"(?<!\d)(?:\d[\s-]?){14,18}\d(?!\d)").min_digits == 15
    assert plan_pattern(r"[^\u4e00-\u9fa5][王李张刘陈杨黄赵吴周徐孙马朱胡郭何高]").anchors is None
    assert literal_strings(r"推荐|首选") == frozenset({"推荐", "首选"})
    assert literal_strings(r"金牌(?!月嫂)") is None


def test_matcher_finds_exactly_what_full_regex_scans_find() -> None:
    compiled = compiled_rules()
    normaliser = compiled.ruleset.normaliser
    examples = [str(example["text"]) for rule in compiled.ruleset.rules for example in rule.examples["hit"]]
    texts = ["\n".join(examples), "".join(examples), "。".join(reversed(examples))]
    mismatches = []
    for raw in texts:
        text = normaliser(raw).text
        scan = compiled.matcher.scan(text)
        for detector in compiled.matcher.detectors:
            expected = set()
            for phrase in detector.phrases:
                expected |= {
                    (match.start(), match.start() + len(phrase))
                    for match in re.finditer(f"(?={re.escape(phrase)})", text)
                }
            for pattern in detector.patterns:
                literals = literal_strings(pattern)
                if literals is not None:
                    for literal in literals:
                        expected |= {
                            (m.start(), m.start() + len(literal))
                            for m in re.finditer(f"(?={re.escape(literal)})", text)
                        }
                else:
                    expected |= {m.span() for m in re.finditer(pattern, text, FLAGS) if m.end() > m.start()}
            if set(scan.get(detector.name)) != expected:
                mismatches.append((raw[:20], detector.name))

    assert mismatches == []
