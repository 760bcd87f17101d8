from __future__ import annotations

from xinqiao.listening.views import alerts, cases, dashboard, mentions

app_name = "listening"

urlpatterns = [*dashboard.urlpatterns, *mentions.urlpatterns, *alerts.urlpatterns, *cases.urlpatterns]
