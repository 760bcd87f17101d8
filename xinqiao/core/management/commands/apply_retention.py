"""Apply the retention rules now: ``manage.py apply_retention [--dry-run] [--hospital CODE]``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xinqiao.core import retention
from xinqiao.core.models import Hospital


class Command(BaseCommand):
    help = (
        "Delete or anonymise what has outlived its retention rule (the daily periodic job does the same), except "
        "records under a legal hold, and print the counts. --dry-run counts without changing anything."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help=_("Count only; change nothing."))
        parser.add_argument("--hospital", help=_("Only this hospital (its code); the global tables are skipped."))

    def handle(self, *args, **options) -> None:
        hospitals = None
        if options["hospital"]:
            hospitals = list(Hospital.objects.filter(code=options["hospital"]))
            if not hospitals:
                raise CommandError(_("No hospital with the code %(code)s.") % {"code": options["hospital"]})
        report = retention.sweep(dry_run=options["dry_run"], hospitals=hospitals)
        prefix = _("Dry run, nothing changed. ") if report.dry_run else ""
        for code, counts in [*report.by_hospital.items(), ("*", report.global_counts)]:
            if code == "*" and hospitals is not None:
                continue
            shown = ", ".join(f"{name} {value}" for name, value in sorted(counts.items()) if value) or _("nothing due")
            self.stdout.write(f"{prefix}{code}: {shown}")
