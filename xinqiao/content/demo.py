"""Demo data of the content studio: the account matrix, a review policy and ~30 items in every state.

Call ``seed_content_demo(hospital, rng=random.Random(seed))`` after the hospital, its departments, doctors and
members (admin, brand, dept_reviewer, medical_affairs) exist. The WeChat account points at the sandbox named by
the setting ``XINQIAO_WECHAT_OA_SANDBOX_URL`` (e.g. ``http://127.0.0.1:8701``, as served by
``manage.py run_sandboxes``) with the sandbox's demo AppID/AppSecret; without the setting it stays manual.
Everything goes through the services and the workflow, so the data obeys the same rules as the UI.
"""

from __future__ import annotations

import datetime as dt
import random

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from xinqiao.channels.models import PlatformAccount, Publication
from xinqiao.channels.platforms.wechat_oa.sandbox import DEMO_APP_ID, DEMO_APP_SECRET
from xinqiao.channels.services import AccountInput, account_create, publication_mark_published
from xinqiao.content import services, workflow
from xinqiao.content.models import ContentItem, ReviewStep
from xinqiao.core.access import principal_for_user
from xinqiao.core.models import Hospital, Membership

DISCLAIMER = "<p>以上内容仅供参考，具体诊疗请遵医嘱。</p>"

TOPICS = [
    ("高血压的日常管理", "高血压", "<p>高血压患者要规律监测血压，按时服药，保持低盐饮食。</p>"),
    ("冬季心脑血管疾病预防", "心脑血管", "<p>天气转冷，注意保暖，清晨起床动作要慢。</p>"),
    ("糖尿病饮食小贴士", "糖尿病", "<p>控制总热量，多吃蔬菜，主食粗细搭配。</p>"),
    ("儿童发烧怎么办", "发热", "<p>先测体温，多喝水，注意观察精神状态。</p>"),
    ("甲状腺结节要紧吗", "甲状腺结节", "<p>多数甲状腺结节是良性的，按医生建议定期复查。</p>"),
    ("流感季如何防护", "流感", "<p>勤洗手，出门佩戴口罩，按时接种流感疫苗。</p>"),
    ("科学减重的三个误区", "肥胖", "<p>减重要循序渐进，饮食和运动相结合。</p>"),
    ("护士的一天", "", "<p>清晨六点，病房的灯亮了，护士开始了一天的工作。</p>"),
    ("听诊器的故事", "", "<p>一百多年前，听诊器的发明改变了医生看病的方式。</p>"),
    ("睡眠不好怎么办", "失眠", "<p>固定作息时间，睡前少看手机，午睡不宜过长。</p>"),
]
WARN_BODY = "<p>这是我们科室最有效的宣教方式之一。</p>"

# state wanted -> how many items
PLAN = [
    ("draft", 5),
    ("department_review", 4),
    ("medical_review", 3),
    ("final_review", 3),
    ("returned", 2),
    ("rejected", 1),
    ("approved", 3),
    ("scheduled", 4),
    ("expired_approval", 1),
    ("published", 4),
]


def _member(hospital: Hospital, role: str):
    membership = (
        Membership.objects.filter(hospital=hospital, role=role).select_related("user").order_by("user_id").first()
    )
    if membership is None:
        raise ValueError(f"seed_content_demo needs a member with the role {role!r} in {hospital.code}")
    return membership.user


def _second_brand_user(hospital: Hospital, first):
    other = Membership.objects.filter(hospital=hospital, role=Membership.Role.BRAND).exclude(user=first).first()
    if other is not None:
        return other.user
    user, _created = get_user_model().objects.get_or_create(
        username=f"{hospital.code}-content-writer", defaults={"first_name": "内容编辑"}
    )
    if _created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    Membership.objects.get_or_create(user=user, hospital=hospital, role=Membership.Role.BRAND)
    return user


