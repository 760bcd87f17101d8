"""The editorial calendar over HTTP: placement, lanes, gaps, over-booking, marks, rescheduling and bad input."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.utils import timezone, translation

from xinqiao.channels.models import PlatformAccount
from xinqiao.content.models import Approval, ContentItem, Transition
from xinqiao.content.tests.helpers import approve_through, make_item, writer
from xinqiao.core.models import Membership
from xinqiao.core.services import consent_record
from xinqiao.core.tests.factories import make_user

State = ContentItem.State
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2025, 9, 22, 10, 0, tzinfo=SHANGHAI)  # a Monday


def at(day: str, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def english(settings):
    """Messages are asserted in their English msgids (the product default is zh-hans)."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def plan(world):
    """Two accounts (3 and 7 posts a week) and items planned in September 2025."""
    author = writer(world)
    wechat = PlatformAccount.objects.create(
        hospital=world.hospital, platform="wechat_oa", name="一院公众号", account_type="hospital_official",
        target_posts_per_week=3,
    )  # fmt: skip
    douyin = PlatformAccount.objects.create(
        hospital=world.hospital, platform="douyin", name="一院抖音", account_type="hospital_official",
        target_posts_per_week=7,
    )  # fmt: skip
    items = {
        "a": make_item(world, author, title="秋季血压管理", scheduled_at=at("2025-09-23"), account_ids=[wechat.pk]),
        "b": make_item(world, author, title="心衰随访", scheduled_at=at("2025-09-23", 18), account_ids=[wechat.pk]),
        "c": make_item(
            world,
            author,
            title="儿童疫苗",
            department="pediatrics",
            scheduled_at=at("2025-09-24", 20),
            account_ids=[wechat.pk, douyin.pk],
        ),  # fmt: skip
        "d": make_item(world, author, title="无账号稿件", scheduled_at=at("2025-09-26", 12)),
        "e": make_item(world, author, title="待排期"),
    }
    return author, wechat, douyin, items


def test_month_view_places_items_in_lanes_and_flags_gaps_and_over_booking(client, world, plan):
    _author, wechat, douyin, items = plan
    client.force_login(world.users["brand"])
    response = client.get("/content/calendar/", {"view": "month", "date": "2025-09-10"})
    assert response.status_code == 200
    view = response.context["view"]
    assert (view.start, view.end, view.range_start, view.range_end) == (
        dt.date(2025, 9, 1), dt.date(2025, 10, 5), dt.date(2025, 9, 1), dt.date(2025, 9, 30),
    )  # fmt: skip
    placed = {str(day.date): [chip.item.title for chip in day.chips] for day in view.days if day.chips}
    assert placed == {
        "2025-09-23": ["秋季血压管理", "心衰随访"],
        "2025-09-24": ["儿童疫苗"],
        "2025-09-26": ["无账号稿件"],
    }
    assert [row.lane.label for row in view.lanes] == ["Douyin · 一院抖音", "WeChat Official Account · 一院公众号",
                                                      "No account"]  # fmt: skip
    lanes = {row.lane.key: row for row in view.lanes}
    assert [c.item.title for cell in lanes[wechat.pk].cells for c in cell.chips] == [
        "秋季血压管理",
        "心衰随访",
        "儿童疫苗",
    ]
    assert [c.item.title for cell in lanes[douyin.pk].cells for c in cell.chips] == ["儿童疫苗"]
    assert [c.item.title for cell in lanes[0].cells for c in cell.chips] == ["无账号稿件"]
    # 3 a week allows one a day: two on the 23rd over-books the WeChat account
    assert view.over_days == [dt.date(2025, 9, 23)]
    assert [lane.label for lane in view.days[22].over_lanes] == ["WeChat Official Account · 一院公众号"]
    # gaps: from today (22nd) to the month's end, days with nothing planned
    assert view.gap_days == [dt.date(2025, 9, d) for d in (22, 25, 27, 28, 29, 30)]
    week = {total.monday: total for total in lanes[wechat.pk].weeks}[dt.date(2025, 9, 22)]
    assert (week.planned, week.target, week.shortfall, week.excess) == (3, 3, 0, 0)
    douyin_week = {total.monday: total for total in lanes[douyin.pk].weeks}[dt.date(2025, 9, 22)]
    assert (douyin_week.planned, douyin_week.shortfall) == (1, 6)
    assert [item.title for item in view.unscheduled] == ["待排期"]
    html = response.content.decode()
    assert html.count('data-flag="over"') == 1
    assert html.count('data-flag="gap"') == 6
    assert html.count('draggable="true"') == 5  # four planned chips and the unplanned one


