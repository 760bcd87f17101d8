"""Builders for the alert tests: processed mentions written as the pipeline would leave them."""

from __future__ import annotations

import datetime as dt
import itertools

from xinqiao.listening.models import Mention, MentionEntity, Sentiment
from xinqiao.listening.pipeline.normalise import normalise_text

_ids = itertools.count(1)


def processed_mention(world, text: str, *, posted_at: dt.datetime, sentiment: str = Sentiment.NEGATIVE,
                      entities: list[str] = ("hospital",), cluster=None, hospital=None) -> Mention:  # fmt: skip
    hospital = hospital or world.hospital
    mention = Mention.objects.create(
        hospital=hospital,
        platform="weibo",
        external_id=f"m{next(_ids)}",
        text=text,
        normalised_text=normalise_text(text).text,
        posted_at=posted_at,
        sentiment=sentiment,
        entities=list(entities),
        cluster=cluster,
        processed_at=posted_at,
    )
    MentionEntity.objects.bulk_create(
        MentionEntity(
            hospital=hospital,
            mention=mention,
            entity_key=key,
            posted_at=posted_at,
            is_negative=sentiment == Sentiment.NEGATIVE,
        )  # fmt: skip
        for key in entities
    )
    return mention
