"""Schemas of the listening API (push and list of mentions)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field

MAX_PK = 2**62


class MentionIn(Schema):
    """One pushed mention. Types are checked row by row by the ingest service (so a bad row is reported with its
    position and reason, and the whole batch is rejected); other keys are kept in ``extra``."""

    model_config = ConfigDict(extra="allow")

    platform: Any = Field(None, description="weibo, douyin, xiaohongshu, wechat_oa, … or the Chinese name")
    external_id: Any = Field(None, description="The post's id on the platform (idempotency key with platform)")
    url: Any = None
    author_handle: Any = Field(None, description="Handle only; no real names")
    author_followers: Any = None
    is_verified_author: Any = None
    text: Any = Field(None, description="Stored as received; always rendered escaped")
    posted_at: Any = Field(None, description="ISO 8601; without a zone it is Beijing time")
    likes: Any = None
    reposts: Any = None
    comments: Any = None
    parent_external_id: Any = None


class PushOut(Schema):
    batch_id: int
    rows: int
    created: int
    duplicates: int


class RowErrorOut(Schema):
    row: int
    column: str
    message: str


class PushErrorDetails(Schema):
    batch_id: int | None = None
    rows: int | None = None
    errors: list[RowErrorOut] = []
    limit: int | None = None


class PushErrorOut(Schema):
    code: str
    message: str
    details: PushErrorDetails | None = None


class MentionListParams(Schema):
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    platform: str = Field("", max_length=20)
    entity: str = Field("", max_length=30)
    topic: str = Field("", max_length=40)
    sentiment: str = Field("", max_length=10)
    cluster_id: int | None = Field(default=None, ge=1, le=MAX_PK)
    q: str = Field("", max_length=100)
    min_severity: float | None = Field(default=None, ge=0, le=100)
    cursor: str = Field("", max_length=60)
    limit: int = Field(default=50, ge=1, le=200)


class MentionOut(Schema):
    id: int
    platform: str
    external_id: str
    url: str
    author_handle: str
    author_followers: int
    text: str
    posted_at: dt.datetime
    likes: int
    reposts: int
    comments: int
    sentiment: str
    p_negative: float
    topics: list[str]
    entities: list[str]
    cluster_id: int | None
    severity: float
    processed: bool


class MentionPageOut(Schema):
    items: list[MentionOut]
    next_cursor: str