def _accounts(hospital: Hospital, brand) -> list[PlatformAccount]:
    principal = principal_for_user(brand, hospital)
    departments = list(hospital.departments.order_by("pk")[:2])
    # a doctor with a personal account is one of the hospital's doctor IPs (the 医生 IP followers KPI counts them)
    doctor = hospital.doctors.order_by("-is_ip", "pk").first()
    sandbox_url = getattr(settings, "XINQIAO_WECHAT_OA_SANDBOX_URL", "") or ""
    short = hospital.short_name or hospital.name
    specs = [
        AccountInput(
            platform="wechat_oa", name=f"{short}公众号", account_type="hospital_official",
            positioning="全院健康科普与就医服务", verification="verified", credential_holder="品牌部主管",
            app_id=DEMO_APP_ID if sandbox_url else "", app_secret=DEMO_APP_SECRET if sandbox_url else "",
            api_base_url=sandbox_url, target_posts_per_week=5,
        ),
        AccountInput(platform="wechat_channels", name=f"{short}视频号", account_type="hospital_official",
                     positioning="短视频科普", verification="verified", credential_holder="品牌部", target_posts_per_week=3),
        AccountInput(platform="weibo", name=f"{short}官方微博", account_type="hospital_official",
                     positioning="资讯发布与舆情回应", verification="verified", credential_holder="品牌部"),
        AccountInput(platform="douyin", name=f"{short}抖音", account_type="hospital_official",
                     positioning="医生出镜短视频", verification="verified", credential_holder="品牌部"),
        AccountInput(platform="xiaohongshu", name=f"{short}小红书", account_type="hospital_official",
                     positioning="女性与儿童健康笔记", verification="pending", credential_holder="品牌部"),
        AccountInput(platform="bilibili", name=f"{short}B站", account_type="hospital_official",
                     positioning="长视频科普", verification="none", credential_holder="品牌部", target_posts_per_week=1,
                     dormant_after_days=14),
        AccountInput(platform="zhihu", name=f"{short}知乎", account_type="hospital_official",
                     positioning="专业问答", verification="verified", credential_holder="品牌部", target_posts_per_week=2),
    ]  # fmt: skip
    for department in departments:
        specs.append(
            AccountInput(platform="douyin", name=f"{short}{department.name}", account_type="department",
                         department_id=department.pk, positioning=f"{department.name}专科科普",
                         credential_holder=f"{department.name}宣传员", target_posts_per_week=2)
        )  # fmt: skip
    if doctor is not None:
        specs.append(
            AccountInput(platform="xiaohongshu", name=f"{doctor.name}医生", account_type="doctor_personal",
                         doctor_id=doctor.pk, positioning="医生个人科普", credential_holder=doctor.name,
                         target_posts_per_week=1)
        )  # fmt: skip
    accounts = []
    for spec in specs:
        existing = PlatformAccount.objects.filter(hospital=hospital, platform=spec.platform, name=spec.name).first()
        accounts.append(existing or account_create(principal=principal, data=spec))
    return accounts


