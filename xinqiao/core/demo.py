"""The demo data generator: a plausible Chinese hospital, deterministic from a seed.

Everything here is synthetic (REQ-OPS-001): names are drawn from surname and given-name frequency
lists, mobiles are random numbers behind real mainland prefixes, ID numbers are generated with a
valid check character. The same seed gives the same organisation, people and visits; dates are
relative to an anchor day (today by default), so a given seed is stable for a given day.

Patients are written in batches with ``bulk_create`` and ``seal_patient_pii`` (one transaction per
batch, no per-row audit event), which keeps a million patients within minutes. A demo hospital
stays inactive (invisible to its users) until the whole seed has finished, so an interrupted run
is recognisable and is cleared with ``reset``.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import itertools
import multiprocessing
import random
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from queue import Empty
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.core import vault
from xinqiao.core.bulk import bulk_upsert_columns, sqlite_pragmas
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import (
    AuditEvent,
    Consent,
    Department,
    Doctor,
    Hospital,
    Membership,
    Patient,
    Visit,
)
from xinqiao.core.services import seal_patient_pii
from xinqiao.lib.identity import generate_resident_id

User = get_user_model()
Role = Membership.Role
Channel = Patient.SourceChannel

DEFAULT_SEED = 2026
DEFAULT_PATIENTS = 5000
DEFAULT_BATCH_SIZE = 5000
DEFAULT_PASSWORD = "xinqiao-demo-2026"  # noqa: S105 - the documented password of the public demo
PASSWORD_ENV = "XINQIAO_DEMO_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
NOTICE_VERSIONS = ((730, "2024.1"), (365, "2025.1"), (0, "2025.2"))  # (registered at least N days ago, version)

# --- reference lists ---------------------------------------------------------------------------

# The most frequent surnames with rough relative frequencies (per mille of the population), plus a
# few compound surnames, so masks like 欧阳* also appear.
SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 71),
    ("李", 70),
    ("张", 67),
    ("刘", 54),
    ("陈", 45),
    ("杨", 31),
    ("黄", 22),
    ("赵", 20),
    ("吴", 19),
    ("周", 18),
    ("徐", 13),
    ("孙", 12),
    ("马", 12),
    ("朱", 11),
    ("胡", 11),
    ("郭", 10),
    ("何", 9),
    ("林", 9),
    ("高", 9),
    ("罗", 9),
    ("郑", 8),
    ("梁", 8),
    ("谢", 7),
    ("宋", 6),
    ("唐", 6),
    ("许", 6),
    ("韩", 6),
    ("冯", 5),
    ("邓", 5),
    ("曹", 5),
    ("彭", 5),
    ("曾", 5),
    ("肖", 5),
    ("田", 4),
    ("董", 4),
    ("潘", 4),
    ("袁", 4),
    ("蔡", 4),
    ("蒋", 4),
    ("余", 4),
    ("于", 4),
    ("杜", 4),
    ("叶", 4),
    ("程", 4),
    ("魏", 3),
    ("苏", 3),
    ("吕", 3),
    ("丁", 3),
    ("任", 3),
    ("卢", 3),
    ("姚", 3),
    ("沈", 3),
    ("钟", 3),
    ("姜", 3),
    ("崔", 3),
    ("谭", 3),
    ("陆", 3),
    ("范", 2),
    ("汪", 2),
    ("廖", 2),
    ("石", 2),
    ("金", 2),
    ("韦", 2),
    ("贾", 2),
    ("夏", 2),
    ("付", 2),
    ("方", 2),
    ("邹", 2),
    ("熊", 2),
    ("白", 2),
    ("孟", 2),
    ("秦", 2),
    ("邱", 2),
    ("侯", 2),
    ("江", 2),
    ("尹", 2),
    ("薛", 2),
    ("闫", 2),
    ("段", 2),
    ("雷", 2),
    ("龙", 1),
    ("黎", 1),
    ("史", 1),
    ("陶", 1),
    ("贺", 1),
    ("毛", 1),
    ("郝", 1),
    ("顾", 1),
    ("龚", 1),
    ("邵", 1),
    ("万", 1),
    ("覃", 1),
    ("武", 1),
    ("钱", 1),
    ("戴", 1),
    ("严", 1),
    ("莫", 1),
    ("孔", 1),
    ("向", 1),
    ("常", 1),
    ("汤", 1),
    ("康", 1),
    ("易", 1),
    ("乔", 1),
    ("赖", 1),
    ("文", 1),
    ("施", 1),
    ("洪", 1),
    ("欧阳", 0.3),
    ("司马", 0.05),
    ("上官", 0.05),
    ("诸葛", 0.05),
    ("东方", 0.03),
    ("皇甫", 0.03),
    ("慕容", 0.02),
)
GIVEN_MALE = (
    "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林阳建国志文亮成新海峰东晨博睿轩泽子一思嘉宏德彬毅振"
)
GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀玲桂英红梅琳燕婷雪慧晶颖倩琴云洁萍莉兰欣怡佳雨涵梓诗悦可馨婉瑶珊琪蕾岚薇月彤妍"

# Real mainland mobile number prefixes (China Mobile, Unicom, Telecom); the other 8 digits are random.
MOBILE_PREFIXES = (
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "147",
    "150",
    "151",
    "152",
    "157",
    "158",
    "159",
    "172",
    "178",
    "182",
    "183",
    "184",
    "187",
    "188",
    "195",
    "198",
    "130",
    "131",
    "132",
    "145",
    "155",
    "156",
    "166",
    "175",
    "176",
    "185",
    "186",
    "196",
    "133",
    "149",
    "153",
    "173",
    "177",
    "180",
    "181",
    "189",
    "190",
    "191",
    "199",
)

# 心桥市 is fictional; its residents carry Zhejiang (33) division codes, visitors come from elsewhere.
LOCAL_REGIONS = ("330102", "330105", "330106", "330108", "330109", "330110", "330111", "330112")
OTHER_REGIONS = (
    "330203",
    "330302",
    "330402",
    "330602",
    "310101",
    "310104",
    "320102",
    "320505",
    "340102",
    "360102",
    "350102",
    "410102",
    "420102",
    "430102",
    "510104",
    "110101",
    "440103",
    "370102",
    "500103",
    "610102",
)
LOCAL_SHARE = 0.78

# (channel, weight for patients under 60, weight for 60 and older)
SOURCE_MIX: tuple[tuple[str, float, float], ...] = (
    (Channel.WALK_IN, 26, 42),
    (Channel.ONLINE_BOOKING, 16, 12),
    (Channel.WECHAT_OA, 14, 14),
    (Channel.WECHAT_CHANNELS, 5, 5),
    (Channel.DOUYIN, 10, 4),
    (Channel.XIAOHONGSHU, 6, 0.5),
    (Channel.WEIBO, 2, 0.5),
    (Channel.KUAISHOU, 2, 2),
    (Channel.BILIBILI, 1, 0.1),
    (Channel.ZHIHU, 1, 0.1),
    (Channel.WEBSITE, 4, 2),
    (Channel.REFERRAL, 7, 9),
    (Channel.PHONE, 3, 6),
    (Channel.COMMUNITY, 3, 8),
)
RETURN_CHANNELS = ((Channel.WALK_IN, 45), (Channel.ONLINE_BOOKING, 35), (Channel.WECHAT_OA, 15), (Channel.PHONE, 5))
BOOKED_CHANNELS = frozenset({Channel.ONLINE_BOOKING, Channel.WECHAT_OA, Channel.WEBSITE, Channel.PHONE})
SELF_SERVICE_CONSENT = {
    Channel.WECHAT_OA: Consent.Channel.WECHAT.value,
    Channel.WECHAT_CHANNELS: Consent.Channel.WECHAT.value,
    Channel.ONLINE_BOOKING: Consent.Channel.WEB.value,
    Channel.WEBSITE: Consent.Channel.WEB.value,
    Channel.DOUYIN: Consent.Channel.WEB.value,
    Channel.XIAOHONGSHU: Consent.Channel.WEB.value,
    Channel.WEIBO: Consent.Channel.WEB.value,
    Channel.KUAISHOU: Consent.Channel.WEB.value,
    Channel.BILIBILI: Consent.Channel.WEB.value,
    Channel.ZHIHU: Consent.Channel.WEB.value,
    Channel.PHONE: Consent.Channel.PHONE.value,
}

FLAT = (1.0,) * 12
WINTER = (1.5, 1.3, 1.1, 0.9, 0.8, 0.7, 0.7, 0.7, 0.8, 0.9, 1.1, 1.4)
SUMMER = (0.8, 0.8, 0.9, 1.0, 1.1, 1.3, 1.5, 1.5, 1.1, 0.9, 0.8, 0.8)
SCHOOL_HOLIDAYS = (1.3, 1.4, 0.9, 0.8, 0.8, 0.9, 1.5, 1.5, 0.9, 0.8, 0.9, 1.2)


@dataclass(frozen=True)
class DepartmentProfile:
    """Who a department sees: its share of patients, their ages and sex, its revenue and season."""

    code: str
    name: str
    share: float
    age_low: int
    age_high: int
    age_mode: int
    female_share: float
    revenue_fen: int  # median revenue of one visit
    specialties: tuple[str, ...]
    season: tuple[float, ...] = FLAT
    health_management_share: float = 0.25


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    full_name: str
    department_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class HospitalSpec:
    code: str
    name: str
    short_name: str
    grade: str
    city: str
    aliases: tuple[str, ...]
    departments: tuple[DepartmentProfile, ...]
    doctors: int
    ip_doctors: int
    users: tuple[DemoUser, ...]
    seed_salt: str


MAIN_DEPARTMENTS = (
    DepartmentProfile(
        "cardiology",
        "心内科",
        12,
        40,
        90,
        66,
        0.44,
        45000,
        ("冠心病介入治疗", "心律失常", "高血压", "心力衰竭", "心脏康复"),
        WINTER,
        0.5,
    ),
    DepartmentProfile(
        "pediatrics",
        "儿科",
        14,
        0,
        14,
        3,
        0.47,
        18000,
        ("小儿呼吸", "新生儿", "小儿消化", "儿童哮喘", "儿童生长发育"),
        SCHOOL_HOLIDAYS,
        0.2,
    ),
    DepartmentProfile(
        "endocrinology",
        "内分泌科",
        8,
        25,
        85,
        58,
        0.52,
        32000,
        ("糖尿病", "甲状腺疾病", "骨质疏松", "肥胖症"),
        FLAT,
        0.55,
    ),
    DepartmentProfile(
        "orthopedics", "骨科", 9, 15, 88, 55, 0.46, 60000, ("关节置换", "脊柱外科", "运动医学", "创伤骨科"), FLAT, 0.2
    ),
    DepartmentProfile(
        "obstetrics-gynecology",
        "妇产科",
        10,
        20,
        55,
        31,
        1.0,
        38000,
        ("产科", "妇科肿瘤", "宫颈疾病", "生殖医学"),
        FLAT,
        0.35,
    ),
    DepartmentProfile(
        "neurology",
        "神经内科",
        7,
        35,
        92,
        68,
        0.5,
        42000,
        ("脑卒中", "帕金森病", "头痛", "癫痫", "睡眠障碍"),
        WINTER,
        0.4,
    ),
    DepartmentProfile(
        "gastroenterology",
        "消化内科",
        8,
        20,
        85,
        50,
        0.48,
        35000,
        ("胃肠镜检查", "幽门螺杆菌", "炎症性肠病", "肝病"),
        FLAT,
        0.25,
    ),
    DepartmentProfile(
        "respiratory", "呼吸内科", 9, 18, 90, 60, 0.45, 28000, ("慢阻肺", "哮喘", "肺结节", "睡眠呼吸暂停"), WINTER, 0.3
    ),
    DepartmentProfile(
        "ophthalmology", "眼科", 6, 5, 88, 45, 0.52, 26000, ("白内障", "青光眼", "近视防控", "眼底病"), SUMMER, 0.15
    ),
    DepartmentProfile(
        "stomatology",
        "口腔科",
        6,
        6,
        80,
        35,
        0.56,
        52000,
        ("口腔种植", "口腔正畸", "牙体牙髓", "儿童口腔"),
        SCHOOL_HOLIDAYS,
        0.1,
    ),
    DepartmentProfile(
        "dermatology", "皮肤科", 5, 8, 75, 30, 0.6, 22000, ("痤疮", "湿疹", "银屑病", "医学美容"), SUMMER, 0.1
    ),
    DepartmentProfile(
        "oncology", "肿瘤科", 6, 30, 88, 62, 0.47, 120000, ("肺癌", "乳腺癌", "消化道肿瘤", "放化疗"), FLAT, 0.45
    ),
)

MCH_DEPARTMENTS = (
    DepartmentProfile("obstetrics", "产科", 40, 20, 45, 30, 1.0, 42000, ("高危妊娠", "产前诊断"), FLAT, 0.5),
    DepartmentProfile("gynecology", "妇科", 25, 20, 65, 38, 1.0, 30000, ("宫颈疾病", "妇科内分泌"), FLAT, 0.3),
    DepartmentProfile(
        "child-health", "儿童保健科", 20, 0, 6, 1, 0.48, 12000, ("生长发育", "儿童营养"), SCHOOL_HOLIDAYS, 0.4
    ),
    DepartmentProfile("pediatrics", "儿科", 15, 0, 14, 4, 0.47, 16000, ("小儿呼吸", "新生儿"), WINTER, 0.2),
)

MAIN_USERS = (
    DemoUser("admin", Role.ADMIN, "周明远"),
    DemoUser("brand", Role.BRAND, "林晓雯"),
    DemoUser("brand_lead", Role.BRAND, "陈思远"),
    DemoUser("reviewer_cardiology", Role.DEPT_REVIEWER, "王建华", ("cardiology",)),
    DemoUser("medical_affairs", Role.MEDICAL_AFFAIRS, "赵丽娟"),
    DemoUser("service", Role.SERVICE, "孙悦"),
    DemoUser("health_manager", Role.HEALTH_MANAGER, "刘静怡"),
    DemoUser("leadership", Role.LEADERSHIP, "郑国栋"),
)

MAIN_HOSPITAL = HospitalSpec(
    code="demo",
    name="心桥市第一人民医院",
    short_name="市一院",
    grade="三级甲等",
    city="心桥市",
    aliases=("市一院", "心桥一院", "第一人民医院"),
    departments=MAIN_DEPARTMENTS,
    doctors=40,
    ip_doctors=8,
    users=MAIN_USERS,
    seed_salt="main",
)
MCH_HOSPITAL = HospitalSpec(
    code="demo-mch",
    name="心桥市妇幼保健院",
    short_name="市妇幼",
    grade="三级甲等",
    city="心桥市",
    aliases=("市妇幼", "妇幼保健院"),
    departments=MCH_DEPARTMENTS,
    doctors=6,
    ip_doctors=1,
    users=(DemoUser("admin_mch", Role.ADMIN, "何雅琴"),),
    seed_salt="mch",
)
DEMO_HOSPITALS = (MAIN_HOSPITAL, MCH_HOSPITAL)
DEMO_CODES = tuple(spec.code for spec in DEMO_HOSPITALS)
DEMO_USERNAMES = tuple(user.username for spec in DEMO_HOSPITALS for user in spec.users)
MCH_PATIENTS = 24

TITLE_MIX = (
    (Doctor.Title.CHIEF, 20),
    (Doctor.Title.ASSOCIATE_CHIEF, 30),
    (Doctor.Title.ATTENDING, 35),
    (Doctor.Title.RESIDENT, 15),
)


# --- results -----------------------------------------------------------------------------------


WRITE_PHASES = ("draw", "patients", "consents_visits", "commit")


@dataclass
class WriteCounts:
    patients: int = 0
    consents: int = 0
    visits: int = 0
    appointments: int = 0
    revenue_fen: int = 0
    # where the writing process spent its time (seconds): waiting for drawn batches, the patients'
    # bulk_create, the consent and visit inserts, the commits
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(WRITE_PHASES, 0.0))

    def add(self, other: WriteCounts) -> None:
        self.patients += other.patients
        self.consents += other.consents
        self.visits += other.visits
        self.appointments += other.appointments
        self.revenue_fen += other.revenue_fen
        for phase, seconds in other.seconds.items():
            self.seconds[phase] += seconds


@dataclass
class DemoResult:
    created: bool
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # hospital code -> table -> rows
    seconds: float = 0.0
    patients_written: int = 0
    write_seconds: dict[str, float] = field(default_factory=dict)  # see WriteCounts.seconds

    @property
    def patients_per_second(self) -> float:
        return self.patients_written / self.seconds if self.seconds > 0 else 0.0


# --- the generator -----------------------------------------------------------------------------


class _Weighted:
    """Fast repeated weighted choice (random.choices recomputes the running sums on every call)."""

    def __init__(self, items: Sequence[Any], weights: Sequence[float]) -> None:
        self.items = list(items)
        self.cumulative = list(itertools.accumulate(weights))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random) -> Any:
        return self.items[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


_SURNAMES = _Weighted([s for s, _w in SURNAMES], [w for _s, w in SURNAMES])
_MOBILE_PREFIXES = _Weighted(MOBILE_PREFIXES, [1] * len(MOBILE_PREFIXES))
# plain strings, not enum members, in everything drawn: they pickle and bind faster
_SOURCE_YOUNG = _Weighted([c.value for c, _y, _o in SOURCE_MIX], [y for _c, y, _o in SOURCE_MIX])
_SOURCE_OLD = _Weighted([c.value for c, _y, _o in SOURCE_MIX], [o for _c, _y, o in SOURCE_MIX])
_RETURN_CHANNELS = _Weighted([c.value for c, _w in RETURN_CHANNELS], [w for _c, w in RETURN_CHANNELS])
_TITLES = _Weighted([t for t, _w in TITLE_MIX], [w for _t, w in TITLE_MIX])
# extra visits in the last 12 months: patients registered in that time, and earlier ones
_NEW_PATIENT_EXTRA_VISITS = _Weighted(range(6), (50, 25, 12, 7, 4, 2))
_OLD_PATIENT_VISITS = _Weighted(range(6), (40, 25, 15, 10, 6, 4))


def person_name(rng: random.Random, *, female: bool) -> str:
    pool = GIVEN_FEMALE if female else GIVEN_MALE
    given = rng.choice(pool) if rng.random() < 0.3 else rng.choice(pool) + rng.choice(pool)
    return _SURNAMES.pick(rng) + given


def mobile_number(rng: random.Random) -> str:
    return f"{_MOBILE_PREFIXES.pick(rng)}{rng.randrange(100_000_000):08d}"


class _IdNumbers:
    """Valid, per-hospital unique resident ID numbers matching each patient's birth date and sex."""

    def __init__(self) -> None:
        # (region, birth ordinal, sex) -> next sequence number; keyed by int to keep a million small
        self.next_sequence: dict[int, int] = {}
        self.regions = (*LOCAL_REGIONS, *OTHER_REGIONS)

    def issue(self, rng: random.Random, birth: dt.date, *, male: bool) -> str:
        region_index = (
            rng.randrange(len(LOCAL_REGIONS))
            if rng.random() < LOCAL_SHARE
            else rng.randrange(len(LOCAL_REGIONS), len(self.regions))
        )
        for attempt in range(len(self.regions)):
            index = (region_index + attempt) % len(self.regions)
            key = (index << 24) | (birth.toordinal() << 1) | int(male)
            sequence = self.next_sequence.get(key, 0)
            if sequence < 500:  # generate_resident_id has 500 sequence numbers per sex, region and day
                self.next_sequence[key] = sequence + 1
                # Spread the order codes over 000–999 like real ones (a bijection on 0..499, so still unique).
                scrambled = (sequence * 211 + key % 500) % 500
                return generate_resident_id(self.regions[index], birth, scrambled, male=male)
        raise ApplicationError(_("The demo generator ran out of ID numbers for one birth date."), code="demo_ids")


