"""The listening demo: a reduced month through the real ingestion and pipeline, one crisis with alerts, idempotent."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command

from xinqiao.integrations.models import NotificationRoute, OutboundMessage
from xinqiao.listening.demo import listening_demo_reset, robot_webhook_url, seed_listening_demo
from xinqiao.listening.lexicon import default_topics
from xinqiao.listening.models import Alert, CrisisTopic, Mention, MentionBatch, RedLineRule, WatchedName
from xinqiao.listening.services.alerts import red_line_defaults

NOW = dt.datetime(2026, 11, 20, 6, 30, tzinfo=dt.UTC)  # 14:30 in Shanghai


def seed(world, **extra):
    options = {"month_mentions": 300, "crisis_mentions": 30, "days": 14, "webhook_url": robot_webhook_url(8799)}
    options.update(extra)
    with time_machine.travel(NOW, tick=False):
        return seed_listening_demo(world.hospital, **options)


def counts(hospital) -> tuple:
    return (
        Mention.objects.filter(hospital=hospital).count(),
        Alert.objects.filter(hospital=hospital).count(),
        CrisisTopic.objects.filter(hospital=hospital).count(),
        RedLineRule.objects.filter(hospital=hospital).count(),
        WatchedName.objects.filter(hospital=hospital).count(),
        NotificationRoute.objects.filter(hospital=hospital).count(),
        OutboundMessage.objects.filter(hospital=hospital).count(),
        MentionBatch.objects.filter(hospital=hospital).count(),
    )


def test_demo_seeds_a_month_and_one_crisis(world):
    result = seed(world)
    hospital = world.hospital
    assert result.created is True
    assert (result.mentions, result.crisis_mentions) == (330, 30)
    assert (result.crisis_department, result.crisis_doctor) == ("心内科", "王建国")
    assert result.topics == len(default_topics())
    assert result.red_lines == len(red_line_defaults())
    assert sorted(WatchedName.objects.filter(hospital=hospital).values_list("alias", "kind")) == [
        ("一院心内", "department"), ("一院心内科", "department"), ("王建国大夫", "doctor"),
    ]  # fmt: skip
    route = NotificationRoute.objects.get(hospital=hospital)
    assert (route.kind, sorted(route.purposes)) == ("wecom_robot", ["alerts", "cases"])
    assert Mention.objects.filter(hospital=hospital, processed_at__isnull=True).count() == 0
    assert MentionBatch.objects.filter(hospital=hospital, source="seed").count() == 2
    # the history was processed without alerts: both alerts are the red lines of the crisis story
    alerts = sorted(Alert.objects.filter(hospital=hospital).select_related("rule"), key=lambda a: a.rule.name)
    assert [(a.kind, a.rule.name) for a in alerts] == [("red_line", "医疗事故/误诊致死"), ("red_line", "死亡/猝死")]
    story = alerts[0].clusters.get()
    assert list(alerts[1].clusters.all()) == [story]
    crisis_since = NOW - dt.timedelta(hours=3.25)
    assert (story.size, Mention.objects.filter(cluster=story, posted_at__gte=crisis_since).count()) == (30, 30)
    assert story.title.startswith("网传一院心内科手术失败致患者死亡")
    assert "王建国" in story.title
    assert OutboundMessage.objects.filter(route=route, purpose="alerts").count() == len(alerts)


def test_demo_is_idempotent(world):
    seed(world)
    before = counts(world.hospital)
    again = seed(world)
    assert again.created is False
    assert (again.topics, again.red_lines, again.aliases) == (0, 0, 0)
    assert counts(world.hospital) == before


def test_reset_then_seed_again(world):
    seed(world)
    first = counts(world.hospital)
    listening_demo_reset(world.hospital)
    assert Mention.objects.filter(hospital=world.hospital).count() == 0
    assert Alert.objects.filter(hospital=world.hospital).count() == 0
    seed(world)
    assert counts(world.hospital)[:6] == first[:6]


def test_command(world):
    out = io.StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("seed_listening_demo", "--hospital", world.hospital.code, "--mentions", "100",
                     "--crisis-mentions", "20", "--robot-port", "8799", stdout=out)  # fmt: skip
    text = out.getvalue()
    assert "Listening demo: 120 mentions (crisis 20 about 心内科 / 王建国)" in text
    assert route_url_hint(world) == "8799"
    out = io.StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("seed_listening_demo", "--hospital", world.hospital.code, stdout=out)
    assert "Listening demo already present; nothing changed." in out.getvalue()
    assert Mention.objects.filter(hospital=world.hospital).count() == 120


def route_url_hint(world) -> str:
    from xinqiao.integrations.services import notification_route_webhook_url

    url = notification_route_webhook_url(NotificationRoute.objects.get(hospital=world.hospital))
    return url.split(":")[2].split("/")[0]


def test_command_errors(world):
    with pytest.raises(CommandError, match="No hospital with code nowhere"):
        call_command("seed_listening_demo", "--hospital", "nowhere")
    with pytest.raises(CommandError, match="at least 0 mentions and 2 crisis posts"):
        call_command("seed_listening_demo", "--hospital", world.hospital.code, "--crisis-mentions", "1")
    assert Mention.objects.count() == 0


@pytest.fixture(autouse=True)
def english(settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
