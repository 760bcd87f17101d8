"""The dashboard page: who sees it, filters from the query string, bad ranges answered with a message."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from xinqiao.listening.tests.cases_helpers import make_alert, make_cluster, make_mention


@pytest.fixture
def crisis(world):
    now = timezone.now()
    cluster = make_cluster(world.hospital, title="心内科医患纠纷", at=now - dt.timedelta(hours=2), severity=90)
    for hours in (3, 2, 1):
        make_mention(world.hospital, at=now - dt.timedelta(hours=hours), cluster=cluster, platform="weibo")
    make_mention(world.hospital, at=now - dt.timedelta(days=2), sentiment="positive", platform="douyin")
    return make_alert(world.hospital, clusters=[cluster], title="红线：心内科医患纠纷")


@pytest.mark.parametrize(
    ("persona", "status"),
    [("brand", 200), ("medical_affairs", 200), ("leadership", 200), ("admin", 200), ("service", 403),
     ("health_manager", 403), ("dept_reviewer", 403)],
)  # fmt: skip
def test_who_sees_the_dashboard(client, world, persona, status):
    client.force_login(world.users[persona])
    assert client.get("/listening/").status_code == status


def test_dashboard_shows_the_crisis(client, world, crisis):
    client.force_login(world.users["brand"])
    body = client.get("/listening/").content.decode()
    assert 'data-testid="total-mentions">4<' in body
    assert 'data-testid="total-negative">3<' in body
    cluster = crisis.clusters.get()
    assert (
        f'data-cluster="{cluster.pk}"><td><a href="/listening/clusters/{cluster.pk}/">心内科医患纠纷</a></td>'
        '<td class="num">3</td>'
    ) in body
    assert f'data-alert="{crisis.pk}"' in body
    assert body.count('id="dashboard-data"') == 1
    assert "vendor/echarts/echarts.min.js" in body


def test_filters_from_the_query_string(client, world, crisis):
    client.force_login(world.users["brand"])
    body = client.get("/listening/", {"platform": "douyin"}).content.decode()
    assert 'data-testid="total-mentions">1<' in body
    assert 'data-testid="total-negative">0<' in body


def test_bad_range_is_a_message(client, world, crisis):
    client.force_login(world.users["brand"])
    response = client.get("/listening/", {"start": "2026-11-20", "end": "2026-11-01"})
    assert response.status_code == 400
    assert "The start date is after the end date." in response.content.decode()
    response = client.get("/listening/", {"start": "2020-01-01", "end": "2026-11-01"})
    assert response.status_code == 400
    assert "Choose at most 366 days." in response.content.decode()
    assert client.get("/listening/", {"platform": "myspace"}).status_code == 400


def test_other_hospitals_rows_are_not_counted(client, world, crisis):
    client.force_login(world.users["outsider"])
    body = client.get("/listening/").content.decode()
    assert 'data-testid="total-mentions">0<' in body
    assert "心内科医患纠纷" not in body


@pytest.fixture(autouse=True)
def english(settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.mark.parametrize(("language", "label"), [("zh-hans", "负面占比 %"), ("en", "Negative share %")])
def test_the_chart_legend_shows_one_percent_sign(client, world, crisis, settings, language, label):
    settings.LANGUAGE_CODE = language
    client.force_login(world.users["brand"])
    body = client.get("/listening/").content.decode()

    assert f'name: "{label}"' in body
    assert "%%" not in body


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ({}, "2026-10-26", "2026-11-24"),
        ({"platform": "douyin"}, "2026-10-26", "2026-11-24"),
        ({"end": "2026-11-10"}, "2026-10-12", "2026-11-10"),
    ],
)
def test_the_date_inputs_show_the_period_the_page_covers(client, world, time_machine, query, start, end):
    time_machine.move_to("2026-11-24T10:00:00+08:00", tick=False)
    client.force_login(world.users["brand"])
    body = client.get("/listening/", query).content.decode()

    assert f'name="start" value="{start}"' in body
    assert f'name="end" value="{end}"' in body


def test_large_counts_are_grouped_in_the_chinese_ui(client, world, crisis, settings):
    from xinqiao.listening.models import Mention

    settings.LANGUAGE_CODE = "zh-hans"
    Mention.objects.filter(hospital=world.hospital).update(author_followers=1_234_567, likes=0, reposts=0, comments=0)
    client.force_login(world.users["brand"])
    body = client.get("/listening/").content.decode()

    assert "4,938,268" in body  # four mentions' reach, grouped as the analytics pages group it
