from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "xinqiao.integrations"
    label = "integrations"
    verbose_name = _("Integrations")
