"""Publishing keeps WeChat's msg_data_id (the id the comment APIs name an article by)."""

from __future__ import annotations

import pytest

from xinqiao.channels import services
from xinqiao.channels.models import Publication
from xinqiao.channels.tests.fixtures import fast_wechat, media_root, wechat_account  # noqa: F401
from xinqiao.content import services as content_services
from xinqiao.content.models import ContentItem
from xinqiao.content.tests.helpers import approve_through, make_item, png_bytes, principal_of, writer

pytestmark = pytest.mark.usefixtures("media_root", "fast_wechat")


def test_publishing_stores_the_msg_data_id(world, wechat_oa_sandbox):
    author = writer(world)
    account = wechat_account(world, wechat_oa_sandbox.base_url)
    cover = content_services.image_upload(principal=principal_of(author, world), data=png_bytes("cover"))
    item = make_item(world, author, cover_id=cover.pk, account_ids=[account.pk])
    approve_through(world, item, until=ContentItem.State.APPROVED)
    (publication,) = services.publications_start(item=item, revision=item.current_revision, accounts=[account],
                                                 compliance_report={}, approval_chain=[], requested_by=None)  # fmt: skip
    assert publication.msg_data_id is None
    services.publication_run(publication_id=publication.pk)
    publication.refresh_from_db()
    (record,) = wechat_oa_sandbox.publications.values()
    (article,) = wechat_oa_sandbox.published[account.app_id]
    assert publication.status == Publication.Status.PUBLISHED
    assert publication.msg_data_id == record["msg_data_id"] == article.msg_data_id
    assert publication.publish_id == str(record["msg_data_id"] + 1)