@dataclass
class _Org:
    hospital: Hospital
    spec: HospitalSpec
    departments: list[Department]
    profiles: list[DepartmentProfile]
    doctors_by_department: dict[int, _Weighted]
    desk_user_id: int | None  # who records paper and in-person consents


Row = tuple[Any, ...]
Drawn = tuple[dict[str, Any], list[Row], list[Row]]


def _local_datetime(day_ordinal: int, seconds: int) -> dt.datetime:
    """A moment of a Shanghai calendar day (UTC+8, no daylight saving), as an aware UTC datetime."""
    day = dt.date.fromordinal(day_ordinal)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds - 8 * 3600)


class PatientGenerator:
    """Draws patients with their consents, appointments and visits from one random stream."""

    def __init__(self, org: _Org, *, rng: random.Random, anchor: dt.date, total: int) -> None:
        self.org = org
        self.rng = rng
        self.anchor = anchor.toordinal()
        self.total = max(total, 1)
        self.index = 0
        self.ids = _IdNumbers()
        self.version = vault.active_key_version()
        self.departments = _Weighted(range(len(org.departments)), [p.share for p in org.profiles])

    def _day_in_season(self, profile: DepartmentProfile, low: int, high: int) -> int:
        """A day in [low, high] drawn with the department's monthly seasonality (rejection sampling)."""
        rng = self.rng
        peak = max(profile.season)
        day = low
        for _attempt in range(4):
            day = rng.randint(low, high)
            if rng.random() * peak <= profile.season[dt.date.fromordinal(day).month - 1]:
                return day
        return day

    def _revenue(self, profile: DepartmentProfile) -> int:
        return max(500, int(profile.revenue_fen * self.rng.lognormvariate(0.0, 0.6)))

    def draw(self) -> Drawn:
        """One patient's field values with its consent and visit rows (without patient ids yet).

        Plain values, not model instances, so a batch pickles cheaply between processes.
        """
        rng, org = self.rng, self.org
        anchor = self.anchor
        department_index = self.departments.pick(rng)
        department = org.departments[department_index]
        profile = org.profiles[department_index]
        female = rng.random() < profile.female_share
        age = int(rng.triangular(profile.age_low, profile.age_high + 0.999, profile.age_mode))
        # registration dates rise with the row number, over the last two years
        registered = anchor - 730 + (730 * self.index) // self.total
        self.index += 1
        birth_ordinal = registered - int(age * 365.25) - rng.randrange(1, 365)
        birth = dt.date.fromordinal(birth_ordinal)
        source = (_SOURCE_OLD if age >= 60 else _SOURCE_YOUNG).pick(rng)
        name = person_name(rng, female=female)
        mobile = mobile_number(rng)
        has_id = source in (Channel.WALK_IN, Channel.REFERRAL, Channel.ONLINE_BOOKING) or rng.random() < 0.85
        id_number = self.ids.issue(rng, birth, male=not female) if has_id else ""
        created_at = _local_datetime(registered, rng.randrange(8 * 3600, 17 * 3600 + 1800))
        patient = seal_patient_pii(
            hospital_id=org.hospital.pk, name=name, mobile=mobile, id_number=id_number, version=self.version
        )
        patient.update(
            hospital_id=org.hospital.pk,
            sex=Patient.Sex.FEMALE.value if female else Patient.Sex.MALE.value,
            birth_date=birth,
            source_channel=source,
            first_department_id=department.pk,
            created_at=created_at,
            updated_at=created_at,
        )
        consents = self._consents(profile, source, registered, created_at)
        visits = self._visits(department_index, source, registered)
        return patient, consents, visits

    def _consents(self, profile: DepartmentProfile, source: str, registered: int, created_at: dt.datetime) -> list[Row]:
        rng, anchor = self.rng, self.anchor
        channel = SELF_SERVICE_CONSENT.get(source) or (
            Consent.Channel.PAPER.value if rng.random() < 0.6 else Consent.Channel.IN_PERSON.value
        )
        recorder = (
            self.org.desk_user_id if channel in (Consent.Channel.PAPER.value, Consent.Channel.IN_PERSON.value) else None
        )
        notice = next(version for days, version in NOTICE_VERSIONS if anchor - registered >= days)
        rows: list[Row] = []
        plans = (
            (Consent.Purpose.MARKETING_CONTACT.value, 0.60, 0.10),
            (Consent.Purpose.HEALTH_MANAGEMENT.value, profile.health_management_share, 0.05),
            (Consent.Purpose.STORY_PUBLICATION.value, 0.02, 0.10),
        )
        for purpose, share, withdraw_share in plans:
            if rng.random() >= share:
                continue
            granted_at = created_at + dt.timedelta(seconds=rng.randrange(60, 1800))
            scope: dict[str, bool] = {}
            valid_until = None
            if purpose == Consent.Purpose.STORY_PUBLICATION.value:
                scope = {
                    "allow_face": rng.random() < 0.5,
                    "allow_voice": rng.random() < 0.6,
                    "allow_real_name": rng.random() < 0.2,
                }
                valid_until = dt.date.fromordinal(registered + 730)
            rows.append(
                (purpose, Consent.Action.GRANT.value, channel, notice, scope, valid_until, granted_at, recorder)
            )
            if rng.random() < withdraw_share and registered < anchor - 2:
                withdrawn_on = rng.randint(registered + 1, anchor - 1)
                rows.append(
                    (
                        purpose,
                        Consent.Action.WITHDRAW.value,
                        rng.choice(
                            (Consent.Channel.WECHAT.value, Consent.Channel.PHONE.value, Consent.Channel.SMS.value)
                        ),
                        notice,
                        {},
                        None,
                        _local_datetime(withdrawn_on, rng.randrange(8 * 3600, 21 * 3600)),
                        None,
                    )
                )
        return rows

    def _visits(self, department_index: int, source: str, registered: int) -> list[Row]:
        rng, anchor, org = self.rng, self.anchor, self.org
        window_start = anchor - 365
        rows: list[Row] = []

        def add(kind: str, day: int, index: int, channel: str, revenue: int) -> None:
            department = org.departments[index]
            booked = min(day, anchor - 1) - (3 if kind == Visit.Kind.APPOINTMENT.value else 0)
            rows.append(
                (
                    department.pk,
                    org.doctors_by_department[department.pk].pick(rng),
                    kind,
                    dt.date.fromordinal(day),
                    channel,
                    revenue,
                    _local_datetime(booked, rng.randrange(8 * 3600, 18 * 3600)),
                )
            )

        def visit(day: int, index: int, channel: str) -> None:
            if channel in BOOKED_CHANNELS:
                add(Visit.Kind.APPOINTMENT.value, day, index, channel, 0)
            add(Visit.Kind.VISIT.value, day, index, channel, self._revenue(org.profiles[index]))

        if registered >= window_start:
            visit(registered, department_index, source)  # registered at the first visit
            extra, low = _NEW_PATIENT_EXTRA_VISITS.pick(rng), registered + 1
        else:
            extra, low = _OLD_PATIENT_VISITS.pick(rng), window_start
        for _n in range(extra if low <= anchor - 1 else 0):
            index = department_index if rng.random() < 0.8 else self.departments.pick(rng)
            visit(self._day_in_season(org.profiles[index], low, anchor - 1), index, _RETURN_CHANNELS.pick(rng))
        if rng.random() < 0.06 and low <= anchor - 1:  # booked and did not come
            add(
                Visit.Kind.APPOINTMENT.value,
                rng.randint(low, anchor - 1),
                department_index,
                _RETURN_CHANNELS.pick(rng),
                0,
            )
        if rng.random() < 0.10:  # an upcoming appointment in the next four weeks
            add(
                Visit.Kind.APPOINTMENT.value,
                rng.randint(anchor, anchor + 28),
                department_index,
                _RETURN_CHANNELS.pick(rng),
                0,
            )
        return rows


