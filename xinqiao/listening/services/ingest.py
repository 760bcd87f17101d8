"""Mention ingestion: files from monitoring tools (CSV, JSONL, XLSX), the HTTP push and comment pulls.

Every source ends in :func:`mentions_ingest`, which is all-or-nothing and idempotent:

* every row is validated first; one bad row rejects the whole batch with each bad row's number, column and
  reason, and no mention of that batch is written (the batch itself is kept as REJECTED with its errors);
* a mention already stored for (hospital, platform, external id) — a replayed push, a re-imported file — is a
  no-op counted as a duplicate, so importing the same file twice changes nothing;
* texts are stored as received, HTML and script included: they are data, and every page renders them escaped.

Row numbers: in files the spreadsheet row (the header is row 1, the first mention row 2); in JSONL the line
number; in a push the 1-based position in the JSON array.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.core.access import Action
from xinqiao.core.audit import audit_record
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent, Hospital
from xinqiao.listening.models import Mention, MentionBatch, Platform

if TYPE_CHECKING:
    from django.http import HttpRequest

    from xinqiao.core.access import Principal

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_FILE_ROWS = 50_000
MAX_PUSH_ROWS = 1_000
MAX_TEXT_CHARS = 10_000
MAX_EXTRA_CHARS = 2_000
MAX_ERRORS_KEPT = 200
PREVIEW_ROWS = 10
FUTURE_TOLERANCE = dt.timedelta(days=1)
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
BULK_SIZE = 1_000

FIELDS = (
    "platform",
    "external_id",
    "url",
    "author_handle",
    "author_followers",
    "is_verified_author",
    "text",
    "posted_at",
    "likes",
    "reposts",
    "comments",
    "parent_external_id",
)
REQUIRED = ("platform", "external_id", "text", "posted_at")
COUNT_FIELDS = ("author_followers", "likes", "reposts", "comments")

# Header names monitoring tools (and people) use, compared after lower-casing and removing spaces/underscores.
HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "platform": ("platform", "平台", "来源", "来源平台", "渠道", "媒体", "媒体类型", "站点", "site", "source"),
    "external_id": ("externalid", "id", "postid", "mid", "帖子id", "文章id", "原文id", "信息id", "编号", "唯一id"),
    "url": ("url", "link", "链接", "原文链接", "网址", "地址", "原文地址"),
    "author_handle": ("authorhandle", "author", "handle", "作者", "昵称", "发布者", "用户名", "博主", "发布人", "账号"),
    "author_followers": ("authorfollowers", "followers", "粉丝数", "粉丝", "粉丝量", "作者粉丝数"),
    "is_verified_author": ("isverifiedauthor", "verified", "认证", "是否认证", "加v", "认证用户"),
    "text": ("text", "content", "body", "内容", "正文", "文本", "评论内容", "摘要", "标题内容", "全文"),
    "posted_at": (
        "postedat",
        "time",
        "date",
        "datetime",
        "createdat",
        "发布时间",
        "时间",
        "发文时间",
        "日期",
        "发帖时间",
    ),
    "likes": ("likes", "likecount", "点赞", "点赞数", "赞", "赞数"),
    "reposts": ("reposts", "shares", "repostcount", "转发", "转发数", "分享数", "转发量"),
    "comments": ("comments", "commentcount", "评论", "评论数", "评论量"),
    "parent_external_id": ("parentexternalid", "parent", "parentid", "原帖id", "源帖id", "转发自", "父id"),
}
PLATFORM_SYNONYMS: dict[str, str] = {
    "微博": "weibo", "新浪微博": "weibo", "抖音": "douyin", "小红书": "xiaohongshu", "微信": "wechat_oa",
    "微信公众号": "wechat_oa", "公众号": "wechat_oa", "wechat": "wechat_oa", "视频号": "wechat_channels",
    "微信视频号": "wechat_channels", "快手": "kuaishou", "b站": "bilibili", "哔哩哔哩": "bilibili", "知乎": "zhihu",
    "今日头条": "toutiao", "头条": "toutiao", "新闻": "news", "网媒": "news", "新闻网站": "news", "论坛": "forum",
    "贴吧": "forum", "百度贴吧": "forum", "政务": "government", "政务留言": "government", "12345": "government",
    "12320": "government", "其他": "other", "其它": "other",
}  # fmt: skip
TRUE_WORDS = {"1", "true", "yes", "y", "是", "已认证", "认证", "v", "蓝v", "黄v", "橙v"}
FALSE_WORDS = {"", "0", "false", "no", "n", "否", "未认证", "无"}
DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y年%m月%d日",
)
COUNT_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(万|w|k|千|亿)?\+?$", re.IGNORECASE)
COUNT_UNITS = {None: 1, "万": 10_000, "w": 10_000, "W": 10_000, "k": 1_000, "K": 1_000, "千": 1_000, "亿": 100_000_000}
_url_validator = URLValidator(schemes=["http", "https"])


class IngestRejected(ApplicationError):
    """A batch with bad rows: nothing was written. ``extra["errors"]`` lists {row, column, message}."""

    status = 422


class BatchTooLarge(ApplicationError):
    status = 413


# --- values -----------------------------------------------------------------------------------------------------


def _header_key(header: object) -> str:
    return re.sub(r"[\s_\-/（）()]", "", str(header or "")).lower()


def guess_mapping(headers: Sequence[object]) -> dict[str, int]:
    """Field → column index guessed from the header row; a header is used for one field at most."""
    mapping: dict[str, int] = {}
    keys = [_header_key(header) for header in headers]
    for field_name in FIELDS:
        for synonym in HEADER_SYNONYMS[field_name]:
            for index, key in enumerate(keys):
                if key == synonym and index not in mapping.values():
                    mapping[field_name] = index
                    break
            if field_name in mapping:
                break
    return mapping


def parse_platform(value: object) -> str | None:
    text = str(value or "").strip()
    lowered = text.lower()
    if lowered in Platform.values:
        return lowered
    return PLATFORM_SYNONYMS.get(lowered) or PLATFORM_SYNONYMS.get(text)


def parse_identifier(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return ""
    return str(value if value is not None else "").strip()


def parse_count(value: object) -> int:
    """Counts as tools export them: 1234, "1,234", "1.2万", "3w", "10万+"; empty is 0."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if value != value or not value.is_integer():  # NaN or fractional
            raise ValueError
        number = int(value)
    else:
        text = str(value).strip().replace(",", "").replace("，", "")
        match = COUNT_RE.match(text)
        if not match:
            raise ValueError
        try:
            number = int(Decimal(match.group(1)) * COUNT_UNITS[match.group(2)])
        except InvalidOperation as error:
            raise ValueError from error
    if number < 0 or number > 10**12:
        raise ValueError
    return number


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    text = str(value or "").strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError


