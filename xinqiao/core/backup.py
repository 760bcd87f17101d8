"""Backups a hospital's IT can run from cron or a systemd timer (``manage.py backup``) and check without restoring
over anything (``manage.py verify_backup``); docs/operations.md §2.

A backup is one directory ``xinqiao-<UTC time>`` holding the database (SQLite: an online copy through SQLite's
backup API, checked with ``PRAGMA integrity_check``; PostgreSQL: ``pg_dump -Fc``), the media directory as
``media.tar.gz`` (uploads, report files) and ``manifest.json`` (what was backed up, each file's size and SHA-256, the
applied migrations, and for SQLite the row counts of the main tables). It is written under a hidden temporary name
and renamed when complete, so a backup directory is either whole or absent. The keys are never in it
(docs/operations.md §2: they are kept apart). Each backup made is recorded (``BackupRecord``) for the system status
page, and each verification updates its record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.core.exceptions import ApplicationError

FORMAT = 1
PREFIX = "xinqiao-"
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
POSTGRES_FILE = "database.dump"
MEDIA_FILE = "media.tar.gz"
# Tables whose row counts the manifest records (SQLite), compared again when the copy is verified.
COUNTED_TABLES = (
    "core_hospital",
    "core_patient",
    "core_consent",
    "core_visit",
    "core_auditevent",
    "content_contentitem",
    "analytics_contentmetricdaily",
    "listening_mention",
)
# The system status page warns when the newest recorded backup is older than this (a daily job that stopped).
BACKUP_STALE_AFTER = dt.timedelta(hours=26)


class BackupError(ApplicationError):
    pass


@dataclass
class BackupResult:
    path: Path
    files: dict[str, dict[str, Any]]

    @property
    def bytes(self) -> int:
        return sum(entry["bytes"] for entry in self.files.values())


@dataclass
class VerifyReport:
    path: Path
    checks: list[str] = field(default_factory=list)  # what was checked and found right
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _describe(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _applied_migrations() -> dict[str, list[str]]:
    from django.db.migrations.recorder import MigrationRecorder

    applied: dict[str, list[str]] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        applied.setdefault(app, []).append(name)
    return {app: sorted(names) for app, names in sorted(applied.items())}


def _sqlite_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as database:
        present = {row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {
            table: database.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]  # noqa: S608 (our own names)
            for table in COUNTED_TABLES
            if table in present
        }


def _backup_sqlite(target: Path) -> dict[str, Any]:
    connection.ensure_connection()
    copy = sqlite3.connect(target)
    try:
        # The whole database in one step: a consistent snapshot, while other processes keep writing (WAL).
        connection.connection.backup(copy)
        result = copy.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        copy.close()
    if result != "ok":
        raise BackupError(_("The database copy failed SQLite's integrity check: %(result)s") % {"result": result})
    return {"counts": _sqlite_counts(target)}


def _postgres_environment() -> dict[str, str]:
    """libpq's variables for pg_dump/pg_restore, from Django's connection settings (the password never on the
    command line, where other users of the machine could read it)."""
    settings_dict = connection.settings_dict
    environment = dict(os.environ)
    for variable, key in (("PGHOST", "HOST"), ("PGPORT", "PORT"), ("PGUSER", "USER"), ("PGPASSWORD", "PASSWORD")):
        if settings_dict.get(key):
            environment[variable] = str(settings_dict[key])
    environment["PGDATABASE"] = settings_dict["NAME"]
    sslmode = (settings_dict.get("OPTIONS") or {}).get("sslmode")
    if sslmode:
        environment["PGSSLMODE"] = str(sslmode)
    return environment


def postgres_tool(name: str) -> str:
    """The path of a PostgreSQL client program (pg_dump, pg_restore): on PATH, else the newest Debian install."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda path: int(path.parts[-3]))
    if candidates:
        return str(candidates[-1])
    raise BackupError(
        _("%(tool)s was not found: install the PostgreSQL client (Debian package postgresql-client).") % {"tool": name}
    )


