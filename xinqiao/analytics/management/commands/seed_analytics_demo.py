"""Seed a year of demo analytics (run after ``seed_demo`` and ``seed_content_demo``); idempotent."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xinqiao.analytics.demo import DEFAULT_SEED, seed_analytics_demo
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import Hospital


class Command(BaseCommand):
    help = _(
        "Create a year of synthetic daily metrics, followers, touches, consultations and costs for the demo "
        "hospital (once; a second run changes nothing)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=_("Random seed (same seed, same data)."))
        parser.add_argument("--hospital", default="demo", help=_("Code of the hospital to seed."))

    def handle(self, *args, **options) -> None:
        hospital = Hospital.objects.filter(code=options["hospital"]).first()
        if hospital is None:
            raise CommandError(
                _("No hospital with code %(code)s: run seed_demo first.") % {"code": options["hospital"]}
            )
        started = time.perf_counter()
        try:
            result = seed_analytics_demo(hospital, seed=options["seed"])
        except ApplicationError as error:
            raise CommandError(error.message) from error
        summary = ", ".join(f"{name} {value}" for name, value in result["counts"].items())
        if result["created"]:
            self.stdout.write(
                self.style.SUCCESS(
                    _("Analytics demo created in %(seconds).1f s: %(summary)s.")
                    % {"seconds": time.perf_counter() - started, "summary": summary}
                )
            )
        else:
            self.stdout.write(
                _("Analytics demo already present; nothing changed (%(summary)s).") % {"summary": summary}
            )
