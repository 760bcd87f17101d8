from django.contrib import admin
from django.urls import include, path

from config.api import api
from xinqiao.core import views as core_views

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("django-admin/", admin.site.urls),
    path("login/", core_views.login_view, name="login"),
    path("logout/", core_views.logout_view, name="logout"),
    path("api/", api.urls),
    path("content/", include("xinqiao.content.urls")),
    path("listening/", include("xinqiao.listening.urls")),
    path("analytics/", include("xinqiao.analytics.urls")),
    path("integrations/", include("xinqiao.integrations.urls")),
    path("", include("xinqiao.channels.urls")),
    path("", include("xinqiao.core.urls")),
]

handler400 = "xinqiao.core.views.error_400"
handler403 = "xinqiao.core.views.error_403"
handler404 = "xinqiao.core.views.error_404"
handler500 = "xinqiao.core.views.error_500"
