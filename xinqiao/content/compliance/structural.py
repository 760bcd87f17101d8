"""Structural predicates: rules over the input model (§0.1) and rules whose logic is more than a phrase list.

Each predicate is registered by the name ``rules.yaml`` gives in ``structural:``. Phase 0 runs after the lexical
pass; phase 1 runs after phase 0 because it reads other rules' hits (PAT-002/003 and CR-002 read PII hits, CR-003
reads EFF/RATE/ABS/CMP hits, STR-002's exemption reads STR-005). A predicate calls :meth:`Evaluation.skip` when the
input model lacks the data it needs: absent context fields mean "unknown", and the report lists such rules.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from xinqiao.lib.identity import id_check_char, mask_name

from .evaluation import Evaluation
from .matcher import FLAGS
from .normalise import content_sha256
from .ruleset import Rule, Severity

Predicate = Callable[[Evaluation, Rule], None]
# name -> (phase, function, requires): ``requires`` names detectors of the rule at least one of which must have
# matched for the predicate to have anything to do (the engine then skips it without a call); empty = always run.
PREDICATES: dict[str, tuple[int, Predicate, tuple[str, ...]]] = {}

_CJK = re.compile(r"[\u4e00-\u9fa5]")
_HONORIFIC_WORDS = ("先生", "女士", "小姐", "阿姨", "叔叔", "大爷", "大妈", "奶奶", "爷爷", "老师", "师傅", "同学")
_PARTNERSHIP = re.compile(r"合作|分院|专家团队|技术指导|联合")
_GENERIC_INSTITUTION = re.compile(
    r"(?:正规|公立|民营|私立|综合|专科|三甲|三级|二级|大|其他|别的|别家|各大|各级|定点|指定|附近|当地|本地|上级|基层|"
    r"社区|乡镇|中医|西医|中西医结合|妇幼|儿童|肿瘤|口腔|眼科|精神|康复|传染病|大学附属|附属|医保定点)*"
    r"(?:医院|门诊部|诊所|卫生院|医疗中心)"
)
_MINOR_AUDIENCE = re.compile(r"中小学|小学|中学|儿童|少儿|幼儿|未成年|学生|child|kid|minor|teen", re.IGNORECASE)
_CERT_NOISE = re.compile(r"[\s()（）【】\[\]［］]")
_SEGMENT_SPLIT = re.compile(r"[|｜\n。!?;]+| {2,}")
_SEGMENT_LEFTOVER = re.compile(r"[\s\d:：\-—~.,、;()（）【】\[\]X/#|｜!]+")
_BEDS = re.compile(r"床位\s*(\d+)\s*张|(\d+)\s*张床位?")
_OWNERSHIP = re.compile(r"公立|民营|私立|非营利性|营利性|国有|集体|股份制")
_CATEGORY = re.compile(r"综合医院|专科医院|中医医院|中西医结合医院|妇幼保健院|康复医院|门诊部|诊所|卫生院")
_SUBJECT_LIST = re.compile(r"诊疗科目[:：]?\s*((?:[\u4e00-\u9fa5]{1,8}科[、,，\s]*)+)")
_SUBJECT = re.compile(r"[\u4e00-\u9fa5]{1,8}科")
_CHINESE_DIGITS = str.maketrans("零〇一幺二两三四五六七拐八九勾", "001122345677899")
_DIGIT_NOISE = re.compile(r"[\s\-·.、,]")
_MOBILE = re.compile(r"(?:86)?(1[3-9]\d{9})")
_BIN = re.compile(r"62|4|5[1-5]|2[2-7]|35|3[47]")


def predicate(name: str, phase: int = 0, requires: tuple[str, ...] = ()) -> Callable[[Predicate], Predicate]:
    def register(function: Predicate) -> Predicate:
        PREDICATES[name] = (phase, function, requires)
        return function

    return register


@functools.cache
def _compiled(source: str) -> re.Pattern[str]:
    return re.compile(source, FLAGS)


def fold_all(ev: Evaluation, values: Iterable[object]) -> list[str]:
    return [ev.ruleset.normaliser.fold(str(value)) for value in values if value]


def _text_has(ev: Evaluation, lexicon: str, text: str) -> bool:
    if any(phrase in text for phrase in ev.ruleset.phrases[lexicon]):
        return True
    return ev.local(lexicon, text)


def _document(ev: Evaluation, rule: Rule, severity: Severity, detail: str) -> None:
    ev.emit(rule, 0, 0, severity=severity, detail=detail, document=True, negatable=False)


def _severity(ev: Evaluation, rule: Rule) -> Severity | None:
    return rule.sev_ad if ev.ad_mode(rule) else rule.sev_nonad


# -- shared classifiers -------------------------------------------------------------------------------------------
def is_kepu(ev: Evaluation) -> bool:
    """科普 classifier: author tag, or a health-knowledge topic (disease names, health vocabulary)."""
    cached = ev.facts.get("kepu")
    if cached is None:
        tags = set(ev.model.strings_of("tags"))
        if "kepu" in tags:
            cached = True
        elif tags & {"news", "notice"} or ev.content_type == "comment_reply":
            cached = False
        else:
            cached = ev.has("disease") or ev.has("health_topic")
        ev.facts["kepu"] = cached
    return bool(cached)


@dataclass(frozen=True)
class Person:
    start: int
    end: int
    kind: str  # full | honorific | nickname | anonymised
    pseudonym: bool


_FULL_NAME_DETECTORS = ("full_name", "full_name_after_word", "full_name_at_start")
_OTHER_NAME_DETECTORS = (("honorific", "honorific"), ("nickname", "nickname"), ("anonymised", "anonymised"))


def persons(ev: Evaluation) -> list[Person]:
    """Person-name candidates (PII-005 step 1 and step 3 suppressors), cached per evaluation."""
    cached = ev.facts.get("persons")
    if cached is not None:
        return cached  # type: ignore[return-value]
    rule = ev.ruleset.by_id["PII-005"]
    found: list[Person] = []
    full_hits = [(name, ev.detector(rule, name)) for name in _FULL_NAME_DETECTORS]
    other_hits = [(kind, ev.detector(rule, name)) for name, kind in _OTHER_NAME_DETECTORS]
    if not any(hits for _name, hits in full_hits) and not any(hits for _kind, hits in other_hits):
        ev.facts["persons"] = found
        return found
    text = ev.text
    patterns_by_name = rule.compiled_detectors
    staff_title = patterns_by_name["staff_title"][0]
    staff = set(fold_all(ev, ev.model.strings_of("staff_directory")))
    false_friend = ev.ruleset.false_friend_re
    compound_surnames = ev.ruleset.compound_surnames

    def pseudonymous(end: int) -> bool:
        return ev.lex_in("pseudonym", end, end + 4)

    for name, hits in full_hits:
        patterns = patterns_by_name[name]
        for start, _end in hits:
            match = next((found for found in (pattern.match(text, start) for pattern in patterns) if found), None)
            if match is None:
                continue
            name_start, name_end = match.span(1)
            candidate = text[name_start:name_end]
            compound = candidate.startswith(compound_surnames)
            given = candidate[2:] if compound else candidate[1:]
            if given.startswith(_HONORIFIC_WORDS) or "某" in given:
                continue
            if false_friend.match(text, name_start) is not None:
                continue
            if staff_title.match(text, name_end) or candidate in staff:
                continue
            found.append(Person(name_start, name_end, "full", pseudonymous(name_end)))
    for kind, hits in other_hits:
        for start, end in hits:
            if staff_title.match(text, end):
                continue
            found.append(Person(start, end, kind, pseudonymous(end)))
    found.sort(key=lambda person: person.start)
    ev.facts["persons"] = found
    return found


def patient_story(ev: Evaluation) -> bool:
    """§PAT-001 classifier: one sentence names a person (a person word or a name), a diagnosis/treatment narrative
    and an age, gender or occupation; and the text is not marked as a fictional or composite case. Requiring the
    three in one sentence keeps generic 科普 (「40岁以上人群」 … 「患者应…」 in different sentences) out."""
    cached = ev.facts.get("patient_story")
    if cached is None:
        explicit = ev.model.flag("patient_story")
        cached = explicit if explicit is not None else _story_sentence(ev) and not ev.has("fictional_marker")
        ev.facts["patient_story"] = cached
    return bool(cached)


def _story_sentence(ev: Evaluation) -> bool:
    """True if one sentence holds an age/gender/occupation (or minor) cue, a person and a narrative cue. The person
    is checked before the narrative: generic 科普 (「40岁以上人群…早治疗」) usually has the narrative and not the
    person, so the test fails one look-up sooner; the answer is the same."""
    if not ev.has("narrative_cue"):
        return False
    starts = [*ev.lex("identity_cue"), *ev.lex("minor")]
    if not starts:
        return False
    if not ev.has("person_cue") and not persons(ev):
        return False
    people: list[Person] | None = None
    checked: set[int] = set()
    for start, _end in starts:
        low, high = ev.sentence(start)
        if low in checked:
            continue
        checked.add(low)
        if not ev.lex_in("person_cue", low, high):
            if people is None:
                people = persons(ev)
            if not any(low <= person.start < high for person in people):
                continue
        if ev.lex_in("narrative_cue", low, high):
            return True
    return False


def _diagnosis_near(ev: Evaluation, start: int, end: int) -> bool:
    low, high = ev.sentence(start)
    low = min(low, max(0, start - 30))
    high = max(high, end + 30)
    return any(ev.lex_in(name, low, high) for name in ("diagnosis", "disease", "sensitive_condition"))


def _consents(ev: Evaluation) -> list[dict[str, object]]:
    return [dict(consent) for consent in ev.model.consents]


def _consent_valid(ev: Evaluation, consent: dict[str, object]) -> bool:
    if consent.get("withdrawn") or consent.get("status") in ("withdrawn", "expired"):
        return False
    valid_until = consent.get("valid_until")
    publish = ev.model.publish_date or dt.date.today()  # noqa: DTZ011 - calendar dates, as the consent records them
    if valid_until:
        try:
            if dt.date.fromisoformat(str(valid_until)[:10]) < publish:
                return False
        except ValueError:
            return False
    channel = ev.model.string("channel")
    if channel and consent.get("channels") is not None and channel not in consent["channels"]:  # type: ignore[operator]
        return False
    media_type = ev.model.string("media_type")
    if media_type and consent.get("media_types") is not None and media_type not in consent["media_types"]:  # type: ignore[operator]
        return False
    purposes = consent.get("purposes")
    return not (purposes is not None and "publicity" not in purposes)  # type: ignore[operator]


def _valid_consents(ev: Evaluation) -> list[dict[str, object]]:
    return [consent for consent in _consents(ev) if _consent_valid(ev, consent)]


def _face_visible(ev: Evaluation) -> bool:
    allowed = any(consent.get("face") is True for consent in _valid_consents(ev))
    return not allowed and any(
        item.face_detected and not item.faces_blurred and not item.staff_consent for item in ev.model.media
    )


# -- STR ----------------------------------------------------------------------------------------------------------
@predicate("str_ad_label")
def str_ad_label(ev: Evaluation, rule: Rule) -> None:
    if not ev.is_ad or ev.model.flag("platform_ad_flag"):
        return
    places = [ev.ruleset.normaliser(value).text for value in (ev.model.string("title"), ev.model.string("cover_text"))]
    places.append(ev.text[:30])
    if any(ev.local("ad_label", place) for place in places if place):
        return
    if any(ev.local("weak_ad_label", place) for place in places if place):
        _document(ev, rule, Severity.WARN, "label says 推广/合作/赞助/种草/AD, not 广告")
        return
    _document(ev, rule, Severity.BLOCK, "no 「广告」 label in the title, cover text or first 30 characters")


def _cert_key(number: str) -> str:
    return _CERT_NOISE.sub("", number).replace("－", "-").replace("—", "-")


@predicate("str_cert_number", phase=1)
def str_cert_number(ev: Evaluation, rule: Rule) -> None:
    if not ev.is_ad:
        return
    severity = Severity.BLOCK
    if ev.model.flag("basic_info_notice_mode") and not ev.hits.get("STR-005"):
        severity = Severity.WARN
    cert = ev.model.obj("ad_cert")
    numbers = ev.lex("cert_number")
    if not cert:
        if numbers:
            start, end = numbers[0]
            ev.emit(rule, start, end, severity=severity, detail="no 医疗广告审查证明 on record", negatable=False)
        else:
            _document(ev, rule, severity, "no 医疗广告审查证明 on record and no number in the text")
        return
    if not numbers:
        _document(ev, rule, severity, "certificate number not printed in the ad")
        return
    expected = _cert_key(ev.ruleset.normaliser.fold(str(cert.get("number", ""))))
    if not any(_cert_key(ev.text[start:end]) == expected for start, end in numbers):
        start, end = numbers[0]
        ev.emit(rule, start, end, severity=severity, detail="number differs from ad_cert.number", negatable=False)


@predicate("str_cert_validity")
def str_cert_validity(ev: Evaluation, rule: Rule) -> None:
    cert = ev.model.obj("ad_cert")
    if not ev.is_ad or not cert:
        return
    expiry = cert.get("expiry_date")
    if expiry and ev.model.publish_date is not None:
        if dt.date.fromisoformat(str(expiry)[:10]) < ev.model.publish_date:
            _document(ev, rule, Severity.BLOCK, "certificate expired before the publish date")
    elif expiry:
        ev.skip(rule)
    sample = cert.get("approved_sample_sha256")
    if sample and sample != content_sha256(ev.text):
        _document(ev, rule, Severity.BLOCK, "content differs from the approved sample")
    media_types = cert.get("media_types")
    media_type = ev.model.string("media_type")
    if media_types and media_type and media_type not in media_types:
        _document(ev, rule, Severity.BLOCK, "media type not covered by the certificate")


@predicate("str_publisher")
def str_publisher(ev: Evaluation, rule: Rule) -> None:
    if ev.is_ad and ev.model.account_type in ("department", "doctor_personal", "third_party"):
        _document(ev, rule, Severity.BLOCK, f"ad published by a {ev.model.account_type} account")


@predicate("str_eight_items")
def str_eight_items(ev: Evaluation, rule: Rule) -> None:
    if not ev.is_ad:
        return
    blocked = False
    for lexicon in ("disease", "technique", "drug"):
        for start, end in ev.lex(lexicon):
            ev.emit(
                rule, start, end, severity=Severity.BLOCK, detail=f"{lexicon} term in a medical ad", negatable=False
            )
            blocked = True
    stage1 = ev.norm.stage1
    profile = ev.model.profile
    if profile.get("beds") is not None:
        for match in _BEDS.finditer(stage1):
            if int(match.group(1) or match.group(2)) != int(profile["beds"]):
                ev.emit(
                    rule,
                    *match.span(),
                    severity=Severity.BLOCK,
                    detail="bed count differs from the licence",
                    stage1=True,
                )
                blocked = True
    first_name = ev.ruleset.normaliser.fold(str(profile.get("first_name") or ""))
    if profile.get("ownership"):
        for match in _OWNERSHIP.finditer(stage1):
            if match.group() not in str(profile["ownership"]):
                ev.emit(
                    rule,
                    *match.span(),
                    severity=Severity.BLOCK,
                    detail="ownership differs from the licence",
                    stage1=True,
                )
                blocked = True
    if profile.get("category"):
        for match in _CATEGORY.finditer(stage1):
            if match.group() not in str(profile["category"]) and match.group() not in first_name:
                ev.emit(
                    rule,
                    *match.span(),
                    severity=Severity.BLOCK,
                    detail="category differs from the licence",
                    stage1=True,
                )
                blocked = True
    registered = fold_all(ev, profile.get("registered_subjects") or ())
    if registered:
        for listing in _SUBJECT_LIST.finditer(stage1):
            for subject in _SUBJECT.finditer(stage1, listing.start(1), listing.end(1)):
                if not any(subject.group() in entry or entry in subject.group() for entry in registered):
                    ev.emit(
                        rule,
                        *subject.span(),
                        severity=Severity.BLOCK,
                        detail="诊疗科目 not on the licence",
                        stage1=True,
                    )
                    blocked = True
    if blocked:
        return
    items = ev.ruleset.local_patterns["ad_item"]
    position = 0
    for separator in [*_SEGMENT_SPLIT.finditer(stage1), None]:
        end = separator.start() if separator else len(stage1)
        segment = stage1[position:end]
        rest = segment
        for pattern in items:
            rest = pattern.sub("", rest)
        rest = _SEGMENT_LEFTOVER.sub("", rest)
        if len(_CJK.findall(rest)) > 2:
            ev.emit(
                rule,
                position,
                end,
                severity=Severity.WARN,
                detail="sentence outside the 8 permitted items",
                stage1=True,
            )
        position = separator.end() if separator else end


_LEADING_FUNCTION_CHARS = "在到去来是的和与及或其该本我这那从向于对为被把让给有赴"


def _acceptable_institution(candidate: str, allowed: list[str]) -> bool:
    for index in range(len(candidate)):
        suffix = candidate[index:]
        if any(name and (name in suffix or (len(suffix) >= 4 and suffix in name)) for name in allowed):
            return True
    return bool(_GENERIC_INSTITUTION.fullmatch(candidate.lstrip(_LEADING_FUNCTION_CHARS)))


@predicate("str_institution_name")
def str_institution_name(ev: Evaluation, rule: Rule) -> None:
    text = ev.text
    partners = fold_all(ev, ev.model.strings_of("verified_partnerships"))
    for start, end in ev.lex("famous_hospital"):
        famous = text[start:end]
        if any(famous in partner for partner in partners):
            continue
        low, high = ev.clause(start)
        claim = _PARTNERSHIP.search(text, end, min(high, end + 12))
        if claim is not None:
            ev.emit(
                rule, start, claim.end(), detail="famous-hospital name with an unverified affiliation", negatable=False
            )
    profile = ev.model.profile
    if not ev.is_ad:
        return
    if not profile.get("first_name"):
        ev.skip(rule)
        return
    allowed = fold_all(ev, [profile["first_name"], *(profile.get("aliases") or ())])
    for start, end in ev.lex("institution_candidate"):
        if not _acceptable_institution(text[start:end], allowed):
            ev.emit(
                rule, start, end, severity=Severity.BLOCK, detail="name is not the licensed first name", negatable=False
            )


@predicate("str_news_form")
def str_news_form(ev: Evaluation, rule: Rule) -> None:
    title = ev.ruleset.normaliser(ev.model.string("title")).text if ev.model.string("title") else ""
    first_end = ev.sentence(0)[1]
    news_like = (
        (bool(title) and ev.local("news_marker", title))
        or ev.lex_in("news_marker", 0, first_end)
        or (ev.content_type == "article" and bool(ev.model.string("byline")))
    )
    if not news_like:
        return
    contacts = [*ev.lex("news_contact"), *ev.lex("price_promo")]
    if contacts:
        start, end = min(contacts)
        ev.emit(rule, start, end, detail="news or interview with contact, booking or price details", negatable=False)
    elif set(ev.model.links) & {"booking", "qr", "phone", "map", "wechat", "purchase"}:
        _document(ev, rule, _severity(ev, rule) or Severity.BLOCK, "news or interview with a booking/contact link")


@predicate("str_minor_audience")
def str_minor_audience(ev: Evaluation, rule: Rule) -> None:
    if not ev.is_ad:
        return
    minors = ev.model.flag("audience_minors")
    if minors is None:
        audience = ev.model.string("campaign_audience")
        minors = bool(audience) and bool(_MINOR_AUDIENCE.search(audience))
    if minors:
        _document(ev, rule, Severity.BLOCK, "medical ad aimed at minors")


@predicate("str_kepu_contact")
def str_kepu_contact(ev: Evaluation, rule: Rule) -> None:
    if ev.is_ad or not is_kepu(ev):
        return
    contact = ev.first("contact") if ev.has("contact") else None
    if contact is not None:
        ev.emit(rule, *contact, severity=Severity.BLOCK, detail="contact details in 科普", negatable=False)
    elif set(ev.model.links) & ev.ruleset.link_kinds:
        _document(ev, rule, Severity.BLOCK, "contact or purchase link attached to 科普")


# -- ABS / END ----------------------------------------------------------------------------------------------------
@predicate("abs_state_symbol")
def abs_state_symbol(ev: Evaluation, rule: Rule) -> None:
    if any(item.state_symbol for item in ev.model.media):
        severity = _severity(ev, rule)
        if severity is not None:
            _document(ev, rule, severity, "image shows a state symbol (flag, emblem, uniform)")


@predicate("end_testimonial")
def end_testimonial(ev: Evaluation, rule: Rule) -> None:
    if not ev.is_ad:
        return
    if any(item.before_after for item in ev.model.media):
        _document(ev, rule, Severity.BLOCK, "before/after images in an ad")
    if patient_story(ev):
        _document(ev, rule, Severity.BLOCK, "patient story in an ad")


@predicate("end_third_party")
def end_third_party(ev: Evaluation, rule: Rule) -> None:
    if ev.is_ad and ev.model.account_type == "third_party":
        _document(ev, rule, Severity.BLOCK, "ad published by a third-party (endorser) account")


# -- FAL ----------------------------------------------------------------------------------------------------------
def unsourced_claims(ev: Evaluation) -> list[tuple[int, int]]:
    """Data/study claims with no source marker in the same or the next sentence (FAL-001, KP-003)."""
    cached = ev.facts.get("unsourced")
    if cached is None:
        seen: set[int] = set()
        cached = []
        for start, end in ev.lex("claim"):
            low = ev.sentence(start)[0]
            if low in seen:
                continue
            seen.add(low)
            if not ev.lex_in("source_marker", low, ev.next_sentence_end(start)):
                cached.append((start, end))
        ev.facts["unsourced"] = cached
    return cached  # type: ignore[return-value]


@predicate("fal_unsourced_claim")
def fal_unsourced_claim(ev: Evaluation, rule: Rule) -> None:
    for start, end in unsourced_claims(ev):
        ev.emit(rule, start, end, detail="claim without a source")


_LEVELS = {"三级甲等": ("三级甲等", "三甲"), "三甲": ("三级甲等", "三甲"), "二甲": ("二级甲等", "二甲")}


@predicate("fal_unverified_honour", requires=("honour",))
def fal_unverified_honour(ev: Evaluation, rule: Rule) -> None:
    hits = ev.detector(rule, "honour")
    if not hits:
        return
    if not ev.model.has("hospital_profile") and not ev.model.has("doctor_profile"):
        ev.skip(rule)
        return
    profile = ev.model.profile
    level = ev.ruleset.normaliser.fold(str(profile.get("level") or ""))
    honours = fold_all(ev, profile.get("verified_honors") or ())
    titles = fold_all(ev, (ev.model.obj("doctor_profile") or {}).get("titles") or ())
    text = ev.text
    for start, end in hits:
        term = text[start:end]
        low, high = ev.sentence(start)
        sentence = text[low:high]
        if term in _LEVELS:
            verified = any(form in level for form in _LEVELS[term]) if level else False
        elif term.startswith(("专家", "名医")):
            verified = any(title in sentence for title in titles) or any(honour in sentence for honour in honours)
        else:
            verified = any(honour in sentence or sentence in honour for honour in honours)
        if verified:
            ev.emit(rule, start, end, severity=Severity.INFO, detail="verified in the profile")
        else:
            ev.emit(rule, start, end, detail="level, title or honour not in the verified profile")


@predicate("fal_licence_scope")
def fal_licence_scope(ev: Evaluation, rule: Rule) -> None:
    registered = fold_all(ev, ev.model.profile.get("registered_subjects") or ())
    if not registered:
        if ev.has("subject_service"):
            ev.skip(rule)
        return
    services = ev.lex("subject_service")
    severity = Severity.BLOCK if ev.is_ad or ev.has("cta") else Severity.WARN
    for start, end in services:
        subject = ev.ruleset.subject_mapping[ev.text[start:end]]
        if not any(subject in entry for entry in registered):
            ev.emit(rule, start, end, severity=severity, detail=f"needs 诊疗科目 {subject}", negatable=False)


# -- KP -----------------------------------------------------------------------------------------------------------
@predicate("kp_disclaimer")
def kp_disclaimer(ev: Evaluation, rule: Rule) -> None:
    if ev.is_ad or not is_kepu(ev):
        return
    if ev.has("disclaimer_reference") and ev.has("disclaimer_hint"):
        return
    _document(ev, rule, Severity.BLOCK, "科普 without the standard disclaimer")


@predicate("kp_doctor_footer")
def kp_doctor_footer(ev: Evaluation, rule: Rule) -> None:
    if ev.model.account_type != "doctor_personal":
        return
    bio = ev.ruleset.normaliser(ev.model.string("account_bio")).text
    for place_has in (
        lambda name: ev.has(name),
        lambda name: bool(bio) and _text_has(ev, name, bio),
    ):
        if place_has("doctor_footer_opinion") and place_has("doctor_footer_position"):
            return
    _document(ev, rule, Severity.BLOCK, "personal-account post without the 个人观点 footer")


@predicate("kp_source")
def kp_source(ev: Evaluation, rule: Rule) -> None:
    if ev.is_ad:
        return
    reported: set[int] = set()
    for start, end in unsourced_claims(ev):
        reported.add(ev.sentence(start)[0])
        ev.emit(rule, start, end, detail="claim without a source")
    if not is_kepu(ev) or not ev.model.has("author"):
        return
    author = ev.model.obj("author") or {}
    if author.get("license_verified"):
        return
    for start, end in ev.lex("recommendation"):
        low = ev.sentence(start)[0]
        if low in reported or ev.lex_in("source_marker", low, ev.next_sentence_end(start)):
            continue
        reported.add(low)
        ev.emit(rule, start, end, detail="clinical recommendation without a source or a licensed author")


@predicate("kp_ai_label")
def kp_ai_label(ev: Evaluation, rule: Rule) -> None:
    generated = any(item.ai_generated for item in ev.model.media) or ev.model.string("generation_source") == "llm"
    if generated and not ev.has("ai_label"):
        _document(ev, rule, Severity.BLOCK, "AI-generated content without a visible label")


@predicate("kp_brand_placement")
def kp_brand_placement(ev: Evaluation, rule: Rule) -> None:
    if not (ev.has("brand") or ev.has("hospital_service")) or not ev.has("recommend_verb") or not is_kepu(ev):
        return
    verbs = ev.lex("recommend_verb")
    if not verbs:
        return
    for start, end in [*ev.lex("brand"), *ev.lex("hospital_service")]:
        low, high = ev.sentence(start)
        for verb_start, verb_end in verbs:
            if low <= verb_start < high:
                ev.emit(
                    rule, min(start, verb_start), max(end, verb_end), detail="brand or paid service recommended in 科普"
                )
                break


@predicate("kp_drama_label")
def kp_drama_label(ev: Evaluation, rule: Rule) -> None:
    dramatised = ev.model.flag("is_dramatised")
    if dramatised is None:
        roles = {ev.text[start : end - 1] for start, end in ev.lex("dialogue_role")}
        dramatised = len(roles) >= 2
    if dramatised and not ev.has("drama_label"):
        _document(ev, rule, Severity.BLOCK, "dramatised scene without a 情景演绎 label")


@predicate("kp_author_licence")
def kp_author_licence(ev: Evaluation, rule: Rule) -> None:
    if not is_kepu(ev) or not ev.has("professional"):
        return
    if not ev.model.has("author") and not ev.model.has("reviewer"):
        ev.skip(rule)
        return
    author = ev.model.obj("author") or {}
    reviewer = ev.model.obj("reviewer") or {}
    if not author.get("license_verified") and not reviewer.get("license_verified"):
        _document(ev, rule, Severity.BLOCK, "professional 科普 without a licensed author or reviewer")


# -- PAT ----------------------------------------------------------------------------------------------------------
@predicate("pat_consent")
def pat_consent(ev: Evaluation, rule: Rule) -> None:
    if not patient_story(ev):
        return
    if not ev.model.has("consents"):
        ev.skip(rule)
        return
    valid = _valid_consents(ev)
    minor = ev.has("minor") or any(consent.get("minor") for consent in _consents(ev))
    if minor:
        valid = [consent for consent in valid if consent.get("guardian_signed")]
    if not valid:
        _document(ev, rule, Severity.BLOCK, "patient story without a valid publicity consent for this channel")


def _identifiers(ev: Evaluation) -> list[tuple[int, int]]:
    return [
        (hit.start, hit.end)
        for hit in ev.rule_hits(("PII-001", "PII-002", "PII-003", "PII-004", "PII-005"))
        if not hit.document
    ]


@predicate("pat_deidentified", phase=1)
def pat_deidentified(ev: Evaluation, rule: Rule) -> None:
    if not patient_story(ev):
        return
    for hit in ev.rule_hits(("PII-005",), Severity.BLOCK):
        ev.emit(
            rule,
            hit.start,
            hit.end,
            severity=Severity.BLOCK,
            detail="real-looking full name without 化名",
            masked=mask_name(ev.text[hit.start : hit.end]),
        )
    for hit in ev.rule_hits(("PII-001", "PII-002", "PII-003", "PII-004")):
        ev.emit(
            rule,
            hit.start,
            hit.end,
            severity=Severity.BLOCK,
            detail=f"{hit.rule.id} identifier in a patient story",
            masked="*" * (hit.end - hit.start),
        )
    text_length = len(ev.text)
    age = ev.lex("qi_age")
    place = ev.lex("qi_place")
    if age and place and ev.has("school"):
        ev.emit(
            rule,
            age[0][0],
            min(text_length, age[0][1]),
            severity=Severity.BLOCK,
            detail="exact age + school/workplace + local place",
        )
    if ev.has("qi_date") and ev.has("qi_bed"):
        start, end = ev.lex("qi_bed")[0]
        ev.emit(rule, start, end, severity=Severity.BLOCK, detail="admission date + ward/bed number")
    if _face_visible(ev):
        _document(ev, rule, Severity.BLOCK, "unblurred face in a patient story")
    if any(item.shows_document for item in ev.model.media):
        _document(ev, rule, Severity.BLOCK, "a document (case sheet, report, wristband) is visible")


@predicate("pat_sensitive", phase=1)
def pat_sensitive(ev: Evaluation, rule: Rule) -> None:
    if not patient_story(ev) or not ev.has("sensitive_condition"):
        return
    start, end = ev.lex("sensitive_condition")[0]
    identified = bool(_identifiers(ev)) or _face_visible(ev) or any(item.voice_unaltered for item in ev.model.media)
    if identified:
        ev.emit(
            rule, start, end, severity=Severity.BLOCK, detail="sensitive condition with an identifier", negatable=False
        )
        return
    consented = ev.model.has("consents") and bool(_valid_consents(ev))
    severity = Severity.WARN if consented else Severity.BLOCK
    ev.emit(
        rule, start, end, severity=severity, detail="sensitive condition: second reviewer required", negatable=False
    )


@predicate("pat_minor")
def pat_minor(ev: Evaluation, rule: Rule) -> None:
    if not patient_story(ev):
        return
    minor = ev.has("minor") or any(consent.get("minor") for consent in _consents(ev))
    if not minor:
        return
    reasons = []
    if ev.model.has("consents") and not any(consent.get("guardian_signed") for consent in _valid_consents(ev)):
        reasons.append("no guardian consent")
    if _face_visible(ev):
        reasons.append("face not blurred")
    if ev.has("school"):
        reasons.append("school named")
    if reasons:
        _document(ev, rule, Severity.BLOCK, "minor in patient content: " + ", ".join(reasons))


# -- CR -----------------------------------------------------------------------------------------------------------
@predicate("cr_pii", phase=1)
def cr_pii(ev: Evaluation, rule: Rule) -> None:
    for hit in ev.rule_hits(("PII-001", "PII-002", "PII-003", "PII-004", "PII-005")):
        if not hit.document:
            ev.emit(
                rule,
                hit.start,
                hit.end,
                severity=Severity.BLOCK,
                detail=f"reply repeats personal data ({hit.rule.id})",
                negatable=False,
                exceptions=False,
                related_rule=hit.rule.id,
                masked="*" * (hit.end - hit.start),
            )


@predicate("cr_inherited", phase=1)
def cr_inherited(ev: Evaluation, rule: Rule) -> None:
    families = set(rule.inherit_families)
    for rule_id, hits in list(ev.hits.items()):
        source = ev.ruleset.by_id[rule_id]
        if source.family not in families:
            continue
        for hit in hits:
            recorded = ev.emit(
                rule,
                hit.start,
                hit.end,
                severity=hit.severity,
                negatable=False,
                exceptions=False,
                detail=f"inherited from {rule_id}",
                document=hit.document,
                related_rule=rule_id,
            )
            if recorded is not None:
                recorded.negated = hit.negated


# -- PII ----------------------------------------------------------------------------------------------------------
def _allowlisted_digits(ev: Evaluation) -> set[str]:
    phones = ev.model.profile.get("phone") or ()
    if isinstance(phones, str):
        phones = (phones,)
    values = [*phones, *ev.model.strings_of("pii_allowlist")]
    return {"".join(char for char in str(value) if char.isdigit()) for value in values} - {""}


@predicate("pii_mobile", requires=("mobile", "spelled"))
def pii_mobile(ev: Evaluation, rule: Rule) -> None:
    allow = _allowlisted_digits(ev)
    text = ev.text
    found: list[tuple[int, int]] = []
    for start, end in ev.detector(rule, "mobile"):
        digits = "".join(char for char in text[start:end] if char.isdigit())
        match = _MOBILE.fullmatch(digits[2:] if digits.startswith("0086") else digits)
        if match is None or match.group(1) in allow:
            continue
        found.append((start, end))
        ev.emit(rule, start, end, severity=Severity.BLOCK)
    for start, end in ev.detector(rule, "spelled"):
        raw = text[start:end]
        if raw.isascii() or any(low < end and start < high for low, high in found):
            continue
        digits = _DIGIT_NOISE.sub("", raw).translate(_CHINESE_DIGITS)
        match = _MOBILE.search(digits)
        if match is not None and match.group(1) not in allow:
            ev.emit(
                rule, start, end, severity=Severity.WARN, detail="mobile number spelled with Chinese numerals (evasion)"
            )


def _valid_birth_date(number: str) -> bool:
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return birth <= dt.date.today()  # noqa: DTZ011 - a calendar date


def id_number_confidence(number: str) -> str | None:
    """high (date + checksum), medium (date, checksum fails), or None (not a date)."""
    number = number.upper()
    if not _valid_birth_date(number):
        return None
    return "high" if id_check_char(number[:17]) == number[17] else "medium"


@predicate("pii_id_number", requires=("id18", "id_masked", "id15"))
def pii_id_number(ev: Evaluation, rule: Rule) -> None:
    text = ev.text
    for start, end in ev.detector(rule, "id18"):
        confidence = id_number_confidence(text[start:end])
        if confidence == "high":
            ev.emit(rule, start, end, severity=Severity.BLOCK, detail="valid resident ID number")
        elif confidence == "medium":
            ev.emit(rule, start, end, severity=Severity.WARN, detail="ID-shaped number, checksum fails")
    for start, end in ev.detector(rule, "id_masked"):
        ev.emit(rule, start, end, severity=Severity.INFO, detail="masked ID number")
    for start, end in ev.detector(rule, "id15"):
        if ev.detector_in(rule, "id_keyword", start - 10, end + 10):
            ev.emit(rule, start, end, severity=Severity.WARN, detail="15-digit legacy ID number")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


@predicate("pii_bank_card", requires=("card",))
def pii_bank_card(ev: Evaluation, rule: Rule) -> None:
    text = ev.text
    for start, end in ev.detector(rule, "card"):
        digits = "".join(char for char in text[start:end] if char.isdigit())
        amex = len(digits) == 15 and digits[:2] in ("34", "37")
        if not (16 <= len(digits) <= 19 or amex):
            continue
        if len(digits) == 18 and id_number_confidence(digits) is not None:
            continue  # a resident ID number: PII-002 reports it
        keyword = ev.detector_in(rule, "card_keyword", start - 10, end + 10)
        if luhn_valid(digits):
            if _BIN.match(digits) or keyword:
                ev.emit(rule, start, end, severity=Severity.BLOCK, detail="bank card number (Luhn valid)")
            else:
                ev.emit(rule, start, end, severity=Severity.INFO, detail="Luhn-valid number without card context")
        elif digits.startswith("62") and keyword:
            ev.emit(rule, start, end, severity=Severity.WARN, detail="UnionPay-shaped number next to a card keyword")


@predicate("pii_record_number")
def pii_record_number(ev: Evaluation, rule: Rule) -> None:
    if patient_story(ev):
        for start, end in ev.detector(rule, "bed"):
            ev.emit(rule, start, end, severity=Severity.BLOCK, detail="bed number in a patient story")
    for name, pattern in ev.model.record_number_formats:
        for match in pattern.finditer(ev.text):
            if match.end() > match.start():
                ev.emit(rule, match.start(), match.end(), severity=Severity.BLOCK, detail=f"configured format {name}")


@predicate(
    "pii_person_diagnosis",
    requires=("full_name", "full_name_after_word", "full_name_at_start", "honorific", "nickname", "anonymised"),
)
def pii_person_diagnosis(ev: Evaluation, rule: Rule) -> None:
    for person in persons(ev):
        if not _diagnosis_near(ev, person.start, person.end):
            continue
        if person.pseudonym or person.kind == "anonymised":
            severity = Severity.INFO
        elif person.kind == "full":
            severity = Severity.BLOCK
        else:
            severity = Severity.WARN
        ev.emit(
            rule,
            person.start,
            person.end,
            severity=severity,
            detail=f"{person.kind} name next to a diagnosis",
            masked=mask_name(ev.text[person.start : person.end]),
        )


@predicate("pii_contact", requires=("landline", "email", "wechat", "qq"))
def pii_contact(ev: Evaluation, rule: Rule) -> None:
    names = [name for name in ("landline", "email", "wechat", "qq") if ev.detector(rule, name)]
    if not names:
        return
    severity = Severity.BLOCK if ev.content_type == "comment_reply" or patient_story(ev) else Severity.WARN
    allow = _allowlisted_digits(ev)
    raw_allow = set(fold_all(ev, ev.model.strings_of("pii_allowlist")))
    text = ev.text
    for name in names:
        for start, end in ev.detector(rule, name):
            value = text[start:end]
            digits = "".join(char for char in value if char.isdigit())
            if value in raw_allow or (name == "landline" and digits in allow):
                continue
            ev.emit(rule, start, end, severity=severity, detail=name)


@predicate("pii_document", requires=("passport", "permit", "insurance"))
def pii_document(ev: Evaluation, rule: Rule) -> None:
    for name, keyword in (("passport", "passport_keyword"), ("permit", "permit_keyword")):
        for start, end in ev.detector(rule, name):
            anchored = ev.detector_in(rule, keyword, start - 10, start)
            ev.emit(
                rule,
                start,
                end,
                severity=Severity.BLOCK if anchored else Severity.WARN,
                detail=f"{name} number" + ("" if anchored else " (pattern only)"),
            )
    for start, end in ev.detector(rule, "insurance"):
        ev.emit(rule, start, end, severity=Severity.BLOCK, detail="social or medical insurance number")


@predicate("pii_address", requires=("address",))
def pii_address(ev: Evaluation, rule: Rule) -> None:
    if not ev.detector(rule, "address"):
        return
    addresses = fold_all(ev, [ev.model.profile.get("address"), *(ev.model.profile.get("campus_addresses") or ())])
    story = patient_story(ev)
    people = persons(ev)
    text = ev.text
    for start, end in ev.detector(rule, "address"):
        value = text[start:end]
        if any(value in address for address in addresses):
            continue
        low, high = ev.sentence(start)
        near_person = any(low <= person.start < high and person.kind != "anonymised" for person in people)
        ev.emit(
            rule,
            start,
            end,
            severity=Severity.BLOCK if story or near_person else Severity.WARN,
            detail="exact address or coordinates",
        )


_QI_WEIGHTS = (
    ("qi_age", 1),
    ("qi_gender", 1),
    ("qi_place", 2),
    ("qi_date", 1),
    ("qi_occupation", 2),
    ("rare_disease", 2),
    ("qi_bed", 2),
)


_QI_HEAVY = ("qi_place", "qi_occupation", "rare_disease", "qi_bed")


@predicate("pii_quasi_identifiers")
def pii_quasi_identifiers(ev: Evaluation, rule: Rule) -> None:
    """Score per paragraph. A score of 4 needs at least one 2-point item (age + gender + date is 3), so only
    paragraphs with a place, unique role, rare disease or bed number are scored."""
    text = ev.text
    paragraphs: set[tuple[int, int]] = set()
    for name in _QI_HEAVY:
        for start, _end in ev.lex(name):
            low = text.rfind("\n", 0, start) + 1
            high = text.find("\n", start)
            paragraphs.add((low, len(text) if high == -1 else high))
    if not paragraphs or any(consent.get("allows_details") for consent in _valid_consents(ev)):
        return
    for low, high in sorted(paragraphs):
        found: dict[str, tuple[int, int]] = {}
        for name, _weight in _QI_WEIGHTS:
            if name in _QI_HEAVY:
                spans = [span for span in ev.lex(name) if low <= span[0] < high]
                if spans:
                    found[name] = spans[0]
            else:
                spans = ev.ruleset.lazy[name].spans(text, low, high)
                if spans:
                    found[name] = spans[0]
        score = sum(weight for name, weight in _QI_WEIGHTS if name in found)
        if score < 4:
            continue
        start = min(span[0] for span in found.values())
        end = max(span[1] for span in found.values())
        severity = Severity.BLOCK if score >= 6 else Severity.WARN
        ev.emit(rule, start, end, severity=severity, detail=f"quasi-identifier score {score}")


@predicate("pii_media")
def pii_media(ev: Evaluation, rule: Rule) -> None:
    for item in ev.model.media:
        if item.shows_document:
            _document(ev, rule, Severity.BLOCK, "a document, wristband or screen is readable")
        if item.face_detected and not item.faces_blurred and not item.staff_consent:
            _document(ev, rule, Severity.WARN if item.bystander else Severity.BLOCK, "unblurred face")
    if ev.model.media:  # plates come from the OCR text of images and video frames
        for start, end in ev.lex("licence_plate"):
            ev.emit(rule, start, end, severity=Severity.WARN, detail="licence plate")
