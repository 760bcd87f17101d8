from __future__ import annotations

from django.urls import path

from xinqiao.content import views

app_name = "content"

urlpatterns = [
    path("", views.item_list, name="item_list"),
    path("new/", views.item_create, name="item_create"),
    path("queue/", views.review_queue, name="review_queue"),
    path("rules/", views.rule_list, name="rule_list"),
    path("rules/<int:pk>/delete/", views.rule_delete, name="rule_delete"),
    path("policies/", views.policy_list, name="policy_list"),
    path("images/<int:pk>/", views.image, name="image"),
    path("<int:pk>/", views.item_detail, name="item_detail"),
    path("<int:pk>/edit/", views.item_edit, name="item_edit"),
    path("<int:pk>/submit/", views.item_submit, name="item_submit"),
    path("<int:pk>/review/", views.item_review, name="item_review"),
    path("<int:pk>/schedule/", views.item_schedule, name="item_schedule"),
    path("<int:pk>/publish/", views.item_publish, name="item_publish"),
    path("<int:pk>/revisions/<int:number>/", views.revision_diff, name="revision_diff"),
    path("<int:pk>/evidence.pdf", views.item_evidence, name="item_evidence"),
]

urlpatterns += [
    path("calendar/", views.calendar, name="calendar"),
    path("calendar/reschedule/", views.calendar_reschedule, name="calendar_reschedule"),
]
