"""``manage.py backup`` and ``manage.py verify_backup`` on the database the tests run on (SQLite or PostgreSQL):
a whole backup directory or none, checksums, the database copy readable and complete, tampering found, old backups
pruned, and the record the system status page shows."""

from __future__ import annotations

import datetime as dt
import io
import json
import sqlite3
import tarfile
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from xinqiao.core import backup
from xinqiao.core.models import BackupRecord, Patient
from xinqiao.core.services import patient_unseal

# pg_dump reads the database through its own connection: the test's rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    default_storage.save("reports/2025/weekly.pdf", ContentFile(b"%PDF-1.7 report"))
    default_storage.save("imports/douyin.csv", ContentFile("作品标题,播放量\n春季过敏,9.8万\n".encode()))
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def english(settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"  # the commands' messages in English (the page in Chinese: the last test)
    with translation.override("en"):
        yield


def run_backup(output: Path, *arguments: str) -> str:
    out = io.StringIO()
    call_command("backup", "--output-dir", str(output), *arguments, stdout=out)
    return out.getvalue()


def only_backup(output: Path) -> Path:
    [path] = [path for path in output.iterdir() if path.name.startswith("xinqiao-")]
    return path


def test_a_backup_holds_the_database_and_the_media_and_verifies(world, media, tmp_path):
    output = tmp_path / "backups"
    printed = run_backup(output)

    path = only_backup(output)
    assert not [item for item in output.iterdir() if item.name.startswith(".partial")]
    manifest = json.loads((path / "manifest.json").read_text())
    database_file = "database.sqlite3" if connection.vendor == "sqlite" else "database.dump"
    assert set(manifest["files"]) == {database_file, "media.tar.gz"}
    assert manifest["database"]["vendor"] == connection.vendor
    assert "0007_backup_record" in manifest["migrations"]["core"]
    assert manifest["media"] == {"file": "media.tar.gz", "files": 2}
    assert f"Backup written to {path}" in printed
    with tarfile.open(path / "media.tar.gz") as archive:
        assert sorted(archive.getnames()) == ["imports/douyin.csv", "reports/2025/weekly.pdf"]
    if connection.vendor == "sqlite":
        patients = Patient.objects.count()
        assert manifest["database"]["counts"]["core_patient"] == patients > 0
        with sqlite3.connect(path / database_file) as copy:
            assert copy.execute("SELECT COUNT(*) FROM core_patient").fetchone()[0] == patients
        # identifiers stay sealed in the copy, as in the database: no mobile number appears in its bytes
        copied = (path / database_file).read_bytes()
        for patient in Patient.objects.all():
            assert patient_unseal(patient, "mobile").encode() not in copied
    record = BackupRecord.objects.get()
    assert record.name == path.name
    assert record.location == str(path)
    assert record.bytes == sum(entry["bytes"] for entry in manifest["files"].values())
    assert record.verified_at is None

    out = io.StringIO()
    moved = path.rename(tmp_path / path.name)  # copied off the backup disk, say
    call_command("verify_backup", str(moved), stdout=out)
    assert f"The backup {moved} is intact." in out.getvalue()
    assert "ok: media.tar.gz: size and SHA-256 as recorded." in out.getvalue()
    record.refresh_from_db()
    assert record.verified_ok is True
    assert record.verified_at is not None


def test_a_changed_file_fails_verification(world, media, tmp_path, client):
    output = tmp_path / "backups"
    run_backup(output)
    path = only_backup(output)
    assert client.get("/health/backup").status_code == 200  # fresh, not verified yet
    archive = path / "media.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))

    errors = io.StringIO()
    with pytest.raises(CommandError, match="failed verification"):
        call_command("verify_backup", str(path), stdout=io.StringIO(), stderr=errors)
    assert "media.tar.gz differs from the manifest (size or SHA-256)." in errors.getvalue()
    assert BackupRecord.objects.get().verified_ok is False
    assert client.get("/health/backup").json()["checks"]["backup"]["verified"] is False  # the monitoring sees it
    assert client.get("/health/backup").status_code == 503


def test_a_missing_database_file_fails_verification(world, media, tmp_path):
    output = tmp_path / "backups"
    run_backup(output, "--no-media")
    path = only_backup(output)
    assert json.loads((path / "manifest.json").read_text())["media"] is None
    for database_file in path.glob("database.*"):
        database_file.unlink()
    errors = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_backup", str(path), stdout=io.StringIO(), stderr=errors)
    assert "is missing." in errors.getvalue()


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_a_sqlite_copy_with_other_rows_than_recorded_fails(world, media, tmp_path):
    output = tmp_path / "backups"
    run_backup(output)
    path = only_backup(output)
    manifest_path = path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["database"]["counts"]["core_patient"] += 1  # as if a patient were lost from the copy
    manifest_path.write_text(json.dumps(manifest))
    report = backup.backup_verify(path)
    assert report.problems == ["Row counts differ from the manifest: core_patient"]


def test_keep_prunes_the_oldest_of_our_backups_only(world, media, tmp_path):
    output = tmp_path / "backups"
    output.mkdir()
    (output / "xinqiao-notes").mkdir()  # not ours: no manifest
    (output / "readme.txt").write_text("backups of XinQiao")
    start = timezone.now()
    for hours in range(3):
        backup.backup_create(output, include_media=False, now=start - dt.timedelta(hours=hours + 1))
    printed = run_backup(output, "--no-media", "--keep", "2")
    names = sorted(path.name for path in output.iterdir())
    assert len([name for name in names if name.startswith("xinqiao-2")]) == 2
    assert "xinqiao-notes" in names
    assert "readme.txt" in names
    assert printed.count("Deleted the older backup") == 2


def test_a_backup_of_the_same_second_is_refused_and_a_failure_leaves_nothing(world, media, tmp_path, monkeypatch):
    output = tmp_path / "backups"
    moment = timezone.now() - dt.timedelta(days=1)
    backup.backup_create(output, include_media=False, now=moment)
    with pytest.raises(backup.BackupError, match="exists already"):
        backup.backup_create(output, include_media=False, now=moment)

    def unreadable_media(target):
        raise OSError("disk full")

    monkeypatch.setattr(backup, "_media_archive", unreadable_media)
    with pytest.raises(CommandError, match="could not be written: disk full"):
        run_backup(output)
    assert [path.name.startswith("xinqiao-") for path in output.iterdir()] == [True]  # only the first backup
    assert BackupRecord.objects.count() == 1


def test_the_system_status_page_shows_the_newest_backup(client, world, media, tmp_path):
    client.force_login(world.users["admin"])
    page = client.get("/system/").content.decode()
    assert "No backup made with manage.py backup is recorded" in page

    old = timezone.now() - dt.timedelta(hours=30)
    backup.backup_create(tmp_path / "backups", include_media=False, now=old)
    page = client.get("/system/").content.decode()
    assert '<span class="badge off">Overdue</span>' in page
    assert "not yet: run manage.py verify_backup" in page
    assert client.get("/health/backup").status_code == 503

    result = backup.backup_create(tmp_path / "backups", include_media=False)
    backup.backup_verify(result.path)
    page = client.get("/system/").content.decode()
    assert "Overdue" not in page
    assert result.path.name in page
    assert '<span class="badge ok">Intact</span>' in page
    assert client.get("/health/backup").json()["checks"]["backup"]["verified"] is True


def test_the_commands_speak_the_deployments_language(world, media, tmp_path, settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "zh-hans"
    with translation.override("zh-hans"):
        printed = run_backup(tmp_path / "backups", "--no-media")
        out = io.StringIO()
        call_command("verify_backup", str(only_backup(tmp_path / "backups")), stdout=out)
    assert "备份已写入" in printed
    assert "完好" in out.getvalue()