@transaction.atomic
def seed_content_demo(hospital: Hospital, *, rng: random.Random) -> dict[str, int]:
    """Create the demo account matrix, a review policy and ~30 items; returns counts per state."""
    brand = _member(hospital, Membership.Role.BRAND)
    writer = _second_brand_user(hospital, brand)
    admin = _member(hospital, Membership.Role.ADMIN)
    reviewers = {
        ReviewStep.DEPARTMENT: _member(hospital, Membership.Role.DEPT_REVIEWER),
        ReviewStep.MEDICAL: _member(hospital, Membership.Role.MEDICAL_AFFAIRS),
        ReviewStep.FINAL: brand,
    }
    accounts = _accounts(hospital, brand)
    manual = [a for a in accounts if a.account_type == "hospital_official" and not a.has_api]
    official = [a for a in accounts if a.account_type == "hospital_official"]
    services.review_policy_save(
        principal=principal_for_user(admin, hospital),
        content_type="comment_reply",
        steps=[services.StepInput(step="final", enabled=True)],
    )
    reviewer_departments = set(
        Membership.objects.filter(
            hospital=hospital, user=reviewers[ReviewStep.DEPARTMENT], role="dept_reviewer"
        ).values_list("departments", flat=True)
    )
    department = hospital.departments.filter(pk__in=reviewer_departments).first()
    author = principal_for_user(writer, hospital)
    now = timezone.now()
    counts: dict[str, int] = {}
    index = 0
    for wanted, how_many in PLAN:
        for _n in range(how_many):
            title, topic, body = TOPICS[index % len(TOPICS)]
            index += 1
            pillar = rng.choice(ContentItem.Pillar.values)
            if wanted == "expired_approval":
                scheduled = now + dt.timedelta(minutes=5)
            elif wanted == "approved":
                scheduled = None
            elif wanted == "scheduled":
                scheduled = now + dt.timedelta(days=rng.randint(1, 20), hours=rng.randint(0, 8))
            else:
                scheduled = now + dt.timedelta(days=rng.randint(-10, 25)) if rng.random() < 0.6 else None
                if scheduled is not None and scheduled <= now and wanted not in ("published", "draft", "rejected"):
                    scheduled = now + dt.timedelta(days=rng.randint(1, 25))
            targets = [official[0], *rng.sample(manual, k=min(2, len(manual)))] if wanted != "published" else manual[:2]
            item = services.item_create(
                principal=author,
                data=services.ItemInput(
                    title=f"{title}（{index}）", content_type=rng.choice(["article", "article", "video_script", "note"]),
                    pillar=pillar, body_html=(WARN_BODY if index % 7 == 0 else "") + body + DISCLAIMER,
                    disease_topics=[topic] if topic else [], department_id=department.pk if department else None,
                    account_ids=[a.pk for a in dict.fromkeys(targets)],
                    scheduled_at=None if wanted == "published" else scheduled,
                ),
            )  # fmt: skip
            _drive(item, wanted, author=author, reviewers=reviewers, hospital=hospital, now=now, brand=brand)
            item.refresh_from_db()
            counts[item.state] = counts.get(item.state, 0) + 1
    return counts


def _drive(item, wanted, *, author, reviewers, hospital, now, brand) -> None:
    if wanted == "draft":
        return
    workflow.item_submit(principal=author, item=item, now=now)
    item.refresh_from_db()
    stop_at = {
        "department_review": "department_review",
        "medical_review": "medical_review",
        "final_review": "final_review",
        "returned": "medical_review",
        "rejected": "department_review",
    }.get(wanted)
    approve_time = now + dt.timedelta(minutes=10) if wanted == "expired_approval" else now
    while item.state in workflow.STATE_STEP and item.state != stop_at:
        step = workflow.STATE_STEP[item.state]
        workflow.item_approve(
            principal=principal_for_user(reviewers[step], hospital), item=item, step=step, now=approve_time,
            warn_reason="演示：措辞已与科室核实" if item.current_revision.compliance_report.get("max_severity") else "",
        )  # fmt: skip
        item.refresh_from_db()
    if wanted in ("returned", "rejected"):
        step = workflow.STATE_STEP[item.state]
        workflow.item_send_back(
            principal=principal_for_user(reviewers[step], hospital), item=item, step=step,
            decision="return" if wanted == "returned" else "reject",
            comment="请补充参考文献并删去绝对化用语" if wanted == "returned" else "选题与本月计划重复",
        )  # fmt: skip
    if wanted == "published":
        brand_principal = principal_for_user(brand, hospital)
        workflow.item_publish(principal=brand_principal, item=item, now=now)
        for publication in Publication.objects.filter(item=item, status=Publication.Status.AWAITING_MANUAL):
            publication_mark_published(
                principal=brand_principal, publication=publication,
                post_url=f"https://example.invalid/{publication.account.platform}/{publication.pk}",
            )  # fmt: skip
