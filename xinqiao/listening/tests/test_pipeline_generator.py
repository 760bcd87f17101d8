"""The mention generator: stable keys, determinism, a crisis burst, and what it feeds the pipeline."""

from __future__ import annotations

import datetime as dt

import pytest

from xinqiao.listening.generator import generate_mentions
from xinqiao.listening.models import Platform
from xinqiao.listening.pipeline.normalise import normalise_text

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 3, 8, tzinfo=dt.UTC)
KEYS = {"platform", "external_id", "url", "author_handle", "author_followers", "is_verified_author", "text",
        "posted_at", "likes", "reposts", "comments", "parent_external_id"}  # fmt: skip


def generate(n=2000, seed=5, crisis=None):
    return generate_mentions(n, seed=seed, hospital_name="测试第一人民医院", department_names=["心内科", "儿科"],
                             doctor_names=["王建国"], start=START, end=END, crisis=crisis)  # fmt: skip


def test_keys_values_and_determinism():
    mentions = generate()
    assert len(mentions) == 2000
    assert all(set(mention) == KEYS for mention in mentions)
    assert {mention["platform"] for mention in mentions} <= set(Platform.values)
    assert len({(m["platform"], m["external_id"]) for m in mentions}) == 2000
    assert all(START <= m["posted_at"] < END for m in mentions)
    assert [m["posted_at"] for m in mentions] == sorted(m["posted_at"] for m in mentions)
    assert mentions == generate()
    assert mentions != generate(seed=6)
    ids = {(m["platform"], m["external_id"]) for m in mentions}
    assert all((m["platform"], m["parent_external_id"]) in ids for m in mentions if m["parent_external_id"])


def is_story(text: str) -> bool:
    # a copy may lose one character: one of two words far apart in the story survives
    normalised = normalise_text(text).text
    return "暴力" in normalised or "警方" in normalised


def test_crisis_burst():
    at = START + dt.timedelta(days=3)
    mentions = generate(crisis={"at": at, "mentions": 300, "topic": "violence"})
    burst = [m for m in mentions if at <= m["posted_at"] <= at + dt.timedelta(hours=3) and is_story(m["text"])]
    assert len(burst) == 300
    assert len(mentions) == 2000


def test_bad_window():
    with pytest.raises(ValueError):  # noqa: PT011 - the contract is ValueError
        generate_mentions(1, seed=1, hospital_name="x", department_names=[], doctor_names=[], start=END, end=START)
