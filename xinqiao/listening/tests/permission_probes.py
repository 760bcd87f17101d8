"""Permission-matrix probes for mentions and the lexicon (listening.view, listening.manage)."""

from __future__ import annotations

from xinqiao.listening.models import CrisisTopic, Mention, MentionBatch, WatchedName


def perform(action: str, client, world):
    if action == "listening.view":
        return client.get("/listening/mentions/")
    if action == "listening.manage":
        return client.post("/listening/names/", {"alias": "市一院", "kind": "hospital"})
    return None


def snapshot() -> tuple:
    return (
        WatchedName.objects.count(),
        CrisisTopic.objects.count(),
        MentionBatch.objects.count(),
        Mention.objects.count(),
    )
