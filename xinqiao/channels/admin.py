from __future__ import annotations

from django.contrib import admin

from xinqiao.channels.models import PlatformAccount, Publication


@admin.register(PlatformAccount)
class PlatformAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "hospital", "platform", "account_type", "connection", "last_published_at"]
    list_filter = ["hospital", "platform", "connection"]
    exclude = ["app_secret_sealed"]


@admin.register(Publication)
class PublicationAdmin(admin.ModelAdmin):
    list_display = ["pk", "hospital", "account", "status", "published_at"]
    list_filter = ["hospital", "status"]
    readonly_fields = ["content_sha256", "compliance_report", "approval_chain", "draft_media_id", "publish_id"]
