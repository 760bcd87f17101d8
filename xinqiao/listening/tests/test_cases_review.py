"""Post-crisis review figures on hand-made data, and the propagation view."""

from __future__ import annotations

import datetime as dt

import pytest

from xinqiao.listening.models import CrisisCase
from xinqiao.listening.selectors.cases import case_propagation, case_review_figures
from xinqiao.listening.services import cases as services
from xinqiao.listening.tests.cases_helpers import make_alert, make_cluster, make_mention

T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)
PIVOT = T0 + dt.timedelta(hours=10)  # the first response


def h(hours: float) -> dt.datetime:
    return PIVOT + dt.timedelta(hours=hours)


@pytest.fixture
def story(world):
    hospital = world.hospital
    doctor = f"doctor:{world.doctors[0].pk}"
    department = f"department:{world.departments['cardiology'].pk}"
    cluster = make_cluster(hospital, at=h(-50))
    on_story = {"cluster": cluster, "entities": (doctor,)}
    make_mention(hospital, at=h(-50), handle="早期帖", followers=10, **on_story)  # before the before window
    make_mention(hospital, at=h(-30), handle="原帖作者", followers=5000, reposts=40, verified=True, **on_story)
    make_mention(hospital, at=h(-5), handle="转发者甲", followers=300, likes=7, **on_story)
    make_mention(hospital, at=h(-1), sentiment="neutral", handle="转发者乙", followers=20, **on_story)
    make_mention(hospital, at=h(1), handle="转发者甲", followers=300, comments=3, **on_story)
    make_mention(hospital, at=h(20), sentiment="positive", handle="理性网友", followers=50, **on_story)
    make_mention(hospital, at=h(30), sentiment="neutral", handle="晚到", followers=1, **on_story)  # after closing
    # outside the story: the department and the doctor named elsewhere, and the hospital alone
    make_mention(hospital, at=h(-10), entities=(department,), followers=1)
    make_mention(hospital, at=h(2), sentiment="positive", entities=(department, doctor), followers=1)
    make_mention(hospital, at=h(3), entities=("hospital",), followers=1)
    make_mention(world.other_hospital, at=h(2), entities=(doctor,), followers=1)
    alert = make_alert(hospital, clusters=[cluster], entity_key=department, at=T0)
    case = services.case_open_from_alert(principal=world.principal("brand"), alert=alert, now=T0)
    CrisisCase.objects.filter(pk=case.pk).update(first_responded_at=PIVOT)
    case.refresh_from_db()
    return case


def test_before_and_after_figures(world, story):
    review = case_review_figures(story, until=h(24))
    assert review["pivot"] == PIVOT.isoformat()
    assert review["pivot_kind"] == "first_response"
    assert review["before"] == {"start": h(-48).isoformat(), "end": PIVOT.isoformat(), "hours": 48.0}
    assert review["after"] == {"start": PIVOT.isoformat(), "end": h(24).isoformat(), "hours": 24.0}
    assert review["figures"]["story"] == {
        "before": {"total": 3, "negative": 2, "neutral": 1, "positive": 0, "negative_share": 66.7,
                   "reach": 5000 + 40 + 300 + 7 + 20, "per_hour": 0.06},
        "after": {"total": 2, "negative": 1, "neutral": 0, "positive": 1, "negative_share": 50.0,
                  "reach": 303 + 50, "per_hour": 0.08},
        "change": {"per_hour_pct": 33.3, "negative_share_points": -16.7},
    }  # fmt: skip
    assert review["figures"]["entities"]["before"]["total"] == 4
    assert review["figures"]["entities"]["before"]["negative"] == 3
    assert review["figures"]["entities"]["after"]["total"] == 3
    assert review["figures"]["entities"]["after"]["positive"] == 2
    assert [e["label"] for e in review["entities"]] == ["心内科", "王建国"]
    assert review["hourly"] == [
        {"hour": "2026-11-19 14:00", "total": 1, "negative": 1},
        {"hour": "2026-11-20 15:00", "total": 1, "negative": 1},
        {"hour": "2026-11-20 19:00", "total": 1, "negative": 0},
        {"hour": "2026-11-20 21:00", "total": 1, "negative": 1},
        {"hour": "2026-11-21 16:00", "total": 1, "negative": 0},
    ]


def test_full_window_after_48_hours(story):
    review = case_review_figures(story, until=h(72))
    assert review["after"]["hours"] == 48.0
    assert review["figures"]["story"]["after"]["total"] == 3
    assert review["figures"]["story"]["after"]["neutral"] == 1


def test_closing_freezes_the_figures(world, story):
    story.status = CrisisCase.Status.RESPONDED
    story.save(update_fields=["status"])
    services.case_close(principal=world.principal("brand"), case=story, lessons="首发帖出现后应更早介入", now=h(24))
    story.refresh_from_db()
    assert story.review == case_review_figures(story, until=h(24)) | {"computed_at": h(24).isoformat()}
    assert story.review["figures"]["story"]["before"]["total"] == 3


def test_propagation_first_poster_relays_and_cumulative_reach(story):
    propagation = case_propagation(story)
    assert propagation.first["author_handle"] == "早期帖"
    assert [(a["author_handle"], a["posts"], a["followers"], a["reach"], a["verified"]) for a in propagation.accounts] == [
        ("早期帖", 1, 10, 10, False),
        ("原帖作者", 1, 5000, 5040, True),
        ("转发者甲", 2, 300, 307 + 303, False),
        ("转发者乙", 1, 20, 20, False),
        ("理性网友", 1, 50, 50, False),
        ("晚到", 1, 1, 1, False),
    ]  # fmt: skip
    assert [(r["cumulative_posts"], r["cumulative_reach"]) for r in propagation.cumulative] == [
        (1, 10), (2, 5050), (3, 5357), (4, 5377), (5, 5680), (6, 5730), (7, 5731),
    ]  # fmt: skip
    assert (propagation.total_mentions, propagation.total_reach) == (7, 5731)
