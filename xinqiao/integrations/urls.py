from __future__ import annotations

from xinqiao.integrations.views import routes

app_name = "integrations"

urlpatterns = [*routes.urlpatterns]
