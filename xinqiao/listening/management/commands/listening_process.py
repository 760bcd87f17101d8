"""Bulk pipeline run: ``manage.py listening_process --hospital CODE [--all] [--batch-size N] [--file FILE]``."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from xinqiao.core.access import Principal
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import Hospital, Membership
from xinqiao.listening.services.ingest import IngestRejected, mentions_import_file
from xinqiao.listening.services.processing import DEFAULT_BATCH_SIZE, mentions_process


class Command(BaseCommand):
    help = (
        "Run the listening pipeline over a hospital's unprocessed mentions (or all of them with --all); with "
        "--file, import a CSV/JSONL/XLSX export first (all rows or none, duplicates skipped). Prints counts and "
        "mentions per second."
    )

    def add_arguments(self, parser):
        parser.add_argument("--hospital", required=True, help="hospital code")
        parser.add_argument("--all", action="store_true", help="reprocess processed mentions too (clusters kept)")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument("--file", help="a monitoring-tool export to import before processing")

    def handle(self, *args, **options):
        hospital = Hospital.objects.filter(code=options["hospital"], is_active=True).first()
        if hospital is None:
            raise CommandError(f"No active hospital with code {options['hospital']!r}.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        if options["file"]:
            path = Path(options["file"])
            if not path.is_file():
                raise CommandError(f"No such file: {path}")
            # the command runs as the system on behalf of the hospital's administrators
            principal = Principal(hospital=hospital, roles=frozenset({Membership.Role.ADMIN}))
            try:
                batch = mentions_import_file(principal=principal, filename=path.name, data=path.read_bytes(),
                                             process=False)  # fmt: skip
            except IngestRejected as error:
                lines = [f"  row {e['row']} {e['column']}: {e['message']}" for e in error.extra["errors"][:50]]
                raise CommandError("\n".join([str(error.message), *lines])) from None
            except ApplicationError as error:
                raise CommandError(str(error.message)) from None
            self.stdout.write(
                f"imported batch {batch.pk}: {batch.rows_total} rows, {batch.rows_created} new, "
                f"{batch.rows_duplicate} duplicates"
            )
        started = time.perf_counter()
        stats = mentions_process(hospital_id=hospital.pk, batch_size=options["batch_size"], reprocess=options["all"])
        seconds = time.perf_counter() - started
        rate = stats.mentions / seconds if seconds > 0 else 0.0
        self.stdout.write(
            f"processed {stats.mentions} mentions in {stats.chunks} chunks: {stats.clusters_created} new clusters, "
            f"{stats.clusters_joined} existing clusters joined, {stats.clusters_merged} merged; {seconds:.2f} s, {rate:.0f} mentions/s"
        )
