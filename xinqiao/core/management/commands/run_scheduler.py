"""Enqueue the periodic jobs (xinqiao/core/periodic.py) every minute, like healthchecks' ``sendalerts``.

Run one per deployment (more are harmless: each slot's job is enqueued once). ``--once`` runs a single tick and
exits, for tests and for cron.
"""

from __future__ import annotations

import datetime as dt
import signal
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections
from django.utils import timezone

from xinqiao.core.health import record_scheduler_tick, scheduler_instance_name
from xinqiao.core.periodic import PERIODIC_JOBS, scheduler_tick, slot_start


class Command(BaseCommand):
    help = "Enqueue the periodic background jobs every minute (one tick with --once)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run one tick and exit.")
        parser.add_argument("--list", action="store_true", dest="list_jobs", help="List the registered jobs and exit.")
        parser.add_argument(
            "--interval", type=int, default=60, help="Seconds between ticks, aligned to the clock (default: 60)."
        )
        parser.add_argument(
            "--job",
            action="append",
            dest="job_names",
            metavar="NAME",
            help="Schedule only this job (repeatable), e.g. to run report delivery on its own host.",
        )

    def handle(self, *args, once: bool, list_jobs: bool, interval: int, job_names: list[str] | None, **options):
        if interval < 1 or interval > 3600:
            raise CommandError("--interval must be between 1 and 3600 seconds.")
        known = {job.name: job for job in PERIODIC_JOBS}
        unknown = sorted(set(job_names or ()) - set(known))
        if unknown:
            raise CommandError(f"Unknown job(s): {', '.join(unknown)}. Known: {', '.join(known)}.")
        self.jobs = tuple(job for job in PERIODIC_JOBS if not job_names or job.name in job_names)
        self.interval = interval
        self.instance = scheduler_instance_name([job.name for job in self.jobs], all_jobs=not job_names)
        if list_jobs:
            for job in self.jobs:
                self.stdout.write(f"{job.name}\t{job.task_path}\tevery {int(job.every.total_seconds())}s")
            return
        if once:
            self.tick()
            return
        self.running = True

        def stop(signum, frame):
            self.running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"Scheduler started: {len(self.jobs)} job(s), a tick every {interval}s.")
        while self.running:
            close_old_connections()
            self.tick()
            self.sleep_until_next(interval)
        self.stdout.write("Scheduler stopped.")

    def tick(self) -> None:
        result = scheduler_tick(jobs=self.jobs)
        # The heartbeat the health endpoint and the system status page read (docs/operations.md, monitoring).
        record_scheduler_tick(
            instance=self.instance,
            job_names=[job.name for job in self.jobs],
            interval_seconds=self.interval,
            now=timezone.now(),
        )
        stamp = timezone.localtime().strftime("%Y-%m-%d %H:%M:%S")
        for name in result.enqueued:
            self.stdout.write(f"{stamp} enqueued {name}")
        for name in result.skipped:
            self.stdout.write(f"{stamp} skipped {name}: already queued for this slot")
        if result.stalled_minutes is not None:
            self.stdout.write(
                f"{stamp} warning: no worker is taking tasks (the oldest has waited {result.stalled_minutes} min);"
                " the administrators are notified"
            )

    def sleep_until_next(self, interval: int) -> None:
        now = timezone.now()
        due = slot_start(now, dt.timedelta(seconds=interval)) + dt.timedelta(seconds=interval)
        while self.running and timezone.now() < due:
            time.sleep(min(1.0, (due - timezone.now()).total_seconds()))
