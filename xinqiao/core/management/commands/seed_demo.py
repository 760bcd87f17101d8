"""Seed the demo hospitals: ``manage.py seed_demo [--seed N] [--patients N] [--reset]``."""

from __future__ import annotations

import os

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from xinqiao.core import demo
from xinqiao.core.exceptions import ApplicationError


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Create the demo hospitals (心桥市第一人民医院 and 心桥市妇幼保健院) with departments, doctors, one user "
        "per role and synthetic patients, deterministically from --seed. Does nothing when the demo data exists, "
        f"unless --reset. Demo users' password: ${demo.PASSWORD_ENV} (default {demo.DEFAULT_PASSWORD}). Then, "
        "unless --core-only, the domain demos (each idempotent): content studio (seed_content_demo), a year of "
        "platform metrics (seed_analytics_demo) and a month of public mentions with a brewing crisis "
        "(seed_listening_demo)."
    )

    # The domain demos, in dependency order (analytics reads the content demo's accounts and publications).
    DOMAIN_SEEDERS = ("seed_content_demo", "seed_analytics_demo", "seed_listening_demo")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=demo.DEFAULT_SEED, help="Random seed (same seed, same data).")
        parser.add_argument(
            "--patients",
            type=_not_negative,
            default=demo.DEFAULT_PATIENTS,
            help="Patients of the main demo hospital (the second hospital always gets a handful).",
        )
        parser.add_argument("--reset", action="store_true", help="Delete the demo hospitals' rows first.")
        parser.add_argument(
            "--core-only",
            action="store_true",
            help="Only the hospitals, people and patients; not the content, analytics and listening demos.",
        )
        parser.add_argument(
            "--batch-size",
            type=_positive,
            default=demo.DEFAULT_BATCH_SIZE,
            help="Patients per insert transaction.",
        )

    def handle(self, *args, **options) -> None:
        total = options["patients"]
        step = max(total // 10, options["batch_size"])
        next_report = [step]

        def progress(written: int, count: int) -> None:
            if written >= next_report[0] or written == count:
                self.stdout.write(_("  %(written)s / %(count)s patients") % {"written": written, "count": count})
                next_report[0] = written + step

        try:
            result = demo.demo_seed(
                seed=options["seed"],
                patients=total,
                reset=options["reset"],
                password=os.environ.get(demo.PASSWORD_ENV) or demo.DEFAULT_PASSWORD,
                batch_size=options["batch_size"],
                progress=progress if options["verbosity"] >= 1 else None,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if result.created:
            self.stdout.write(
                self.style.SUCCESS(
                    _("Demo data created in %(seconds).1f s (%(patients)s patients, %(rate).0f patients/s).")
                    % {
                        "seconds": result.seconds,
                        "patients": result.patients_written,
                        "rate": result.patients_per_second,
                    }
                )
            )
            if options["verbosity"] >= 2:
                phases = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in result.write_seconds.items())
                self.stdout.write(_("  Time spent writing: %(phases)s.") % {"phases": phases})
        else:
            self.stdout.write(_("Demo data already present; nothing changed (use --reset to recreate it)."))
        for code, counts in result.counts.items():
            summary = ", ".join(f"{name} {value}" for name, value in counts.items())
            self.stdout.write(f"  {code}: {summary}")
        if options["core_only"]:
            return
        for seeder in self.DOMAIN_SEEDERS:
            call_command(seeder, seed=options["seed"], stdout=self.stdout, stderr=self.stderr,
                         verbosity=options["verbosity"])  # fmt: skip