def _run(command: list[str], *, what: str) -> subprocess.CompletedProcess:
    completed = subprocess.run(  # noqa: S603 (fixed program, arguments we build)
        command, env=_postgres_environment(), capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        detail = completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else str(completed.returncode)
        raise BackupError(_("%(what)s failed: %(detail)s") % {"what": what, "detail": detail})
    return completed


def _backup_postgres(target: Path) -> dict[str, Any]:
    _run([postgres_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(target)], what="pg_dump")
    return {}


def _media_archive(target: Path) -> int:
    """The media directory as a gzip'd tar (paths relative to it); how many files."""
    root = Path(settings.MEDIA_ROOT)
    count = 0
    with tarfile.open(target, "w:gz") as archive:
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    archive.add(path, arcname=str(path.relative_to(root)), recursive=False)
                    count += 1
    return count


def backup_create(output_dir: Path, *, include_media: bool = True, now: dt.datetime | None = None) -> BackupResult:
    """Make a backup directory under ``output_dir`` and record it. Raises ``BackupError`` and leaves nothing behind
    when a step fails."""
    from xinqiao.core.models import BackupRecord

    now = now or timezone.now()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    name = f"{PREFIX}{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"
    final = output_dir / name
    if final.exists():
        raise BackupError(_("A backup named %(name)s exists already.") % {"name": name})
    partial = output_dir / f".partial-{name}-{os.getpid()}"
    partial.mkdir()
    try:
        vendor = connection.vendor
        if vendor == "sqlite":
            database_file = SQLITE_FILE
            extra = _backup_sqlite(partial / database_file)
        elif vendor == "postgresql":
            database_file = POSTGRES_FILE
            extra = _backup_postgres(partial / database_file)
        else:
            raise BackupError(_("Backups of a %(vendor)s database are not supported.") % {"vendor": vendor})
        files = {database_file: _describe(partial / database_file)}
        media_files = None
        if include_media:
            media_files = _media_archive(partial / MEDIA_FILE)
            files[MEDIA_FILE] = _describe(partial / MEDIA_FILE)
        manifest = {
            "format": FORMAT,
            "created_at": now.isoformat(),
            "database": {"vendor": vendor, "file": database_file, **extra},
            "media": None if media_files is None else {"file": MEDIA_FILE, "files": media_files},
            "files": files,
            "migrations": _applied_migrations(),
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    result = BackupResult(path=final, files=files)
    BackupRecord.objects.create(name=name, location=str(final), created_at=now, vendor=vendor, bytes=result.bytes)
    return result


def backup_prune(output_dir: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest backup directories of ``output_dir`` (only ours: named ``xinqiao-…`` with a
    manifest); the deleted paths."""
    ours = sorted(
        (path for path in Path(output_dir).glob(f"{PREFIX}*") if path.is_dir() and (path / MANIFEST).is_file()),
        key=lambda path: path.name,
    )
    removed = ours[: max(0, len(ours) - keep)]
    for path in removed:
        shutil.rmtree(path)
    return removed


def backup_verify(path: Path) -> VerifyReport:
    """Check a backup directory without restoring it over anything: every file is there with the size and SHA-256
    its manifest gives; the SQLite copy passes ``PRAGMA integrity_check`` and holds the rows the manifest counted;
    PostgreSQL's archive is readable by ``pg_restore`` and holds the data of the patient and audit tables; the
    media archive is readable and has no path that leaves its directory; its migrations against this release."""
    from xinqiao.core.models import BackupRecord

    path = Path(path)
    report = VerifyReport(path=path)
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report.problems.append(_("%(file)s is missing or unreadable.") % {"file": MANIFEST})
        return report
    intact = True
    for name, expected in manifest.get("files", {}).items():
        file = path / name
        if not file.is_file():
            report.problems.append(_("%(file)s is missing.") % {"file": name})
            intact = False
        elif file.stat().st_size != expected["bytes"] or _sha256(file) != expected["sha256"]:
            report.problems.append(_("%(file)s differs from the manifest (size or SHA-256).") % {"file": name})
            intact = False
        else:
            report.checks.append(_("%(file)s: size and SHA-256 as recorded.") % {"file": name})
    database = manifest.get("database", {})
    if intact:
        if database.get("vendor") == "sqlite":
            _verify_sqlite(path / database["file"], database.get("counts", {}), report)
        elif database.get("vendor") == "postgresql":
            _verify_postgres(path / database["file"], report)
        if manifest.get("media"):
            _verify_media(path / manifest["media"]["file"], manifest["media"]["files"], report)
    newer = _migrations_newer_than(manifest.get("migrations", {}))
    if newer:
        report.checks.append(
            _("The backup predates %(count)s migration(s) of this release: manage.py migrate after restoring it.")
            % {"count": newer}
        )
    # By name: the directory may be given by a relative path, or have been moved since.
    BackupRecord.objects.filter(name=path.resolve().name).update(verified_at=timezone.now(), verified_ok=report.ok)
    return report


def _verify_sqlite(file: Path, counts: dict[str, int], report: VerifyReport) -> None:
    try:
        with sqlite3.connect(f"file:{file}?mode=ro", uri=True) as database:
            result = database.execute("PRAGMA integrity_check").fetchone()[0]
        found = _sqlite_counts(file)
    except sqlite3.DatabaseError as error:
        report.problems.append(_("The database copy does not open: %(error)s") % {"error": error})
        return
    if result != "ok":
        report.problems.append(_("The database copy failed SQLite's integrity check: %(result)s") % {"result": result})
        return
    report.checks.append(_("The database copy passes SQLite's integrity check."))
    differing = sorted(table for table, count in counts.items() if found.get(table) != count)
    if differing:
        report.problems.append(_("Row counts differ from the manifest: %(tables)s") % {"tables": ", ".join(differing)})
    else:
        report.checks.append(
            _("Row counts as recorded: %(count)s patients.") % {"count": counts.get("core_patient", 0)}
        )


def _verify_postgres(file: Path, report: VerifyReport) -> None:
    try:
        listing = _run([postgres_tool("pg_restore"), "--list", str(file)], what="pg_restore --list").stdout
    except BackupError as error:
        report.problems.append(str(error))
        return
    missing = [table for table in ("core_patient", "core_auditevent") if f"TABLE DATA public {table} " not in listing]
    if missing:
        report.problems.append(_("The archive has no data of %(tables)s.") % {"tables": ", ".join(missing)})
    else:
        report.checks.append(_("pg_restore reads the archive: %(count)s entries.") % {"count": listing.count("\n")})


def _verify_media(file: Path, expected_files: int, report: VerifyReport) -> None:
    try:
        with tarfile.open(file, "r:gz") as archive:
            members = archive.getmembers()
            for member in members:
                if member.isfile():
                    handle = archive.extractfile(member)
                    while handle is not None and handle.read(1 << 20):
                        pass
    except (tarfile.TarError, OSError, EOFError) as error:
        report.problems.append(_("The media archive does not read: %(error)s") % {"error": error})
        return
    unsafe = [member.name for member in members if member.name.startswith("/") or ".." in Path(member.name).parts]
    if unsafe:
        report.problems.append(
            _("The media archive has paths outside its directory: %(paths)s") % {"paths": ", ".join(unsafe[:5])}
        )
    elif sum(1 for member in members if member.isfile()) != expected_files:
        report.problems.append(_("The media archive holds a different number of files than recorded."))
    else:
        report.checks.append(_("The media archive reads: %(count)s files.") % {"count": expected_files})


def _migrations_newer_than(recorded: dict[str, list[str]]) -> int:
    """How many of this release's applied migrations the backup does not have."""
    current = _applied_migrations()
    return sum(len(set(names) - set(recorded.get(app, []))) for app, names in current.items())
