"""Dashboard pages over HTTP: roles, department scope, filters, HTMX partials, table view, CSV, drill-down, costs."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from xinqiao.analytics.models import CostEntry
from xinqiao.analytics.tests.test_selectors_period import build_dashboard_data

OCTOBER = "start=2026-10-01&end=2026-10-31"
PAGES = ["overview", "content", "accounts", "topics", "funnel", "roi", "rankings", "leadership"]


@pytest.fixture(autouse=True)
def english_ui(settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def data(world):
    return build_dashboard_data(world)


def get(client, world, persona, url):
    client.force_login(world.users[persona])
    return client.get(url)


@pytest.mark.parametrize("persona", ["admin", "brand", "dept_reviewer", "leadership"])
@pytest.mark.parametrize("page", PAGES)
def test_viewers_see_every_page(client, world, persona, page):
    response = get(client, world, persona, reverse(f"analytics:{page}"))

    assert response.status_code == 200
    assert b'data-testid="results"' in response.content


@pytest.mark.parametrize("persona", ["medical_affairs", "service", "health_manager"])
def test_other_roles_are_refused(client, world, persona):
    assert get(client, world, persona, "/analytics/").status_code == 403
    assert client.get("/analytics/topics/").status_code == 403


def test_anonymous_is_sent_to_login(client):
    response = client.get("/analytics/")

    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_overview_kpis_and_period_change(client, world, data):
    response = get(client, world, "brand", f"/analytics/?{OCTOBER}")

    html = response.content.decode()
    assert 'data-testid="value-exposure">3,500<' in html
    assert 'data-testid="change-exposure">+600.0%<' in html
    assert 'data-testid="value-interaction_rate">10.0%<' in html
    assert 'data-testid="value-cost_per_acquired_patient">¥560.00<' in html
    assert 'data-testid="value-nps">no data<' in html
    assert 'data-testid="value-positive_sentiment_share">no data<' in html
    assert 'data-testid="table-trend"' in html
    assert 'data-testid="csv-trend"' in html
    assert 'id="chart-data-trend"' in html


def test_filters_apply_and_htmx_gets_the_partial(client, world, data):
    response = get(client, world, "brand", f"/analytics/?{OCTOBER}&platform=douyin")
    partial = client.get(f"/analytics/?{OCTOBER}&platform=douyin", HTTP_HX_REQUEST="true")

    assert 'data-testid="value-exposure">2,500<' in response.content.decode()
    body = partial.content.decode()
    assert body.lstrip().startswith('<div id="results"')
    assert "<html" not in body
    assert 'data-testid="value-exposure">2,500<' in body


def test_bad_dates_show_an_error(client, world, data):
    response = get(client, world, "brand", "/analytics/?start=2026-10-31&end=2026-10-01")

    assert response.status_code == 200
    assert "The end date must not be before the start date." in response.content.decode()


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ("", "2026-10-25", "2026-11-23"),  # the default: the 30 days up to yesterday
        ("?platform=douyin", "2026-10-25", "2026-11-23"),
        ("?end=2026-10-31", "2026-10-02", "2026-10-31"),
        ("?start=2026-11-01", "2026-11-01", "2026-11-23"),
        (f"?{OCTOBER}", "2026-10-01", "2026-10-31"),
    ],
)
def test_the_date_inputs_show_the_period_the_page_covers(client, world, data, time_machine, query, start, end):
    time_machine.move_to("2026-11-24T10:00:00+08:00", tick=False)
    body = get(client, world, "brand", f"/analytics/{query}").content.decode()

    assert f'name="start" value="{start}"' in body
    assert f'name="end" value="{end}"' in body


def test_the_topics_page_opens_on_a_quarter(client, world, data, time_machine):
    # topic × format comparisons need five posts a cell: the page opens on 90 days, the others on 30
    time_machine.move_to("2026-11-24T10:00:00+08:00", tick=False)
    body = get(client, world, "brand", "/analytics/topics/").content.decode()

    assert 'name="start" value="2026-08-26"' in body
    assert 'name="end" value="2026-11-23"' in body


def test_every_format_the_importers_write_has_a_label():
    from django.utils import translation

    from xinqiao.analytics.importers.parse import DEFAULT_FORMAT, FORMAT_WORDS
    from xinqiao.analytics.recommendations import format_label

    formats = set(DEFAULT_FORMAT.values()) | set(FORMAT_WORDS.values())
    with translation.override("zh-hans"):
        labels = {code: format_label(code) for code in formats}
    assert all(label != code for code, label in labels.items()), labels
    assert (labels["post"], labels["answer"]) == ("动态", "回答")


def test_a_start_date_alone_may_not_stretch_the_period_past_the_limit(client, world, data, time_machine):
    time_machine.move_to("2026-11-24T10:00:00+08:00", tick=False)
    body = get(client, world, "brand", "/analytics/?start=2020-01-01").content.decode()

    assert "Choose at most" in body
    assert 'name="start" value="2020-01-01"' in body  # what the user asked, with the error beside it


def test_department_reviewer_sees_only_their_departments(client, world, data):
    response = get(client, world, "dept_reviewer", f"/analytics/?{OCTOBER}")
    choices = response.context["form"].fields["department"].choices

    assert 'data-testid="value-exposure">2,500<' in response.content.decode()
    assert [label for _value, label in choices] == ["All", "心内科"]
    pediatrics = world.departments["pediatrics"].pk
    forced = client.get(f"/analytics/?{OCTOBER}&department={pediatrics}")
    assert forced.context["form"].errors["department"]
    assert 'data-testid="value-exposure">2,500<' not in forced.content.decode()  # back to the default dates
    assert "3,500" not in forced.content.decode()


def test_csv_export_of_a_chart(client, world, data):
    response = get(client, world, "brand", f"/analytics/topics/?{OCTOBER}&format=csv&chart=topic-cells")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="20261001-20261031-topic-cells.csv"'
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == [
        "Topic", "Format", "Platform", "Posts", "Views", "Completion rate", "Interaction rate", "Conversions",
    ]  # fmt: skip
    assert rows[1:] == [
        ["高血压", "Videos", "Douyin", "1", "1200", "55.00", "10.00", "2"],
        ["儿童用药误区", "Articles", "WeChat Official Account", "1", "400", "", "10.00", "1"],
    ]


def test_csv_of_an_unknown_chart_is_404(client, world, data):
    assert get(client, world, "brand", f"/analytics/?{OCTOBER}&format=csv&chart=nope").status_code == 404


def test_table_view_links_to_the_post(client, world, data):
    response = get(client, world, "brand", f"/analytics/content/?{OCTOBER}")
    url = reverse("analytics:content_detail", args=[data.accounts["douyin"].pk, "v1"])

    html = response.content.decode()
    assert 'data-testid="table-posts"' in html
    assert f'<a href="{url}" data-testid="drill-down">post v1</a>' in html
    detail = client.get(url)
    assert detail.status_code == 200
    assert 'data-testid="post-views">1200<' in detail.content.decode()
    csv_response = client.get(f"{url}?format=csv&chart=post")
    rows = list(csv.reader(io.StringIO(csv_response.content.decode().removeprefix("\ufeff"))))
    assert [row[0] for row in rows[1:]] == ["2026-10-06", "2026-10-07"]


def test_drill_down_is_404_outside_scope(client, world, data):
    pediatric_post = reverse("analytics:content_detail", args=[data.accounts["oa"].pk, "m1"])
    cardiology_post = reverse("analytics:content_detail", args=[data.accounts["douyin"].pk, "v1"])

    assert get(client, world, "dept_reviewer", pediatric_post).status_code == 404
    assert client.get(cardiology_post).status_code == 200
    assert get(client, world, "outsider", cardiology_post).status_code == 404
    assert get(client, world, "brand", reverse("analytics:content_detail", args=[999999, "v1"])).status_code == 404


def test_leadership_one_pager(client, world, data):
    response = get(client, world, "leadership", "/analytics/leadership/?month=2026-10")

    html = response.content.decode()
    assert "Monthly one-pager · 2026-10" in html
    assert 'data-testid="value-exposure">3,500<' in html
    assert 'data-testid="value-ugc_count">no data<' in html
    assert 'data-testid="table-funnel"' in html
    assert 'data-testid="cost-form"' not in html


def test_brand_records_a_cost_entry(client, world, data):
    client.force_login(world.users["brand"])
    before = CostEntry.objects.count()

    response = client.post(
        "/analytics/roi/",
        {"kind": "campaign", "amount_yuan": "1,234.50", "date_from": "2026-10-01", "date_to": "2026-10-31",
         "campaign": "世界心脏日"},
    )  # fmt: skip

    assert response.status_code == 302
    entry = CostEntry.objects.latest("pk")
    assert CostEntry.objects.count() == before + 1
    assert (entry.amount_fen, entry.campaign, entry.hospital) == (123450, "世界心脏日", world.hospital)
    listed = client.get(f"/analytics/roi/?{OCTOBER}").content.decode()
    assert '<td data-testid="cost-amount">¥1,234.50</td>' in listed  # in yuan, as it was entered


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount_yuan": "-5"}, "The amount must be greater than zero."),
        ({"amount_yuan": "0"}, "The amount must be greater than zero."),
        ({"amount_yuan": "1.234"}, "The amount can have at most two decimals (fen)."),
        ({"amount_yuan": "abc"}, "Enter the amount in yuan, e.g. 1200.50."),
        ({"date_to": "2026-09-01"}, "The end date must not be before the start date."),
        ({"campaign": ""}, "Name the campaign."),
    ],
)
def test_bad_cost_entries_change_nothing(client, world, data, changes, message):
    client.force_login(world.users["brand"])
    before = CostEntry.objects.count()
    payload = {"kind": "campaign", "amount_yuan": "100", "date_from": "2026-10-01", "date_to": "2026-10-31",
               "campaign": "义诊"} | changes  # fmt: skip

    response = client.post("/analytics/roi/", payload)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert CostEntry.objects.count() == before


def test_leadership_cannot_record_or_delete_costs(client, world, data):
    client.force_login(world.users["leadership"])
    entry = CostEntry.objects.first()
    before = CostEntry.objects.count()

    posted = client.post("/analytics/roi/", {"kind": "kol", "amount_yuan": "10", "date_from": "2026-10-01",
                                              "date_to": "2026-10-02", "partner": "x"})  # fmt: skip
    deleted = client.post(reverse("analytics:cost_delete", args=[entry.pk]))

    assert (posted.status_code, deleted.status_code) == (403, 403)
    assert CostEntry.objects.count() == before


def test_cost_delete_and_other_hospital_404(client, world, data):
    entry = CostEntry.objects.first()
    client.force_login(world.users["outsider"])
    assert client.post(reverse("analytics:cost_delete", args=[entry.pk])).status_code == 404
    client.force_login(world.users["brand"])

    response = client.post(reverse("analytics:cost_delete", args=[entry.pk]))

    assert response.status_code == 302
    assert not CostEntry.objects.filter(pk=entry.pk).exists()


def test_outsider_sees_only_their_hospital(client, world, data):
    response = get(client, world, "outsider", f"/analytics/?{OCTOBER}")

    assert response.status_code == 200
    assert 'data-testid="value-exposure">0<' in response.content.decode()


def test_accounts_page_lists_influence_windows(client, world, data):
    import datetime as dt

    from xinqiao.analytics import influence

    influence.influence_compute(hospital=world.hospital, window="month", window_start=dt.date(2026, 10, 1))

    response = get(client, world, "brand", f"/analytics/accounts/?{OCTOBER}&window=month")

    html = response.content.decode()
    assert 'data-testid="influence-window"' in html
    assert 'data-testid="table-influence-wci-13"' in html
    assert 'data-testid="table-influence-wci-14-2-b"' in html  # the hospital account has share data


def test_brand_computes_influence_and_leadership_cannot(client, world, data):
    from xinqiao.analytics.models import InfluenceIndex

    client.force_login(world.users["leadership"])
    refused = client.post("/analytics/accounts/influence/", {"window": "month", "window_start": "2026-10-01"})
    assert refused.status_code == 403
    assert InfluenceIndex.objects.count() == 0
    client.force_login(world.users["brand"])

    response = client.post("/analytics/accounts/influence/", {"window": "month", "window_start": "2026-10-01"})

    assert response.status_code == 302
    assert sorted(InfluenceIndex.objects.values_list("version", flat=True)) == ["wci-13", "wci-14.2-a", "wci-14.2-b"]
    assert InfluenceIndex.objects.get(version="wci-13").window_end.isoformat() == "2026-10-31"