def test_month_view_shows_observances_holidays_and_solar_terms(client, world):
    client.force_login(world.users["leadership"])
    response = client.get("/content/calendar/", {"view": "month", "date": "2025-10-01"})
    assert response.status_code == 200
    view = response.context["view"]
    days = {day.date: day for day in view.days}
    assert [(m.kind, m.name) for m in days[dt.date(2025, 10, 1)].marks] == [("holiday", "National Day (day off)")]
    assert [(m.kind, m.name) for m in days[dt.date(2025, 10, 6)].marks] == [
        ("holiday", "Mid-autumn Festival (day off)"), ("festival", "Mid-Autumn Festival"),
    ]  # fmt: skip
    assert [(m.kind, m.name) for m in days[dt.date(2025, 10, 11)].marks] == [
        ("working_day", "Working day in lieu (National Day)")
    ]
    assert [(m.kind, m.name) for m in days[dt.date(2025, 10, 8)].marks] == [
        ("holiday", "National Day (day off)"), ("solar_term", "Cold Dew"),
    ]  # fmt: skip
    assert [o.observance.name for o in days[dt.date(2025, 10, 10)].occurrences] == ["World Mental Health Day"]
    assert [o.observance.name for o in days[dt.date(2025, 9, 29)].occurrences] == ["World Heart Day"]
    assert view.notices == []
    # leadership sees the calendar but cannot move anything
    assert response.context["can_reschedule"] is False
    assert 'data-drop-day="' not in response.content.decode()


def test_far_future_year_degrades_with_a_notice(client, world):
    client.force_login(world.users["brand"])
    response = client.get("/content/calendar/", {"view": "month", "date": "2099-10-01"})
    assert response.status_code == 200
    view = response.context["view"]
    assert view.notices == [
        "Statutory holidays and adjusted working days for 2099 are not available yet (the holiday tables cover "
        "2004–2026): check the State Council's notice before planning around them."
    ]
    kinds = sorted({mark.kind for day in view.days for mark in day.marks})
    assert kinds == ["festival", "solar_term"]  # lunar-python still computes; no holiday rows
    assert 'data-testid="calendar-notice"' in response.content.decode()


def test_week_view_has_one_lane_per_account(client, world, plan):
    _author, wechat, douyin, _items = plan
    client.force_login(world.users["brand"])
    response = client.get("/content/calendar/", {"view": "week", "date": "2025-09-24"})
    view = response.context["view"]
    assert (view.start, view.end) == (dt.date(2025, 9, 22), dt.date(2025, 9, 28))
    lanes = {row.lane.key: [cell.count for cell in row.cells] for row in view.lanes}
    assert lanes == {douyin.pk: [0, 0, 1, 0, 0, 0, 0], wechat.pk: [0, 2, 1, 0, 0, 0, 0], 0: [0, 0, 0, 0, 1, 0, 0]}
    assert view.gap_days == [dt.date(2025, 9, 22), dt.date(2025, 9, 25), dt.date(2025, 9, 27), dt.date(2025, 9, 28)]
    html = response.content.decode()
    assert 'data-testid="week-lanes"' in html
    assert html.count('data-drop-day="2025-09-22"') == 3  # one droppable cell per lane


def test_department_reviewer_sees_only_their_departments(client, world, plan):
    client.force_login(world.users["dept_reviewer"])
    response = client.get("/content/calendar/", {"view": "month", "date": "2025-09-10"})
    assert response.status_code == 200
    view = response.context["view"]
    titles = sorted(chip.item.title for day in view.days for chip in day.chips)
    assert titles == ["心衰随访", "无账号稿件", "秋季血压管理"]
    # lanes: the accounts their items target (no account is owned by cardiology here)
    assert [row.lane.label for row in view.lanes] == ["WeChat Official Account · 一院公众号", "No account"]
    assert [group.label for group in response.context["suggestions"]] == ["心内科"]


