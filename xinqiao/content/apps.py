from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContentConfig(AppConfig):
    name = "xinqiao.content"
    label = "content"
    verbose_name = _("Content studio")
