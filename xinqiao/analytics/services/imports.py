"""Imports of platform back-end exports into the metric fact tables: preview, then an atomic, idempotent commit.

Flow: ``metric_import_preview`` stores the uploaded file, parses it and records what it found (export type, header
row, column mapping, unknown columns, the first rows, every row error) on a ``MetricImport`` in status *preview*
(or *rejected* when the file has errors). ``metric_import_commit`` parses the stored file again (the preview is not
trusted) and upserts every record in one transaction: content facts by (account, stat_date, content_key), account
facts by (account, stat_date). Rows whose values are already stored are counted as unchanged and not written, so
importing the same file twice changes nothing. ``metric_import_file`` does both for the command line.

Large files are worked on by the task worker, so that no import runs into the web server's request timeout. An
upload larger than ``settings.XINQIAO_IMPORT_BACKGROUND_BYTES`` is stored and read there (*analysing* →
task ``preview_metric_import`` → ``metric_import_run_analysis`` → *preview* or *rejected*). A file with more data
rows than ``settings.XINQIAO_IMPORT_BACKGROUND_ROWS`` is committed there (``metric_import_queue`` → *queued* → task
``commit_metric_import`` → ``metric_import_run_queued`` → *committed*, *rejected* or *failed*, nothing written and
the reason kept). The user's team gets an in-app notice when either is done.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import operator
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from xinqiao.analytics.importers.headers import EXPORT_TYPES_BY_CODE
from xinqiao.analytics.importers.parse import (
    AccountRecord,
    ContentColumns,
    ContentRecord,
    ParseResult,
    parse_file,
    without_cyclic_gc,
)
from xinqiao.analytics.importers.values import SHANGHAI
from xinqiao.analytics.models import AccountMetricDaily, ContentMetricDaily, MetricImport, MetricSource
from xinqiao.analytics.services.rollup import (
    account_lock,
    content_rollup_refresh,
    content_rollup_replace,
    content_rollup_rows,
)
from xinqiao.channels.models import PlatformAccount, Publication
from xinqiao.core.access import Action, Principal
from xinqiao.core.audit import audit_record
from xinqiao.core.bulk import Prefetched, Repeated, bulk_upsert, bulk_upsert_columns, checkpoint_after
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent, Hospital, Membership

IMPORT_PLATFORMS = (
    "wechat_oa",
    "wechat_channels",
    "weibo",
    "douyin",
    "kuaishou",
    "xiaohongshu",
    "bilibili",
    "zhihu",
)
ALLOWED_SUFFIXES = (".xlsx", ".xls", ".csv")

CONTENT_VALUE_FIELDS = (
    "publication_id",
    "platform",
    "title",
    "content_format",
    "topic",
    "department_id_snapshot",
    "doctor_id_snapshot",
    "published_at",
    "impressions",
    "views",
    "viewers",
    "completion_rate",
    "avg_watch_seconds",
    "likes",
    "comments",
    "shares",
    "favorites",
    "follows_gained",
    "extra",
)
CONTENT_DEFAULTS: dict[str, Any] = {
    "publication_id": None,
    "title": "",
    "content_format": "",
    "topic": "",
    "department_id_snapshot": None,
    "doctor_id_snapshot": None,
    "published_at": None,
    "impressions": 0,
    "views": 0,
    "viewers": 0,
    "completion_rate": None,
    "avg_watch_seconds": None,
    "likes": 0,
    "comments": 0,
    "shares": 0,
    "favorites": 0,
    "follows_gained": 0,
    "extra": {},
}
ACCOUNT_VALUE_FIELDS = ("followers", "new_followers", "lost_followers", "net_followers", "extra")
ACCOUNT_DEFAULTS: dict[str, Any] = {
    "followers": None,
    "new_followers": 0,
    "lost_followers": 0,
    "net_followers": 0,
    "extra": {},
}


WRITE_FIELDS = ("source", "metric_import_id", "updated_at")
# Rows whose ``extra`` JSON is made before the first write; the others' is made while the database writes these.
EXTRA_FIRST_ROWS = 5_000


# --- helpers shared with the datacube sync -------------------------------------------------------------------


class PublicationIndex:
    """The account's publications by (title, publish date in Shanghai) and by title alone (when unique)."""

    def __init__(self, account: PlatformAccount) -> None:
        rows = (
            Publication.objects.filter(account=account)
            .exclude(published_at__isnull=True)
            .values_list(
                "pk",
                "revision__title",
                "published_at",
                "item__department_id",
                "item__doctor_id",
                "item__disease_topics",
            )
        )
        self.by_day: dict[tuple[str, dt.date], tuple] = {}
        by_title: dict[str, list[tuple]] = {}
        for pk, title, published_at, department_id, doctor_id, topics in rows:
            key = _title_key(title)
            topic = str(topics[0])[:40] if isinstance(topics, list) and topics else ""
            info = (pk, department_id, doctor_id, topic, published_at)
            self.by_day[(key, published_at.astimezone(SHANGHAI).date())] = info
            by_title.setdefault(key, []).append(info)
        self.by_title = {key: infos[0] for key, infos in by_title.items() if len(infos) == 1}

    def find(self, title: str, published: dt.date | None) -> tuple | None:
        if not self.by_title and not self.by_day:
            return None
        key = _title_key(title)
        if published is not None:
            return self.by_day.get((key, published))
        return self.by_title.get(key)


