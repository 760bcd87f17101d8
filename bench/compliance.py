"""Throughput of the compliance engine against a naive one-regex-per-rule baseline.

Generates realistic health-science articles (2,000–5,000 Chinese characters each, deterministic from a seed, with
violations from the rule catalogue sprinkled in), checks all of them with ``check()``, and in the same run scans
them with a naive baseline: every phrase and every regex of every detector run separately over the normalised text
(``for detector in detectors: for pattern in detector.patterns: re.finditer(...)``). Both timings include getting
the normalised text (the baseline with the full normaliser, check() through its already-normal shortcut, which gives
the same text; tested). Reports characters (and UTF-8 bytes) per second on one core, the ratio, and whether the
one-pass matcher found exactly the baseline's matches.

Run: ``python bench/compliance.py [--articles 1000] [--seed 7]``; ``run(args) -> dict`` for the bench harness.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xinqiao.content.compliance import check, compiled_rules  # noqa: E402
from xinqiao.content.compliance.matcher import FLAGS, literal_strings  # noqa: E402
from xinqiao.content.compliance.ruleset import CompiledRules, base_ruleset  # noqa: E402

VIOLATION_RATE = 0.02  # share of sentences taken from the violation pool (about 1-3 per article)
DISEASES = [
    "高血压",
    "糖尿病",
    "冠心病",
    "骨质疏松",
    "痛风",
    "胃炎",
    "甲状腺结节",
    "哮喘",
    "湿疹",
    "近视",
    "颈椎病",
    "脂肪肝",
]
FOODS = ["燕麦", "深海鱼", "绿叶蔬菜", "豆制品", "全谷物", "低脂牛奶", "坚果", "鸡蛋"]
HABITS = ["规律作息", "适量运动", "戒烟限酒", "控制体重", "保持心情舒畅", "按时复查"]
TEMPLATES = [
    "{d}是一种常见的慢性疾病,早期往往没有明显症状,很多人是在体检时才发现的。",
    "预防{d},关键在于{h}和均衡饮食,平时可以多吃{f},少吃高盐高脂的食物。",
    "如果出现头晕、乏力等不适,应及时到医院就诊,在医生指导下进行检查。",
    "{d}患者需要长期管理,定期监测相关指标,不要自行调整用药方案。",
    "很多人对{d}存在误解,认为没有症状就不需要治疗,这种想法是不对的。",
    "医生建议,{a}岁以上人群每年至少进行一次健康体检,做到早发现、早治疗。",
    "饮食方面,每天食盐摄入量应控制在5克以内,烹饪时尽量少放酱油和味精。",
    "运动要循序渐进,每周进行至少150分钟的中等强度有氧运动,如快走、游泳、骑自行车。",
    "冬季气温较低,血管容易收缩,{d}患者外出时要注意保暖,避免清晨过早出门锻炼。",
    "睡眠不足会影响身体的代谢功能,成年人每天应保证7到8小时的睡眠时间。",
    "{f}富含膳食纤维和优质蛋白,适量食用有助于维持营养均衡。",
    "对于已经确诊的患者,应按照医嘱规律服药,并配合生活方式的调整。",
    "部分患者在用药后可能出现轻微的胃肠道反应,一般可自行缓解,如持续不缓解应及时就医。",
    "家属也要关心患者的情绪变化,鼓励其积极面对疾病,保持良好的心态。",
    "体检报告中的异常指标并不一定意味着患病,需要结合临床表现由专科医生综合判断。",
    "儿童和老年人是{d}的易感人群,日常护理中需要格外注意。",
    "平时要注意观察自己的身体变化,如有疑问可以咨询专业医生。",
    "不同患者的病情存在差异,治疗方案需要因人而异,切勿盲目照搬他人的经验。",
    "在季节交替的时候,{d}容易加重,要根据天气变化及时增减衣物。",
    "保持适宜的室内温度和湿度,经常开窗通风,有助于减少呼吸道感染的发生。",
]
CLOSINGS = ["以上内容仅供参考,具体诊疗请遵医嘱。", "如有不适请及时就医,以医生诊断为准,本文仅供参考。", ""]
EXTRA_VIOLATIONS = [
    "研究表明,每天喝两杯绿茶可以降低血脂。",
    "我院专家团队采用先进技术,治愈率高达98%。",
    "这款保健品纯天然无副作用,三天见效。",
    "想了解更多,拨打400-800-1234咨询。",
    "患者王建国确诊糖尿病后,在我院住院治疗。",
    "联系电话13912345678,欢迎来电预约。",
    "所谓根治糖尿病的偏方都是骗局,大家不要相信。",
    "祖传秘方,包治百病,不好不收费!",
    "建议大家补钙认准XX牌钙片。",
]


def example_sentences() -> list[str]:
    """The hit examples of the rule catalogue, used as realistic violations."""
    sentences = []
    for rule in base_ruleset().rules:
        for example in rule.examples.get("hit", ()):
            text = str(example["text"])
            if 6 <= len(text) <= 80 and "\n" not in text:
                sentences.append(text if text[-1] in "。!?" else text + "。")
    return sentences


def generate_articles(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    violations = example_sentences() + EXTRA_VIOLATIONS
    articles = []
    for _ in range(count):
        target = rng.randint(2000, 5000)
        disease = rng.choice(DISEASES)
        paragraphs: list[str] = [f"{disease}的预防与日常管理"]
        length = len(paragraphs[0])
        closing = rng.choice(CLOSINGS)
        while length < target - len(closing) - 120:
            sentences = []
            for _ in range(rng.randint(3, 7)):
                if rng.random() < VIOLATION_RATE:
                    sentence = rng.choice(violations)
                else:
                    sentence = rng.choice(TEMPLATES).format(
                        d=rng.choice([disease, *DISEASES]),
                        f=rng.choice(FOODS),
                        h=rng.choice(HABITS),
                        a=rng.choice([35, 40, 45, 50, 60]),
                    )
                sentences.append(sentence)
            paragraph = "".join(sentences)
            paragraphs.append(paragraph)
            length += len(paragraph) + 1
        if closing:
            paragraphs.append(closing)
        article = "\n".join(paragraphs)
        if len(article) > 5000:
            article = article[:4999] + "。"
        articles.append(article)
    return articles


class NaiveBaseline:
    """Every phrase and regex the rules use (matcher detectors and lazily evaluated lexicons alike), one
    ``re.finditer`` each over the normalised text, compiled as written (default flags)."""

    def __init__(self) -> None:
        compiled = compiled_rules()
        self.normaliser = compiled.ruleset.normaliser
        self.items: list[tuple[str, re.Pattern[str]]] = []
        for detector in compiled.inventory():
            for phrase in detector.phrases:
                self.items.append((detector.name, re.compile(re.escape(phrase))))
            for pattern in detector.patterns:
                self.items.append((detector.name, re.compile(pattern)))

    def scan(self, text: str) -> int:
        normalised = self.normaliser(text).text
        found = 0
        for _name, pattern in self.items:
            for _match in pattern.finditer(normalised):
                found += 1
        return found


def agreement(articles: Sequence[str]) -> dict[str, int]:
    """Compare the one-pass matcher with full scans (phrases: overlapping find; regexes: finditer)."""
    compiled = compiled_rules()
    normaliser = compiled.ruleset.normaliser
    missing = extra = total = 0
    for article in articles:
        text = normaliser(article).text
        scan = compiled.matcher.scan(text)
        for detector in compiled.matcher.detectors:
            expected: set[tuple[int, int]] = set()
            for phrase in detector.phrases:
                position = text.find(phrase)
                while position != -1:
                    expected.add((position, position + len(phrase)))
                    position = text.find(phrase, position + 1)
            for pattern in detector.patterns:
                literals = literal_strings(pattern)
                if literals is not None:  # matched like phrases: every occurrence of every literal
                    for literal in literals:
                        position = text.find(literal)
                        while position != -1:
                            expected.add((position, position + len(literal)))
                            position = text.find(literal, position + 1)
                    continue
                expected.update(
                    match.span() for match in re.finditer(pattern, text, FLAGS) if match.end() > match.start()
                )
            got = set(scan.get(detector.name))
            total += len(expected)
            missing += len(expected - got)
            extra += len(got - expected)
    return {"baseline_matches": total, "missing": missing, "extra": extra}


def normalise_and_scan(compiled: CompiledRules, text: str) -> bool:
    """What check() does before the rules: fold the frequent punctuation, one automaton pass that also reports the
    normaliser's sentinels, the full normalisation (and a second pass) only for text that is not already normal,
    then the regexes around their anchors. Returns True if the full normalisation was needed."""
    normaliser = compiled.ruleset.normaliser
    matcher = compiled.matcher
    prefolded = normaliser.prefold(text)
    found = matcher.collect(prefolded)
    sentinels = matcher.sentinels(found)
    normalised = None if sentinels is None else normaliser.already_normal(text, prefolded, sentinels)
    if normalised is None:
        normalised = normaliser(text)
        found = matcher.collect(normalised.text)
    matcher.finish(normalised.text, found)
    return normalised.text is not prefolded


def _timed(function: Any, articles: Sequence[str]) -> tuple[float, float]:
    """CPU seconds of this (single-threaded) process, i.e. time on one core, and wall-clock seconds."""
    cpu = time.process_time()
    wall = time.perf_counter()
    for article in articles:
        function(article)
    return time.process_time() - cpu, time.perf_counter() - wall


def run(args: argparse.Namespace | Sequence[str] | None = None) -> dict[str, Any]:
    """Benchmark entry point (bench/run.py convention: ``run(args) -> dict`` with ``title`` and ``results``).

    ``args`` may be bench/run.py's namespace (``quick`` selects 100 articles), this script's own namespace, or an
    argument list."""
    if not isinstance(args, argparse.Namespace):
        args = parse_args(list(args) if args is not None else [])
    count = getattr(args, "articles", None) or (100 if getattr(args, "quick", False) else 1000)
    seed = getattr(args, "seed", None) or 7
    sample = getattr(args, "agreement_sample", None) or min(100, count)
    articles = generate_articles(count, seed)
    characters = sum(len(article) for article in articles)
    utf8_bytes = sum(len(article.encode("utf-8")) for article in articles)

    compiled = compiled_rules()  # build and cache before timing
    baseline = NaiveBaseline()
    check(articles[0])
    baseline.scan(articles[0])

    engine_seconds, engine_wall = _timed(check, articles)
    matcher_seconds, _matcher_wall = _timed(lambda text: normalise_and_scan(compiled, text), articles)
    baseline_seconds, baseline_wall = _timed(baseline.scan, articles)

    reports = [check(article) for article in articles]
    fully_normalised = sum(normalise_and_scan(compiled, article) for article in articles)
    blocked = sum(1 for report in reports if report.blocked)
    findings = sum(len(report.findings) for report in reports)
    compared = agreement(articles[:sample])
    per_article = 1000 / len(articles)
    summary = {
        "articles": len(articles),
        "characters": characters,
        "utf8_bytes": utf8_bytes,
        "seed": seed,
        "rules": len(compiled.ruleset.rules),
        "matcher": compiled.matcher.stats(),
        "baseline_regexes": len(baseline.items),
        "timing": "CPU seconds of one process (one core); wall-clock seconds for reference",
        "engine_seconds": round(engine_seconds, 3),
        "engine_wall_seconds": round(engine_wall, 3),
        "matcher_seconds": round(matcher_seconds, 3),
        "baseline_seconds": round(baseline_seconds, 3),
        "baseline_wall_seconds": round(baseline_wall, 3),
        "engine_chars_per_second_per_core": round(characters / engine_seconds),
        "engine_utf8_mb_per_second_per_core": round(utf8_bytes / engine_seconds / 1e6, 2),
        "baseline_chars_per_second_per_core": round(characters / baseline_seconds),
        "speedup_full_check_vs_baseline": round(baseline_seconds / engine_seconds, 1),
        "speedup_matching_vs_baseline": round(baseline_seconds / matcher_seconds, 1),
        "articles_normalised_fully": fully_normalised,
        "findings": findings,
        "articles_blocked": blocked,
        "agreement_sample_articles": min(sample, len(articles)),
        "agreement": compared,
        "cpu": os.cpu_count(),
    }
    summary["targets_met"] = {
        "speedup_at_least_20x": summary["speedup_full_check_vs_baseline"] >= 20,
        "at_least_1_mb_per_second": summary["engine_utf8_mb_per_second_per_core"] >= 1.0,
    }
    baseline_name = f"naive: {len(baseline.items)} regexes, one re.finditer each"
    return {
        "title": "Compliance engine: check() vs a naive per-pattern regex scan",
        "results": [
            {
                "case": "check() per article (normalise, one-pass scan, all 59 rules)",
                "unit": "ms CPU per article",
                "value": round(engine_seconds * per_article, 4),
                "baseline": baseline_name,
                "baseline_value": round(baseline_seconds * per_article, 4),
                "ratio": summary["speedup_full_check_vs_baseline"],
                "details": {
                    "chars_per_second_per_core": summary["engine_chars_per_second_per_core"],
                    "utf8_mb_per_second_per_core": summary["engine_utf8_mb_per_second_per_core"],
                },
            },
            {
                "case": "matching only (normalise + one-pass scan, as check() does it)",
                "unit": "ms CPU per article",
                "value": round(matcher_seconds * per_article, 4),
                "baseline": baseline_name,
                "baseline_value": round(baseline_seconds * per_article, 4),
                "ratio": summary["speedup_matching_vs_baseline"],
                "details": {"agreement_with_baseline": compared},
            },
        ],
        "notes": [
            f"{len(articles)} generated articles, {characters} characters ({utf8_bytes} UTF-8 bytes), seed {seed}",
            "times are CPU seconds of one process, i.e. one core; both sides include normalisation (same normalised text)",
        ],
        "summary": summary,
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--agreement-sample", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="100 articles (a smoke run)")
    parsed = parser.parse_args(argv)
    if parsed.quick and "--articles" not in argv:
        parsed.articles = 100
    return parsed


if __name__ == "__main__":
    print(json.dumps(run(parse_args(sys.argv[1:]))["summary"], ensure_ascii=False, indent=2))
