"""Check the audit log's hash chain: ``manage.py verify_audit_chain``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xinqiao.core.audit import audit_verify_chain


class Command(BaseCommand):
    help = (
        "Recompute every audit record's hash in order. Exits 0 when the chain is intact, non-zero naming the "
        "first record whose content or link changed."
    )

    def handle(self, *args, **options) -> None:
        report = audit_verify_chain()
        if not report.ok:
            raise CommandError(
                _("Audit chain broken at record #%(pk)s (%(checked)s records before it are intact).")
                % {"pk": report.first_broken_pk, "checked": report.checked}
            )
        self.stdout.write(_("%(count)s records, chain intact") % {"count": report.checked})