def _title_key(title: str) -> str:
    return re.sub(r"\s+", "", title or "")


def upsert_content(
    *,
    account: PlatformAccount,
    records: Iterable[ContentRecord],
    source: str,
    metric_import: MetricImport | None = None,
) -> tuple[int, int, int]:
    """Write content facts, (created, updated, unchanged). Values the record does not carry keep their stored
    value; ``extra`` is merged key by key. The account's rollup of the days written is recomputed. Must run inside
    the caller's transaction: the account row stays locked until it ends (one writer of an account at a time)."""
    account_lock(account.pk)
    if isinstance(records, ContentColumns):
        counts = _insert_new_content(account=account, records=records, source=source, metric_import=metric_import)
        if counts is not None:
            return counts
    records = list(records)
    if not records:
        return 0, 0, 0
    dates = [record.stat_date for record in records]
    # The stored values of the file's rows, as tuples in CONTENT_VALUE_FIELDS order (dicts fetched 5,000 at a time
    # took a third of a 200,000-row re-import). Streamed: the date range may hold far more rows than the file.
    existing: dict[tuple[str, dt.date], tuple] = {}
    keys = {(record.content_key, record.stat_date) for record in records}
    queryset = ContentMetricDaily.objects.filter(account=account, stat_date__range=(min(dates), max(dates)))
    stored_rows = queryset.values_list("content_key", "stat_date", *CONTENT_VALUE_FIELDS).iterator(chunk_size=20_000)
    for content_key, stat_date, *stored in stored_rows:
        key = (content_key, stat_date)
        if key in keys:
            existing[key] = tuple(stored)
    stored_values = operator.itemgetter(*CONTENT_VALUE_FIELDS)
    publications = PublicationIndex(account)
    has_publications = bool(publications.by_title or publications.by_day)
    local_days: dict[dt.datetime, dt.date] = {}
    now = timezone.now()
    import_id = metric_import.pk if metric_import is not None else None
    created = updated = unchanged = 0
    to_write: list[dict[str, Any]] = []
    department_id = account.department_id
    doctor_id = account.doctor_id
    platform = account.platform
    written = {
        "hospital_id": account.hospital_id,
        "account_id": account.pk,
        "source": source,
        "metric_import_id": import_id,
        "updated_at": now,
    }
    for record in records:
        old = existing.get((record.content_key, record.stat_date)) if existing else None
        values = dict(CONTENT_DEFAULTS) if old is None else dict(zip(CONTENT_VALUE_FIELDS, old, strict=True))
        values["platform"] = platform
        values.update(record.metrics)
        if record.title:
            values["title"] = record.title
        if record.published_at is not None:
            values["published_at"] = record.published_at
        if record.content_format and not values["content_format"]:
            values["content_format"] = record.content_format
        if record.extra:
            values["extra"] = {**(values["extra"] or {}), **record.extra}
        match = None
        if has_publications:  # (an account without publications: no day to compute, nothing to match)
            published_day = record.published_day
            if published_day is None and record.published_at is not None:
                published_day = local_days.get(record.published_at)
                if published_day is None:
                    published_day = local_days[record.published_at] = record.published_at.astimezone(SHANGHAI).date()
            match = publications.find(values["title"], published_day)
        if match is not None:
            values["publication_id"], dep, doc, topic, publication_time = match
            if values["published_at"] is None:
                values["published_at"] = publication_time
            values["department_id_snapshot"] = dep or department_id
            values["doctor_id_snapshot"] = doc or doctor_id
            values["topic"] = values["topic"] or topic
        else:
            values["department_id_snapshot"] = values["department_id_snapshot"] or department_id
            values["doctor_id_snapshot"] = values["doctor_id_snapshot"] or doctor_id
        if old is not None:
            if stored_values(values) == old:
                unchanged += 1
                continue
            updated += 1
        else:
            created += 1
        values.update(written)
        values["content_key"] = record.content_key
        values["stat_date"] = record.stat_date
        to_write.append(values)
    bulk_upsert(
        ContentMetricDaily,
        to_write,
        unique=("account_id", "stat_date", "content_key"),
        columns=("hospital_id", "account_id", "content_key", "stat_date", *CONTENT_VALUE_FIELDS, *WRITE_FIELDS),
    )
    if to_write:
        written_days = [values["stat_date"] for values in to_write]
        content_rollup_refresh(account_id=account.pk, start=min(written_days), end=max(written_days))
    return created, updated, unchanged


