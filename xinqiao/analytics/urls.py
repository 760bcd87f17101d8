from __future__ import annotations

from xinqiao.analytics.views import dashboards, imports, reports

app_name = "analytics"

urlpatterns = [*dashboards.urlpatterns, *imports.urlpatterns, *reports.urlpatterns]
