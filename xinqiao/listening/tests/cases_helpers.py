"""Hand-made listening rows for the case and dashboard tests (synthetic public handles, no patient data)."""

from __future__ import annotations

import datetime as dt
import itertools

from xinqiao.core.models import Membership
from xinqiao.listening.models import Alert, Mention, MentionCluster, MentionEntity

_ids = itertools.count(1)

BLOCK_REPLY = "家属您好，您上周在我院做的手术过程符合诊疗规范，请勿传谣。"
CLEAN_REPLY = "关于网传我院心内科医患纠纷一事，我院高度重视，已成立专项调查组，调查结果将及时向社会公布。"
WARN_REPLY = CLEAN_REPLY + "我们的服务是全市最好的。"


def make_cluster(hospital, *, title: str = "心内科医患纠纷", at: dt.datetime, severity: float = 70.0):
    return MentionCluster.objects.create(
        hospital=hospital, title=title, first_seen_at=at, last_seen_at=at, severity=severity
    )


def make_mention(
    hospital, *, at: dt.datetime, sentiment: str = "negative", cluster=None, platform: str = "weibo",
    handle: str = "", followers: int = 100, likes: int = 0, reposts: int = 0, comments: int = 0,
    entities: tuple[str, ...] = (), topics: tuple[str, ...] = (), verified: bool = False, text: str = "网友讨论",
) -> Mention:  # fmt: skip
    number = next(_ids)
    mention = Mention.objects.create(
        hospital=hospital, platform=platform, external_id=f"t{number}", author_handle=handle or f"网友{number}",
        author_followers=followers, is_verified_author=verified, text=text, posted_at=at, likes=likes,
        reposts=reposts, comments=comments, sentiment=sentiment, topics=list(topics), entities=list(entities),
        cluster=cluster, processed_at=at,
    )  # fmt: skip
    for key in entities:
        MentionEntity.objects.create(
            hospital=hospital, mention=mention, entity_key=key, posted_at=at, is_negative=sentiment == "negative"
        )
    if cluster is not None:
        cluster.size += 1
        cluster.negative_count += sentiment == "negative"
        cluster.last_seen_at = max(cluster.last_seen_at, at)
        cluster.save(update_fields=["size", "negative_count", "last_seen_at"])
    return mention


def make_alert(hospital, *, clusters=(), mentions=(), title: str = "红线：心内科医患纠纷", severity: float = 85.0,
               entity_key: str = "", at: dt.datetime | None = None) -> Alert:  # fmt: skip
    alert = Alert.objects.create(
        hospital=hospital, kind=Alert.Kind.RED_LINE, dedup_key=f"test:{next(_ids)}", title=title, severity=severity,
        entity_key=entity_key, detail="微博出现医患纠纷帖", **({"created_at": at} if at else {}),
    )  # fmt: skip
    alert.clusters.set(clusters)
    alert.mentions.set(mentions)
    return alert


def brand_and_medical_user(world, password: str):
    """A member holding both the brand and the medical-affairs role (to test that nobody signs off their own)."""
    from xinqiao.core.tests.factories import make_user

    user = make_user("both_roles", password, world.hospital, Membership.Role.BRAND)
    Membership.objects.create(user=user, hospital=world.hospital, role=Membership.Role.MEDICAL_AFFAIRS)
    return user
