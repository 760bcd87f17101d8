"""Public-opinion API: the authenticated mention push endpoint."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["listening"])
