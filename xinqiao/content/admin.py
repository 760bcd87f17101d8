from __future__ import annotations

from django.contrib import admin

from xinqiao.content.models import ContentItem, ReviewPolicy, RuleAddition


@admin.register(ContentItem)
class ContentItemAdmin(admin.ModelAdmin):
    list_display = ["title", "hospital", "content_type", "state", "scheduled_at"]
    list_filter = ["hospital", "state", "content_type"]
    readonly_fields = ["state", "current_revision", "review_round"]


@admin.register(ReviewPolicy)
class ReviewPolicyAdmin(admin.ModelAdmin):
    list_display = ["hospital", "content_type", "updated_at"]


@admin.register(RuleAddition)
class RuleAdditionAdmin(admin.ModelAdmin):
    list_display = ["hospital", "rule_id", "is_active", "updated_at"]
