"""Words English uses for two things and Chinese does not: each use carries its own translation."""

from __future__ import annotations

import pytest
from django.utils import translation
from django.utils.translation import gettext, pgettext


def test_a_title_is_a_heading_and_a_doctors_title_is_a_rank():
    with translation.override("zh-hans"):
        assert gettext("Title") == "标题"  # of a post, an alert, a crisis case, a report row
        assert gettext("title") == "标题"
        assert pgettext("content", "Title") == "标题"
        assert pgettext("doctor", "Title") == "职称"
        assert pgettext("doctor", "title") == "职称"


def test_names_notes_and_changes_of_things_are_not_a_persons_or_a_revisions():
    with translation.override("zh-hans"):
        assert gettext("Name") == "姓名"  # a patient's, a user's, a doctor's
        assert pgettext("thing", "Name") == "名称"  # a topic, a red-line rule, a route, an account in a ranking
        assert gettext("Note") == "笔记"  # the Xiaohongshu content format
        assert pgettext("remark", "Note") == "备注"  # on a cost entry, a crisis case
        assert gettext("Change") == "变更"  # a content state transition
        assert pgettext("period", "Change") == "变化"  # a KPI against the previous period


@pytest.mark.parametrize(
    ("persona", "url", "header", "wrong"),
    [
        ("brand", "/listening/alerts/", "<th>标题</th>", "<th>职称</th>"),
        ("admin", "/organisation/", "<th>职称</th>", None),
        ("brand", "/listening/topics/", "<th>名称</th>", "<th>姓名</th>"),
        ("brand", "/analytics/", ">变化</th>", ">变更</th>"),
    ],
)
def test_pages_use_the_right_word(client, world, settings, persona, url, header, wrong):
    settings.LANGUAGE_CODE = "zh-hans"
    client.force_login(world.users[persona])
    body = client.get(url).content.decode()

    assert header in body
    if wrong:
        assert wrong not in body