def _insert_rows(model: type[Any], columns: Sequence[str], rows: list[Row]) -> None:
    """Plain inserts for the child tables (``core.bulk``: multi-row INSERTs on SQLite, COPY on PostgreSQL): the
    ORM's per-value compilation costs more than the database does at a million rows."""
    if rows:
        data = dict(zip(columns, map(list, zip(*rows, strict=True)), strict=True))
        bulk_upsert_columns(model, data, len(rows), columns=tuple(columns), insert_only=True)


CONSENT_COLUMNS = (
    "hospital",
    "patient",
    "purpose",
    "action",
    "channel",
    "notice_version",
    "scope",
    "valid_until",
    "recorded_at",
    "recorded_by",
)
VISIT_COLUMNS = (
    "hospital",
    "patient",
    "department",
    "doctor",
    "kind",
    "occurred_on",
    "channel",
    "revenue_fen",
    "created_at",
)


def _draw_batches(generator: PatientGenerator, sizes: list[int]) -> Generator[list[Drawn]]:
    for size in sizes:
        yield [generator.draw() for _n in range(size)]


def _produce_batches(generator: PatientGenerator, sizes: list[int], queue: Any) -> None:
    """Child process: draw every batch in order and hand it over (the database is never touched here)."""
    try:
        for batch in _draw_batches(generator, sizes):
            queue.put(batch)
    except Exception as exc:  # report to the parent, which raises it; the child only exits
        queue.put(RuntimeError(f"demo generator failed: {exc.__class__.__name__}: {exc}"))