def parse_datetime(value: object) -> dt.datetime:
    """Aware UTC datetime from ISO 8601, common Chinese export formats, Unix seconds/milliseconds or Excel cells.
    Times without a zone are Beijing time (that is what Chinese tools export)."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) / (1000 if value > 10**11 else 1)
        moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    else:
        text = str(value or "").strip()
        if not text:
            raise ValueError
        if text.isdigit() and len(text) in (10, 13):
            return parse_datetime(int(text))
        moment = None
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            for pattern in DATE_FORMATS:
                try:
                    moment = dt.datetime.strptime(text, pattern)  # noqa: DTZ007 - zone added below
                    break
                except ValueError:
                    continue
        if moment is None:
            raise ValueError
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment.astimezone(dt.UTC)


# --- rows -------------------------------------------------------------------------------------------------------


@dataclass
class RowError:
    row: int
    column: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class Validated:
    mentions: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0


def validate_row(raw: Mapping[str, Any], row: int, *, now: dt.datetime) -> tuple[dict[str, Any] | None, list[RowError]]:
    """One mention from a mapping field → raw value (unknown keys go to ``extra``), or its errors."""
    errors: list[RowError] = []

    def error(column: str, message: str) -> None:
        errors.append(RowError(row, column, message))

    for name in REQUIRED:
        value = raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            error(name, _("This column is required and is empty."))
    if errors:
        return None, errors
    mention: dict[str, Any] = {}
    platform = parse_platform(raw.get("platform"))
    if platform is None:
        error("platform", _("Unknown platform “%(value)s”.") % {"value": str(raw.get("platform"))[:40]})
    mention["platform"] = platform
    for name in ("external_id", "parent_external_id"):
        value = parse_identifier(raw.get(name))
        if len(value) > 120:
            error(name, _("At most 120 characters."))
        mention[name] = value
    if not mention["external_id"]:
        error("external_id", _("This column is required and is empty."))
    url = str(raw.get("url") or "").strip()
    if url:
        try:
            if len(url) > 500:
                raise DjangoValidationError("long")
            _url_validator(url)
        except DjangoValidationError:
            error("url", _("Not a valid http(s) address of at most 500 characters."))
    mention["url"] = url
    handle = str(raw.get("author_handle") or "").strip()
    if len(handle) > 80:
        error("author_handle", _("At most 80 characters."))
    mention["author_handle"] = handle
    text = raw.get("text")
    text = text if isinstance(text, str) else str(text)
    text = text.replace("\x00", "").strip()
    if len(text) > MAX_TEXT_CHARS:
        error("text", _("At most %(count)d characters.") % {"count": MAX_TEXT_CHARS})
    mention["text"] = text
    try:
        posted_at = parse_datetime(raw.get("posted_at"))
    except (ValueError, OverflowError, OSError):
        error("posted_at", _("Not a date and time (for example 2026-03-01 14:30)."))
    else:
        if posted_at > now + FUTURE_TOLERANCE or posted_at < EARLIEST:
            error("posted_at", _("The time is in the future or before 2000."))
        mention["posted_at"] = posted_at
    for name in COUNT_FIELDS:
        try:
            mention[name] = parse_count(raw.get(name))
        except ValueError:
            error(name, _("Not a whole number of at least 0."))
    try:
        mention["is_verified_author"] = parse_bool(raw.get("is_verified_author"))
    except ValueError:
        error("is_verified_author", _("Not yes or no."))
    extra = {str(key)[:60]: _jsonable(value) for key, value in raw.items() if key not in FIELDS}
    if len(json.dumps(extra, ensure_ascii=False)) > MAX_EXTRA_CHARS:
        error("extra", _("The additional columns hold more than %(count)d characters.") % {"count": MAX_EXTRA_CHARS})
    mention["extra"] = extra
    return (None, errors) if errors else (mention, [])


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def validate_rows(rows: Iterable[tuple[int, Mapping[str, Any]]], *, limit: int) -> Validated:
    now = timezone.now()
    result = Validated()
    for number, raw in rows:
        result.rows += 1
        if result.rows > limit:
            continue
        mention, errors = validate_row(raw, number, now=now)
        if mention is not None:
            result.mentions.append(mention)
        result.errors.extend(errors)
    if result.rows > limit:
        result.errors.insert(
            0,
            RowError(0, "", _("The batch has %(rows)d rows; at most %(limit)d are accepted at once.")
                     % {"rows": result.rows, "limit": limit}),
        )  # fmt: skip
    return result


# --- files ------------------------------------------------------------------------------------------------------


@dataclass
class ParsedFile:
    file_format: str  # "csv", "jsonl", "xlsx"
    encoding: str  # "utf-8", "utf-8-sig", "gb18030", "utf-16" or "" (xlsx)
    headers: list[str]
    rows: list[tuple[int, list[Any]]]  # (row number, cells)


def decode_text(data: bytes) -> tuple[str, str]:
    """Text and its encoding: a BOM decides; otherwise UTF-8 if valid, else GB18030 (a superset of GBK/GB2312)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        raise ApplicationError(
            _("The file's text encoding is neither UTF-8 nor GBK. Save it as UTF-8 and upload it again."),
            code="encoding",
        ) from None


