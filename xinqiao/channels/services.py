"""Writes of the channels domain: the account matrix, publishing (API or export package), tracking, alerts."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import secrets
import zipfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import segno
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.channels.models import Notification, PlatformAccount, Publication, TrackingClick, TrackingLink
from xinqiao.channels.platforms.base import DjangoCacheTokenStore, ProviderError
from xinqiao.channels.platforms.wechat_oa.client import (
    DEFAULT_BASE_URL,
    DraftArticle,
    PublishState,
    WeChatOAClient,
)
from xinqiao.core import vault
from xinqiao.core.access import Action, Principal
from xinqiao.core.audit import audit_record
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import Membership
from xinqiao.core.selectors import hospital_department, hospital_doctor

logger = logging.getLogger(__name__)

Platform = PlatformAccount.Platform
Status = Publication.Status

# --- accounts -------------------------------------------------------------------------------------------------


@dataclass
class AccountInput:
    platform: str
    name: str
    account_type: str
    handle: str = ""
    department_id: int | None = None
    doctor_id: int | None = None
    positioning: str = ""
    verification: str = PlatformAccount.Verification.NONE
    filing_number: str = ""
    credential_holder: str = ""
    app_id: str = ""
    app_secret: str = ""  # empty on edit: keep the stored one
    api_base_url: str = ""
    target_posts_per_week: int = 3
    dormant_after_days: int = 30
    is_active: bool = True


def _validate_account(principal: Principal, data: AccountInput, *, account: PlatformAccount | None) -> dict[str, Any]:
    hospital = principal.hospital
    if data.platform not in Platform.values:
        raise ApplicationError(_("Unknown platform."), code="platform", field="platform")
    if data.account_type not in PlatformAccount.AccountType.values:
        raise ApplicationError(_("Unknown account type."), code="account_type", field="account_type")
    if data.verification not in PlatformAccount.Verification.values:
        raise ApplicationError(_("Unknown verification status."), code="verification", field="verification")
    name = data.name.strip()
    if not name:
        raise ApplicationError(_("The account name is required."), code="name", field="name")
    clash = PlatformAccount.objects.filter(hospital=hospital, platform=data.platform, name=name)
    if account is not None:
        clash = clash.exclude(pk=account.pk)
    if clash.exists():
        raise ApplicationError(
            _("This platform already has an account with that name."), code="duplicate", field="name"
        )
    department = hospital_department(hospital, data.department_id, code="department")
    doctor = hospital_doctor(hospital, data.doctor_id, code="doctor")
    if data.account_type == PlatformAccount.AccountType.DEPARTMENT and department is None:
        raise ApplicationError(_("A department account needs its owner department."), code="department",
                               field="department")  # fmt: skip
    if data.account_type == PlatformAccount.AccountType.DOCTOR_PERSONAL and doctor is None:
        raise ApplicationError(_("A doctor's personal account needs the linked doctor."), code="doctor", field="doctor")
    if not 0 <= data.target_posts_per_week <= 100:
        raise ApplicationError(_("Target posts per week must be 0 to 100."), code="frequency",
                               field="target_posts_per_week")  # fmt: skip
    if not 1 <= data.dormant_after_days <= 3650:
        raise ApplicationError(_("Dormant after must be 1 to 3650 days."), code="dormant", field="dormant_after_days")
    base_url = data.api_base_url.strip()
    if base_url and urlsplit(base_url).scheme not in ("http", "https"):
        raise ApplicationError(_("The API base URL must start with http:// or https://."), code="base_url",
                               field="api_base_url")  # fmt: skip
    app_id = data.app_id.strip()
    has_secret = bool(data.app_secret) or (account is not None and account.has_secret)
    if data.platform == Platform.WECHAT_OA and (app_id or data.app_secret) and not (app_id and has_secret):
        raise ApplicationError(_("Connecting a WeChat account needs both the AppID and the AppSecret."),
                               code="credentials", field="app_id")  # fmt: skip
    if app_id and not re.fullmatch(r"[A-Za-z0-9_-]{4,64}", app_id):
        raise ApplicationError(_("The AppID has an unexpected format."), code="app_id", field="app_id")
    return {
        "platform": data.platform,
        "name": name,
        "handle": data.handle.strip(),
        "account_type": data.account_type,
        "department": department,
        "doctor": doctor,
        "positioning": data.positioning.strip(),
        "verification": data.verification,
        "filing_number": data.filing_number.strip(),
        "credential_holder": data.credential_holder.strip(),
        "app_id": app_id,
        "api_base_url": base_url,
        "target_posts_per_week": data.target_posts_per_week,
        "dormant_after_days": data.dormant_after_days,
        "is_active": data.is_active,
    }


def _connection_for(account: PlatformAccount) -> str:
    if account.platform in PlatformAccount.API_PLATFORMS and account.app_id and account.has_secret:
        if account.connection == PlatformAccount.Connection.RECONNECT_NEEDED:
            return account.connection
        return PlatformAccount.Connection.CONNECTED
    return PlatformAccount.Connection.MANUAL


@transaction.atomic
def account_create(*, principal: Principal, data: AccountInput, request=None) -> PlatformAccount:
    principal.require(Action.CHANNEL_MANAGE)
    fields = _validate_account(principal, data, account=None)
    account = PlatformAccount(hospital=principal.hospital, **fields)
    if data.app_secret:
        account.app_secret_sealed = vault.encrypt(data.app_secret, context=account.secret_context())
    account.connection = _connection_for(account)
    account.save()
    return account


@transaction.atomic
def account_update(
    *, principal: Principal, account: PlatformAccount, data: AccountInput, request=None
) -> PlatformAccount:
    """Edit an account. A new AppSecret (or AppID) counts as reconnecting: the error state is cleared."""
    principal.require(Action.CHANNEL_MANAGE)
    account = PlatformAccount.objects.select_for_update().get(pk=account.pk)
    fields = _validate_account(principal, data, account=account)
    credentials_changed = (
        bool(data.app_secret) or fields["app_id"] != account.app_id or (fields["api_base_url"] != account.api_base_url)
    )
    for name, value in fields.items():
        setattr(account, name, value)
    if data.app_secret:
        account.app_secret_sealed = vault.encrypt(data.app_secret, context=account.secret_context())
    if credentials_changed and account.connection == PlatformAccount.Connection.RECONNECT_NEEDED:
        account.connection = PlatformAccount.Connection.CONNECTED
        account.last_error = ""
    account.connection = _connection_for(account)
    account.updated_at = timezone.now()
    account.save()
    return account


def account_secret(account: PlatformAccount) -> str:
    return vault.decrypt(account.app_secret_sealed, context=account.secret_context())


# --- notifications --------------------------------------------------------------------------------------------


def notify(*, hospital_id: int, message: str, level: str = Notification.Level.WARNING, link: str = "",
           audience_role: str = Membership.Role.BRAND) -> Notification:  # fmt: skip
    return Notification.objects.create(
        hospital_id=hospital_id, audience_role=audience_role, level=level, message=message[:300], link=link[:200]
    )


@transaction.atomic
def notification_resolve(*, principal: Principal, notification: Notification) -> None:
    principal.require(Action.CHANNEL_VIEW)
    if notification.resolved_at is None:
        notification.resolved_at = timezone.now()
        notification.save(update_fields=["resolved_at"])


# --- publishing -----------------------------------------------------------------------------------------------


def _new_code() -> str:
    return secrets.token_urlsafe(6).replace("-", "x").replace("_", "y")


@transaction.atomic
def publications_start(
    *, item, revision, accounts: list[PlatformAccount], compliance_report: dict[str, Any],
    approval_chain: list[dict[str, Any]], requested_by,
) -> list[Publication]:  # fmt: skip
    """One publication per account for this exact revision (existing ones are reused), then run them after
    commit. API accounts publish in the background; the others get an export package to publish by hand."""
    publications = []
    for account in accounts:
        publication, created = Publication.objects.get_or_create(
            revision=revision,
            account=account,
            defaults={
                "hospital_id": item.hospital_id,
                "item": item,
                "content_sha256": revision.sha256,
                "compliance_report": compliance_report,
                "approval_chain": approval_chain,
                "requested_by": requested_by,
                "status": Status.PENDING if account.has_api else Status.AWAITING_MANUAL,
            },
        )
        if created:
            TrackingLink.objects.create(hospital_id=item.hospital_id, publication=publication, code=_new_code())
        publications.append(publication)
        if account.has_api and publication.status in (Status.PENDING, Status.FAILED):
            from xinqiao.channels.tasks import run_publication

            transaction.on_commit(lambda pk=publication.pk: run_publication.enqueue(publication_id=pk))
    return publications


def wechat_client(account: PlatformAccount) -> WeChatOAClient:
    return WeChatOAClient(
        app_id=account.app_id,
        app_secret=account_secret(account),
        base_url=account.api_base_url or DEFAULT_BASE_URL,
        token_store=DjangoCacheTokenStore(),
        http_timeout=float(getattr(settings, "XINQIAO_WECHAT_OA_TIMEOUT", 10.0)),
        busy_backoff=float(getattr(settings, "XINQIAO_WECHAT_OA_BUSY_BACKOFF", 1.0)),
    )


# Errors that say the account itself cannot be reached or used (credentials, whitelist, authorisation, network).
CONNECTION_ERRORS = {"network", 40001, 40013, 40125, 40164, 41002, 41004, 48001}


def _is_connection_error(error: ProviderError) -> bool:
    return error.code in CONNECTION_ERRORS or (isinstance(error.code, str) and error.code.startswith("http_"))


def _save(publication: Publication, **fields: Any) -> None:
    """Persist platform identifiers right away, each in its own committed step."""
    for name, value in fields.items():
        setattr(publication, name, value)
    with transaction.atomic():
        publication.save(update_fields=list(fields))


def publication_run(*, publication_id: int) -> Publication:
    """Publish one publication through its platform's API. Safe to call again at any point: every platform
    identifier is stored as soon as it is known and no step that already has one is repeated."""
    with transaction.atomic():
        publication = (
            Publication.objects.select_for_update(of=("self",))
            .select_related("account", "revision", "item")
            .get(pk=publication_id)
        )
        if publication.status not in (Status.PENDING, Status.FAILED, Status.PUBLISHING):
            return publication
        now = timezone.now()
        if publication.lease_until is not None and publication.lease_until > now:
            return publication  # another worker is publishing it right now
        publication.status = Status.PUBLISHING
        publication.attempts += 1
        publication.lease_until = now + dt.timedelta(seconds=publication_lease_seconds())
        publication.save(update_fields=["status", "attempts", "lease_until"])
    account = publication.account
    if account.platform != Platform.WECHAT_OA or not account.app_id or not account.has_secret:
        _fail(publication, _("This account is not connected to a publishing API."), connection=True)
        return publication
    try:
        with wechat_client(account) as client:
            _publish_wechat(publication, client)
    except ProviderError as error:
        _fail(publication, str(error.message), connection=_is_connection_error(error), code=error.code)
    return publication


def publication_lease_seconds() -> float:
    """Longer than one run can take: the publish-status poll plus the uploads and retries before it."""
    return float(getattr(settings, "XINQIAO_WECHAT_OA_POLL_TIMEOUT", 1800.0)) + 600.0


def _publish_wechat(publication: Publication, client: WeChatOAClient) -> None:
    from xinqiao.content.selectors import publish_payload

    payload = publish_payload(publication.revision)
    if payload.cover is None:
        raise ProviderError(
            _("A WeChat article needs a cover image."), permanent=True, code="cover", provider="xinqiao"
        )
    if payload.cover.kind not in ("jpeg", "png"):
        raise ProviderError(
            _("WeChat accepts JPEG or PNG covers only."), permanent=True, code="cover", provider="xinqiao"
        )
    if not publication.thumb_media_id:
        with payload.cover.file.open("rb") as handle:
            uploaded = client.upload_image(
                content=handle.read(), filename=payload.cover.filename, content_type=payload.cover.content_type
            )
        _save(publication, thumb_media_id=uploaded.media_id)
    body = payload.body_html
    hosted = dict(publication.inline_images)
    for image in payload.images:
        local_url = image.get_absolute_url()
        if local_url not in body or image.kind not in ("jpeg", "png"):
            continue
        if str(image.pk) not in hosted:
            with image.file.open("rb") as handle:
                hosted[str(image.pk)] = client.upload_article_image(
                    content=handle.read(), filename=image.filename, content_type=image.content_type
                )
            _save(publication, inline_images=dict(hosted))
        body = body.replace(local_url, hosted[str(image.pk)])
    if not publication.draft_media_id:
        article = DraftArticle(
            title=payload.title, content=body, thumb_media_id=publication.thumb_media_id, author=payload.author
        )
        try:
            media_id = client.add_draft(articles=[article])
        except ProviderError as error:
            if not error.outcome_unknown:
                raise
            media_id = _reconcile_draft(client, payload.title)
            if not media_id:
                raise
        _save(publication, draft_media_id=media_id)
    if not publication.publish_id:
        submission = client.submit_publish(draft_media_id=publication.draft_media_id)
        _save(publication, publish_id=submission.publish_id, msg_data_id=submission.msg_data_id)
    status = client.wait_for_publish(
        publish_id=publication.publish_id,
        first_interval=float(getattr(settings, "XINQIAO_WECHAT_OA_POLL_SECONDS", 5.0)),
        timeout=float(getattr(settings, "XINQIAO_WECHAT_OA_POLL_TIMEOUT", 1800.0)),
    )
    if not status.is_terminal:
        _save(
            publication,
            last_error=str(_("The platform is still publishing; the status is checked again later.")),
            lease_until=None,
        )
        return
    if not status.is_success:
        raise ProviderError(str(status.state.label), permanent=True, code=f"publish_{int(status.state)}",
                            provider="wechat_oa")  # fmt: skip
    url = status.article_urls[0] if status.article_urls else ""
    _save(publication, article_id=status.article_id)
    _mark_live(publication, post_url=url, actor=publication.requested_by)
    if not publication.qr_ticket:
        scene = f"xq-{publication.tracking_link.code}"
        try:
            ticket = client.create_qrcode(scene_str=scene)
        except ProviderError as error:
            logger.warning("parametric QR for publication %s failed: %s", publication.pk, error.code)
        else:
            _save(publication, qr_scene=scene, qr_ticket=ticket.ticket, qr_url=ticket.url)


def _reconcile_draft(client: WeChatOAClient, title: str) -> str:
    """After an ambiguous add_draft: the newest draft with the same title is ours."""
    page = client.list_drafts(offset=0, count=20, no_content=True)
    for entry in page.items:
        items = (entry.get("content") or {}).get("news_item") or []
        if items and items[0].get("title") == title:
            return str(entry.get("media_id", ""))
    return ""


def _fail(publication: Publication, message: str, *, connection: bool, code: object = "") -> None:
    account = publication.account
    with transaction.atomic():
        _save(publication, status=Status.FAILED, last_error=message[:300], lease_until=None)
        link = f"/channels/accounts/{account.pk}/"
        if connection:
            PlatformAccount.objects.filter(pk=account.pk).update(
                connection=PlatformAccount.Connection.RECONNECT_NEEDED,
                last_error=message[:300],
                last_error_at=timezone.now(),
            )
            notify(
                hospital_id=account.hospital_id,
                level=Notification.Level.ERROR,
                message=_("%(account)s needs to be reconnected: %(error)s") % {"account": account, "error": message},
                link=link,
            )
        else:
            notify(
                hospital_id=account.hospital_id,
                level=Notification.Level.ERROR,
                message=_("Publishing “%(title)s” to %(account)s failed: %(error)s")
                % {"title": publication.revision.title, "account": account, "error": message},
                link=f"/content/{publication.item_id}/",
            )
        audit_record(
            action="channel_failure",
            hospital=account.hospital,
            object_type="publication",
            object_id=publication.pk,
            result="error",
            detail={"account": account.pk, "code": str(code), "connection": connection},
            actor_label="publisher",
        )


def _mark_live(publication: Publication, *, post_url: str, actor, request=None) -> None:
    from xinqiao.content.workflow import item_mark_published

    now = timezone.now()
    with transaction.atomic():
        _save(
            publication, status=Status.PUBLISHED, post_url=post_url, published_at=now, last_error="", lease_until=None
        )
        TrackingLink.objects.filter(publication=publication).update(target_url=post_url)
        PlatformAccount.objects.filter(pk=publication.account_id).update(last_published_at=now)
        if publication.account.connection == PlatformAccount.Connection.RECONNECT_NEEDED:
            PlatformAccount.objects.filter(pk=publication.account_id).update(
                connection=PlatformAccount.Connection.CONNECTED
            )
        audit_record(
            action="content_publish",
            hospital=publication.account.hospital,
            user=actor,
            request=request,
            object_type="publication",
            object_id=publication.pk,
            detail={
                "item": publication.item_id,
                "revision": publication.revision.number,
                "sha256": publication.content_sha256,
                "account": publication.account_id,
                "url": post_url,
            },
            actor_label="" if actor else "publisher",
        )
        item_mark_published(item_id=publication.item_id, actor=actor)


@transaction.atomic
def publication_mark_published(*, principal: Principal, publication: Publication, post_url: str, request=None) -> None:
    """The manual step for platforms without an API: record the post's address once it is live."""
    principal.require(Action.CONTENT_PUBLISH)
    if publication.status != Status.AWAITING_MANUAL:
        raise ApplicationError(_("This publication is not waiting to be published by hand."), code="bad_state")
    url = post_url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 500:
        raise ApplicationError(_("Enter the post's full web address (http or https)."), code="post_url",
                               field="post_url")  # fmt: skip
    _mark_live(publication, post_url=url, actor=principal.user, request=request)