def test_topic_suggestions_for_departments(client, world, plan):
    client.force_login(world.users["brand"])
    response = client.get("/content/calendar/", {"lead": "30"})
    groups = {group.label: group.suggestions for group in response.context["suggestions"]}
    assert list(groups) == ["儿科", "内分泌科", "心内科"]
    assert [(s.name, str(s.start), s.days_ahead, s.planned) for s in groups["心内科"]] == [
        ("World Heart Day", "2025-09-29", 7, 3),  # 秋季血压管理, 心衰随访, 无账号稿件 are cardiology items
        ("National Hypertension Day", "2025-10-08", 16, 3),
    ]
    assert [(s.name, str(s.start), s.days_ahead, s.planned) for s in groups["儿科"]] == [
        ("Global Handwashing Day", "2025-10-15", 23, 1),
    ]
    assert [(s.name, str(s.start), s.planned) for s in groups["内分泌科"]] == [
        ("World Osteoporosis Day", "2025-10-20", 0)
    ]
    html = response.content.decode()
    assert html.count('data-suggestion="') == 4
    assert html.count("nothing planned yet") == 1


def test_reschedule_by_drag_keeps_the_approval(client, world, plan):
    author, wechat, _douyin, items = plan
    item = approve_through(world, items["a"], until=State.SCHEDULED)
    approvals = list(Approval.objects.filter(item=item).values_list("pk", flat=True))
    assert len(approvals) == 3
    client.force_login(world.users["brand"])
    response = client.post(
        "/content/calendar/reschedule/",
        {"item": item.pk, "day": "2025-09-30", "view": "month", "date": "2025-09-10"},
        headers={"HX-Request": "true", "HX-Target": "calendar"},
    )
    assert response.status_code == 200
    item.refresh_from_db()
    assert item.scheduled_at == at("2025-09-30")  # the time of day is kept
    assert item.state == State.SCHEDULED
    assert list(Approval.objects.filter(item=item).values_list("pk", flat=True)) == approvals
    assert item.review_round == 1
    last = Transition.objects.filter(item=item).order_by("pk").last()
    assert (last.action, last.from_state, last.to_state, last.comment) == (
        "rescheduled", "scheduled", "scheduled", "2025-09-23 09:00 → 2025-09-30 09:00",
    )  # fmt: skip
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="calendar"')  # the partial only
    assert 'data-testid="calendar-success"' in html
    placed = {day.date: [c.item.pk for c in day.chips] for day in response.context["view"].days}
    assert placed[dt.date(2025, 9, 30)] == [item.pk]