def detect_format(filename: str, data: bytes) -> str:
    suffix = PurePath(filename or "").suffix.lower()
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if suffix in (".xlsx", ".xlsm"):
        raise ApplicationError(_("The Excel file cannot be opened: export it again."), code="bad_file")
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".txt", ".tsv", ""):
        return "csv"
    raise ApplicationError(_("Upload a CSV, JSONL or XLSX file."), code="file_type")


def parse_file(filename: str, data: bytes) -> ParsedFile:
    """Headers and rows of an uploaded file (sizes checked; nothing is validated here)."""
    if not data:
        raise ApplicationError(_("The file is empty."), code="empty_file")
    if len(data) > MAX_FILE_BYTES:
        raise ApplicationError(
            _("The file is larger than %(size)d MB.") % {"size": MAX_FILE_BYTES // (1024 * 1024)}, code="file_too_large"
        )
    file_format = detect_format(filename, data)
    if file_format == "xlsx":
        table = _xlsx_rows(data)
        encoding = ""
    else:
        text, encoding = decode_text(data)
        if file_format == "jsonl":
            return _jsonl(text, encoding)
        table = _csv_rows(text)
    while table and all(cell in (None, "") for cell in table[-1]):
        table.pop()
    if not table:
        raise ApplicationError(_("The file is empty."), code="empty_file")
    headers = [str(cell if cell is not None else "").strip() for cell in table[0]]
    rows = [
        (index + 2, list(cells)) for index, cells in enumerate(table[1:]) if any(c not in (None, "") for c in cells)
    ]
    return ParsedFile(file_format, encoding, headers, rows)


def _csv_rows(text: str) -> list[list[Any]]:
    sample = text[:8192]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",\t;").delimiter
    except csv.Error:
        delimiter = ","
    try:
        return [list(row) for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as error:
        raise ApplicationError(
            _("The CSV file cannot be read: %(error)s") % {"error": error}, code="bad_file"
        ) from None


def _xlsx_rows(data: bytes) -> list[list[Any]]:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        try:
            return [list(row) for row in workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)]
        finally:
            workbook.close()
    except Exception:  # noqa: BLE001 - any broken workbook gets one clear message
        raise ApplicationError(_("The Excel file cannot be opened: export it again."), code="bad_file") from None


