"""Run XinQiao's benchmarks: ``bench/run.py [--db sqlite|postgres|both] [--patients N] [--quick]``.

Convention (how to add a benchmark)
-----------------------------------
Every ``bench/<name>.py`` is a benchmark, except ``run.py`` and modules whose name starts with ``_``
(shared helpers). They run in name order, once per selected database, in a child process whose Django
is already set up against that database's *bench* database, migrated and seeded by ``seed_demo``'s
generator with ``--patients`` patients (``args.seed_info`` says how long seeding took, or that an
already seeded database was reused).

A benchmark is either

* a module with ``run(args) -> dict``. ``args`` is an ``argparse.Namespace`` with ``db`` ("sqlite" or
  "postgres"), ``patients``, ``quick`` (small scale, few repetitions: a smoke run), ``seed_info`` and
  ``machine``. The dict it returns holds ``title`` and ``results``: a list of rows, each

      {"case": str, "unit": str, "value": float,                  # what we measure
       "baseline": str, "baseline_value": float,                  # a NAMED baseline, same run, same unit
       "ratio": float,                                            # baseline_value / value ("x faster")
       "details": {...}}                                          # optional: p95, repetitions, notes

  plus optional ``notes`` (list of str). Report ratios against a baseline measured in the same run,
  never absolute thresholds: the machines are shared and noisy.
* or a standalone script (a module without ``run``). It is executed as
  ``python bench/<name>.py --db DB --patients N [--quick]`` with the same environment (bench database,
  ``DJANGO_SETTINGS_MODULE``), and its last line of standard output, if it is such a JSON dict, is
  taken as its result.

Results are printed as a table and written to ``bench/results/<time>-<db>-<patients>.json``
(git-ignored). The bench databases are ``var/bench-<patients>.sqlite3`` and, on the PostgreSQL server
named by ``DATABASE_URL``, the database ``xinqiao_bench_<patients>`` (created when missing); they are
never the development database, and they are reused when already seeded at the requested size
(``--reseed`` forces a fresh seed). Method and measured numbers: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
VAR_DIR = ROOT / "var"
FULL_PATIENTS = 1_000_000
QUICK_PATIENTS = 5_000
BENCH_SEED = 2026


def benchmark_names(only: list[str] | None = None) -> list[str]:
    names = sorted(path.stem for path in BENCH_DIR.glob("*.py") if path.stem != "run" and not path.stem.startswith("_"))
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise SystemExit(f"error: unknown benchmark(s): {', '.join(unknown)} (known: {', '.join(names)})")
        names = [name for name in names if name in only]
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument(
        "--patients", type=int, default=None, help=f"default {FULL_PATIENTS:,} ({QUICK_PATIENTS:,} with --quick)"
    )
    parser.add_argument("--quick", action="store_true", help="small scale and few repetitions (a smoke run)")
    parser.add_argument("--reseed", action="store_true", help="seed the bench database afresh even if it is at size")
    parser.add_argument("--only", action="append", help="run only this benchmark (repeatable)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.patients is None:
        args.patients = QUICK_PATIENTS if args.quick else FULL_PATIENTS
    if args.patients < 100:
        parser.error("--patients must be at least 100")
    return args


# --- parent: one child process per database --------------------------------------------------------


def bench_database_url(url: str, patients: int) -> str:
    """The server of DATABASE_URL, database ``xinqiao_bench_<patients>``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit("error: --db postgres needs a postgres:// DATABASE_URL")
    return urlunsplit(parts._replace(path=f"/xinqiao_bench_{patients}"))


def child_environment(db: str, patients: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "DATABASE_URL_FILE")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONPATH=str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
        XINQIAO_ENV="development",
        XINQIAO_DEBUG="False",  # DEBUG would record every query and skew the timings
        XINQIAO_LOG_LEVEL="WARNING",
    )
    if db == "sqlite":
        env["XINQIAO_SQLITE_PATH"] = str(VAR_DIR / f"bench-{patients}.sqlite3")
    else:
        url = os.environ.get("DATABASE_URL", "")
        if not url and os.environ.get("DATABASE_URL_FILE"):
            url = Path(os.environ["DATABASE_URL_FILE"]).read_text().strip()
        if not url:
            raise SystemExit("error: --db postgres needs DATABASE_URL (make bench starts a throwaway server)")
        env["DATABASE_URL"] = bench_database_url(url, patients)
    return env


def run_parent(args: argparse.Namespace) -> int:
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    VAR_DIR.mkdir(exist_ok=True)
    all_results: list[dict[str, Any]] = []
    status = 0
    for db in databases:
        env = child_environment(db, args.patients)
        if db == "postgres":
            ensure_postgres_database(env["DATABASE_URL"])
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            "--db",
            db,
            "--patients",
            str(args.patients),
        ]
        command += ["--quick"] * args.quick + ["--reseed"] * args.reseed
        for name in args.only or []:
            command += ["--only", name]
        print(f"== {db}: {args.patients:,} patients ==", flush=True)
        completed = subprocess.run(command, env=env, cwd=ROOT, check=False)
        if completed.returncode != 0:
            status = completed.returncode
            continue
        latest = RESULTS_DIR / f"latest-{db}-{args.patients}.json"
        if latest.exists():
            all_results.append(json.loads(latest.read_text()))
    if len(all_results) > 1:
        print("\n== summary ==")
        for report in all_results:
            print_table(report)
    return status