def test_reschedule_an_approved_item_by_form(client, world, plan):
    _author, _wechat, _douyin, items = plan
    item = items["e"]
    approve_through(world, item, until=State.APPROVED)
    client.force_login(world.users["brand"])
    response = client.post(
        "/content/calendar/reschedule/",
        {"item": item.pk, "day": "2025-10-09", "time": "07:30", "view": "week", "date": "2025-10-09"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/content/calendar/?view=week&date=2025-10-09&lead=30"
    item.refresh_from_db()
    assert (item.scheduled_at, item.state) == (at("2025-10-09", 7, 30), State.SCHEDULED)
    assert Approval.objects.filter(item=item).count() == 3
    # an unscheduled draft dropped on a day gets 09:00
    draft = make_item(world, writer_of(item), title="新稿")
    client.post("/content/calendar/reschedule/", {"item": draft.pk, "day": "2025-10-02"})
    draft.refresh_from_db()
    assert (draft.scheduled_at, draft.state) == (at("2025-10-02"), State.DRAFT)


def writer_of(item):
    return item.author


def _unchanged(item, scheduled_at, state):
    item.refresh_from_db()
    assert (item.scheduled_at, item.state) == (scheduled_at, state)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"day": "2025-09-21"}, "2025-09-21 09:00 has already passed: choose a later day or time."),
        ({"day": "2025-09-22", "time": "09:59"}, "2025-09-22 09:59 has already passed: choose a later day or time."),
        ({"day": "2025-13-45"}, "Choose an item and a valid day (and time): Enter a valid date."),
        ({"day": "2025-09-30", "time": "25:00"}, "Choose an item and a valid day (and time): Enter a valid time."),
        ({"day": ""}, "Choose an item and a valid day (and time): This field is required."),
    ],
)
def test_bad_reschedules_change_nothing(client, world, plan, data, message):
    _author, _wechat, _douyin, items = plan
    item = approve_through(world, items["a"], until=State.SCHEDULED)
    transitions = Transition.objects.count()
    client.force_login(world.users["brand"])
    response = client.post("/content/calendar/reschedule/", {"item": item.pk, **data}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert response.context["error"] == message
    _unchanged(item, at("2025-09-23"), State.SCHEDULED)
    assert Transition.objects.count() == transitions


def test_reschedule_refused_past_the_certificate_or_consent_validity(client, world):
    author = writer(world)
    ad = make_item(
        world, author, title="体检套餐", content_type="ad_creative", is_ad=True,
        ad_certificate_number="（沪）医广【2025】第0412-001号", ad_certificate_valid_until=dt.date(2025, 10, 15),
        scheduled_at=at("2025-10-01"),
    )  # fmt: skip
    client.force_login(world.users["brand"])
    response = client.post("/content/calendar/reschedule/", {"item": ad.pk, "day": "2025-10-16"})
    assert response.status_code == 400
    assert response.context["error"] == (
        "The medical advertising review certificate is valid until 2025-10-15, before 2025-10-16."
    )
    _unchanged(ad, at("2025-10-01"), State.DRAFT)

    patient = world.patients[0]
    consent_record(
        principal=world.principal("admin"), patient=patient, purpose="story_publication", action="grant",
        channel="paper", notice_version="v2", valid_until=dt.date(2025, 10, 31),
    )  # fmt: skip
    story = make_item(
        world, author, title="康复故事", pillar="story", is_patient_story=True, story_patient_id=patient.pk,
        deidentification=["names", "faces", "identifiers", "dates_places", "documents"],
        scheduled_at=at("2025-10-20"),
    )  # fmt: skip
    response = client.post("/content/calendar/reschedule/", {"item": story.pk, "day": "2025-11-01"})
    assert response.status_code == 400
    assert response.context["error"] == (
        "The patient's consent to publish this story does not cover 2025-11-01 (valid until 2025-10-31)."
    )
    _unchanged(story, at("2025-10-20"), State.DRAFT)
    assert client.post("/content/calendar/reschedule/", {"item": story.pk, "day": "2025-10-31"}).status_code == 302
    _unchanged(story, at("2025-10-31"), State.DRAFT)


@pytest.mark.parametrize(
    ("persona", "status"),
    [("dept_reviewer", 403), ("medical_affairs", 403), ("leadership", 403), ("admin", 403), ("outsider", 403),
     ("service", 403), ("other_brand", 404)],
)  # fmt: skip
def test_only_brand_reschedules(client, world, plan, persona, status):
    _author, _wechat, _douyin, items = plan
    if persona == "other_brand":  # a brand editor of the other hospital: the item does not exist for them
        user = make_user("other_brand", "x", world.other_hospital, Membership.Role.BRAND)
    else:
        user = world.users[persona]
    client.force_login(user)
    response = client.post("/content/calendar/reschedule/", {"item": items["a"].pk, "day": "2025-09-30"})
    assert response.status_code == status
    _unchanged(items["a"], at("2025-09-23"), State.DRAFT)


def test_published_unknown_and_foreign_items_stay_put(client, world, plan):
    _author, _wechat, _douyin, items = plan
    item = items["b"]
    ContentItem.objects.filter(pk=item.pk).update(state=State.PUBLISHED)
    client.force_login(world.users["brand"])
    response = client.post("/content/calendar/reschedule/", {"item": item.pk, "day": "2025-09-30"})
    assert response.status_code == 400
    assert response.context["error"] == "A Published item cannot be rescheduled."
    _unchanged(item, at("2025-09-23", 18), State.PUBLISHED)
    assert client.post("/content/calendar/reschedule/", {"item": 99999, "day": "2025-09-30"}).status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"date": "not-a-date"}, "Enter a valid date."),
        ({"date": "3000-01-01"}, "The calendar covers the years 1901 to 2199."),
        ({"view": "year"}, "Select a valid choice. year is not one of the available choices."),
        ({"lead": "0"}, "Ensure this value is greater than or equal to 1."),
    ],
)
def test_bad_calendar_queries_are_explained(client, world, query, message):
    client.force_login(world.users["brand"])
    response = client.get("/content/calendar/", query)
    assert response.status_code == 400
    assert response.context["error"] == message
    assert response.context["view"].range_start == dt.date(2025, 9, 1)  # falls back to this month


def test_calendar_needs_content_view(client, world):
    client.force_login(world.users["service"])
    assert client.get("/content/calendar/").status_code == 403
    assert timezone.localdate() == dt.date(2025, 9, 22)
