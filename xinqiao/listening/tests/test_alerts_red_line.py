"""Red-line rules: terms near the hospital's, a department's or a doctor's name fire an alert at once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from xinqiao.channels.models import Notification
from xinqiao.integrations import services as integrations
from xinqiao.integrations.models import OutboundMessage
from xinqiao.integrations.tests import conftest as robot_fixtures
from xinqiao.listening.models import Alert, MentionCluster, RedLineRule
from xinqiao.listening.services import alerts
from xinqiao.listening.tests.alert_support import processed_mention

pytestmark = pytest.mark.django_db

ROBOT_KEY = robot_fixtures.ROBOT_KEY
robot_sandbox_server = robot_fixtures.robot_sandbox_server
robot_sandbox = robot_fixtures.robot_sandbox


@pytest.fixture
def rules(world):
    assert alerts.red_line_defaults_install(world.hospital) == 6
    return {rule.name: rule for rule in RedLineRule.objects.filter(hospital=world.hospital)}


def cluster_of(world, now):
    return MentionCluster.objects.create(hospital=world.hospital, first_seen_at=now, last_seen_at=now)


def test_defaults_install_is_idempotent_and_reads_the_data_file(world, rules):
    assert alerts.red_line_defaults_install(world.hospital) == 0
    assert sorted(rules) == sorted(["死亡/猝死", "跳楼/自杀/坠楼", "医疗事故/误诊致死", "伤医/砍医生",
                                    "集体中毒/院感暴发", "婴儿/产妇死亡"])  # fmt: skip
    death = rules["死亡/猝死"]
    assert (death.near_kinds, death.window_chars, death.terms[:2]) == (["hospital", "department", "doctor"], 30,
                                                                      ["死亡", "猝死"])  # fmt: skip
    assert RedLineRule.objects.filter(hospital=world.other_hospital).count() == 0


def test_term_near_a_department_fires_once_with_in_app_and_robot_delivery(world, rules, robot_sandbox,
                                                                       django_capture_on_commit_callbacks):  # fmt: skip
    integrations.notification_route_create(
        principal=world.principal("admin"),
        data=integrations.RouteInput(
            name="舆情群", kind="wecom_robot", webhook_url=robot_sandbox.webhook_url(ROBOT_KEY), purposes=["alerts"]
        ),  # fmt: skip
    )
    cardiology = world.departments["cardiology"]
    mention = processed_mention(world, "网传一院心内科患者张伟昨晚猝死，家属情绪激动", posted_at=timezone.now(),
                                entities=["hospital", f"department:{cardiology.pk}"])  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        fired = alerts.alerts_after_processing(hospital_id=world.hospital.pk, mention_ids=[mention.pk])
    [alert] = fired
    rule = rules["死亡/猝死"]
    assert (alert.kind, alert.severity, alert.rule_id, alert.entity_key) == (
        Alert.Kind.RED_LINE, 100.0, rule.pk, f"department:{cardiology.pk}"
    )  # fmt: skip
    assert alert.dedup_key == f"red_line:{rule.pk}:mention:{mention.pk}"
    assert list(alert.mentions.values_list("pk", flat=True)) == [mention.pk]
    note = Notification.objects.get(hospital=world.hospital)
    assert (note.level, note.audience_role, note.link) == ("error", "brand", f"/listening/alerts/{alert.pk}/")
    outbound = OutboundMessage.objects.get()
    assert (outbound.dedup_key, outbound.status) == (f"alert:{alert.pk}", OutboundMessage.Status.SENT)
    [posted] = robot_sandbox.messages(ROBOT_KEY)
    # ids and a link only: neither the patient's name nor the mention text goes to the group chat
    assert "张伟" not in posted.content
    assert "家属" not in posted.content
    assert f"/listening/alerts/{alert.pk}/" in posted.content
    # the pipeline running again over the same mention changes nothing
    assert alerts.alerts_after_processing(hospital_id=world.hospital.pk, mention_ids=[mention.pk]) == []
    assert (Alert.objects.count(), OutboundMessage.objects.count(), Notification.objects.count()) == (1, 1, 1)


def test_reposts_of_one_story_join_the_existing_alert(world, rules):
    now = timezone.now()
    story = cluster_of(world, now)
    first = processed_mention(world, "测试第一人民医院发生医疗事故", posted_at=now, cluster=story)
    repost = processed_mention(world, "转发：测试第一人民医院发生医疗事故", posted_at=now, cluster=story)
    [alert] = alerts.alerts_after_processing(hospital_id=world.hospital.pk, mention_ids=[first.pk])
    assert alerts.alerts_after_processing(hospital_id=world.hospital.pk, mention_ids=[repost.pk]) == []
    assert alert.dedup_key == f"red_line:{rules['医疗事故/误诊致死'].pk}:cluster:{story.pk}"
    assert sorted(alert.mentions.values_list("pk", flat=True)) == [first.pk, repost.pk]
    assert list(alert.clusters.values_list("pk", flat=True)) == [story.pk]


def test_distance_kinds_and_inactive_rules(world, rules):
    now = timezone.now()
    far = processed_mention(world, "一院" + "的" * 31 + "死亡", posted_at=now)  # 31 characters between
    near = processed_mention(world, "一院" + "的" * 30 + "死亡", posted_at=now)  # exactly the window
    no_name = processed_mention(world, "某地有人跳楼", posted_at=now, entities=[])
    assert alerts.alerts_after_processing(hospital_id=world.hospital.pk, mention_ids=[far.pk, no_name.pk]) == []
    [alert] = alerts.alerts_after_processing(hospital_id=world.hospital.pk, mention_ids=[near.pk])
    assert alert.detail == f"Term “死亡” within 30 characters of a watched name (mention #{near.pk})."
    # 集体中毒 is only watched near the hospital and departments, not near a doctor's name
    doctor = world.doctors[0]
    near_doctor = processed_mention(world, "王建国医生说有集体中毒", posted_at=now, entities=[f"doctor:{doctor.pk}"])
    assert alerts.alerts_after_processing(hospital_id=world.hospital.pk, mention_ids=[near_doctor.pk]) == []
    RedLineRule.objects.filter(pk=rules["伤医/砍医生"].pk).update(is_active=False, updated_at=now + dt.timedelta(1))
    attack = processed_mention(world, "一院有人砍医生", posted_at=now)
    assert alerts.alerts_after_processing(hospital_id=world.hospital.pk, mention_ids=[attack.pk]) == []


def test_traditional_and_full_width_text_still_matches(world, rules):
    mention = processed_mention(world, "測試第一人民醫院 醫療事故", posted_at=timezone.now())
    [alert] = alerts.alerts_after_processing(hospital_id=world.hospital.pk, mention_ids=[mention.pk])
    assert alert.rule_id == rules["医疗事故/误诊致死"].pk


def test_other_hospitals_mentions_are_ignored(world, rules):
    mention = processed_mention(world, "一院有人猝死", posted_at=timezone.now(), hospital=world.other_hospital)
    assert alerts.alerts_after_processing(hospital_id=world.hospital.pk, mention_ids=[mention.pk]) == []
    assert Alert.objects.count() == 0


def test_fast_path_before_the_pipeline_and_the_pipeline_agree_on_one_alert(world, rules, robot_sandbox):
    from xinqiao.listening.alert_tasks import check_red_lines
    from xinqiao.listening.models import Mention

    integrations.notification_route_create(
        principal=world.principal("admin"),
        data=integrations.RouteInput(
            name="舆情群", kind="wecom_robot", webhook_url=robot_sandbox.webhook_url(ROBOT_KEY), purposes=["alerts"]
        ),  # fmt: skip
    )
    now = timezone.now()
    raw = Mention.objects.create(hospital=world.hospital, platform="weibo", external_id="raw-1",
                                 text="一院儿科有患者猝死", posted_at=now)  # fmt: skip
    assert check_red_lines.call(hospital_id=world.hospital.pk, mention_ids=[raw.pk]) == 1
    alert = Alert.objects.get()
    assert alert.dedup_key == f"red_line:{rules['死亡/猝死'].pk}:mention:{raw.pk}"
    # delivered by the same job, without waiting for the on-commit delivery job
    assert OutboundMessage.objects.get().status == OutboundMessage.Status.SENT
    assert len(robot_sandbox.messages(ROBOT_KEY)) == 1
    # the pipeline then clusters the mention and runs the alert rules: same alert, now linked to the story
    story = cluster_of(world, now)
    Mention.objects.filter(pk=raw.pk).update(cluster=story, normalised_text="一院儿科有患者猝死", processed_at=now)
    assert alerts.alerts_after_processing(hospital_id=world.hospital.pk, mention_ids=[raw.pk]) == []
    assert Alert.objects.count() == 1
    assert list(alert.clusters.values_list("pk", flat=True)) == [story.pk]
