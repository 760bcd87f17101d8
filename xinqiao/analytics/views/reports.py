"""reports pages of analytics."""

from __future__ import annotations

urlpatterns: list = []