def ensure_postgres_database(url: str) -> None:
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# --- child: Django set up against the bench database --------------------------------------------


def machine_info(db: str) -> dict[str, Any]:
    import platform

    import django
    from django.db import connection

    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "database": db,
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
    }
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT sqlite_version()")
            info["database_version"] = "SQLite " + cursor.fetchone()[0]
        else:
            cursor.execute("SHOW server_version")
            info["database_version"] = "PostgreSQL " + cursor.fetchone()[0]
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def prepare_database(args: argparse.Namespace) -> dict[str, Any]:
    """Migrate, then seed with seed_demo unless the database already holds the requested demo data."""
    import io

    from django.core.management import call_command

    from xinqiao.core import demo
    from xinqiao.core.models import Patient

    call_command("migrate", verbosity=0)
    meta_path = VAR_DIR / f"bench-seed-{args.db}-{args.patients}.json"
    at_size = (
        demo.demo_state() == "complete"
        and Patient.objects.filter(hospital__code=demo.MAIN_HOSPITAL.code).count() == args.patients
    )
    if at_size and not args.reseed:
        info = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        info["in_this_run"] = False
        print(f"bench database already seeded with {args.patients:,} patients: reused", flush=True)
        return info
    print(f"seeding {args.patients:,} patients with seed_demo (seed {BENCH_SEED}) ...", flush=True)
    output = io.StringIO()
    started = time.perf_counter()
    call_command("seed_demo", seed=BENCH_SEED, patients=args.patients, reset=True, core_only=True, stdout=output)
    seconds = time.perf_counter() - started
    counts = demo.demo_counts()
    info = {
        "patients": args.patients,
        "seconds": round(seconds, 2),
        "patients_per_second": round(args.patients / seconds, 1),
        "rows": counts,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "in_this_run": True,
    }
    meta_path.write_text(json.dumps(info, indent=2, ensure_ascii=False))
    print(f"seeded in {seconds:,.1f} s ({args.patients / seconds:,.0f} patients/s)", flush=True)
    return info


def run_module(name: str, args: argparse.Namespace) -> dict[str, Any]:
    module = importlib.import_module(f"bench.{name}")
    if hasattr(module, "run"):
        return module.run(args)
    command = [sys.executable, str(BENCH_DIR / f"{name}.py"), "--db", args.db, "--patients", str(args.patients)]
    command += ["--quick"] * args.quick
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    sys.stdout.write(completed.stdout)
    sys.stderr.write(completed.stderr)
    lines = completed.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        result = None
    if not isinstance(result, dict):
        result = {"title": name, "results": [], "notes": [f"standalone script exited {completed.returncode}"]}
    if completed.returncode != 0:
        raise RuntimeError(f"{name} exited {completed.returncode}")
    return result


def _format(value: Any) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 1:
            return f"{value:,.2f}"
        return f"{value:.3g}"
    return str(value)


def print_table(report: dict[str, Any]) -> None:
    machine = report.get("machine", {})
    print(
        f"\n{machine.get('database_version', report.get('db'))}, {report.get('patients', 0):,} patients, "
        f"{machine.get('cpus')} CPUs ({machine.get('processor', '')}), load average "
        f"{machine.get('load_average_at_start', ['?'])[0]} at start, {machine.get('load_average_at_end', ['?'])[0]} at end"
    )
    header = ("benchmark", "case", "ours", "baseline", "baseline value", "ratio")
    rows = [header]
    for name, result in report.get("benchmarks", {}).items():
        if "error" in result:
            rows.append((name, "ERROR", result["error"], "", "", ""))
            continue
        for row in result.get("results", []):
            unit = row.get("unit", "")
            rows.append(
                (
                    name,
                    row.get("case", ""),
                    f"{_format(row.get('value'))} {unit}",
                    row.get("baseline", ""),
                    f"{_format(row.get('baseline_value'))} {unit}",
                    f"{_format(row.get('ratio'))}x",
                )
            )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    for index, row in enumerate(rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
    for name, result in report.get("benchmarks", {}).items():
        for note in result.get("notes", []):
            print(f"  [{name}] {note}")


def run_child(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    args.machine = machine_info(args.db)
    args.seed_info = prepare_database(args)
    report: dict[str, Any] = {
        "db": args.db,
        "patients": args.patients,
        "quick": args.quick,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": args.machine,
        "seed": args.seed_info,
        "benchmarks": {},
    }
    status = 0
    for name in benchmark_names(args.only):
        print(f"-- {name}", flush=True)
        started = time.perf_counter()
        try:
            result = run_module(name, args)
        except Exception as exc:  # one broken benchmark must not hide the others' results
            import traceback

            traceback.print_exc()
            result = {"error": f"{exc.__class__.__name__}: {exc}"}
            status = 1
        result["seconds"] = round(time.perf_counter() - started, 1)
        report["benchmarks"][name] = result
    report["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    report["machine"]["load_average_at_end"] = [round(value, 2) for value in os.getloadavg()]
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(report, indent=2, ensure_ascii=False, default=str)
    (RESULTS_DIR / f"{stamp}-{args.db}-{args.patients}.json").write_text(text)
    (RESULTS_DIR / f"latest-{args.db}-{args.patients}.json").write_text(text)
    print_table(report)
    print(f"\nresults: bench/results/{stamp}-{args.db}-{args.patients}.json")
    return status


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_child(args)
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
