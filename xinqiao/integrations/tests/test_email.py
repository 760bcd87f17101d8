"""E-mail routes: Django mail with attachments from default storage, through the outbox."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from xinqiao.integrations import services
from xinqiao.integrations.email import email_send
from xinqiao.integrations.models import OutboundMessage


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def email_route(world, emails=("duty@example.com", "brand@example.com")):
    return services.notification_route_create(
        principal=world.principal("admin"),
        data=services.RouteInput(name="值班邮箱", kind="email", emails=list(emails), purposes=["reports"]),
    )


def test_email_send_attaches_files_from_storage(media, settings):
    settings.DEFAULT_FROM_EMAIL = "xinqiao@hospital.example"
    path = default_storage.save("reports/weekly.pdf", ContentFile(b"%PDF-1.7 test"))
    sent = email_send(to=["a@example.com"], subject="周报\n2025-W10", body="见附件", attachments=[path])
    assert sent == 1
    [message] = mail.outbox
    assert (message.subject, message.from_email, message.to, message.body) == (
        "周报 2025-W10", "xinqiao@hospital.example", ["a@example.com"], "见附件"
    )  # fmt: skip
    assert message.attachments[0][:3] == ("weekly.pdf", b"%PDF-1.7 test", "application/pdf")


@pytest.mark.django_db
def test_email_route_delivers_once_with_attachment(world, media):
    route = email_route(world)
    path = default_storage.save("reports/weekly.xlsx", ContentFile(b"PK\x03\x04 sheet"))
    for _ in range(2):
        services.outbound_enqueue(hospital_id=world.hospital.pk, purpose="reports", dedup_key="report:2025-W10",
                                  subject="舆情周报", body_markdown="本周负面 12 条", attachments=[path])  # fmt: skip
    first = services.outbound_deliver_due()
    second = services.outbound_deliver_due()
    assert (first.sent, second.claimed) == (1, 0)
    [message] = mail.outbox
    assert message.to == ["duty@example.com", "brand@example.com"]
    assert [a[0] for a in message.attachments] == ["weekly.xlsx"]
    stored = OutboundMessage.objects.get(route=route)
    assert (stored.status, stored.provider_response) == (OutboundMessage.Status.SENT, {"recipients": 2})


@pytest.mark.django_db
def test_missing_attachment_fails_permanently(world, media):
    email_route(world)
    services.outbound_enqueue(hospital_id=world.hospital.pk, purpose="reports", dedup_key="report:gone",
                              subject="周报", body_markdown="x", attachments=["reports/missing.pdf"])  # fmt: skip
    result = services.outbound_deliver_due()
    stored = OutboundMessage.objects.get()
    assert (result.failed, stored.status, stored.attempts) == (1, OutboundMessage.Status.FAILED, 1)
    assert mail.outbox == []
    assert stored.last_error == "[email attachment] An attachment of this message no longer exists."


@pytest.mark.django_db
def test_smtp_errors_are_retried(world, media, settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                                    "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2}}}  # fmt: skip
    email_route(world)
    services.outbound_enqueue(hospital_id=world.hospital.pk, purpose="reports", dedup_key="report:smtp",
                              subject="周报", body_markdown="x")  # fmt: skip
    result = services.outbound_deliver_due()
    stored = OutboundMessage.objects.get()
    assert (result.retried, stored.status, stored.attempts) == (1, OutboundMessage.Status.PENDING, 1)
    assert "ConnectionRefusedError" in stored.last_error
