"""Seed public-opinion monitoring of the demo hospital (run after ``seed_demo``); idempotent."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import Hospital
from xinqiao.listening.demo import (
    CRISIS_MENTIONS,
    DEFAULT_SEED,
    MONTH_MENTIONS,
    listening_demo_reset,
    robot_webhook_url,
    seed_listening_demo,
)


class Command(BaseCommand):
    help = _(
        "Install topics, red lines, aliases and a robot route, then seed a month of mentions with one brewing "
        "crisis through the real ingestion and pipeline (once)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=_("Random seed (same seed, same data)."))
        parser.add_argument("--hospital", default="demo", help=_("Code of the hospital to seed."))
        parser.add_argument("--mentions", type=int, default=MONTH_MENTIONS, help=_("Mentions of the month."))
        parser.add_argument("--crisis-mentions", type=int, default=CRISIS_MENTIONS, help=_("Posts of the crisis."))
        parser.add_argument(
            "--robot-port",
            type=int,
            default=None,
            help=_("Port of the WeCom robot sandbox (default $XINQIAO_WECOM_ROBOT_SANDBOX_PORT or 8702)."),
        )
        parser.add_argument("--reset", action="store_true",
                            help=_("Delete the hospital's mentions, alerts and cases first, then seed again."))  # fmt: skip

    def handle(self, *args, **options) -> None:
        hospital = Hospital.objects.filter(code=options["hospital"]).first()
        if hospital is None:
            raise CommandError(
                _("No hospital with code %(code)s: run seed_demo first.") % {"code": options["hospital"]}
            )
        if options["mentions"] < 0 or options["crisis_mentions"] < 2:
            raise CommandError(_("Give at least 0 mentions and 2 crisis posts."))
        if options["reset"]:
            listening_demo_reset(hospital)
            self.stdout.write(_("Listening demo rows removed."))
        try:
            result = seed_listening_demo(
                hospital, seed=options["seed"], month_mentions=options["mentions"],
                crisis_mentions=options["crisis_mentions"], webhook_url=robot_webhook_url(options["robot_port"]),
            )  # fmt: skip
        except (ApplicationError, ValueError) as error:
            raise CommandError(str(getattr(error, "message", error))) from error
        if not result.created:
            self.stdout.write(_("Listening demo already present; nothing changed."))
        alerts = ", ".join(f"{kind} {count}" for kind, count in sorted(result.alerts.items())) or "0"
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Listening demo: %(mentions)d mentions (crisis %(crisis)d about %(department)s / %(doctor)s), "
                    "%(clusters)d clusters, alerts: %(alerts)s; installed %(topics)d topics, %(rules)d red-line "
                    "rules, %(aliases)d aliases; robot route “%(route)s”."
                )
                % {
                    "mentions": result.mentions,
                    "crisis": result.crisis_mentions,
                    "department": result.crisis_department,
                    "doctor": result.crisis_doctor or "—",
                    "clusters": result.clusters,
                    "alerts": alerts,
                    "topics": result.topics,
                    "rules": result.red_lines,
                    "aliases": result.aliases,
                    "route": result.route,
                }  # fmt: skip
            )
        )
