"""E-mail delivery of outbound messages through Django mail (the default mailer), attachments from storage."""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import Sequence

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.mail import EmailMessage


class AttachmentMissingError(Exception):
    """A storage path named as an attachment does not exist (permanent: retrying cannot make it appear)."""


def email_send(*, to: Sequence[str], subject: str, body: str, attachments: Sequence[str] = ()) -> int:
    """Send one plain-text e-mail to ``to`` with the files at ``attachments`` (default-storage paths).

    Returns the number of messages the backend accepted (1). Backend errors (SMTP, network) propagate so the
    outbox can retry them.
    """
    message = EmailMessage(
        subject=" ".join(subject.split())[:200],
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(to),
    )
    for path in attachments:
        if not default_storage.exists(path):
            raise AttachmentMissingError(path)
        with default_storage.open(path, "rb") as handle:
            content = handle.read()
        name = posixpath.basename(path)
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        message.attach(name, content, mimetype)
    return message.send()
