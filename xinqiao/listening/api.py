"""Public-opinion API: the authenticated mention push endpoint and the mention list."""

from __future__ import annotations

import json

from django.http import HttpRequest
from ninja import Query, Router

from xinqiao.core.schemas import ErrorOut
from xinqiao.listening.schemas import MentionIn, MentionListParams, MentionPageOut, PushErrorOut, PushOut
from xinqiao.listening.selectors.mentions import MentionFilters, mention_list
from xinqiao.listening.services.ingest import MAX_PUSH_ROWS, mentions_push

router = Router(tags=["listening"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut}


@router.post(
    "/mentions",
    response={200: PushOut, 413: PushErrorOut, 422: PushErrorOut, **ERRORS},
    summary="Push a batch of mentions",
    description=(
        f"A JSON array of at most {MAX_PUSH_ROWS} mentions; needs an API key with the mentions:write scope. "
        "All or nothing: one invalid item rejects the batch (422, each bad item's 1-based position, column and "
        "reason) and nothing is stored. Idempotent on (platform, external_id): a replayed batch answers 200 with "
        "every item counted as a duplicate."
    ),
)
def push_mentions(request: HttpRequest, payload: list[MentionIn]):
    # The schema documents the fields; the service reads the objects as sent (unknown keys go to ``extra``).
    items = json.loads(request.body) if len(payload) else []
    batch = mentions_push(principal=request.auth, items=items, request=request)
    return {
        "batch_id": batch.pk,
        "rows": batch.rows_total,
        "created": batch.rows_created,
        "duplicates": batch.rows_duplicate,
    }


@router.get("/mentions", response={200: MentionPageOut, **ERRORS}, summary="List mentions (newest first)")
def list_mentions(request: HttpRequest, params: Query[MentionListParams]):
    filters = MentionFilters(
        date_from=params.date_from,
        date_to=params.date_to,
        platform=params.platform,
        entity=params.entity,
        topic=params.topic,
        sentiment=params.sentiment,
        cluster_id=params.cluster_id,
        query=params.q,
        min_severity=params.min_severity,
    )
    page = mention_list(principal=request.auth, filters=filters, cursor=params.cursor, limit=params.limit)
    return {
        "items": [
            {
                "id": mention.pk,
                "platform": mention.platform,
                "external_id": mention.external_id,
                "url": mention.url,
                "author_handle": mention.author_handle,
                "author_followers": mention.author_followers,
                "text": mention.text,
                "posted_at": mention.posted_at,
                "likes": mention.likes,
                "reposts": mention.reposts,
                "comments": mention.comments,
                "sentiment": mention.sentiment,
                "p_negative": mention.p_negative,
                "topics": mention.topics or [],
                "entities": mention.entities or [],
                "cluster_id": mention.cluster_id,
                "severity": mention.severity,
                "processed": mention.processed_at is not None,
            }
            for mention in page.mentions
        ],
        "next_cursor": page.next_cursor,
    }
