"""Red-line alert latency: from a pushed mention to its alert arriving at the 企业微信 robot sandbox.

Set-up (in the bench database, a fresh hospital per phase, deleted afterwards): the default red-line rules, one
robot route pointing at a ``WeComRobotSandbox`` served on 127.0.0.1 by this process (so the sandbox's receive
time and the push time share one monotonic clock), and a brand user whose principal pushes.

Load: generated mentions (``xinqiao.listening.generator``; any that would trip a red line by chance are left
out) pushed through the push service ``mentions_push`` — the function behind ``POST /api/listening/mentions``,
called in-process without the HTTP layer — in batches of 50 every 100 ms (500 mentions/s) for 20 s (5 s with
--quick). A few of them (15; 4 with --quick; one robot accepts only 20 messages a minute, so more would measure
the rate limit, not the path) carry red-line text near the hospital's name, each a distinct story.

Ours (event-driven): the push enqueues, on commit, the red-line check ``check_red_lines`` at priority 60 and
``process_mention_batch``; a real ``manage.py db_worker`` process runs the red-line check first (it fires and
delivers the alert in the same job), then the pipeline, whose ``alerts_after_processing`` finds the alert already
fired (idempotent); the robot sandbox records the post.

Baseline "per-minute sweep": the same push without the on-commit job (``mentions_ingest(process=False)``); a
loop standing in for the per-minute scheduler (xinqiao/core/periodic.py runs its jobs once a minute) processes
the hospital's unprocessed mentions (same pipeline, same alert rules) and delivers the outbox every 60 s.

Measured per red-line mention: robot receive time − push call start. Reported p50/p95/max and achieved push rate.

The pipeline needs the sentiment artefact (``manage.py listening_train``). When the shipped one is missing,
``XINQIAO_BENCH_SENTIMENT_ARTEFACT=/path/model.npz`` points this benchmark (and its worker) at one trained with
``listening_train --output``; the result notes which artefact was used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RATE = 500  # mentions per second
BATCH = 50
WARMUP = 50  # an untimed first batch (with one red line) so the worker is warm: model loaded, URLs resolved
SWEEP_SECONDS = 60.0
RED_LINE_PHRASES = ("有患者猝死", "发生医疗事故", "有病人跳楼", "有人砍医生", "出现集体中毒", "误诊致死")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class Phase:
    """One hospital, one robot key, one push run; collects push and receive times."""

    def __init__(self, name: str, sandbox, *, seconds: float, red_lines: int, seed: int) -> None:
        from django.contrib.auth import get_user_model

        from xinqiao.core.access import principal_for_user
        from xinqiao.core.models import Department, Doctor, Hospital, Membership
        from xinqiao.integrations.services import RouteInput, notification_route_create
        from xinqiao.listening.services.alerts import red_line_defaults_install

        self.name = name
        self.sandbox = sandbox
        self.seconds = seconds
        self.red_line_count = red_lines
        code = f"bench-latency-{name}-{int(time.time())}"
        self.hospital = Hospital.objects.create(name=f"基准{name}市中心医院", short_name=f"{name}中心", code=code)
        Department.objects.create(hospital=self.hospital, name="心血管内科", code="cardio")
        Doctor.objects.create(hospital=self.hospital, name="周立群", title=Doctor.Title.CHIEF)
        admin = get_user_model().objects.create_user(username=f"{code}-admin", password=None)
        brand = get_user_model().objects.create_user(username=f"{code}-brand", password=None)
        Membership.objects.create(user=admin, hospital=self.hospital, role=Membership.Role.ADMIN)
        Membership.objects.create(user=brand, hospital=self.hospital, role=Membership.Role.BRAND)
        self.principal = principal_for_user(brand, self.hospital)
        red_line_defaults_install(self.hospital)
        self.key = f"bench-{name}-{seed}"
        notification_route_create(
            principal=principal_for_user(admin, self.hospital),
            data=RouteInput(
                name="舆情值班群", kind="wecom_robot", webhook_url=sandbox.webhook_url(self.key), purposes=["alerts"]
            ),  # fmt: skip
        )
        self.items = self._items(seed)
        self.push_started: dict[str, float] = {}  # external id of a red-line mention -> push call start
        self.pushed = 0
        self.push_seconds = 0.0

    def _items(self, seed: int) -> list[dict[str, Any]]:
        from xinqiao.listening.generator import generate_mentions
        from xinqiao.listening.pipeline.entities import matcher_for
        from xinqiao.listening.pipeline.normalise import normalise_text
        from xinqiao.listening.services.alerts import _active_rules, hospital_name_table, red_line_hits

        total = int(RATE * self.seconds)
        now = dt.datetime.now(dt.UTC)
        generated = generate_mentions(
            total + total // 5, seed=seed, hospital_name=self.hospital.name, department_names=["心血管内科"],
            doctor_names=["周立群"], start=now - dt.timedelta(days=1), end=now,
        )  # fmt: skip
        rules = _active_rules(self.hospital.pk)
        matcher = matcher_for(hospital_name_table(self.hospital.pk))
        clean = []
        for item in generated:
            text = normalise_text(item["text"]).text
            if not red_line_hits(text, matcher.matches(text), rules):
                clean.append(item)
            if len(clean) == total + WARMUP:
                break
        self.warmup = clean[total:]
        clean = clean[:total]
        warm = self.warmup[0]
        warm["text"] = f"{warm['text']} 刚听说{self.hospital.short_name}有病人坠楼"
        warm["external_id"], warm["parent_external_id"] = f"warmup-{self.name}", ""
        for item in self.warmup:
            item["posted_at"] = dt.datetime.now(dt.UTC).isoformat()
        # plant the red lines: distinct stories (different base posts), the term right after the short name
        step = max(1, total // (self.red_line_count + 1))
        for index in range(self.red_line_count):
            item = clean[step * (index + 1)]
            phrase = RED_LINE_PHRASES[index % len(RED_LINE_PHRASES)]
            item["text"] = f"{item['text']} 刚听说{self.hospital.short_name}{phrase}，第{index + 1}起"
            item["parent_external_id"] = ""
            item["external_id"] = f"redline-{self.name}-{index}"
        for item in clean:
            item.pop("posted_at", None)
        return clean

    def push(self, push: Callable[[list[dict[str, Any]]], None]) -> None:
        """Push at RATE per second in batches of BATCH, paced on the monotonic clock."""
        interval = BATCH / RATE
        start = time.monotonic()
        for number, offset in enumerate(range(0, len(self.items), BATCH)):
            due = start + number * interval
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            batch = self.items[offset : offset + BATCH]
            stamp = dt.datetime.now(dt.UTC).isoformat()
            for item in batch:
                item["posted_at"] = stamp
            began = time.monotonic()
            for item in batch:
                if item["external_id"].startswith("redline-"):
                    self.push_started[item["external_id"]] = began
            push(batch)
            self.pushed += len(batch)
        self.push_seconds = time.monotonic() - start

    def wait_for_alerts(self, timeout: float, *, count: int | None = None) -> None:
        """Until ``count`` robot messages arrived (default: the warm-up alert plus one per planted red line)."""
        wanted = self.red_line_count + 1 if count is None else count
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.sandbox.messages(self.key)) < wanted:
            time.sleep(0.05)

    def latencies(self) -> tuple[list[float], int]:
        """(latency per red-line mention whose alert reached the robot, red-line mentions never delivered)."""
        from xinqiao.listening.models import Alert

        received: dict[int, float] = {}
        for message in self.sandbox.messages(self.key):
            found = re.search(r"#(\d+)\s*$", message.content.splitlines()[0])
            if found:
                received.setdefault(int(found.group(1)), message.received_monotonic)
        values = []
        for alert in Alert.objects.filter(hospital=self.hospital, kind=Alert.Kind.RED_LINE).prefetch_related(
            "mentions"
        ):
            if alert.pk not in received:
                continue
            pushes = [
                self.push_started[m.external_id] for m in alert.mentions.all() if m.external_id in self.push_started
            ]
            if pushes:
                values.append(received[alert.pk] - min(pushes))
        return values, self.red_line_count - len(values)

    def cleanup(self) -> None:
        """Drop the generated mentions and alerts (the audit trail is append-only, so the hospital stays,
        deactivated)."""
        from xinqiao.integrations.models import OutboundMessage
        from xinqiao.listening.models import Alert, Mention, MentionCluster

        OutboundMessage.objects.filter(hospital=self.hospital).delete()
        Alert.objects.filter(hospital=self.hospital).delete()
        Mention.objects.filter(hospital=self.hospital).delete()
        MentionCluster.objects.filter(hospital=self.hospital).delete()
        self.hospital.is_active = False
        self.hospital.save(update_fields=["is_active"])


ARTEFACT_ENV = "XINQIAO_BENCH_SENTIMENT_ARTEFACT"
# manage.py db_worker, with the sentiment artefact path taken from ARTEFACT_ENV when it is set
WORKER_LAUNCHER = """
import os, sys
from pathlib import Path
sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
if os.environ.get("XINQIAO_BENCH_SENTIMENT_ARTEFACT"):
    from xinqiao.listening.pipeline import sentiment
    sentiment.DEFAULT_ARTEFACT = Path(os.environ["XINQIAO_BENCH_SENTIMENT_ARTEFACT"])
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", *sys.argv[1:]])
"""


def use_artefact_override() -> str:
    """Which sentiment artefact the pipeline uses in this process ('shipped' or the override's path)."""
    from xinqiao.listening.pipeline import sentiment

    override = os.environ.get(ARTEFACT_ENV, "")
    if override:
        sentiment.DEFAULT_ARTEFACT = Path(override)
        return override
    return "shipped"


def _worker(env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-c", WORKER_LAUNCHER, "db_worker", "--interval", "0.02", "--no-startup-delay",
               "--no-reload", "--verbosity", "0"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def run_ours(sandbox, *, seconds: float, red_lines: int) -> dict[str, Any]:
    """The app's path: each pushed batch, on commit, queues the red-line check ``check_red_lines`` (priority
    ``RED_LINE_PRIORITY``, ahead of everything else) and the pipeline; one real db_worker runs both."""
    from django.db import connection

    from xinqiao.listening.services.ingest import mentions_push

    phase = Phase("event", sandbox, seconds=seconds, red_lines=red_lines, seed=4101)
    env = {**os.environ, "XINQIAO_TASKS_BACKEND": "django_tasks_db.DatabaseBackend"}

    def push(batch: list[dict[str, Any]]) -> None:
        mentions_push(principal=phase.principal, items=batch)

    worker = _worker(env)
    try:
        from xinqiao.listening.pipeline.sentiment import get_model

        get_model()  # fail fast (and outside the timings) when the sentiment artefact is missing
        push(phase.warmup)  # untimed: a long-lived worker has loaded the model and resolved its URLs already
        phase.wait_for_alerts(timeout=180, count=1)
        pusher = threading.Thread(target=lambda: (phase.push(push), connection.close()))
        pusher.start()
        pusher.join()
        phase.wait_for_alerts(timeout=180)
        values, missing = phase.latencies()
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    result = {"latencies": values, "missing": missing, "pushed": phase.pushed, "push_seconds": phase.push_seconds}
    phase.cleanup()
    return result


def run_sweep_baseline(sandbox, *, seconds: float, red_lines: int) -> dict[str, Any]:
    from django.db import connection

    from xinqiao.integrations.services import outbound_deliver_due
    from xinqiao.listening.models import MentionBatch
    from xinqiao.listening.services.ingest import mentions_ingest
    from xinqiao.listening.services.processing import mentions_process

    phase = Phase("sweep", sandbox, seconds=seconds, red_lines=red_lines, seed=4102)
    stop = threading.Event()
    errors: list[BaseException] = []

    def sweeper() -> None:
        started = time.monotonic()
        tick = 1
        try:
            while not stop.is_set():
                if stop.wait(max(0.0, started + tick * SWEEP_SECONDS - time.monotonic())):
                    break
                mentions_process(hospital_id=phase.hospital.pk)
                outbound_deliver_due()
                tick += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            stop.set()
        finally:
            connection.close()

    def push(batch: list[dict[str, Any]]) -> None:
        mentions_ingest(hospital=phase.hospital, source=MentionBatch.Source.PUSH, principal=phase.principal,
                        rows=list(enumerate(batch, start=1)), process=False)  # fmt: skip

    push(phase.warmup)
    mentions_process(hospital_id=phase.hospital.pk)
    outbound_deliver_due()
    phase.wait_for_alerts(timeout=60, count=1)
    sweeping = threading.Thread(target=sweeper)
    sweeping.start()
    pusher = threading.Thread(target=lambda: (phase.push(push), connection.close()))
    pusher.start()
    pusher.join()
    deadline = time.monotonic() + SWEEP_SECONDS * 2 + 60
    while not stop.is_set() and time.monotonic() < deadline:
        phase.wait_for_alerts(timeout=1)
        if len(sandbox.messages(phase.key)) >= phase.red_line_count + 1:
            break
    stop.set()
    sweeping.join()
    if errors:
        raise errors[0]
    values, missing = phase.latencies()
    result = {"latencies": values, "missing": missing, "pushed": phase.pushed, "push_seconds": phase.push_seconds}
    phase.cleanup()
    return result


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    values = result["latencies"]
    return {
        "p50_s": round(_percentile(values, 0.5), 3),
        "p95_s": round(_percentile(values, 0.95), 3),
        "max_s": round(max(values), 3) if values else None,
        "red_line_alerts_measured": len(values),
        "red_line_mentions_not_delivered": result["missing"],
        "pushed": result["pushed"],
        "push_rate_per_s": round(result["pushed"] / result["push_seconds"], 1) if result["push_seconds"] else None,
    }


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    from xinqiao.integrations.wecom_robot.sandbox import WeComRobotSandbox

    artefact = use_artefact_override()
    quick = bool(getattr(args, "quick", False))
    seconds = 5.0 if quick else 20.0
    red_lines = 4 if quick else 15
    sandbox = WeComRobotSandbox(accept_any_key=True, port=0).start()
    try:
        ours = _summary(run_ours(sandbox, seconds=seconds, red_lines=red_lines))
        print(f"   ours: {ours}", file=sys.stderr, flush=True)
        baseline = _summary(run_sweep_baseline(sandbox, seconds=seconds, red_lines=red_lines))
    finally:
        sandbox.stop()
    rows = []
    for label, measured in (("", ours),):
        for case, key in (("red-line alert latency p95", "p95_s"), ("red-line alert latency p50", "p50_s")):
            rows.append(
                {
                    "case": case + label,
                    "unit": "s",
                    "value": measured[key],
                    "baseline": f"per-minute sweep (process + deliver every {SWEEP_SECONDS:.0f} s)",
                    "baseline_value": baseline[key],
                    "ratio": round(baseline[key] / measured[key], 1) if measured[key] else None,
                    "details": {"ours": measured, "baseline": baseline},
                }
            )
    return {
        "title": f"Red-line alert latency, push → robot sandbox ({RATE} mentions/s for {seconds:.0f} s)",
        "results": rows,
        "notes": [
            "ours: push service → on commit a red-line check (priority 60) and the pipeline are "
            f"queued → db_worker → outbox → robot; {ours['red_line_alerts_measured']} red-line alerts, push rate "
            f"{ours['push_rate_per_s']}/s, max {ours['max_s']} s",
            f"baseline: same push, pipeline + alerts + delivery run every {SWEEP_SECONDS:.0f} s; "
            f"push rate {baseline['push_rate_per_s']}/s, max {baseline['max_s']} s",
            "one robot takes 20 messages a minute, so the planted red lines stay under 20 per run",
            f"sentiment artefact: {artefact}",
        ],
    }


if __name__ == "__main__":
    import django

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--patients", type=int, default=0)
    parsed = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()
    import json

    print(json.dumps(run(parsed), ensure_ascii=False, default=str))
