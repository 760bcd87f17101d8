"""The evidence record of one content item for regulators: a PDF (WeasyPrint, Noto CJK fonts).

It shows the item, every publication with the exact published revision, its sha256, the compliance report kept at
publication and the approval chain, plus every warning acknowledgement.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from xinqiao.channels.selectors import publications_of_item
from xinqiao.content.models import ContentItem
from xinqiao.content.selectors import approval_chain
from xinqiao.content.services import html_to_text

# The actions a transition records (``Transition.action``), as the evidence record names them.
ACTION_LABELS = {
    "created": _("created"),
    "edited": _("edited"),
    "submitted": _("submitted for review"),
    "compliance_override": _("compliance warning overridden"),
    "approved": _("approved"),
    "returned": _("returned for changes"),
    "rejected": _("rejected"),
    "scheduled": _("scheduled"),
    "rescheduled": _("rescheduled"),
    "published": _("published"),
}


def _state_label(value: str) -> str:
    try:
        return str(ContentItem.State(value).label)
    except ValueError:
        return value


def _labelled(chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The approval chain with its states and actions in the reader's language (the codes stay in the archive)."""
    return [
        entry
        | {
            "from_label": _state_label(entry["from"]),
            "to_label": _state_label(entry["to"]),
            "action_label": str(ACTION_LABELS.get(entry["action"], entry["action"])),
        }
        for entry in chain
    ]


def evidence_pdf(item: ContentItem) -> bytes:
    import weasyprint  # imported late: it loads Pango, which only this export needs

    publications = publications_of_item(item.pk)
    context = {
        "item": item,
        "generated_at": timezone.localtime(),
        "chain": _labelled(approval_chain(item)),
        "publications": [
            {
                "publication": p,
                "text": html_to_text(p.revision.body_html),
                "findings": p.compliance_report.get("findings", []),
            }
            for p in publications
        ],
        "current_text": html_to_text(item.body_html),
        "acknowledgements": item.warn_acknowledgements.select_related("actor", "revision").order_by("pk"),
    }
    html = render_to_string("content/evidence.html", context)
    return weasyprint.HTML(string=html).write_pdf()