def _insert_new_content(
    *, account: PlatformAccount, records: ContentColumns, source: str, metric_import: MetricImport | None
) -> tuple[int, int, int] | None:
    """The common first import of a period: the account has no stored row in the file's date range, so every
    record is new and is written straight from the parsed columns (no per-row dict, no merge). None when rows of
    that range exist: ``upsert_content`` then compares and merges row by row. The rows are every fact of their
    days, so the rollup of those days is summed from the same columns (no read-back of what was just written)."""
    count = len(records)
    if not count:
        return 0, 0, 0
    dates = records.stat_dates
    first_day, last_day = min(dates), max(dates)
    if ContentMetricDaily.objects.filter(account=account, stat_date__range=(first_day, last_day)).exists():
        return None
    encoder = ContentMetricDaily._meta.get_field("extra").encoder or json.JSONEncoder
    data: dict[str, list[Any] | Repeated] = {
        "hospital_id": Repeated(account.hospital_id),
        "account_id": Repeated(account.pk),
        "content_key": records.content_keys,
        "stat_date": dates,
        "platform": Repeated(account.platform),
        "title": records.titles,
        "content_format": records.formats,
        "published_at": records.published_at,
        "publication_id": Repeated(None),
        "department_id_snapshot": Repeated(account.department_id),
        "doctor_id_snapshot": Repeated(account.doctor_id),
        "topic": Repeated(""),
        # Every row's JSON from polars queries over the columns (each distinct value encoded once): the first rows
        # now, the others in a thread while the database writes those. Chinese text as UTF-8 rather than \u escapes
        # (shorter to store and to check, the same JSON).
        "extra": Prefetched.computing(
            functools.partial(records.extra_json, encoder(ensure_ascii=False).encode), count, EXTRA_FIRST_ROWS
        ),
        "source": Repeated(source),
        "metric_import_id": Repeated(metric_import.pk if metric_import is not None else None),
        "updated_at": Repeated(timezone.now()),
    }
    for name in CONTENT_VALUE_FIELDS:
        if name not in data:
            data[name] = records.metrics[name] if name in records.metrics else Repeated(CONTENT_DEFAULTS[name])
    publications = PublicationIndex(account)
    if publications.by_title or publications.by_day:
        _match_publications(data, records, publications, account)
    try:
        with transaction.atomic():  # a savepoint: rows another process stored meanwhile send us to the merge
            bulk_upsert_columns(
                ContentMetricDaily,
                data,
                count,
                unique=("account_id", "stat_date", "content_key"),
                columns=("hospital_id", "account_id", "content_key", "stat_date", *CONTENT_VALUE_FIELDS, *WRITE_FIELDS),
                json_text=frozenset({"extra"}),
                insert_only=True,
            )
    except (IntegrityError, connection.Database.IntegrityError):  # raw cursors raise the driver's own error
        return None
    content_rollup_replace(account_id=account.pk, start=first_day, end=last_day, rows=content_rollup_rows(data, count))
    return count, 0, 0


def _match_publications(data: dict[str, Any], records: ContentColumns, publications: PublicationIndex, account):
    """Link rows to the account's publications by title and publish day, as ``upsert_content`` does per row."""
    local_days: dict[dt.datetime, dt.date] = {}
    matches = []
    for title, published in zip(records.titles, records.published_at, strict=True):
        day = None
        if published is not None:
            day = local_days.get(published)
            if day is None:
                day = local_days[published] = published.astimezone(SHANGHAI).date()
        matches.append(publications.find(title, day))
    if not any(matches):
        return
    department_id, doctor_id = account.department_id, account.doctor_id
    data["publication_id"] = [match[0] if match else None for match in matches]
    data["department_id_snapshot"] = [(match[1] or department_id) if match else department_id for match in matches]
    data["doctor_id_snapshot"] = [(match[2] or doctor_id) if match else doctor_id for match in matches]
    data["topic"] = [match[3] if match else "" for match in matches]
    data["published_at"] = [
        match[4] if published is None and match else published
        for published, match in zip(records.published_at, matches, strict=True)
    ]


