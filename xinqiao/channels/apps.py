from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsConfig(AppConfig):
    name = "xinqiao.channels"
    label = "xinqiao_channels"  # "channels" is Django Channels' label
    verbose_name = _("Channels and publishing")
