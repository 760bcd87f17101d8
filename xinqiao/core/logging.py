"""Keep patient identifiers out of logs and error reports (REQ-AUD-003).

The redactor masks anything shaped like a mainland mobile or a resident ID number, whatever
logger or exception produced it: a last line of defence behind "never log PII".
"""

from __future__ import annotations

import logging
import re

from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from xinqiao.lib.identity import mask_id_number, mask_mobile

ID_PATTERN = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")
MOBILE_PATTERN = re.compile(r"(?<!\d)(?:\+?86[-\s]?)?(1[3-9]\d)[-\s]?(\d{4})[-\s]?(\d{4})(?!\d)")
# Task, request and object ids: random hex, never an identifier, but their 12-digit tail can look like a mobile.
UUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def redact(text: str) -> str:
    """``text`` with every mobile and resident ID number masked; UUIDs are left whole."""
    if UUID_PATTERN.search(text) is None:
        return _redact(text)
    parts = []
    last = 0
    for match in UUID_PATTERN.finditer(text):
        parts.append(_redact(text[last : match.start()]))
        parts.append(match.group(0))
        last = match.end()
    parts.append(_redact(text[last:]))
    return "".join(parts)


def _redact(text: str) -> str:
    text = ID_PATTERN.sub(lambda m: mask_id_number(m.group(0)), text)
    return MOBILE_PATTERN.sub(lambda m: mask_mobile(m.group(1) + m.group(2) + m.group(3)), text)


class PiiRedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not hide the record
            message = str(record.msg)
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.msg, record.args = cleaned, None
        return True


class PiiSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter plus masking of every value that looks like a patient identifier."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE_URL|PII", flags=re.IGNORECASE
    )

    def cleanse_setting(self, key, value):
        value = super().cleanse_setting(key, value)
        return redact(value) if isinstance(value, str) else value

    def get_post_parameters(self, request):
        params = super().get_post_parameters(request)
        if params is None:
            return params
        cleaned = params.copy()
        for key in cleaned:
            cleaned[key] = redact(str(cleaned[key]))
        return cleaned

    def get_traceback_frame_variables(self, request, tb_frame):
        return [(name, redact(str(value))) for name, value in super().get_traceback_frame_variables(request, tb_frame)]


class PiiSafeExceptionReporter(ExceptionReporter):
    """Error reports (admin e-mail, DEBUG page) with identifiers masked everywhere, the message included."""

    def get_traceback_text(self):
        return redact(super().get_traceback_text())

    def get_traceback_html(self):
        return redact(super().get_traceback_html())