def upsert_account(
    *,
    account: PlatformAccount,
    records: Iterable[AccountRecord],
    source: str,
    metric_import: MetricImport | None = None,
) -> tuple[int, int, int]:
    """Write account facts, (created, updated, unchanged); same rules as ``upsert_content``."""
    records = list(records)
    if not records:
        return 0, 0, 0
    dates = {record.stat_date for record in records}
    existing = {
        row["stat_date"]: row
        for row in AccountMetricDaily.objects.filter(account=account, stat_date__in=dates).values(
            "stat_date", *ACCOUNT_VALUE_FIELDS
        )
    }
    now = timezone.now()
    import_id = metric_import.pk if metric_import is not None else None
    created = updated = unchanged = 0
    to_write: list[dict[str, Any]] = []
    for record in records:
        old = existing.get(record.stat_date)
        values = dict(ACCOUNT_DEFAULTS) if old is None else {name: old[name] for name in ACCOUNT_VALUE_FIELDS}
        values.update(record.metrics)
        if record.extra:
            values["extra"] = {**(values["extra"] or {}), **record.extra}
        if old is not None:
            if all(old[name] == values[name] for name in ACCOUNT_VALUE_FIELDS):
                unchanged += 1
                continue
            updated += 1
        else:
            created += 1
        values.update(
            hospital_id=account.hospital_id,
            account_id=account.pk,
            stat_date=record.stat_date,
            source=source,
            metric_import_id=import_id,
            updated_at=now,
        )
        to_write.append(values)
    bulk_upsert(
        AccountMetricDaily,
        to_write,
        unique=("account_id", "stat_date"),
        columns=("hospital_id", "account_id", "stat_date", *ACCOUNT_VALUE_FIELDS, *WRITE_FIELDS),
    )
    return created, updated, unchanged


# --- preview and commit ----------------------------------------------------------------------------------------


def _check_target(hospital: Hospital, account: PlatformAccount | None, platform: str) -> None:
    if platform not in IMPORT_PLATFORMS:
        raise ApplicationError(
            _("Unknown platform “%(platform)s”; choose one of %(platforms)s.")
            % {"platform": platform, "platforms": ", ".join(IMPORT_PLATFORMS)},
            code="platform",
            field="platform",
        )
    if account is None:
        raise ApplicationError(_("Choose the account the export belongs to."), code="account", field="account")
    if account.hospital_id != hospital.pk:
        raise ApplicationError(_("Choose one of your hospital's accounts."), code="account", field="account")
    if account.platform != platform:
        raise ApplicationError(
            _("The account %(account)s is on %(account_platform)s, not on the chosen platform.")
            % {"account": account.name, "account_platform": account.get_platform_display()},
            code="account",
            field="account",
        )


def _safe_name(filename: str) -> str:
    name = Path(filename or "export").name
    return re.sub(r"[^\w.\-]+", "_", name)[-120:] or "export"


def _record_parse(metric_import: MetricImport, result: ParseResult) -> None:
    metric_import.export_type = result.export_type.code if result.export_type else ""
    metric_import.header_row = result.header_row
    metric_import.column_map = result.column_map
    metric_import.unknown_columns = result.unknown_columns
    metric_import.rows_total = result.data_rows
    metric_import.errors = [error.as_dict() for error in result.errors]
    metric_import.errors_total = result.errors_total
    metric_import.preview_rows = result.preview_rows
    metric_import.date_from, metric_import.date_to = result.date_range
    metric_import.details = {
        "file_kind": result.file_kind,
        "encoding": result.encoding,
        "skipped_rows": result.skipped_rows,
        "snapshot_date": result.snapshot_date.isoformat() if result.snapshot_date else None,
        "records": result.records_total,
        "columns": [{"header": c.header, "field": c.canonical, "unit": c.unit} for c in result.columns],
    }


