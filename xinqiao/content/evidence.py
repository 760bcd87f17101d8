"""The evidence record of one content item for regulators: a PDF (WeasyPrint, Noto CJK fonts).

It shows the item, every publication with the exact published revision, its sha256, the compliance report kept at
publication and the approval chain, plus every warning acknowledgement.
"""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils import timezone

from xinqiao.channels.selectors import publications_of_item
from xinqiao.content.models import ContentItem
from xinqiao.content.selectors import approval_chain
from xinqiao.content.services import html_to_text


def evidence_pdf(item: ContentItem) -> bytes:
    import weasyprint  # imported late: it loads Pango, which only this export needs

    publications = publications_of_item(item.pk)
    context = {
        "item": item,
        "generated_at": timezone.localtime(),
        "chain": approval_chain(item),
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
