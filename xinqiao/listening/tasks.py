"""Background jobs of public-opinion monitoring: thin ``django.tasks`` wrappers around services."""

from __future__ import annotations

from django.tasks import task


@task
def process_mention_batch(*, hospital_id: int, batch_id: int | None = None) -> int:
    """Run the pipeline over a batch's unprocessed mentions (all unprocessed ones without a batch id)."""
    from xinqiao.listening.models import Mention
    from xinqiao.listening.services.processing import mentions_process

    mention_ids = None
    if batch_id is not None:
        mention_ids = list(
            Mention.objects.filter(hospital_id=hospital_id, batch_id=batch_id, processed_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
    return mentions_process(hospital_id=hospital_id, mention_ids=mention_ids).mentions


@task
def pull_wechat_comments(*, account_id: int, articles: list[list[int]]) -> int:
    """Pull the comments of these published articles ([msg_data_id, index] pairs) of an official account."""
    from xinqiao.listening.services.pulls import wechat_comments_pull

    pairs = [(int(msg_data_id), int(index)) for msg_data_id, index in articles]
    return wechat_comments_pull(account_id=account_id, articles=pairs).rows_created


@task
def pull_recent_wechat_comments() -> int:
    """Scheduled: pull the comments of the recent articles of every connected official account; returns how many
    new mentions were stored (an account's failure is notified and does not stop the others)."""
    from xinqiao.listening.services.pulls import wechat_comments_pull_recent

    return sum(batch.rows_created for batch in wechat_comments_pull_recent())
