"""Check a backup directory without restoring it over anything: ``manage.py verify_backup DIR``.

Exits 0 when every check passes, 1 naming what is wrong. Part of the restore drill (docs/operations.md §2).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xinqiao.core.backup import backup_verify


class Command(BaseCommand):
    help = "Check a backup made by manage.py backup: checksums, the database copy, the media archive."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="The backup directory (xinqiao-<time>).")

    def handle(self, *args, path: Path, **options) -> None:
        if not path.is_dir():
            raise CommandError(_("%(path)s is not a directory.") % {"path": path})
        report = backup_verify(path)
        for line in report.checks:
            self.stdout.write(f"ok: {line}")
        if not report.ok:
            for line in report.problems:
                self.stderr.write(f"problem: {line}")
            raise CommandError(_("The backup %(path)s failed verification.") % {"path": path})
        self.stdout.write(_("The backup %(path)s is intact.") % {"path": path})