def _drawn_in_background(generator: PatientGenerator, sizes: list[int]) -> Generator[list[Drawn]]:
    """Draw in a forked child while this process writes: the random stream is consumed in the same
    order by one process, so the data is identical to drawing in-process, and drawing overlaps writing."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=2)
    worker = context.Process(target=_produce_batches, args=(generator, sizes, queue), daemon=True)
    worker.start()
    try:
        for _size in sizes:
            while True:
                try:
                    item = queue.get(timeout=1.0)
                    break
                except Empty:
                    if not worker.is_alive():
                        raise RuntimeError("demo generator process ended early") from None
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        if worker.is_alive():
            worker.terminate()
        worker.join()
        queue.close()


def _can_fork() -> bool:
    # a daemonic process (e.g. inside a multiprocessing pool) may not start children
    return "fork" in multiprocessing.get_all_start_methods() and not multiprocessing.current_process().daemon


def write_patients(
    generator: PatientGenerator,
    *,
    count: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
    background: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> WriteCounts:
    """Draw and insert ``count`` patients (with consents and visits), one transaction per batch.

    ``background`` draws in a forked child process while this one writes (default: when there are
    at least two batches and the platform can fork).
    """
    sizes = [min(batch_size, count - start) for start in range(0, count, batch_size)]
    if background is None:
        background = len(sizes) >= 2 and _can_fork()
    batches = _drawn_in_background(generator, sizes) if background else _draw_batches(generator, sizes)
    totals = WriteCounts()
    hospital_id = generator.org.hospital.pk
    written = 0
    clock = time.perf_counter
    try:
        while True:
            started = clock()
            drawn = next(batches, None)
            if drawn is None:
                break
            batch = WriteCounts(patients=len(drawn))
            batch.seconds["draw"] = clock() - started
            with transaction.atomic():
                started = clock()
                patients = Patient.objects.bulk_create([Patient(**fields) for fields, _c, _v in drawn])
                batch.seconds["patients"] = clock() - started
                started = clock()
                consents: list[Row] = []
                visits: list[Row] = []
                for patient, (_fields, consent_rows, visit_rows) in zip(patients, drawn, strict=True):
                    consents.extend((hospital_id, patient.pk, *row) for row in consent_rows)
                    for row in visit_rows:
                        visits.append((hospital_id, patient.pk, *row))
                        batch.revenue_fen += row[5]
                        if row[2] == Visit.Kind.APPOINTMENT:
                            batch.appointments += 1
                        else:
                            batch.visits += 1
                _insert_rows(Consent, CONSENT_COLUMNS, consents)
                _insert_rows(Visit, VISIT_COLUMNS, visits)
                batch.seconds["consents_visits"] = clock() - started
                started = clock()
            batch.seconds["commit"] = clock() - started
            batch.consents = len(consents)
            totals.add(batch)
            written += len(drawn)
            if progress is not None:
                progress(written, count)
    finally:
        batches.close()  # stops the background process if writing failed
    return totals


# --- the organisation --------------------------------------------------------------------------


def _doctor_names(rng: random.Random, count: int) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        name = person_name(rng, female=rng.random() < 0.45)
        if name not in names:
            names.append(name)
    return names


def _create_org(spec: HospitalSpec, *, rng: random.Random, password_hash: str) -> _Org:
    hospital, _created = Hospital.objects.update_or_create(
        code=spec.code,
        defaults={
            "name": spec.name,
            "short_name": spec.short_name,
            "grade": spec.grade,
            "city": spec.city,
            "aliases": list(spec.aliases),
            "is_active": False,
        },
    )
    departments = Department.objects.bulk_create(
        [Department(hospital=hospital, name=p.name, code=p.code, is_clinical=True) for p in spec.departments]
    )
    # every department gets at least three doctors; the rest go to the busiest departments
    per_department = [1] * len(departments) if spec.doctors < 3 * len(departments) else [3] * len(departments)
    by_share = sorted(range(len(departments)), key=lambda i: -spec.departments[i].share)
    for extra in range(spec.doctors - sum(per_department)):
        per_department[by_share[extra % len(by_share)]] += 1
    names = _doctor_names(rng, spec.doctors)
    doctors: list[tuple[Doctor, int]] = []
    name_iter = iter(names)
    for index, how_many in enumerate(per_department):
        profile = spec.departments[index]
        for _n in range(how_many):
            title = _TITLES.pick(rng)
            specialties = rng.sample(profile.specialties, k=min(len(profile.specialties), rng.randint(1, 2)))
            doctors.append(
                (Doctor(hospital=hospital, name=next(name_iter), title=title, specialties=specialties), index)
            )
    # the doctor IPs are the senior doctors of the biggest departments
    seniority = {
        Doctor.Title.CHIEF: 0,
        Doctor.Title.ASSOCIATE_CHIEF: 1,
        Doctor.Title.ATTENDING: 2,
        Doctor.Title.RESIDENT: 3,
    }
    ranked = sorted(
        range(len(doctors)), key=lambda i: (seniority[doctors[i][0].title], -spec.departments[doctors[i][1]].share, i)
    )
    for position in ranked[: spec.ip_doctors]:
        doctors[position][0].is_ip = True
        surname = doctors[position][0].name[0]
        doctors[position][0].aliases = [f"{surname}医生", f"{doctors[position][0].name}主任"]
    Doctor.objects.bulk_create([doctor for doctor, _i in doctors])
    Through = Doctor.departments.through
    Through.objects.bulk_create(
        [Through(doctor_id=doctor.pk, department_id=departments[index].pk) for doctor, index in doctors]
    )
    by_department: dict[int, _Weighted] = {}
    for index, department in enumerate(departments):
        staff = [doctor for doctor, i in doctors if i == index]
        by_department[department.pk] = _Weighted([d.pk for d in staff], [2 if d.is_ip else 1 for d in staff])
    desk_user_id = None
    codes = {department.code: department for department in departments}
    for demo_user in spec.users:
        user = User(username=demo_user.username, first_name=demo_user.full_name, password=password_hash)
        user.save()
        membership = Membership.objects.create(user=user, hospital=hospital, role=demo_user.role)
        if demo_user.department_codes:
            membership.departments.set([codes[code] for code in demo_user.department_codes])
        if demo_user.role == Role.SERVICE or (desk_user_id is None and demo_user.role == Role.ADMIN):
            desk_user_id = user.pk
    return _Org(
        hospital=hospital,
        spec=spec,
        departments=departments,
        profiles=list(spec.departments),
        doctors_by_department=by_department,
        desk_user_id=desk_user_id,
    )


# --- state, reset, seed ------------------------------------------------------------------------


def demo_counts() -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for hospital in Hospital.objects.filter(code__in=DEMO_CODES).order_by("pk"):
        counts[hospital.code] = {
            "departments": Department.objects.filter(hospital=hospital).count(),
            "doctors": Doctor.objects.filter(hospital=hospital).count(),
            "doctor_ips": Doctor.objects.filter(hospital=hospital, is_ip=True).count(),
            "users": Membership.objects.filter(hospital=hospital).values("user").distinct().count(),
            "patients": Patient.objects.filter(hospital=hospital).count(),
            "consents": Consent.objects.filter(hospital=hospital).count(),
            "appointments": Visit.objects.filter(hospital=hospital, kind=Visit.Kind.APPOINTMENT).count(),
            "visits": Visit.objects.filter(hospital=hospital, kind=Visit.Kind.VISIT).count(),
        }
    return counts


def demo_state() -> str:
    """``absent``, ``complete`` or ``incomplete`` (a seed was interrupted or reset left rows behind)."""
    hospitals = list(Hospital.objects.filter(code__in=DEMO_CODES))
    if not hospitals:
        return "absent"
    if len(hospitals) == len(DEMO_CODES) and all(h.is_active for h in hospitals):
        return "complete"
    return "incomplete"


def demo_reset(*, batch_size: int = 20000) -> None:
    """Delete every row of the demo hospitals and their demo users.

    A hospital row that audit events point to stays (the audit log is append-only) and is reused
    by the next seed; everything hanging off it goes.
    """
    hospital_ids = list(Hospital.objects.filter(code__in=DEMO_CODES).values_list("pk", flat=True))
    if not hospital_ids:
        return
    Hospital.objects.filter(pk__in=hospital_ids).update(is_active=False)
    with transaction.atomic():
        Consent.objects.filter(hospital_id__in=hospital_ids).delete()
    with transaction.atomic():
        Visit.objects.filter(hospital_id__in=hospital_ids).delete()
    while True:
        with transaction.atomic():
            pks = list(
                Patient.objects.filter(hospital_id__in=hospital_ids)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not pks:
                break
            # only the pks: the collector needs nothing else, and decoding the sealed columns is slow
            Patient.objects.filter(hospital_id__in=hospital_ids, pk__gte=pks[0], pk__lte=pks[-1]).only("pk").delete()
    # Whatever else refers to the hospitals (departments, doctors, memberships, other apps' rows), in
    # as many passes as their protecting foreign keys need.
    # Review records protect the revision they approved (so a revision is never deleted under an approval); the
    # item's own deletion would cascade to both, so clear the records first.
    from xinqiao.content.models import Approval, Transition, WarnAcknowledgement

    for model in (Approval, Transition, WarnAcknowledgement):
        with transaction.atomic():
            model.objects.filter(item__hospital_id__in=hospital_ids).delete()
    # include_hidden: many rows point at their hospital with related_name="+" (publications, metric facts,
    # mentions …), which ``related_objects`` leaves out.
    relations = [
        rel
        for rel in Hospital._meta.get_fields(include_hidden=True)
        if rel.auto_created
        and not rel.concrete
        and (rel.one_to_many or rel.one_to_one)
        and rel.related_model is not AuditEvent
        and rel.field.concrete
    ]
    blocked: list[str] = []
    for _pass in range(len(relations) + 1):
        blocked = []
        for rel in relations:
            queryset = rel.related_model._base_manager.filter(**{f"{rel.field.name}__in": hospital_ids})
            try:
                with transaction.atomic():
                    queryset.delete()
            except (ProtectedError, RestrictedError):
                blocked.append(rel.related_model._meta.label)
        if not blocked:
            break
    if blocked:
        raise ApplicationError(
            _("The demo hospitals could not be cleared: rows of %(models)s still refer to them.")
            % {"models": ", ".join(sorted(set(blocked)))},
            code="demo_reset_blocked",
        )
    User.objects.filter(username__in=DEMO_USERNAMES, memberships__isnull=True).delete()
    referenced = set(AuditEvent.objects.filter(hospital_id__in=hospital_ids).values_list("hospital_id", flat=True))
    Hospital.objects.filter(pk__in=hospital_ids).exclude(pk__in=referenced).delete()


@contextlib.contextmanager
def _sqlite_bulk_pragmas() -> Iterator[None]:
    """On SQLite, for this connection and this run only: a 512 MB page cache (the random blind-index
    keys touch pages all over the index B-trees) and rarer WAL checkpoints (each one syncs the disk).
    Durability settings (journal mode, synchronous) stay as configured."""
    if connection.vendor != "sqlite":
        yield
        return
    with sqlite_pragmas(cache_size=-524288, wal_autocheckpoint=50000):
        yield


def demo_seed(
    *,
    seed: int = DEFAULT_SEED,
    patients: int = DEFAULT_PATIENTS,
    reset: bool = False,
    password: str = DEFAULT_PASSWORD,
    batch_size: int = DEFAULT_BATCH_SIZE,
    anchor: dt.date | None = None,
    background: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DemoResult:
    """Create the demo hospitals once; a second call changes nothing and returns ``created=False``."""
    if patients < 0:
        raise ApplicationError(_("The number of patients cannot be negative."), code="invalid_patients")
    if batch_size < 1:
        raise ApplicationError(_("The batch size must be at least 1."), code="invalid_batch_size")
    if not password:
        raise ApplicationError(_("The demo password cannot be empty."), code="invalid_password")
    started = time.perf_counter()
    if reset:
        demo_reset()
    else:
        state = demo_state()
        if state == "complete":
            return DemoResult(created=False, counts=demo_counts())
        if state == "incomplete":
            raise ApplicationError(
                _("The demo data is incomplete (an interrupted run?). Run again with --reset."),
                code="demo_incomplete",
            )
    taken = sorted(User.objects.filter(username__in=DEMO_USERNAMES).values_list("username", flat=True))
    if taken:
        raise ApplicationError(
            _("These usernames already exist outside the demo hospitals: %(names)s. Rename them first.")
            % {"names": ", ".join(taken)},
            code="demo_username_taken",
        )
    anchor = anchor or timezone.localdate()
    # one hash for all demo users: they share the password, and a slow hasher runs once
    password_hash = make_password(password)
    written = 0
    write_seconds: dict[str, float] = {}
    with _sqlite_bulk_pragmas():
        for spec, count in ((MAIN_HOSPITAL, patients), (MCH_HOSPITAL, MCH_PATIENTS)):
            rng = random.Random(f"{seed}/{spec.seed_salt}")
            with transaction.atomic():
                org = _create_org(spec, rng=rng, password_hash=password_hash)
            generator = PatientGenerator(org, rng=rng, anchor=anchor, total=count)
            counts = write_patients(
                generator,
                count=count,
                batch_size=batch_size,
                background=background,
                progress=progress if spec is MAIN_HOSPITAL else None,
            )
            written += count
            write_seconds = {phase: write_seconds.get(phase, 0.0) + value for phase, value in counts.seconds.items()}
    Hospital.objects.filter(code__in=DEMO_CODES).update(is_active=True)
    return DemoResult(
        created=True,
        counts=demo_counts(),
        seconds=time.perf_counter() - started,
        patients_written=written,
        write_seconds=write_seconds,
    )