def _jsonl(text: str, encoding: str) -> ParsedFile:
    """JSON lines (one object per line), or one JSON array of objects; keys become the headers."""
    stripped = text.lstrip()
    objects: list[tuple[int, Any]] = []
    if stripped.startswith("["):
        try:
            loaded = json.loads(stripped)
        except json.JSONDecodeError as error:
            raise ApplicationError(
                _("The JSON file cannot be read (line %(line)d).") % {"line": error.lineno}, code="bad_file"
            ) from None
        objects = [(index + 1, item) for index, item in enumerate(loaded if isinstance(loaded, list) else [])]
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                objects.append((number, json.loads(line)))
            except json.JSONDecodeError:
                objects.append((number, None))
    headers: list[str] = []
    for _number, item in objects:
        if isinstance(item, dict):
            for key in item:
                if str(key) not in headers:
                    headers.append(str(key))
    rows = []
    for number, item in objects:
        if isinstance(item, dict):
            rows.append((number, [item.get(header) for header in headers]))
        else:
            rows.append((number, None))  # not an object: reported per row by mapped_rows
    if not objects:
        raise ApplicationError(_("The file is empty."), code="empty_file")
    return ParsedFile("jsonl", encoding, headers, rows)


def mapped_rows(parsed: ParsedFile, mapping: Mapping[str, int]) -> Iterable[tuple[int, dict[str, Any]]]:
    """Rows as field → value through the mapping; unmapped columns are kept under their header (→ extra)."""
    mapped_columns = set(mapping.values())
    for number, cells in parsed.rows:
        if cells is None:
            yield number, {"__invalid__": True}
            continue
        raw: dict[str, Any] = {}
        for field_name, index in mapping.items():
            raw[field_name] = cells[index] if 0 <= index < len(cells) else None
        for index, header in enumerate(parsed.headers):
            if index not in mapped_columns and index < len(cells) and cells[index] not in (None, "") and header:
                raw[header] = cells[index]
        yield number, raw