def _preview(
    *, hospital: Hospital, account: PlatformAccount | None, platform: str, filename: str, data: bytes, user
) -> tuple[MetricImport, ParseResult]:
    metric_import = _stored_import(
        hospital=hospital, account=account, platform=platform, filename=filename, data=data, user=user
    )
    result = parse_file(data, filename=filename, platform=platform)
    _record_parse(metric_import, result)
    metric_import.status = MetricImport.Status.PREVIEW if result.ok else MetricImport.Status.REJECTED
    metric_import.save()
    return metric_import, result


def _stored_import(
    *, hospital: Hospital, account: PlatformAccount | None, platform: str, filename: str, data: bytes, user
) -> MetricImport:
    """Check the target and the file name, store the file and return the (unsaved) import that records it."""
    _check_target(hospital, account, platform)
    if not filename.lower().endswith(ALLOWED_SUFFIXES):
        raise ApplicationError(_("Upload the export as .xlsx, .xls or .csv."), code="file_type", field="uploaded_file")
    digest = hashlib.sha256(data).hexdigest()
    stored = default_storage.save(
        f"metric_imports/{hospital.pk}/{timezone.now():%Y%m}/{digest[:16]}-{_safe_name(filename)}", ContentFile(data)
    )
    return MetricImport(
        hospital=hospital,
        account=account,
        platform=platform,
        filename=Path(filename).name[:200],
        file_sha256=digest,
        stored_path=stored,
        created_by=user if user is not None and getattr(user, "pk", None) else None,
    )


def _analyse_later(
    *, hospital: Hospital, account: PlatformAccount | None, platform: str, filename: str, data: bytes, user
) -> MetricImport:
    """Store a large upload as *analysing* and enqueue its parse for the task worker."""
    from xinqiao.analytics.tasks import preview_metric_import

    metric_import = _stored_import(
        hospital=hospital, account=account, platform=platform, filename=filename, data=data, user=user
    )
    metric_import.status = MetricImport.Status.ANALYSING
    metric_import.details = {"language": _language()}
    with transaction.atomic():
        metric_import.save()
        transaction.on_commit(lambda: preview_metric_import.enqueue(import_id=metric_import.pk))
    return metric_import


def _language() -> str:
    """The language a background job writes its notice and messages in: the one the user asked in."""
    return translation.get_language() or settings.LANGUAGE_CODE


def metric_import_run_analysis(*, import_id: int) -> str:
    """The task worker's preview of a large upload: the same parse as an upload in the request, recorded on the
    import (*preview*, or *rejected* with its errors). Idempotent: an import no longer analysing is left alone."""
    metric_import = MetricImport.objects.filter(pk=import_id).first()
    if metric_import is None or metric_import.status != MetricImport.Status.ANALYSING:
        return metric_import.status if metric_import is not None else "missing"
    with translation.override(metric_import.details.get("language") or settings.LANGUAGE_CODE):
        try:
            data = _stored_file(metric_import)
        except ApplicationError as error:
            result = None
            problem = error.message
        else:
            try:
                result = parse_file(data, filename=metric_import.filename, platform=metric_import.platform)
            except Exception:
                _end_analysis(
                    metric_import,
                    None,
                    _("The file could not be read because of an unexpected error; upload it again."),
                )
                raise  # the worker records the task as failed and logs the error (an export holds no patient data)
            problem = ""
        status = _end_analysis(metric_import, result, problem)
    return status


def _end_analysis(metric_import: MetricImport, result: ParseResult | None, problem: str) -> str:
    with transaction.atomic():
        locked = MetricImport.objects.select_for_update().get(pk=metric_import.pk)
        if locked.status != MetricImport.Status.ANALYSING:
            return locked.status
        if result is not None:
            _record_parse(locked, result)
            locked.status = MetricImport.Status.PREVIEW if result.ok else MetricImport.Status.REJECTED
        else:
            locked.errors = [{"row": 0, "column": "", "message": problem}]
            locked.errors_total = 1
            locked.status = MetricImport.Status.REJECTED
        locked.save()
    _notify_done(locked)
    return locked.status


def metric_import_preview(*, principal: Principal, account: PlatformAccount | None, platform: str, uploaded_file):
    """Store and parse an uploaded export; nothing is written to the fact tables yet. A file larger than
    ``settings.XINQIAO_IMPORT_BACKGROUND_BYTES`` is stored now and parsed by the task worker (*analysing*)."""
    principal.require(Action.ANALYTICS_MANAGE)
    data = uploaded_file.read()
    upload = {
        "hospital": principal.hospital,
        "account": account,
        "platform": platform,
        "filename": getattr(uploaded_file, "name", "") or "export.csv",
        "data": data,
        "user": principal.user,
    }
    if len(data) > settings.XINQIAO_IMPORT_BACKGROUND_BYTES:
        return _analyse_later(**upload)
    metric_import, _result = _preview(**upload)
    return metric_import


