"""Seed the content studio of the demo hospital (run after ``seed_demo``); idempotent."""

from __future__ import annotations

import random

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from xinqiao.content.demo import seed_content_demo
from xinqiao.content.models import ContentItem
from xinqiao.core.models import Hospital


class Command(BaseCommand):
    help = _("Create the demo account matrix, a review policy and content items in every state (once).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--seed", type=int, default=20261123, help=_("Random seed (same seed, same data)."))
        parser.add_argument("--hospital", default="demo", help=_("Code of the hospital to seed."))

    def handle(self, *args, **options) -> None:
        hospital = Hospital.objects.filter(code=options["hospital"]).first()
        if hospital is None:
            raise CommandError(
                _("No hospital with code %(code)s: run seed_demo first.") % {"code": options["hospital"]}
            )
        if ContentItem.objects.filter(hospital=hospital).exists():
            self.stdout.write(_("Content demo already present; nothing changed."))
            return
        with transaction.atomic():
            counts = seed_content_demo(hospital, rng=random.Random(options["seed"]))
        summary = ", ".join(f"{state} {count}" for state, count in sorted(counts.items()))
        self.stdout.write(self.style.SUCCESS(_("Content demo created: %(summary)s.") % {"summary": summary}))
