"""dashboard pages of public-opinion monitoring."""

from __future__ import annotations

urlpatterns: list = []