def _commit(
    metric_import: MetricImport,
    result: ParseResult,
    *,
    principal=None,
    user=None,
    actor_label: str = "",
    request=None,
    from_status: str = MetricImport.Status.PREVIEW,
):
    """Write the parsed file's records in one transaction; the import must still be in ``from_status``."""
    if not result.ok:
        raise ApplicationError(
            _("The file has %(count)d error(s); nothing was imported. Correct the file and upload it again.")
            % {"count": result.errors_total},
            code="import_errors",
            extra={"errors": [error.as_dict() for error in result.errors[:50]]},
        )
    account = metric_import.account
    # The commit returns without copying SQLite's log of the written rows into the database (a background thread
    # does that next): the user or the task sees the import done half a second sooner (200,000 rows).
    with without_cyclic_gc(), checkpoint_after(), transaction.atomic():
        locked = MetricImport.objects.select_for_update().get(pk=metric_import.pk)
        if locked.status != from_status:
            raise ApplicationError(_("This import was already committed or rejected."), code="import_state")
        created_c, updated_c, unchanged_c = upsert_content(
            account=account, records=result.content, source=MetricSource.IMPORT, metric_import=locked
        )
        created_a, updated_a, unchanged_a = upsert_account(
            account=account, records=result.account, source=MetricSource.IMPORT, metric_import=locked
        )
        _record_parse(locked, result)
        locked.rows_created = created_c + created_a
        locked.rows_updated = updated_c + updated_a
        locked.rows_unchanged = unchanged_c + unchanged_a
        locked.status = MetricImport.Status.COMMITTED
        locked.committed_at = timezone.now()
        locked.failure = ""
        locked.save()
        audit_record(
            action=AuditEvent.Action.METRIC_IMPORT,
            principal=principal,
            user=user,
            hospital=locked.hospital,
            actor_label=actor_label,
            request=request,
            object_type="analytics.MetricImport",
            object_id=locked.pk,
            detail={
                "platform": locked.platform,
                "account": account.pk,
                "export_type": locked.export_type,
                "file_sha256": locked.file_sha256,
                "created": locked.rows_created,
                "updated": locked.rows_updated,
                "unchanged": locked.rows_unchanged,
            },
        )
    return locked


COMMITTABLE = (MetricImport.Status.PREVIEW, MetricImport.Status.FAILED)


def metric_import_commit(*, principal: Principal, metric_import: MetricImport, request=None) -> MetricImport:
    """Parse the stored file again and write all its records atomically (or nothing, with the errors). A file with
    more data rows than ``settings.XINQIAO_IMPORT_BACKGROUND_ROWS`` is queued for the task worker instead
    (``metric_import_queue``); so is a failed import tried again."""
    principal.require(Action.ANALYTICS_MANAGE)
    if metric_import.hospital_id != principal.hospital.pk:
        raise ApplicationError(_("This import belongs to another hospital."), code="not_found")
    if metric_import.status not in COMMITTABLE:
        raise ApplicationError(_("This import was already committed or rejected."), code="import_state")
    if metric_import.account is None:
        raise ApplicationError(_("The account of this import was deleted."), code="account")
    if metric_import.rows_total > settings.XINQIAO_IMPORT_BACKGROUND_ROWS:
        return metric_import_queue(principal=principal, metric_import=metric_import)
    data = _stored_file(metric_import)
    result = parse_file(data, filename=metric_import.filename, platform=metric_import.platform)
    return _commit(metric_import, result, principal=principal, request=request, from_status=metric_import.status)


def _stored_file(metric_import: MetricImport) -> bytes:
    """The uploaded file as stored at the preview; refused when it is gone or changed since."""
    try:
        with default_storage.open(metric_import.stored_path, "rb") as handle:
            data = handle.read()
    except OSError:
        data = b""
    if hashlib.sha256(data).hexdigest() != metric_import.file_sha256:
        raise ApplicationError(_("The stored file changed since the preview; upload it again."), code="file_changed")
    return data