@transaction.atomic
def publication_retry(*, principal: Principal, publication: Publication) -> None:
    principal.require(Action.CONTENT_PUBLISH)
    if publication.status != Status.FAILED:
        raise ApplicationError(_("Only failed publications can be retried."), code="bad_state")
    from xinqiao.channels.tasks import run_publication

    transaction.on_commit(lambda: run_publication.enqueue(publication_id=publication.pk))


def publication_take_down(
    *, principal: Principal, publication: Publication, reason: str, removed_on_platform: bool = False, request=None
) -> bool:
    """Take a published post down and record it (the record is kept as evidence until the retention sweep's
    content_evidence rule deletes the item, 3 years after its last takedown).

    A WeChat OA article published through the API is deleted on WeChat first (``freepublish/delete``); if WeChat
    does not delete it, nothing is recorded and the error says why. Posts published by hand, on platforms without
    a delete API, or already removed on the platform (``removed_on_platform``) are only recorded. Returns whether
    XinQiao deleted the post on the platform."""
    principal.require(Action.CONTENT_PUBLISH)
    reason = reason.strip()
    if not reason:
        raise ApplicationError(_("Say why the post is taken down."), code="reason", field="reason")
    if publication.status != Status.PUBLISHED:
        raise ApplicationError(_("Only published posts can be taken down."), code="bad_state")
    deleted = not removed_on_platform and publication.deletable_on_platform
    if deleted:
        _delete_on_wechat(publication)  # outside the transaction: a network call must not hold row locks
    with transaction.atomic():
        locked = Publication.objects.select_for_update(of=("self",)).get(pk=publication.pk)
        if locked.status != Status.PUBLISHED:  # another user took it down meanwhile
            raise ApplicationError(_("Only published posts can be taken down."), code="bad_state")
        now = timezone.now()
        _save(publication, status=Status.TAKEN_DOWN, taken_down_at=now, takedown_reason=reason[:300])
        TrackingLink.objects.filter(publication=publication).update(target_url="")
        audit_record(
            action="content_takedown",
            principal=principal,
            request=request,
            object_type="publication",
            object_id=publication.pk,
            detail={
                "item": publication.item_id,
                "account": publication.account_id,
                "reason": reason,
                "deleted_on_platform": deleted,
            },
        )
    return deleted


