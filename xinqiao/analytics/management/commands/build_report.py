"""Build a weekly or monthly report file: ``manage.py build_report --period 2026-10 --format pdf --output FILE``."""

from __future__ import annotations

from pathlib import Path

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xinqiao.analytics.models import Report
from xinqiao.analytics.reports.periods import parse_period
from xinqiao.analytics.services.reports import report_build
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import Hospital


class Command(BaseCommand):
    help = _(
        "Build the report of a month (2026-10) or an ISO week (2026-W43) as PDF or Excel and write it to a file. "
        "The file is also kept with the hospital's reports; --regenerate rebuilds a stored one."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--period", required=True, help=_("A month like 2026-10 or an ISO week like 2026-W43."))
        parser.add_argument("--format", required=True, dest="fmt", help=_("pdf or xlsx."))
        parser.add_argument("--output", required=True, help=_("Where to write the file."))
        parser.add_argument(
            "--hospital", default="", help=_("Code of the hospital (needed when there is more than one).")
        )
        parser.add_argument("--regenerate", action="store_true", help=_("Build again even if a file is stored."))

    def _hospital(self, code: str) -> Hospital:
        if code:
            hospital = Hospital.objects.filter(code=code).first()
            if hospital is None:
                raise CommandError(_("No hospital with code %(code)s.") % {"code": code})
            return hospital
        hospitals = list(Hospital.objects.filter(is_active=True).order_by("pk")[:2])
        if len(hospitals) != 1:
            raise CommandError(_("Name the hospital with --hospital CODE."))
        return hospitals[0]

    def handle(self, *args, **options) -> None:
        fmt = options["fmt"].lower()
        if fmt not in Report.Format.values:
            raise CommandError(_("Unknown format %(format)s: use pdf or xlsx.") % {"format": options["fmt"]})
        try:
            period = parse_period(options["period"])
        except ApplicationError as error:
            raise CommandError(error.message) from error
        output = Path(options["output"]).expanduser()
        if output.is_dir():
            raise CommandError(_("%(path)s is a directory: give a file name.") % {"path": output})
        if not output.parent.is_dir():
            raise CommandError(_("The folder %(path)s does not exist.") % {"path": output.parent})
        hospital = self._hospital(options["hospital"])
        try:
            report = report_build(
                hospital=hospital,
                period=period.kind,
                period_start=period.start,
                fmt=fmt,
                regenerate=options["regenerate"],
            )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        with default_storage.open(report.stored_path, "rb") as source:
            content = source.read()
        try:
            output.write_bytes(content)
        except OSError as error:
            raise CommandError(
                _("Cannot write %(path)s: %(reason)s") % {"path": output, "reason": error.strerror or error}
            ) from error
        self.stdout.write(
            self.style.SUCCESS(
                _("Wrote %(path)s (%(size)s bytes, sha256 %(sha)s).")
                % {"path": output, "size": report.size_bytes, "sha": report.sha256}
            )
        )