def metric_import_queue(*, principal: Principal, metric_import: MetricImport) -> MetricImport:
    """Hand the commit to the task worker: the import becomes *queued* now, the task is enqueued when this
    transaction commits. Queuing twice is refused (the import is no longer in preview)."""
    principal.require(Action.ANALYTICS_MANAGE)
    from xinqiao.analytics.tasks import commit_metric_import

    with transaction.atomic():
        locked = MetricImport.objects.select_for_update().get(pk=metric_import.pk, hospital=principal.hospital)
        if locked.status not in COMMITTABLE:
            raise ApplicationError(_("This import was already committed or rejected."), code="import_state")
        locked.status = MetricImport.Status.QUEUED
        locked.queued_by = principal.user if getattr(principal.user, "pk", None) else None
        locked.queued_at = timezone.now()
        locked.failure = ""
        locked.details = {**locked.details, "language": _language()}
        locked.save(update_fields=["status", "queued_by", "queued_at", "failure", "details"])
        transaction.on_commit(lambda: commit_metric_import.enqueue(import_id=locked.pk))
    return locked


def metric_import_cancel(*, principal: Principal, metric_import: MetricImport) -> MetricImport:
    """Stop waiting for the task worker: a queued commit goes back to *preview* (import it again later), a file
    still being read is *rejected* (upload it again). A worker that picks the task up afterwards finds the import
    no longer waiting and leaves it alone; one already writing holds the import's row lock, so the cancel waits for
    it and is then refused (the import is done)."""
    principal.require(Action.ANALYTICS_MANAGE)
    with transaction.atomic():
        locked = (
            MetricImport.objects.select_for_update().filter(pk=metric_import.pk, hospital=principal.hospital).first()
        )
        if locked is None or locked.status not in (MetricImport.Status.QUEUED, MetricImport.Status.ANALYSING):
            raise ApplicationError(
                _("This import is no longer waiting for the background worker."), code="import_state"
            )
        if locked.status == MetricImport.Status.QUEUED:
            locked.status = MetricImport.Status.PREVIEW
        else:
            locked.status = MetricImport.Status.REJECTED
            locked.errors = [{"row": 0, "column": "", "message": _("Reading the file was cancelled; upload it again.")}]
            locked.errors_total = 1
        locked.save(update_fields=["status", "errors", "errors_total"])
    return locked


def metric_import_run_queued(*, import_id: int) -> str:
    """The task worker's commit of a queued import: the same parse and atomic write as ``metric_import_commit``.
    Idempotent: an import that is no longer queued (done by an earlier run) is left alone. Returns the status."""
    metric_import = MetricImport.objects.select_related("account", "queued_by").filter(pk=import_id).first()
    if metric_import is None or metric_import.status != MetricImport.Status.QUEUED:
        return metric_import.status if metric_import is not None else "missing"
    with translation.override(metric_import.details.get("language") or settings.LANGUAGE_CODE):
        try:
            if metric_import.account is None:
                raise ApplicationError(_("The account of this import was deleted."), code="account")
            data = _stored_file(metric_import)
            result = parse_file(data, filename=metric_import.filename, platform=metric_import.platform)
            if not result.ok:
                _end_queued(metric_import, MetricImport.Status.REJECTED, result=result)
                return MetricImport.Status.REJECTED
            committed = _commit(
                metric_import, result, user=metric_import.queued_by, from_status=MetricImport.Status.QUEUED
            )
        except ApplicationError as error:
            if error.code == "import_state":  # another run finished it meanwhile
                return MetricImport.objects.get(pk=import_id).status
            _end_queued(metric_import, MetricImport.Status.FAILED, failure=error.message)
            return MetricImport.Status.FAILED
        except Exception:
            _end_queued(
                metric_import,
                MetricImport.Status.FAILED,
                failure=_("The import stopped on an unexpected error; nothing was imported. Try again."),
            )
            raise  # the worker records the task as failed and logs the error (an export holds no patient data)
        _notify_done(committed)
    return MetricImport.Status.COMMITTED


def _end_queued(metric_import: MetricImport, status: str, *, failure: str = "", result: ParseResult | None = None):
    """A queued import that could not be committed: nothing was written; record why and tell its author."""
    with transaction.atomic():
        locked = MetricImport.objects.select_for_update().get(pk=metric_import.pk)
        if locked.status != MetricImport.Status.QUEUED:
            return
        if result is not None:
            _record_parse(locked, result)
        locked.status = status
        locked.failure = failure[:500]
        locked.save()
    _notify_done(locked)


