"""Check .txt, .md and .docx files against the medical-advertising compliance rules.

Exit status: 0 when no file has a BLOCK finding, 1 when any file has one, 2 on usage or read errors.
"""

from __future__ import annotations

import json
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from xinqiao.content.compliance import Report, Severity, check
from xinqiao.content.compliance.ruleset import CONTENT_TYPES

TEXT_SUFFIXES = (".txt", ".md")
DOCX_SUFFIX = ".docx"
_CONTEXT_CHARS = 10


class DocumentError(Exception):
    """A file could not be read as a document; the message is safe to show."""


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, or GBK/GB18030; anything else is an error."""
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "gb18030"]
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if not _looks_binary(text):
            return text
    raise DocumentError(_("cannot decode the file as UTF-8 or GBK text"))


def _looks_binary(text: str) -> bool:
    controls = sum(1 for char in text if unicodedata.category(char) == "Cc" and char not in "\t\n\r\f")
    return controls > 0


def read_document(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (*TEXT_SUFFIXES, DOCX_SUFFIX):
        raise DocumentError(_("unsupported file type %(suffix)s (use .txt, .md or .docx)") % {"suffix": suffix or "''"})
    if not path.is_file():
        raise DocumentError(_("file not found"))
    if suffix == DOCX_SUFFIX:
        return _read_docx(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(
            _("cannot read the file (%(error)s)") % {"error": exc.strerror or type(exc).__name__}
        ) from exc
    return _decode(data)


def _read_docx(path: Path) -> str:
    import docx  # python-docx; imported here so the other formats work without it
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise DocumentError(_("not a readable Word (.docx) document")) from exc
    lines = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(lines)


class Command(BaseCommand):
    help = _("Check .txt, .md and .docx files against the medical-advertising compliance rules.")
    # A pure file checker: no database, so no system checks (they would need a reachable database).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE", help=_("files to check (.txt, .md, .docx)"))
        parser.add_argument(
            "--type",
            dest="content_type",
            default="article",
            choices=CONTENT_TYPES,
            help=_("content type (default: article)"),
        )
        parser.add_argument("--ad", action="store_true", help=_("treat the content as an advertisement"))
        parser.add_argument(
            "--format", dest="output_format", default="text", choices=("text", "json"), help=_("output format")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        documents = []
        errors = []
        for name in options["files"]:
            try:
                documents.append((name, read_document(Path(name))))
            except DocumentError as exc:
                errors.append(_("%(file)s: %(error)s") % {"file": name, "error": exc})
        if errors:
            raise CommandError("\n".join(errors), returncode=2)
        is_ad = True if options["ad"] else None
        results = [
            (name, text, check(text, content_type=options["content_type"], is_ad=is_ad)) for name, text in documents
        ]
        if options["output_format"] == "json":
            payload = [_json_entry(name, report) for name, _text, report in results]
            self.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2))
        else:
            for name, text, report in results:
                self._write_text(name, _mask_personal_data(text, report), report)
        blocked = [name for name, _text, report in results if report.blocked]
        if blocked:
            raise CommandError(
                _("BLOCK findings in %(count)d file(s): %(files)s")
                % {"count": len(blocked), "files": ", ".join(blocked)},
                returncode=1,
            )

    def _write_text(self, name: str, text: str, report: Report) -> None:
        highest = report.max_severity.name if report.max_severity else _("none")
        self.stdout.write(
            _("%(file)s: %(count)d finding(s), advertisement: %(ad)s, highest severity: %(highest)s")
            % {
                "file": name,
                "count": len(report.findings),
                "ad": _("yes") if report.is_ad else _("no"),
                "highest": highest,
            }
        )
        for finding in report.findings:
            if finding.is_document_level:
                where = _("whole document")
                snippet = ""
            else:
                where = f"{finding.start}-{finding.end}"
                snippet = (
                    finding.text if finding.rule_id.startswith("PII-") else _snippet(text, finding.start, finding.end)
                )
            line = f"  {finding.severity.name:<5} {finding.rule_id:<8} {where:<12} {snippet}"
            self.stdout.write(line.rstrip())
            self.stdout.write(f"        {finding.title}" + (f" ({finding.detail})" if finding.detail else ""))
            self.stdout.write("        " + _("fix: %(fix)s") % {"fix": finding.fix})
        if report.not_evaluated:
            self.stdout.write(
                "  " + _("not evaluated (input data missing): %(rules)s") % {"rules": ", ".join(report.not_evaluated)}
            )


def _mask_personal_data(text: str, report: Report) -> str:
    """The text with every PII hit starred out (same length), so that snippets never show personal data."""
    for finding in report.findings:
        if finding.rule_id.startswith("PII-") and finding.end > finding.start:
            text = text[: finding.start] + "*" * (finding.end - finding.start) + text[finding.end :]
    return text


def _snippet(text: str, start: int, end: int) -> str:
    before = text[max(0, start - _CONTEXT_CHARS) : start].replace("\n", " ")
    after = text[end : end + _CONTEXT_CHARS].replace("\n", " ")
    return f"…{before}[{text[start:end]}]{after}…"


def _json_entry(name: str, report: Report) -> dict[str, Any]:
    return {
        "file": name,
        "is_ad": report.is_ad,
        "max_severity": report.max_severity.name if report.max_severity else None,
        "findings": [
            {
                "rule_id": finding.rule_id,
                "severity": finding.severity.name,
                "start": finding.start,
                "end": finding.end,
                "text": finding.text,
                "fix": finding.fix,
                "title": finding.title,
                "citation": finding.citation,
                "detail": finding.detail,
            }
            for finding in report.findings
        ],
        "not_evaluated": list(report.not_evaluated),
        "blocked": report.max_severity is Severity.BLOCK,
    }
