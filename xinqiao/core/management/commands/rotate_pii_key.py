"""Re-encrypt patient PII with the active key: ``manage.py rotate_pii_key [--batch-size N] [--limit-batches N]``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from xinqiao.core import keys, vault
from xinqiao.core.audit import audit_record
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent

ACTOR = "manage.py rotate_pii_key"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Re-encrypt every patient whose PII is sealed with another key version than the active one, in "
        "batches ordered by pk (one transaction each). Safe to interrupt and run again; blind indexes do not "
        "change. Writes one audit event per run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=_positive, default=1000, help="Patients per transaction.")
        parser.add_argument("--limit-batches", type=_positive, default=None, help="Stop after this many batches.")
        parser.add_argument("--dry-run", action="store_true", help="Only report what would be re-encrypted.")

    def handle(self, *args, **options) -> None:
        batch_size, limit = options["batch_size"], options["limit_batches"]
        version = vault.active_key_version()
        pending = keys.pii_pending_by_version()
        total = sum(item.rows for item in pending)
        self.stdout.write(
            _("Active key version: %(version)s. Patients on other versions: %(total)s%(detail)s.")
            % {
                "version": version,
                "total": total,
                "detail": (" (" + ", ".join(f"v{item.version}: {item.rows}" for item in pending) + ")")
                if pending
                else "",
            }
        )
        if options["dry_run"]:
            batches = -(-total // batch_size)
            if limit is not None:
                batches = min(batches, limit)
            self.stdout.write(
                _("Dry run: would re-encrypt %(rows)s patients in %(batches)s batches; nothing changed.")
                % {"rows": min(total, batches * batch_size), "batches": batches}
            )
            return
        rotated = batches = 0
        remaining = total
        failure: ApplicationError | None = None
        while limit is None or batches < limit:
            try:
                done = keys.pii_rotate_batch(batch_size=batch_size)
            except ApplicationError as exc:
                failure = exc
                break
            if done == 0:
                break
            batches += 1
            rotated += done
            remaining = max(remaining - done, 0)
            self.stdout.write(
                _("Batch %(batch)s: %(rows)s re-encrypted, %(remaining)s remaining.")
                % {"batch": batches, "rows": done, "remaining": remaining}
            )
        remaining = keys.pii_rows_pending()
        audit_record(
            action=AuditEvent.Action.KEY_ROTATION,
            actor_label=ACTOR,
            object_type="patient",
            result=AuditEvent.Result.ERROR if failure is not None else AuditEvent.Result.OK,
            detail={
                "active_version": version,
                "rotated": rotated,
                "batches": batches,
                "remaining": remaining,
                "batch_size": batch_size,
                **({"error": failure.code} if failure is not None else {}),
            },
        )
        if failure is not None:
            raise CommandError(
                _("%(message)s (%(rotated)s re-encrypted before the failure, %(remaining)s remaining.)")
                % {"message": failure.message, "rotated": rotated, "remaining": remaining}
            )
        self.stdout.write(
            self.style.SUCCESS(
                _("Re-encrypted %(rotated)s patients in %(batches)s batches; %(remaining)s remaining.")
                % {"rotated": rotated, "batches": batches, "remaining": remaining}
            )
        )
