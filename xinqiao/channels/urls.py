from __future__ import annotations

from django.urls import path

from xinqiao.channels import views

app_name = "channels"

# Included at the site root: the public short links live at /t/<code>.
urlpatterns = [
    path("channels/accounts/", views.account_list, name="account_list"),
    path("channels/accounts/new/", views.account_create, name="account_create"),
    path("channels/accounts/<int:pk>/", views.account_edit, name="account_edit"),
    path("channels/notifications/", views.notification_list, name="notification_list"),
    path("channels/notifications/<int:pk>/resolve/", views.notification_resolve, name="notification_resolve"),
    path("channels/publications/<int:pk>/package.zip", views.publication_package, name="publication_package"),
    path(
        "channels/publications/<int:pk>/mark-published/",
        views.publication_mark_published,
        name="publication_mark_published",
    ),
    path("channels/publications/<int:pk>/retry/", views.publication_retry, name="publication_retry"),
    path("channels/publications/<int:pk>/take-down/", views.publication_take_down, name="publication_take_down"),
    path("channels/publications/<int:pk>/qr.png", views.publication_qr, name="publication_qr"),
    path("t/<str:code>", views.tracking_redirect, name="tracking_redirect"),
]