def _delete_on_wechat(publication: Publication) -> None:
    """``freepublish/delete`` for the publication's article. An article that is gone already (deleted on
    mp.weixin.qq.com, banned, or deleted by an earlier attempt whose answer was lost) counts as deleted: WeChat
    refuses the delete, and ``freepublish/get`` then reports it deleted or banned."""
    gone = (PublishState.DELETED_BY_USER, PublishState.BANNED)
    try:
        with wechat_client(publication.account) as client:
            try:
                client.delete_published(article_id=publication.article_id)
            except ProviderError as error:
                if _is_connection_error(error) or not publication.publish_id:
                    raise
                if client.get_publish_status(publish_id=publication.publish_id).state not in gone:
                    raise
    except ProviderError as error:
        raise ApplicationError(
            _(
                "WeChat did not delete the article (%(error)s). Nothing was recorded: try again, or delete it on "
                "mp.weixin.qq.com and record the takedown as already removed on the platform."
            )
            % {"error": error.message},
            code="platform_delete",
        ) from None


def export_package(publication: Publication) -> bytes:
    """A zip for publishing by hand: text, HTML, images, the compliance report and the approval chain."""
    from xinqiao.content.selectors import publish_payload
    from xinqiao.content.services import html_to_text

    payload = publish_payload(publication.revision)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        link = getattr(publication, "tracking_link", None)
        text = f"{payload.title}\n\n{html_to_text(payload.body_html)}\n"
        if link is not None:
            text += "\n" + _("Tracking link: %(path)s") % {"path": f"/t/{link.code}"} + "\n"
        archive.writestr("content.txt", text)
        archive.writestr("content.html", f"<h1>{payload.title}</h1>\n{payload.body_html}\n")
        images = ([payload.cover] if payload.cover else []) + [i for i in payload.images if i != payload.cover]
        for image in images:
            with image.file.open("rb") as handle:
                archive.writestr(f"images/{image.filename}", handle.read())
        archive.writestr(
            "compliance-report.json", json.dumps(publication.compliance_report, ensure_ascii=False, indent=2)
        )
        archive.writestr("approval-chain.json", json.dumps(publication.approval_chain, ensure_ascii=False, indent=2))
        manifest = {
            "publication": publication.pk,
            "account": str(publication.account),
            "platform": publication.account.platform,
            "revision": publication.revision.number,
            "sha256": publication.content_sha256,
        }
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    return buffer.getvalue()


