"""Import one platform back-end export (xlsx/xls/csv) into the metric fact tables."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xinqiao.analytics.services.imports import IMPORT_PLATFORMS, metric_import_file, resolve_account
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import Hospital


def hospital_from_option(code: str | None) -> Hospital:
    """The hospital named by ``--hospital CODE``, else the only (or first) one."""
    if code:
        hospital = Hospital.objects.filter(code=code).first()
        if hospital is None:
            raise CommandError(_("No hospital with the code %(code)s.") % {"code": code})
        return hospital
    hospital = Hospital.objects.order_by("pk").first()
    if hospital is None:
        raise CommandError(_("There is no hospital yet."))
    return hospital


class Command(BaseCommand):
    help = (
        "Import a platform back-end export (xlsx, xls or csv) as daily metrics: preview and commit in one go. "
        "Exits non-zero with the row/column errors when nothing was imported."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--platform", required=True, choices=IMPORT_PLATFORMS)
        parser.add_argument("--file", required=True, help="Path of the exported file.")
        parser.add_argument("--hospital", help="Hospital code (default: the only/first hospital).")
        parser.add_argument("--account", type=int, help="Account ID (default: the hospital's only account there).")
        parser.add_argument("--dry-run", action="store_true", help="Parse and report, write no metrics.")

    def handle(self, *args: Any, **options: Any) -> None:
        hospital = hospital_from_option(options["hospital"])
        try:
            account = resolve_account(hospital=hospital, platform=options["platform"], account_id=options["account"])
            metric_import = metric_import_file(
                hospital=hospital,
                platform=options["platform"],
                path=options["file"],
                account=account,
                dry_run=options["dry_run"],
            )
        except ApplicationError as error:
            for row_error in error.extra.get("errors", []):
                location = _("row %(row)s") % {"row": row_error["row"]} if row_error["row"] else _("file")
                if row_error["column"]:
                    location += _(", column %(column)s") % {"column": row_error["column"]}
                self.stderr.write(f"{location}: {row_error['message']}")
            raise CommandError(error.message) from None
        summary = _(
            "%(file)s: %(type)s, header row %(header)d, %(rows)d rows; created %(created)d, updated %(updated)d, "
            "unchanged %(unchanged)d."
        ) % {
            "file": metric_import.filename,
            "type": metric_import.export_type,
            "header": metric_import.header_row,
            "rows": metric_import.rows_total,
            "created": metric_import.rows_created,
            "updated": metric_import.rows_updated,
            "unchanged": metric_import.rows_unchanged,
        }
        if options["dry_run"]:
            summary += " " + _("Dry run: nothing was written (%(records)d records found).") % {
                "records": metric_import.details.get("records", 0)
            }
        if metric_import.unknown_columns:
            summary += " " + _("Unknown columns kept: %(columns)s.") % {
                "columns": "、".join(metric_import.unknown_columns)
            }
        self.stdout.write(summary)