def check_mapping(mapping: Mapping[str, Any], headers: Sequence[str]) -> dict[str, int]:
    clean: dict[str, int] = {}
    for field_name, value in mapping.items():
        if field_name not in FIELDS or value in (None, ""):
            continue
        try:
            index = int(value)
        except (TypeError, ValueError):
            raise ApplicationError(_("The column mapping is not valid."), code="invalid_mapping") from None
        if not 0 <= index < len(headers):
            raise ApplicationError(_("The column mapping is not valid."), code="invalid_mapping")
        if index in clean.values():
            raise ApplicationError(
                _("Column “%(column)s” is mapped twice.") % {"column": headers[index]}, code="invalid_mapping"
            )
        clean[field_name] = index
    missing = [name for name in REQUIRED if name not in clean]
    if missing:
        raise ApplicationError(
            _("Map a column to each required field: %(fields)s.") % {"fields": ", ".join(missing)},
            code="missing_columns",
            extra={"missing": missing},
        )
    return clean


def validate_file(parsed: ParsedFile, mapping: Mapping[str, int]) -> Validated:
    rows = []
    invalid: list[RowError] = []
    for number, raw in mapped_rows(parsed, mapping):
        if raw.get("__invalid__"):
            invalid.append(RowError(number, "", _("This line is not a JSON object.")))
        else:
            rows.append((number, raw))
    validated = validate_rows(rows, limit=MAX_FILE_ROWS)
    validated.rows += len(invalid)
    validated.errors = sorted(invalid + validated.errors, key=lambda error: error.row)
    return validated


# --- writes -----------------------------------------------------------------------------------------------------


def _reject(batch: MentionBatch, validated: Validated) -> IngestRejected:
    """Record the rejected batch with its errors (no mention is written) and build the error to raise."""
    batch.status = MentionBatch.Status.REJECTED
    batch.rows_total = validated.rows
    batch.errors = [error.as_dict() for error in validated.errors[:MAX_ERRORS_KEPT]]
    batch.save()
    return IngestRejected(
        _("%(count)d rows are not valid; nothing was imported.") % {"count": len({e.row for e in validated.errors})},
        code="invalid_rows",
        extra={"batch_id": batch.pk, "errors": batch.errors, "rows": validated.rows},
    )


def mentions_ingest(
    *,
    hospital: Hospital,
    source: str,
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    principal: Principal | None = None,
    limit: int = MAX_PUSH_ROWS,
    batch: MentionBatch | None = None,
    request: HttpRequest | None = None,
    process: bool = True,
) -> MentionBatch:
    """Validate every row, then write all new mentions in one transaction (or none, raising IngestRejected).

    Rows already stored (same hospital, platform and external id, or repeated in the batch) are counted as
    duplicates. On commit the batch is queued for the pipeline (``process``)."""
    validated = validate_rows(rows, limit=limit)
    if batch is None:
        batch = MentionBatch(
            hospital=hospital,
            source=source,
            created_by=principal.user if principal is not None else None,
            api_key_prefix=principal.api_key.prefix if principal is not None and principal.api_key else "",
        )
    if validated.errors:
        raise _reject(batch, validated)
    if not validated.rows:
        raise ApplicationError(_("The batch holds no mentions."), code="empty_batch")
    with transaction.atomic():
        batch.status = MentionBatch.Status.COMMITTED
        batch.rows_total = validated.rows
        batch.errors = []
        batch.committed_at = timezone.now()
        batch.save()
        created = _write(hospital, batch, validated.mentions)
        batch.rows_created = created
        batch.rows_duplicate = validated.rows - created
        batch.save(update_fields=["rows_created", "rows_duplicate"])
        audit_record(
            action=AuditEvent.Action.MENTION_IMPORT,
            hospital=hospital,
            principal=principal,
            request=request,
            object_type="mention_batch",
            object_id=batch.pk,
            detail={"source": source, "rows": validated.rows, "created": created, "duplicates": batch.rows_duplicate},
        )
        if process and created:
            transaction.on_commit(lambda: _enqueue_processing(hospital.pk, batch.pk))
    return batch