# --- tracking -------------------------------------------------------------------------------------------------

AGENT_FAMILIES = (
    ("micromessenger", "wechat"),
    ("weibo", "weibo"),
    ("aweme", "douyin"),
    ("bytedance", "douyin"),
    ("xhsdiscover", "xiaohongshu"),
    ("bot", "bot"),
    ("spider", "bot"),
    ("edg/", "edge"),
    ("chrome", "chrome"),
    ("firefox", "firefox"),
    ("safari", "safari"),
)


def agent_family(user_agent: str) -> str:
    lowered = user_agent.lower()
    for needle, family in AGENT_FAMILIES:
        if needle in lowered:
            return family
    return "other"


def tracking_click(*, code: str, referrer: str, user_agent: str, now: dt.datetime | None = None) -> str | None:
    """Log a click (no IP, no full user agent, no query strings) and return where to go, or None."""
    link = TrackingLink.objects.filter(code=code).first()
    if link is None or not link.target_url:
        return None
    host = (urlsplit(referrer).hostname or "")[:120] if referrer else ""
    TrackingClick.objects.create(
        link=link, clicked_at=now or timezone.now(), referrer_host=host, agent_family=agent_family(user_agent)
    )
    return link.target_url


def qr_png(url: str, *, scale: int = 6) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=scale, border=2)
    return buffer.getvalue()
