"""The log redactor masks identifiers but leaves ids whole (synthetic values only)."""

from __future__ import annotations

import logging

from xinqiao.core.logging import PiiRedactingFilter, redact

TASK_ID = "5f0c2a9e-7b1d-4c3e-9a2f-e13812345678"  # a UUID whose tail contains a mobile-shaped run


def test_a_uuid_is_kept_whole_and_the_identifiers_around_it_are_masked():
    text = f"task {TASK_ID} failed for 13912345678 (ID 11010519491231002X)"
    assert redact(text) == f"task {TASK_ID} failed for 139****5678 (ID 110105********002X)"


def test_text_without_a_uuid_is_masked_as_before():
    assert redact("call +86 139-1234-5678 now") == "call 139****5678 now"
    assert redact("e13812345678") == "e138****5678"  # not a UUID: a mobile after a letter is still masked


def test_the_logging_filter_keeps_task_ids_readable():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "task %s: %s", (TASK_ID, "13912345678"), None)
    assert PiiRedactingFilter().filter(record) is True
    assert record.getMessage() == f"task {TASK_ID}: 139****5678"