def _enqueue_processing(hospital_id: int, batch_id: int) -> None:
    """Red lines first (a small job ahead of the queue, so a 死亡/医疗事故 post alerts within seconds even when
    the pipeline has a backlog), then the whole pipeline, which evaluates the same mentions again idempotently."""
    from xinqiao.listening.alert_tasks import RED_LINE_PRIORITY, check_red_lines
    from xinqiao.listening.tasks import process_mention_batch

    mention_ids = list(Mention.objects.filter(batch_id=batch_id).values_list("pk", flat=True))
    check_red_lines.using(priority=RED_LINE_PRIORITY).enqueue(hospital_id=hospital_id, mention_ids=mention_ids)
    process_mention_batch.enqueue(hospital_id=hospital_id, batch_id=batch_id)


def _write(hospital: Hospital, batch: MentionBatch, mentions: list[dict[str, Any]]) -> int:
    """Insert the mentions not stored yet; returns how many this batch created."""
    unique: dict[tuple[str, str], dict[str, Any]] = {}
    for mention in mentions:
        unique.setdefault((mention["platform"], mention["external_id"]), mention)
    existing: set[tuple[str, str]] = set()
    keys = list(unique)
    by_platform: dict[str, list[str]] = {}
    for platform, external_id in keys:
        by_platform.setdefault(platform, []).append(external_id)
    for platform, ids in by_platform.items():
        for start in range(0, len(ids), 500):
            existing.update(
                Mention.objects.filter(
                    hospital=hospital, platform=platform, external_id__in=ids[start : start + 500]
                ).values_list("platform", "external_id")
            )
    now = timezone.now()
    new = [
        Mention(hospital=hospital, batch=batch, created_at=now, **mention)
        for key, mention in unique.items()
        if key not in existing
    ]
    # ignore_conflicts: a concurrent replay of the same batch inserting first makes these no-ops, not errors
    Mention.objects.bulk_create(new, batch_size=BULK_SIZE, ignore_conflicts=True)
    return Mention.objects.filter(batch=batch).count()


# --- file import (upload → preview → commit) --------------------------------------------------------------------


@dataclass
class Preview:
    batch: MentionBatch
    parsed: ParsedFile
    mapping: dict[str, int]
    sample: list[tuple[int, dict[str, Any]]]
    errors: list[dict[str, Any]]
    rows: int


def _stored_file(batch: MentionBatch) -> bytes:
    with default_storage.open(batch.stored_path, "rb") as handle:
        return handle.read()


def preview_of(batch: MentionBatch, mapping: Mapping[str, int] | None = None) -> Preview:
    parsed = parse_file(batch.filename, _stored_file(batch))
    mapping = dict(mapping if mapping is not None else batch.column_mapping)
    sample = list(mapped_rows(ParsedFile(parsed.file_format, parsed.encoding, parsed.headers,
                                         parsed.rows[:PREVIEW_ROWS]), mapping))  # fmt: skip
    errors: list[dict[str, Any]] = []
    missing = [name for name in REQUIRED if name not in mapping]
    if missing:
        errors.append({"row": 0, "column": ", ".join(missing), "message": _("No column is mapped to these fields.")})
    else:
        validated = validate_file(parsed, mapping)
        errors = [error.as_dict() for error in validated.errors[:MAX_ERRORS_KEPT]]
    return Preview(batch, parsed, mapping, sample, errors, len(parsed.rows))


