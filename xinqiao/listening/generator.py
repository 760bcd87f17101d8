"""Realistic generated mentions for benchmarks, tests and the demo (deterministic for a seed).

``generate_mentions(n, *, seed, hospital_name, department_names, doctor_names, start, end, crisis=None)`` returns
``n`` dicts, sorted by ``posted_at``, each with exactly these keys:

=====================  ====================================================================================
``platform``           a ``Platform`` value; the mix follows what Chinese hospitals see (Weibo, Douyin,
                       Xiaohongshu and WeChat lead; news, forums and 12345/12320 boards are rarer)
``external_id``        unique per platform within one seed (``"<platform>-<seed>-<n>"``)
``url``                a plausible https URL of the post
``author_handle``      a pseudonymous handle (no real names; personal data minimised)
``author_followers``   heavy-tailed (log-normal; a few big accounts, media accounts larger)
``is_verified_author`` media and big accounts are verified
``text``               Chinese post: praise, complaints (per crisis topic), neutral news/科普, questions,
                       reposts and copy-paste with small edits, emoji, URLs, sometimes traditional
                       characters, sometimes full-width letters/digits, rarely HTML-like markup
``posted_at``          aware UTC datetime in [start, end), more posts in the daytime and evening
``likes``/``reposts``/``comments``  heavy-tailed, correlated with followers
``parent_external_id`` for reposts: the original's external id on the same platform, else ``""``
=====================  ====================================================================================

``crisis``, when given, is a dict ``{"at": aware datetime, "mentions": int, "topic": str}`` (topic one of
:data:`CRISIS_STORIES` keys, default ``"malpractice"``): that many of the n mentions become one story and its
reposts, posted within a few hours after ``at`` and growing fast, as a real crisis does.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

PLATFORM_WEIGHTS = {
    "weibo": 30,
    "douyin": 18,
    "xiaohongshu": 14,
    "wechat_oa": 8,
    "wechat_channels": 6,
    "zhihu": 5,
    "toutiao": 5,
    "kuaishou": 4,
    "bilibili": 2,
    "news": 3,
    "forum": 3,
    "government": 2,
}
URL_PATTERNS = {
    "weibo": "https://weibo.com/{uid}/{code}",
    "douyin": "https://www.douyin.com/video/{num}",
    "xiaohongshu": "https://www.xiaohongshu.com/explore/{hexid}",
    "wechat_oa": "https://mp.weixin.qq.com/s/{code}",
    "wechat_channels": "https://channels.weixin.qq.com/{code}",
    "zhihu": "https://www.zhihu.com/question/{num}",
    "toutiao": "https://www.toutiao.com/article/{num}/",
    "kuaishou": "https://www.kuaishou.com/short-video/{hexid}",
    "bilibili": "https://www.bilibili.com/video/BV{code}",
    "news": "https://news.example.cn/health/{num}.html",
    "forum": "https://tieba.baidu.com/p/{num}",
    "government": "https://12345.example.gov.cn/letter/{num}",
}
HANDLE_PARTS = (
    ["小", "大", "老", "阿", "爱吃", "快乐的", "努力的", "佛系", "不会游泳的", "会飞的"],
    ["猫", "鱼", "熊", "兔子", "橘子", "土豆", "星星", "小鹿", "豆包", "奶茶", "柚子", "云朵"],
)
MEDIA_HANDLES = ["本地生活报", "都市健康频道", "城市晚报", "健康时报观察", "民生直通车", "新闻夜班"]
EMOJI_POSITIVE = ["👍", "❤️", "🙏", "😊", "💐", "[赞]", "[心]", "🌹"]
EMOJI_NEGATIVE = ["😡", "😤", "😭", "💔", "[怒]", "[泪]", "🙄", "😓"]
EMOJI_NEUTRAL = ["🏥", "📢", "💉", "🩺", "[思考]", "🤔"]

PRAISE = [
    "今天带老人去{h}{d}看病，{doc}医生特别耐心，讲得清清楚楚，真的很感谢！",
    "{h}{d}的护士小姐姐太温柔了，输液一点都不疼，必须夸一夸",
    "在{h}做完手术恢复得很好，感谢{d}{doc}主任和整个团队，医术高医德好",
    "{h}现在挂号方便多了，手机上预约，到了直接看，流程很顺畅",
    "孩子半夜发烧去{h}急诊，医生护士都很负责，{d}值班医生一直在观察，点赞",
    "给{h}{d}送了面锦旗，{doc}医生救了我爸一命，一辈子感激",
    "{h}的志愿者阿姨很热心，带着我们找科室，服务越来越好了",
    "复查结果一切正常，谢谢{h}{d}{doc}医生这半年的照顾",
]
NEUTRAL = [
    "{h}{d}本周六上午开展义诊活动，地点在门诊大厅，欢迎市民参加",
    "{h}发布春节期间门诊安排：{d}正常开诊，急诊24小时服务",
    "科普｜{d}专家提醒：天气转凉，心脑血管疾病患者注意保暖，按时服药",
    "请问{h}{d}周末有专家门诊吗？{doc}医生哪天出诊？",
    "{h}新院区下月启用，{d}等科室将陆续搬迁，就诊前请留意通知",
    "{h}{d}{doc}团队完成本市首例新技术手术，患者术后恢复良好",
    "有没有人知道{h}停车场晚上几点关门？",
    "健康讲座预告：{h}{d}{doc}医生讲解高血压的日常管理",
    "{h}获评省级改善医疗服务示范医院",
    "转发科普：{d}医生说，体检报告上的箭头不一定都要担心",
]
COMPLAINTS = {
    "waiting": [
        "{h}{d}挂号难死了，早上六点抢号还是挂不上号，号贩子倒是有号",
        "在{h}排队等了一上午，{d}就看了三分钟，太折腾了",
        "{h}候诊时间也太长了吧，等了几个小时还没叫到号",
    ],
    "attitude": [
        "{h}{d}的护士态度很差，问两句就不耐烦，爱答不理的",
        "今天在{h}遇到一个医生态度恶劣，凶巴巴的，病人也是人啊",
        "{h}{d}服务差，窗口工作人员推诿来推诿去",
    ],
    "billing": [
        "{h}乱收费！{d}做个检查收了两次钱，重复收费找谁说理",
        "在{h}住了三天院，天价账单，收费太贵了，医保还拒付一部分",
        "{h}{d}收费不合理，申请退费跑了好几趟",
    ],
    "complaint": [
        "已经打12345投诉{h}{d}了，问题拖了一个月没人管",
        "向卫健委举报{h}，{d}的问题必须有人负责，已拨打12320",
        "{h}{d}差评，准备去市长热线投诉",
    ],
    "ethics": [
        "听说{h}{d}有医生收红包，不给红包就不好好做手术，是真的吗",
        "{h}过度检查，小感冒开了一堆化验单，怀疑吃回扣",
    ],
    "medical-dispute": [
        "我家老人在{h}{d}治疗后病情加重，医院一直推诿，家属要讨个说法",
        "和{h}协商未果，准备起诉医院要求赔偿",
    ],
    "privacy": [
        "{h}把我的检查报告发到了别人手机上，个人信息泄露谁负责",
    ],
    "infection-safety": [
        "{h}{d}病房消毒不严，好几个病人都交叉感染了",
    ],
}
CRISIS_STORIES = {
    "malpractice": "网传{h}{d}手术失败致患者死亡，家属称医院存在医疗事故，{doc}医生已被停职，家属在医院门口拉横幅讨说法",
    "violence": "突发！{h}{d}发生暴力伤医事件，{doc}医生被患者家属殴打受伤，警方已到场处置",
    "ethics": "实名举报：{h}{d}{doc}医生收红包、拿回扣，涉及金额巨大，附聊天截图",
    "infection-safety": "{h}{d}疑似发生院内感染，多名住院患者出现发热症状，医院尚未回应",
    "rumour": "网传{h}{d}因重大医疗事故被关停？记者求证：不实信息，医院已辟谣",
}
OPENERS = {
    "positive": ["", "", "真心想说，", "分享一下，", "必须点赞！", "家人们，", "记录一下：", "说句公道话，"],
    "negative": ["", "", "气死了！", "无语了，", "吐槽一下，", "有没有人管管？", "真的服了，", "实名吐槽："],
    "neutral": ["", "", "【提醒】", "转需：", "马住，", "请问一下，", "【通知】", "科普时间："],
}
DETAILS = {
    "positive": [
        "我妈今年{age}岁了，",
        "第{n}次来复诊了，",
        "从外地专门过来的，",
        "住院{n}天，",
        "凌晨{hour}点到的医院，",
    ],
    "negative": [
        "{hour}点就到了，",
        "带着{age}岁的老人，",
        "这是第{n}次来了，",
        "前后跑了{n}趟，",
        "花了{money}块钱，",
    ],
    "neutral": ["", "时间：{month}月{day}日，", "地点：门诊{n}楼，", "名额{n}个，", ""],
}
CLOSINGS = {
    "positive": [
        "",
        "",
        "希望好人一生平安。",
        "以后就认准这家了。",
        "推荐给有需要的朋友。",
        "给医护人员点赞。",
        "谢谢你们！",
    ],
    "negative": ["", "", "希望医院重视一下。", "再也不来了。", "大家评评理。", "有同样遭遇的吗？", "已经截图留证。"],
    "neutral": ["", "", "欢迎转发。", "详情见官方公众号。", "有需要的可以关注。", "仅供参考。"],
}
REPOST_PREFIXES = ["转发微博", "转", "扩散", "大家看看", "太可怕了", "这是真的吗？", "关注", "求真相", "//"]
REPOST_SUFFIXES = ["", "", "，太过分了", "，必须严查", "，希望早日给个说法", "！！", "，坐等官方回应"]
FULLWIDTH_OFFSET = 0xFEE0


@lru_cache(maxsize=64)
def _clauses(templates: tuple[str, ...]) -> list[str]:
    return [part for template in templates for part in re.split(r"[，！？。]", template) if len(part) >= 4]


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@lru_cache(maxsize=1)
def _traditional_converter():
    import opencc

    return opencc.OpenCC("s2t")


def _to_traditional(text: str) -> str:
    return _traditional_converter().convert(text)


def _fullwidth_digits(text: str) -> str:
    return "".join(chr(ord(char) + FULLWIDTH_OFFSET) if "0" <= char <= "9" else char for char in text)


def _handle(rng: random.Random) -> str:
    return f"{rng.choice(HANDLE_PARTS[0])}{rng.choice(HANDLE_PARTS[1])}{rng.randint(10, 9999)}"


def _followers(rng: random.Random, *, media: bool) -> int:
    mu, sigma = (11.0, 1.2) if media else (5.0, 1.9)
    return int(min(5e7, math.exp(rng.gauss(mu, sigma))))


def _engagement(rng: random.Random, followers: int, negative: bool) -> tuple[int, int, int]:
    base = followers * math.exp(rng.gauss(-4.0, 1.3)) * (1.6 if negative else 1.0)
    likes = int(base)
    reposts = int(base * rng.uniform(0.05, 0.4) * (2.0 if negative else 1.0))
    comments = int(base * rng.uniform(0.05, 0.3))
    return likes, reposts, comments


def _posted_at(rng: random.Random, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    span = (end - start).total_seconds()
    while True:
        moment = start + dt.timedelta(seconds=rng.random() * span)
        hour_cn = (moment.hour + 8) % 24  # Beijing time
        weight = 0.15 if 1 <= hour_cn < 7 else (1.0 if 9 <= hour_cn < 23 else 0.5)
        if rng.random() < weight:
            return moment


def _url(rng: random.Random, platform: str) -> str:
    return URL_PATTERNS[platform].format(
        uid=rng.randint(10**9, 10**10 - 1),
        code="".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789", k=10)),
        num=rng.randint(10**11, 10**12 - 1),
        hexid="".join(rng.choices("0123456789abcdef", k=24)),
    )


def _decorate(rng: random.Random, text: str, mood: str, platform: str) -> str:
    pool = {"positive": EMOJI_POSITIVE, "negative": EMOJI_NEGATIVE}.get(mood, EMOJI_NEUTRAL)
    if rng.random() < 0.45:
        text += "".join(rng.choices(pool, k=rng.randint(1, 3)))
    if rng.random() < 0.06:
        text += f" {_url(rng, platform)}"
    if rng.random() < 0.02:
        text = f"#{rng.choice(['就医', '健康', '医院'])}# {text}"
    if rng.random() < 0.005:
        text += "<b>速看</b>"
    if rng.random() < 0.08:
        text = _to_traditional(text)
    elif rng.random() < 0.03:
        text = _fullwidth_digits(text)
    return text


def _edit(rng: random.Random, text: str) -> str:
    """Copy-paste with small edits: a prefix, a suffix, one dropped or swapped character."""
    if rng.random() < 0.3 and len(text) > 20:
        cut = rng.randrange(5, len(text) - 5)
        text = text[:cut] + text[cut + 1 :]
    prefix = rng.choice(REPOST_PREFIXES)
    joiner = "：" if prefix != "//" else "@" + _handle(rng) + "："
    return f"{prefix}{joiner}{text}{rng.choice(REPOST_SUFFIXES)}"


def generate_mentions(
    n: int,
    *,
    seed: int,
    hospital_name: str,
    department_names: Sequence[str],
    doctor_names: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    crisis: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """``n`` generated mentions (see the module docstring for the keys), sorted by ``posted_at``."""
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ValueError("start and end must be aware datetimes with start < end")
    rng = random.Random(seed)
    departments = list(department_names) or ["门诊部"]
    doctors = list(doctor_names) or ["值班"]
    crisis_count = min(n, int(crisis.get("mentions", 0))) if crisis else 0
    mentions: list[dict[str, Any]] = []
    originals: list[dict[str, Any]] = []  # candidates to be reposted or copied
    serial = 0

    def fill(template: str) -> str:
        return template.format(h=hospital_name, d=rng.choice(departments), doc=rng.choice(doctors))

    def compose(templates: Sequence[str], mood: str) -> str:
        """An individual post: opener, a personal detail, 2–3 clauses of the mood's sentences and a closing, so
        two independent posts share little wording (as real ones do) while reposts share almost all of it."""
        detail = rng.choice(DETAILS[mood]).format(
            age=rng.randint(3, 90), n=rng.randint(2, 12), hour=rng.randint(0, 23), money=rng.randint(2, 300) * 10,
            month=rng.randint(1, 12), day=rng.randint(1, 28),
        )  # fmt: skip
        pool = _clauses(tuple(templates))
        chosen = rng.sample(pool, k=min(len(pool), rng.randint(2, 3)))
        body = "，".join(chosen)
        if "{h}" not in body:
            body = rng.choice(["在{h}{d}，", "{h}{d}：", "关于{h}，", "今天去了{h}{d}，"]) + body
        return f"{rng.choice(OPENERS[mood])}{detail}{fill(body)}。{rng.choice(CLOSINGS[mood])}"

    def new_mention(platform: str, text: str, mood: str, posted_at: dt.datetime, *, media=False, parent="") -> dict:
        nonlocal serial
        serial += 1
        followers = _followers(rng, media=media)
        likes, reposts, comments = _engagement(rng, followers, mood == "negative")
        return {
            "platform": platform,
            "external_id": f"{platform}-{seed}-{serial}",
            "url": _url(rng, platform),
            "author_handle": rng.choice(MEDIA_HANDLES) if media else _handle(rng),
            "author_followers": followers,
            "is_verified_author": media or followers > 500_000,
            "text": text,
            "posted_at": posted_at,
            "likes": likes,
            "reposts": reposts,
            "comments": comments,
            "parent_external_id": parent,
        }

    for _ in range(n - crisis_count):
        platform = _weighted(rng, PLATFORM_WEIGHTS)
        posted_at = _posted_at(rng, start, end)
        roll = rng.random()
        if originals and roll < 0.18:
            source = rng.choice(originals[-200:])
            same_platform = rng.random() < 0.7
            platform = source["platform"] if same_platform else platform
            mood = source["_mood"]
            text = _edit(rng, source["_plain"])
            mention = new_mention(
                platform, _decorate(rng, text, mood, platform), mood, max(posted_at, source["posted_at"]),
                parent=source["external_id"] if same_platform else "",
            )  # fmt: skip
            mention["_mood"], mention["_plain"] = mood, source["_plain"]
            mentions.append(mention)
            continue
        if roll < 0.45:
            mood, plain = "neutral", fill(rng.choice(NEUTRAL)) if rng.random() < 0.3 else compose(NEUTRAL, "neutral")
        elif roll < 0.72:
            mood, plain = "positive", compose(PRAISE, "positive")
        else:
            topic = rng.choice(list(COMPLAINTS))
            mood, plain = "negative", compose(COMPLAINTS[topic] + COMPLAINTS["attitude"], "negative")
        if platform == "government":
            mood, plain = "negative", compose(COMPLAINTS["complaint"] + COMPLAINTS[rng.choice(list(COMPLAINTS))],
                                              "negative")  # fmt: skip
        media = platform == "news" or (platform in ("weibo", "toutiao") and rng.random() < 0.05)
        mention = new_mention(platform, _decorate(rng, plain, mood, platform), mood, posted_at, media=media)
        mention["_mood"], mention["_plain"] = mood, plain
        mentions.append(mention)
        originals.append(mention)
    if crisis_count:
        at = crisis["at"]
        story = fill(CRISIS_STORIES[crisis.get("topic", "malpractice")])
        first = new_mention("weibo", story, "negative", at, media=False)
        first["author_followers"] = max(first["author_followers"], 20_000)
        mentions.append(first)
        for index in range(1, crisis_count):
            # accelerating: most reposts come in the later hours (growth)
            delay = dt.timedelta(hours=3 * math.sqrt(rng.random()) + index * 1e-6)
            platform = rng.choice(["weibo", "weibo", "douyin", "wechat_channels", "toutiao"])
            parent = first["external_id"] if platform == "weibo" else ""
            media = rng.random() < 0.05
            mentions.append(
                new_mention(platform, _decorate(rng, _edit(rng, story), "negative", platform), "negative",
                            at + delay, media=media, parent=parent)
            )  # fmt: skip
    for mention in mentions:
        mention.pop("_mood", None)
        mention.pop("_plain", None)
    mentions.sort(key=lambda mention: (mention["posted_at"], mention["external_id"]))
    return mentions