def _notify_done(metric_import: MetricImport) -> None:
    """An in-app notice for the user's team (``_notice_audience``): a background step of the import is done (or
    could not be), with a link to it."""
    from xinqiao.channels.models import Notification
    from xinqiao.channels.services import notify

    if metric_import.status == MetricImport.Status.PREVIEW:
        message = _("%(file)s is read: %(rows)d rows ready to import. Check the preview and import it.") % {
            "file": metric_import.filename,
            "rows": metric_import.rows_total,
        }
        level = Notification.Level.INFO
    elif metric_import.status == MetricImport.Status.COMMITTED:
        message = _(
            "Import of %(file)s finished: %(created)d created, %(updated)d updated, %(unchanged)d unchanged."
        ) % {
            "file": metric_import.filename,
            "created": metric_import.rows_created,
            "updated": metric_import.rows_updated,
            "unchanged": metric_import.rows_unchanged,
        }
        level = Notification.Level.INFO
    elif metric_import.status == MetricImport.Status.REJECTED:
        message = _("Import of %(file)s refused: the file has %(count)d error(s); nothing was imported.") % {
            "file": metric_import.filename,
            "count": metric_import.errors_total,
        }
        level = Notification.Level.WARNING
    else:
        message = _("Import of %(file)s failed: %(reason)s") % {
            "file": metric_import.filename,
            "reason": metric_import.failure,
        }
        level = Notification.Level.WARNING
    notify(
        hospital_id=metric_import.hospital_id,
        message=message,
        level=level,
        link=reverse("analytics:import_detail", args=[metric_import.pk]),
        audience_role=_notice_audience(metric_import),
    )


def _notice_audience(metric_import: MetricImport) -> str:
    """The role whose members read the notice: the brand team, or the administrators when the user who started
    the import is an administrator without a brand role (they would not see a brand notice)."""
    user_id = metric_import.queued_by_id or metric_import.created_by_id
    roles = set(
        Membership.objects.filter(user_id=user_id, hospital_id=metric_import.hospital_id).values_list("role", flat=True)
    )
    if Membership.Role.BRAND not in roles and Membership.Role.ADMIN in roles:
        return Membership.Role.ADMIN
    return Membership.Role.BRAND


def resolve_account(*, hospital: Hospital, platform: str, account_id: int | None) -> PlatformAccount:
    """The account for a command-line import: the one named, else the hospital's only account on the platform."""
    accounts = PlatformAccount.objects.filter(hospital=hospital, platform=platform)
    if account_id is not None:
        account = PlatformAccount.objects.filter(hospital=hospital, pk=account_id).first()
        if account is None:
            raise ApplicationError(
                _("Hospital %(hospital)s has no account %(id)d.") % {"hospital": hospital.code, "id": account_id},
                code="account",
            )
        return account
    candidates = list(accounts.order_by("pk")[:2])
    if not candidates:
        raise ApplicationError(
            _("Hospital %(hospital)s has no %(platform)s account: add it to the account matrix first.")
            % {"hospital": hospital.code, "platform": platform},
            code="account",
        )
    if len(candidates) > 1:
        raise ApplicationError(
            _("Hospital %(hospital)s has several %(platform)s accounts: name one with --account.")
            % {"hospital": hospital.code, "platform": platform},
            code="account",
        )
    return candidates[0]


def metric_import_file(
    *, hospital: Hospital, platform: str, path: str | Path, account: PlatformAccount | None = None,
    dry_run: bool = False,
) -> MetricImport:  # fmt: skip
    """Preview and commit one export file from disk (``manage.py import_metrics``); parses the file once.

    Raises ``ApplicationError`` (with the row errors in ``extra``) when the file cannot be imported.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ApplicationError(
            _("Cannot read %(path)s: %(error)s") % {"path": path, "error": error.strerror}, code="file"
        ) from None
    if account is None:
        account = resolve_account(hospital=hospital, platform=platform, account_id=None)
    metric_import, result = _preview(
        hospital=hospital, account=account, platform=platform, filename=path.name, data=data, user=None
    )
    if dry_run or not result.ok:
        if not result.ok:
            raise ApplicationError(
                _("The file has %(count)d error(s); nothing was imported.") % {"count": result.errors_total},
                code="import_errors",
                extra={"errors": [error.as_dict() for error in result.errors], "import": metric_import.pk},
            )
        return metric_import
    return _commit(metric_import, result, actor_label="manage.py import_metrics")


def export_type_label(code: str) -> str:
    export_type = EXPORT_TYPES_BY_CODE.get(code)
    return str(export_type.label) if export_type else code