@transaction.atomic
def mention_file_upload(
    *, principal: Principal, filename: str, data: bytes, request: HttpRequest | None = None
) -> Preview:
    """Keep the uploaded file and guess the column mapping; nothing is imported until it is committed."""
    principal.require(Action.LISTENING_MANAGE)
    parsed = parse_file(filename, data)
    digest = hashlib.sha256(data).hexdigest()
    safe_name = PurePath(filename or "mentions").name[:200]
    suffix = PurePath(safe_name).suffix.lower()[:8]
    stored = default_storage.save(f"listening/imports/{principal.hospital.pk}/{digest}{suffix}", ContentFile(data))
    batch = MentionBatch.objects.create(
        hospital=principal.hospital,
        source=MentionBatch.Source.FILE,
        status=MentionBatch.Status.PREVIEW,
        filename=safe_name,
        file_sha256=digest,
        stored_path=stored,
        column_mapping=guess_mapping(parsed.headers),
        rows_total=len(parsed.rows),
        created_by=principal.user,
    )
    return preview_of(batch)


def mention_file_commit(
    *,
    principal: Principal,
    batch: MentionBatch,
    mapping: Mapping[str, Any],
    request: HttpRequest | None = None,
    process: bool = True,
) -> MentionBatch:
    """Import a previewed file with the (possibly edited) mapping: all rows or none."""
    principal.require(Action.LISTENING_MANAGE)
    if batch.hospital_id != principal.hospital.pk or batch.source != MentionBatch.Source.FILE:
        raise ApplicationError(_("This import cannot be committed."), code="invalid_batch")
    if batch.status == MentionBatch.Status.COMMITTED:
        return batch  # a double submit of the commit form changes nothing
    parsed = parse_file(batch.filename, _stored_file(batch))
    clean = check_mapping(mapping, parsed.headers)
    batch.column_mapping = clean
    validated = validate_file(parsed, clean)
    if validated.errors:
        batch.save(update_fields=["column_mapping"])
        raise _reject(batch, validated)
    return mentions_ingest(
        hospital=principal.hospital,
        source=MentionBatch.Source.FILE,
        rows=list(mapped_rows(parsed, clean)),
        principal=principal,
        limit=MAX_FILE_ROWS,
        batch=batch,
        request=request,
        process=process,
    )


def mentions_import_file(
    *, principal: Principal, filename: str, data: bytes, mapping: Mapping[str, Any] | None = None, process: bool = True
) -> MentionBatch:
    """Upload and commit in one step with the guessed (or given) mapping: the bulk command's path."""
    preview = mention_file_upload(principal=principal, filename=filename, data=data)
    chosen = mapping if mapping is not None else preview.mapping
    return mention_file_commit(principal=principal, batch=preview.batch, mapping=chosen, process=process)


def mentions_push(*, principal: Principal, items: Sequence[Any], request: HttpRequest | None = None) -> MentionBatch:
    """The HTTP push: a JSON array of mention objects (keys as in FIELDS; other keys are kept in extra)."""
    principal.require(Action.LISTENING_MANAGE)
    if len(items) > MAX_PUSH_ROWS:
        raise BatchTooLarge(
            _("The batch has %(rows)d mentions; at most %(limit)d are accepted at once.")
            % {"rows": len(items), "limit": MAX_PUSH_ROWS},
            code="batch_too_large",
            extra={"limit": MAX_PUSH_ROWS},
        )
    rows: list[tuple[int, Mapping[str, Any]]] = []
    not_objects: list[RowError] = []
    for index, item in enumerate(items, start=1):
        if isinstance(item, Mapping):
            rows.append((index, item))
        else:
            not_objects.append(RowError(index, "", _("This item is not a JSON object.")))
    if not_objects:
        validated = validate_rows(rows, limit=MAX_PUSH_ROWS)
        validated.rows += len(not_objects)
        validated.errors = sorted(not_objects + validated.errors, key=lambda error: error.row)
        batch = MentionBatch(
            hospital=principal.hospital,
            source=MentionBatch.Source.PUSH,
            api_key_prefix=principal.api_key.prefix if principal.api_key else "",
            created_by=principal.user,
        )
        raise _reject(batch, validated)
    return mentions_ingest(
        hospital=principal.hospital, source=MentionBatch.Source.PUSH, rows=rows, principal=principal, request=request
    )
