"""Recompute (or, with ``--check``, compare) the content rollups the dashboards read (per day, and per content item
and month) from the content facts."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from xinqiao.analytics.services.rollup import (
    content_month_differences,
    content_rollup_differences,
    content_rollup_rebuild,
)
from xinqiao.core.models import Hospital


class Command(BaseCommand):
    help = _(
        "Recompute the daily and monthly content sums the dashboards read, from the content metric facts, for one "
        "hospital or all (--check compares them without writing and exits with status 1 when they differ)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--hospital", help=_("Code of the hospital (default: every hospital)."))
        parser.add_argument(
            "--check", action="store_true", help=_("Only compare the stored sums with the facts; write nothing.")
        )

    def handle(self, *args, **options) -> None:
        hospitals = Hospital.objects.order_by("code")
        if options["hospital"]:
            hospitals = hospitals.filter(code=options["hospital"])
            if not hospitals.exists():
                raise CommandError(_("No hospital with code %(code)s.") % {"code": options["hospital"]})
        if options["check"]:
            self._check(list(hospitals))
            return
        started = time.perf_counter()
        with transaction.atomic():
            written = content_rollup_rebuild(hospitals=hospitals)
        self.stdout.write(
            self.style.SUCCESS(
                _("Content rollup rebuilt in %(seconds).1f s: %(rows)d rows.")
                % {"seconds": time.perf_counter() - started, "rows": written}
            )
        )

    def _check(self, hospitals: list[Hospital]) -> None:
        differing_total = 0
        for hospital in hospitals:
            differing, shown = content_rollup_differences(hospital=hospital)
            differing_total += differing
            for row in shown:
                self.stdout.write(
                    _(
                        "%(hospital)s: account %(account)s, %(day)s, topic “%(topic)s”, department %(department)s: "
                        "%(stored)s facts summed, %(expected)s expected"
                    )
                    % {
                        "hospital": hospital.code,
                        "account": row["account_id"],
                        "day": row["stat_date"],
                        "topic": row["topic"],
                        "department": row["department_id"] if row["department_id"] is not None else "-",
                        "stored": row["stored"] if row["stored"] is not None else "-",
                        "expected": row["expected"] if row["expected"] is not None else "-",
                    }
                )
            differing, shown = content_month_differences(hospital=hospital)
            differing_total += differing
            for row in shown:
                self.stdout.write(
                    _(
                        "%(hospital)s: account %(account)s, month %(month)s, content “%(key)s”: %(stored)s facts "
                        "summed, %(expected)s expected"
                    )
                    % {
                        "hospital": hospital.code,
                        "account": row["account_id"],
                        "month": f"{row['month']:%Y-%m}",
                        "key": row["content_key"],
                        "stored": row["stored"] if row["stored"] is not None else "-",
                        "expected": row["expected"] if row["expected"] is not None else "-",
                    }
                )
        if differing_total:
            raise CommandError(
                _("%(count)d rollup groups differ from the facts: run rebuild_content_rollup to recompute them.")
                % {"count": differing_total}
            )
        self.stdout.write(self.style.SUCCESS(_("The content rollup matches the facts.")))
