"""Back up the database and the media directory: ``manage.py backup --output-dir DIR [--keep N] [--no-media]``.

Run it daily from a systemd timer or cron (docs/operations.md §2); it exits non-zero, leaving nothing behind, when
a step fails.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xinqiao.core.backup import BackupError, backup_create, backup_prune


class Command(BaseCommand):
    help = "Back up the database (SQLite online copy or pg_dump) and the media directory into a new directory."

    def add_arguments(self, parser):
        parser.add_argument("--output-dir", required=True, type=Path, help="Where backup directories are made.")
        parser.add_argument(
            "--keep", type=int, default=0, help="Then delete all but the N newest backups (0: keep all)."
        )
        parser.add_argument("--no-media", action="store_true", help="The database only.")

    def handle(self, *args, output_dir: Path, keep: int, no_media: bool, **options) -> None:
        if keep < 0:
            raise CommandError(_("--keep must be 0 or more."))
        try:
            result = backup_create(output_dir, include_media=not no_media)
        except BackupError as error:
            raise CommandError(str(error)) from error
        except OSError as error:
            raise CommandError(_("The backup could not be written: %(error)s") % {"error": error}) from error
        for name, entry in sorted(result.files.items()):
            self.stdout.write(f"{name}\t{entry['bytes']:,} bytes\tsha256 {entry['sha256']}")
        self.stdout.write(
            _("Backup written to %(path)s (%(bytes)s bytes).") % {"path": result.path, "bytes": f"{result.bytes:,}"}
        )
        if keep:
            for path in backup_prune(output_dir, keep):
                self.stdout.write(_("Deleted the older backup %(path)s.") % {"path": path})
