"""Template filters of the listening pages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django import template

register = template.Library()


@register.filter
def names_of(codes: Iterable[str] | None, names: Mapping[str, str] | None) -> list[str]:
    """The display names of topic codes (``{{ mention.topics|names_of:topic_names|join:", " }}``); a code the
    hospital no longer has a topic for is shown as it is."""
    names = names or {}
    return [names.get(code, code) for code in codes or ()]
