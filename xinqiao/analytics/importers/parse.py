"""One export file → typed metric records and row errors (exports.md §0).

``parse_export`` finds the header row, recognises the export type from its headers (or says which other
platform's export the file is), maps the columns through the alias table, reads every cell, and groups the rows
into records keyed like the fact tables: (content_key, stat_date) for content, stat_date for the account. Every
problem is reported with the file's row number (1-based, as a spreadsheet shows it) and the column's header as
written in the file; a file with any error imports nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import itertools
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from django.utils.translation import gettext as _

from xinqiao.analytics.importers import headers as h
from xinqiao.analytics.importers.columnar import LazyColumn, _listed, content_keys_hashed, read_columnar
from xinqiao.analytics.importers.reading import ReadError, Table, read_table
from xinqiao.analytics.importers.values import (
    MAX_COUNT,
    NULL_MARKERS,
    SHANGHAI,
    ValueProblem,
    clean_text,
    find_date_range,
    hundredth,
    is_null,
    parse_count,
    parse_date,
    parse_datetime,
    parse_duration,
    parse_rate,
    percent_form,
    shanghai_today,
)

if TYPE_CHECKING:
    import polars as pl

MAX_ERRORS = 5_000
TOTAL_MARKERS = frozenset({"合计", "总计", "汇总", "总计:", "合计:", "total"})
ALL_CHANNELS = frozenset({"全部", "全部渠道", "合计", "总计", "all"})

# Canonical field → ContentMetricDaily column; canonical fields not listed go to ``extra``.
CONTENT_FIELDS = {
    "impressions": "impressions",
    "views": "views",
    "play_count": "views",
    "viewers": "viewers",
    "completion_rate": "completion_rate",
    "avg_watch_seconds": "avg_watch_seconds",
    "likes": "likes",
    "comments": "comments",
    "shares": "shares",
    "favorites": "favorites",
    "new_followers": "follows_gained",
}
COUNT_COLUMNS = ("impressions", "views", "viewers", "likes", "comments", "shares", "favorites", "follows_gained")
ACCOUNT_FIELDS = {
    "new_followers": "new_followers",
    "lost_followers": "lost_followers",
    "net_followers": "net_followers",
    "followers": "followers",
}
DEFAULT_FORMAT = {
    "wechat_oa": "article",
    "wechat_channels": "video",
    "weibo": "post",
    "douyin": "video",
    "kuaishou": "video",
    "xiaohongshu": "note",
    "bilibili": "video",
    "zhihu": "answer",
}
FORMAT_WORDS = {
    "视频": "video",
    "短视频": "video",
    "图文": "image",
    "图集": "image",
    "文章": "article",
    "回答": "answer",
    "想法": "post",
    "笔记": "note",
    "直播": "live",
}
DURATION_UNITS = {"分钟": 60.0, "min": 60.0, "小时": 3600.0, "h": 3600.0}


@dataclass
class RowError:
    row: int
    column: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class Column:
    index: int
    header: str
    canonical: str  # "" for an unknown column
    unit: str = ""


@dataclass
class ContentRecord:
    content_key: str
    stat_date: dt.date
    title: str
    published_at: dt.datetime | None
    content_format: str
    metrics: dict[str, Any]  # ContentMetricDaily columns this export provides
    extra: dict[str, Any]
    rows: list[int]
    published_day: dt.date | None = None  # when only the publish day is known (datacube send date)


@dataclass
class AccountRecord:
    stat_date: dt.date
    metrics: dict[str, Any]  # AccountMetricDaily columns this export provides
    extra: dict[str, Any]
    rows: list[int]


@dataclass
class ParseResult:
    platform: str
    file_kind: str = ""
    encoding: str = ""
    export_type: h.ExportType | None = None
    header_row: int = 0  # 1-based; 0 when none was found
    columns: list[Column] = field(default_factory=list)
    data_rows: int = 0
    skipped_rows: list[int] = field(default_factory=list)  # totals lines (合计)
    content: list[ContentRecord] | ContentColumns = field(default_factory=list)
    account: list[AccountRecord] = field(default_factory=list)
    preview_rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    errors_total: int = 0
    snapshot_date: dt.date | None = None

    @property
    def ok(self) -> bool:
        return not self.errors_total and self.export_type is not None

    @property
    def column_map(self) -> dict[str, str]:
        return {column.header: column.canonical for column in self.columns if column.canonical}

    @property
    def unknown_columns(self) -> list[str]:
        return [column.header for column in self.columns if not column.canonical]

    @property
    def records_total(self) -> int:
        return len(self.content) + len(self.account)

    @property
    def date_range(self) -> tuple[dt.date | None, dt.date | None]:
        content = self.content
        dates = content.stat_dates if isinstance(content, ContentColumns) else [record.stat_date for record in content]
        dates = [*dates, *(record.stat_date for record in self.account)]
        return (min(dates), max(dates)) if dates else (None, None)

    def add_error(self, row: int, column: str, message: str) -> None:
        self.errors_total += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(RowError(row, column, message))


def platform_label(code: str) -> str:
    from xinqiao.channels.models import PlatformAccount

    return str(dict(PlatformAccount.Platform.choices).get(code, code))


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def parse_file(data: bytes, *, filename: str, platform: str, today: dt.date | None = None) -> ParseResult:
    try:
        return parse_table(read_table(data, filename), platform=platform, today=today)
    except ReadError as error:  # (a CSV file is read into rows as the parse goes)
        result = ParseResult(platform=platform)
        result.add_error(0, "", error.message)
        return result


def parse_table(table: Table, *, platform: str, today: dt.date | None = None) -> ParseResult:
    today = today or shanghai_today()
    result = ParseResult(platform=platform, file_kind=table.file_kind, encoding=table.encoding)
    # The header search, the column mapping and the title lines need the first rows only: the body is read by the
    # columnar path when it can, else row by row.
    rows = table.head(h.HEADER_SEARCH_ROWS + 200)
    found = h.find_header_row(rows)
    if found is None:
        first = next((row for row in rows[: h.HEADER_SEARCH_ROWS] if any(not is_null(cell) for cell in row)), [])
        result.add_error(
            0,
            "",
            _(
                "No header row found in the first %(rows)d rows (a header row names at least %(min)d known columns). "
                "Headers found: %(headers)s."
            )
            % {
                "rows": h.HEADER_SEARCH_ROWS,
                "min": h.HEADER_MIN_MATCHES,
                "headers": "、".join(clean_text(cell) for cell in first if not is_null(cell)) or "—",
            },
        )
        return result
    header_index, header_cells = found
    result.header_row = header_index + 1
    recognition = h.recognise(header_cells, platform)
    if recognition.export_type is None:
        found_headers = "、".join(header.raw for header in header_cells if header.raw)
        if recognition.other is not None:
            message = _(
                "This file looks like a %(other_platform)s export (%(other_type)s), not a %(platform)s export. "
                "Choose %(other_platform)s as the platform or upload the %(platform)s file."
            ) % {
                "other_platform": platform_label(recognition.other.platform),
                "other_type": recognition.other.label,
                "platform": platform_label(platform),
            }
        else:
            message = _("No %(platform)s export has these columns: %(headers)s.") % {
                "platform": platform_label(platform),
                "headers": found_headers,
            }
        result.add_error(result.header_row, "", message)
        return result
    export_type = recognition.export_type
    result.export_type = export_type
    _map_columns(result, header_cells, rows[header_index + 1 :], export_type)
    missing = [name for name in export_type.required if name not in result.column_map.values()]
    if missing:
        for name in missing:
            expected = " / ".join(key for key, canonical in export_type.aliases.items() if canonical == name)
            result.add_error(
                result.header_row,
                "",
                _("The required column “%(expected)s” is missing. Headers found: %(headers)s.")
                % {"expected": expected, "headers": "、".join(c.header for c in result.columns)},
            )
        return result
    if "stat_date" not in result.column_map.values():
        result.snapshot_date = _snapshot_date(result, rows[:header_index], today)
    with without_cyclic_gc():
        if not read_columnar(result, table, header_index, export_type, platform, today):
            _read_rows(result, table.rows, header_index, export_type, platform, today)
    return result


@contextlib.contextmanager
def without_cyclic_gc():
    """Pause the cyclic garbage collector while hundreds of thousands of row objects are built (none of them form
    cycles): its passes over the growing heap cost up to a third of an import. Reference counting still frees."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _map_columns(result: ParseResult, header_cells: list[h.Header], data: list[list[Any]], export_type) -> None:
    used: set[str] = set()
    width = max([len(header_cells), *(len(row) for row in data[:50])])
    for index in range(width):
        header = header_cells[index] if index < len(header_cells) else h.Header(raw="", key="")
        if not header.raw:
            if not any(index < len(row) and not is_null(row[index]) for row in data[:200]):
                continue  # an empty column
            header = h.Header(raw=_("Column %(letter)s") % {"letter": _column_letter(index)}, key="")
        canonical = export_type.aliases.get(header.key, "")
        if canonical in used:
            canonical = ""  # a second column for the same field (e.g. 播放 and 播放量): kept as extra
        if canonical:
            used.add(canonical)
        result.columns.append(Column(index=index, header=header.raw, canonical=canonical, unit=header.unit))


def _snapshot_date(result: ParseResult, title_rows: list[list[Any]], today: dt.date) -> dt.date:
    """A snapshot export's date: the end of the range on its title line, else today (Asia/Shanghai)."""
    for number, row in enumerate(title_rows, start=1):
        for cell in row:
            if isinstance(cell, str) and (found := find_date_range(cell)) is not None:
                if found[1] > today:
                    result.add_error(
                        number, "", _("The export's date range ends in the future (%(date)s).") % {"date": found[1]}
                    )
                return found[1]
    return today


MEMO_LIMIT = 50_000


def _memoised(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Cells of a column repeat a lot (dates, publish times, rates, durations): read each distinct one once.
    Problems are not cached, so every bad cell is still reported."""
    cache: dict[str, Any] = {}

    def read(value: Any) -> Any:
        if type(value) is not str:  # 1, 1.0 and True hash alike but do not read alike: only text is cached
            return convert(value)
        try:
            return cache[value]
        except KeyError:
            pass
        result = convert(value)
        if len(cache) < MEMO_LIMIT:
            cache[value] = result
        return result

    return read


_PLAIN_DECIMAL = re.compile(r"[+-]?\d+(?:\.\d+)?")


def _fast_rate(bare_is_percent: bool) -> Callable[[Any], Any]:
    def read(value: Any) -> Any:
        if type(value) is str and value.endswith("%"):
            number = value[:-1].strip()
            if _PLAIN_DECIMAL.fullmatch(number):  # what parse_rate accepts, without its normalisation
                return hundredth(number)
        return parse_rate(value, bare_is_percent=bare_is_percent)

    return read


def _text(value: Any) -> str:
    if type(value) is str:
        return value.strip()
    return clean_text(value)


def _converter(kind: str, column: Column, bare_is_percent: bool) -> Callable[[Any], Any]:
    if kind == "count":
        return _memoised(parse_count)  # used where the column-wise fast path fails ("1.2万", "--" …)
    if kind == "rate":
        return _memoised(_fast_rate(bare_is_percent))
    if kind == "duration":
        unit_seconds = DURATION_UNITS.get(column.unit, 1.0)
        return _memoised(lambda value: parse_duration(value, unit_seconds=unit_seconds))
    if kind == "date":
        return _memoised(parse_date)
    if kind == "datetime":
        return _memoised(parse_datetime)
    return _text


def _rate_form(value: Any) -> tuple[str | None, bool]:
    """(form, above one) of one rate cell: form ``"percent"``, ``"bare"`` or None for a null cell."""
    if type(value) is str:
        text = value.strip()
        if not text or text.lower() in NULL_MARKERS:
            return None, False
        if text.endswith(("%", "％")):
            return "percent", False
        try:
            return "bare", float(text.replace(",", "")) > 1
        except ValueError:
            return "bare", False
    if percent_form(value) == "bare":
        return "bare", isinstance(value, int | float) and value > 1
    return None, False


def _rate_columns(result: ParseResult, cells_of: Callable[[int], Any], first_number: int) -> dict[int, bool]:
    """Per rate column: whether bare numbers are percentage points. Flags mixed % / bare cells (mixed units).
    Each distinct cell is classified once; rows are listed only when a column mixes both forms."""
    decisions: dict[int, bool] = {}
    for column in result.columns:
        if h.FIELD_KINDS.get(column.canonical) != "rate":
            continue
        index = column.index
        cells = cells_of(index)
        try:
            forms_of = {value: _rate_form(value) for value in set(cells)}
        except TypeError:  # an unhashable cell: classify every cell
            forms_of = None
        if forms_of is not None:
            present = {form for form, _above in forms_of.values() if form is not None}
            above_one = any(above for _form, above in forms_of.values())
        else:
            present = {"percent", "bare"}
            above_one = False
        if len(present) == 2:
            forms: dict[str, list[int]] = {"percent": [], "bare": []}
            above_one = False
            for position, value in enumerate(cells):
                form, above = forms_of[value] if forms_of is not None else _rate_form(value)
                if form is not None:
                    forms[form].append(first_number + position)
                    above_one = above_one or above
            minority = "bare" if len(forms["bare"]) <= len(forms["percent"]) else "percent"
            majority_text = _("with a percent sign") if minority == "bare" else _("without a percent sign")
            for number in forms[minority]:
                result.add_error(
                    number,
                    column.header,
                    _("Mixed units: most values of this column are written %(majority)s, this one is not.")
                    % {"majority": majority_text},
                )
        decisions[index] = column.unit == "%" or above_one
    return decisions


def _fast_count(cells: Sequence[Any]) -> list[int]:
    """Digits-only text and whole numbers in one C-level pass; anything else raises (cell-by-cell path)."""
    types = set(map(type, cells))
    if not types <= {str, int, float}:
        raise ValueError  # None, bool, dates: the cell-by-cell rules apply
    numbers = list(map(int, cells))
    if float in types:
        floats = cells if len(types) == 1 else [cell for cell in cells if type(cell) is float]
        if not all(map(float.is_integer, floats)):
            raise ValueError
    if numbers and (max(numbers) > MAX_COUNT or min(numbers) < -MAX_COUNT):
        raise ValueError
    return numbers


def _fast_text(cells: Sequence[Any]) -> list[str]:
    return [cell.strip() for cell in cells]  # all text; a number or an empty cell raises


FAST_COLUMN = {"count": _fast_count, "text": _fast_text}


def _read_distinct(cells: Sequence[Any], converter: Callable[[Any], Any]) -> dict[Any, Any] | None:
    """Each distinct cell of a column read once (dates, rates, durations and ``万`` counts repeat a lot), or None
    when a cell cannot be read (the cell-by-cell path then reports each one) or equal keys could read differently
    (``1``, ``1.0`` and ``True`` are one dict key)."""
    types = set(map(type, cells))
    if bool in types or (int in types and float in types):
        return None
    try:
        distinct = set(cells)
    except TypeError:
        return None
    if len(distinct) > len(cells) // 2:
        return None  # mostly unique: the cell-by-cell path costs the same without the extra set and dict
    by_value = {}
    try:
        for value in distinct:
            by_value[value] = converter(value)
    except ValueProblem:
        return None
    return by_value


def _convert_column(
    cells: Sequence[Any], converter: Callable[[Any], Any], kind: str
) -> tuple[list[Any], list[tuple[int, str]]]:
    fast = FAST_COLUMN.get(kind)
    if fast is not None:
        try:
            return fast(cells), []
        except (ValueError, TypeError, AttributeError, OverflowError):
            pass
    if kind != "text":
        by_value = _read_distinct(cells, converter)
        if by_value is not None:
            return list(map(by_value.__getitem__, cells)), []
    out: list[Any] = []
    problems: list[tuple[int, str]] = []
    append = out.append
    for position, cell in enumerate(cells):
        try:
            append(converter(cell))
        except ValueProblem as problem:
            append(None)
            problems.append((position, problem.message))
    return out, problems


def _content_key(platform: str, values: dict[str, Any]) -> str:
    content_id = values.get("content_id")
    if content_id:
        return str(content_id)[:80]
    published = values.get("publish_time")
    basis = f"{platform}|{values.get('title', '')}|{published.isoformat() if published else ''}"
    return "t:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]


def _content_keys(platform: str, n: int, columns: dict[str, list[Any]]) -> list[str]:
    """``_content_key`` of every row, column-wise (publish times repeat: each is formatted once)."""
    ids = columns.get("content_id") or [None] * n
    titles = columns.get("title") or [""] * n
    published_column = columns.get("publish_time") or [None] * n
    formatted: dict[Any, str] = {}
    keys = []
    append = keys.append
    sha256 = hashlib.sha256
    for content_id, title, published in zip(ids, titles, published_column, strict=True):
        if content_id:
            append(str(content_id)[:80])
            continue
        if published:
            stamp = formatted.get(published)
            if stamp is None:
                stamp = formatted[published] = published.isoformat()
        else:
            stamp = ""
        append("t:" + sha256(f"{platform}|{title}|{stamp}".encode()).hexdigest()[:32])
    return keys


def _unknown_columns(unknown: list[tuple[int, str]], cells_of: Callable[[int], Any]) -> list[tuple[str, list[Any]]]:
    """Per column no alias names: (header, its JSON-able value per row or None where the cell is empty)."""
    found = []
    for index, header in unknown:
        values: list[Any] = []
        append = values.append
        for cell in cells_of(index):
            if type(cell) is str:
                text = cell.strip()
                append(None if not text or text.lower() in NULL_MARKERS else cell)
            elif is_null(cell):
                append(None)
            else:
                append(_jsonable(cell))
        found.append((header, values))
    return found


def _unknown_rows(unknown_columns: list[tuple[str, list[Any]]], n: int) -> list[dict[str, Any]]:
    """Per row: the non-empty cells of the unknown columns, {header: value}."""
    rows: list[dict[str, Any]] = [{} for _row in range(n)]
    for header, values in unknown_columns:
        for row, value in zip(rows, values, strict=True):
            if value is not None:
                row[header] = value
    return rows


def _transpose(rows: list[list[Any]]) -> Callable[[int], Sequence[Any]]:
    """The cells of one column of ``rows`` (None where a row is shorter), from one C-level transposition."""
    n = len(rows)
    columns = list(itertools.zip_longest(*rows)) if rows else []
    width = len(columns)
    empty = (None,) * n

    def cells_of(index: int) -> Sequence[Any]:
        return columns[index] if index < width else empty

    return cells_of


def _read_rows(
    result: ParseResult, rows: list[list[Any]], header_index: int, export_type, platform: str, today: dt.date
) -> None:
    body = rows[header_index + 1 :]
    first_number = header_index + 2
    body_cells = _transpose(body)
    rate_decisions = _rate_columns(result, body_cells, first_number)
    mapped = []
    unknown = []
    for column in result.columns:
        if column.canonical:
            kind = h.FIELD_KINDS[column.canonical]
            converter = _converter(kind, column, rate_decisions.get(column.index, False))
            mapped.append((column.index, column.canonical, converter, column.header))
        else:
            unknown.append((column.index, column.header))
    by_field = {column.canonical: column.header for column in result.columns if column.canonical}
    split_by = [name for name in export_type.split_by if name in by_field]
    is_content = export_type.kind == h.CONTENT
    first_field = result.columns[0].canonical if result.columns else ""
    first_index = (
        result.columns[0].index if result.columns and first_field in ("title", "stat_date", "source_channel") else None
    )
    numbers: list[int] = []
    kept_rows: list[list[Any]] = []
    if _no_empty_or_total_rows(result, body_cells, first_index):
        numbers = list(range(first_number, first_number + len(body)))
        kept_rows = body
    for number, row in enumerate(() if kept_rows else body, start=first_number):
        try:
            is_empty = not "".join(row).strip()
        except TypeError:  # spreadsheet rows hold numbers and dates too
            is_empty = all(is_null(cell) for cell in row)
        if is_empty:
            continue
        if first_index is not None and first_index < len(row):
            first_cell = row[first_index]
            if type(first_cell) is str and first_cell.strip().lower() in TOTAL_MARKERS:
                result.skipped_rows.append(number)
                continue
        numbers.append(number)
        kept_rows.append(row)
    n = len(kept_rows)
    result.data_rows = n
    cells_of = body_cells if n == len(body) else _transpose(kept_rows)
    # Column by column: one conversion per column in C-level loops where every cell is clean, cell by cell
    # (with the row and column of each problem) where not.
    names = [canonical for _index, canonical, _converter, _header in mapped]
    converted = []
    failed: set[int] = set()
    problems: list[tuple[int, str, str]] = []
    for index, canonical, converter, header in mapped:
        values_of_column, column_problems = _convert_column(cells_of(index), converter, h.FIELD_KINDS[canonical])
        converted.append(values_of_column)
        for position, message in column_problems:
            failed.add(position)
            problems.append((numbers[position], header, message))
    for number, header, message in sorted(problems, key=lambda problem: problem[0]):
        result.add_error(number, header, message)
    unknown_columns = _unknown_columns(unknown, cells_of)
    columns = dict(zip(names, converted, strict=True))
    if is_content and not split_by and not result.errors_total:
        records = _clean_content(result, columns, numbers, unknown_columns, platform, today)
        if records is not None:
            _add_preview_rows(result, numbers[:20], kept_rows[:20])
            result.content = records
            return
    value_rows = list(zip(*converted, strict=True)) if converted else [() for _row in kept_rows]
    unknown_rows = _unknown_rows(unknown_columns, n)
    groups = _check_rows(
        result, numbers, kept_rows, names, value_rows, unknown_rows, failed, split_by, by_field, today, platform,
        is_content,
    )  # fmt: skip
    if result.errors_total:
        return
    plan = _content_plan(names, split_by)
    for (content_key, stat_date), members in groups.items():
        if is_content:
            result.content.append(_content_record(content_key, stat_date, members, split_by, platform, plan))
        else:
            result.account.append(_account_record(stat_date, members, split_by, export_type.kind))


def _no_empty_or_total_rows(result: ParseResult, cells_of: Callable[[int], Sequence[Any]], first_index) -> bool:
    """Whether the row-by-row skip of empty and totals rows can be skipped: some mapped column has a value in every
    row (so no row is empty) and the first column holds no totals marker. Checked with C-level passes."""
    if first_index is not None:
        firsts = cells_of(first_index)
        if set(map(type, firsts)) != {str} or set(map(str.lower, map(str.strip, firsts))) & TOTAL_MARKERS:
            return False
    return any(_never_null(cells_of(column.index)) for column in result.columns[:4] if column.canonical)


def _never_null(cells: Sequence[Any]) -> bool:
    if not cells:
        return False
    types = set(map(type, cells))
    if types <= {int, float}:
        return not any(map(math.isnan, cells))
    if types == {str}:
        stripped = list(map(str.strip, cells))
        return all(stripped) and not set(map(str.lower, stripped)) & NULL_MARKERS
    return False


def _add_preview_rows(result: ParseResult, numbers: list[int], rows: list[list[Any]]) -> None:
    for number, row in zip(numbers, rows, strict=True):
        if len(result.preview_rows) >= 20:
            return
        width = len(row)
        result.preview_rows.append(
            {
                "row": number,
                "values": {c.header: _display(row[c.index] if c.index < width else None) for c in result.columns},
            }
        )


def _check_rows(
    result, numbers, kept_rows, names, value_rows, unknown_rows, failed, split_by, by_field, today, platform, is_content
) -> dict[tuple, list[tuple[int, dict[str, Any], dict[str, Any]]]]:
    """Row by row: empty or future dates, empty titles, duplicate keys (each reported with its row); the valid rows
    grouped by (content key, date)."""
    date_header = by_field.get("stat_date", "")
    key_headers = "、".join(
        by_field[name] for name in ("content_id", "title", "publish_time", "stat_date", *split_by) if name in by_field
    )
    add_error = result.add_error
    seen: dict[tuple, int] = {}
    groups: dict[tuple, list[tuple[int, dict[str, Any], dict[str, Any]]]] = {}
    for position, number in enumerate(numbers):
        if position in failed:
            continue
        extra_columns = unknown_rows[position]
        values = dict(zip(names, value_rows[position], strict=True))
        stat_date = values.get("stat_date") or result.snapshot_date
        if stat_date is None:
            add_error(number, date_header, _("The date is empty."))
            continue
        if stat_date > today:
            add_error(number, date_header or "", _("%(date)s is in the future.") % {"date": stat_date.isoformat()})
            continue
        published = values.get("publish_time")
        if published is not None and published.date() > today:
            add_error(
                number,
                by_field["publish_time"],
                _("%(date)s is in the future.") % {"date": published.strftime("%Y-%m-%d %H:%M")},
            )
            continue
        if is_content:
            if not values.get("title") and not values.get("content_id"):
                add_error(number, by_field.get("title", ""), _("The title is empty."))
                continue
            content_key = _content_key(platform, values)
        else:
            content_key = ""
        split_value = tuple(clean_text(values.get(name)) for name in split_by)
        key = (content_key, stat_date, split_value)
        if key in seen:
            add_error(
                number,
                key_headers,
                _("Duplicate row: the same %(columns)s as row %(row)d.") % {"columns": key_headers, "row": seen[key]},
            )
            continue
        seen[key] = number
        groups.setdefault((content_key, stat_date), []).append((number, values, extra_columns))
        if len(result.preview_rows) < 20:
            _add_preview_rows(result, [number], [kept_rows[position]])
    return groups


def _clean_content(
    result: ParseResult,
    columns: dict[str, list[Any]],
    numbers: list[int],
    unknown_columns: list[tuple[str, list[Any]]],
    platform: str,
    today: dt.date,
    *,
    content_keys: list[str] | None = None,
) -> ContentColumns | None:
    """The records of a content export without per-channel rows, built column by column, when no row has an
    empty or future date, an empty title or a duplicate key; None otherwise (``_check_rows`` then reports each).
    ``content_keys``: the rows' keys when the caller has computed them."""
    n = len(numbers)
    stat_dates = columns.get("stat_date")
    if stat_dates is None:
        if result.snapshot_date is None:
            return None
        stat_dates = [result.snapshot_date] * n
    distinct_dates = set(stat_dates)
    if None in distinct_dates or (distinct_dates and max(distinct_dates) > today):
        return None
    published_column = columns.get("publish_time")
    if published_column is not None:
        distinct_published = set(published_column)
        distinct_published.discard(None)
        if any(published.date() > today for published in distinct_published):
            return None
    titles = columns.get("title")
    if titles is not None and "" in titles:
        return None  # an empty title is allowed only with a content id: checked row by row
    if titles is None and "content_id" not in columns:
        return None
    if titles is None and any(not content_id for content_id in columns["content_id"]):
        return None
    if content_keys is None:
        content_keys = content_keys_hashed(platform, n, columns)
    if len(set(content_keys) if len(distinct_dates) == 1 else set(zip(content_keys, stat_dates, strict=True))) != n:
        return None  # a duplicate row (one day: the keys alone tell)
    plan = _content_plan(list(columns), [])
    metric_targets = [target for _name, target, _is_count in plan if target]
    metric_columns = [
        _or_zero(columns[name]) if is_count else columns[name] for name, target, is_count in plan if target
    ]
    extra_names = [name for name, target, _is_count in plan if not target]
    empty = [None] * n
    titles = titles or [""] * n
    if titles and max(map(len, titles)) > 200:
        titles = [title[:200] for title in titles]
    types = columns.get("content_type") or empty
    default_format = DEFAULT_FORMAT.get(platform, "")
    if isinstance(types, LazyColumn):
        formats = types.mapped(lambda content_type: FORMAT_WORDS.get(content_type or "", default_format))
    else:
        formats = [FORMAT_WORDS.get(content_type or "", default_format) for content_type in types]
    if published_column is None:
        published_at: list[dt.datetime | None] = empty
    else:
        in_utc = {published: published.astimezone(dt.UTC) for published in distinct_published}
        in_utc[None] = None
        published_at = list(map(in_utc.__getitem__, published_column))
    return ContentColumns(
        numbers=numbers,
        content_keys=content_keys,
        stat_dates=list(stat_dates),
        titles=titles,
        published_at=published_at,
        formats=formats,
        metrics=dict(zip(metric_targets, metric_columns, strict=True)),
        extra_columns={name: columns[name] for name in extra_names},
        unknown_columns=unknown_columns,
        content_types=types,
    )


def _or_zero(values: Sequence[Any]) -> Sequence[Any]:
    """A count column with 0 where the file has no value."""
    if isinstance(values, LazyColumn):
        return values.or_zero()
    return [value or 0 for value in values]


def _rows_of(columns: list[list[Any]]) -> Iterator[tuple]:
    """The columns' values row by row as tuples (an endless run of ``()`` when there is no column)."""
    return zip(*columns, strict=True) if columns else itertools.repeat(())


class ContentColumns:
    """The content records of a clean export held column by column (``_clean_content``): the import writes them
    without building an object and a dict per row (``ContentMetricDaily`` rows straight from the columns, the
    ``extra`` JSON from per-column fragments). Reads as a sequence of ``ContentRecord`` for everything else. The
    records of a CSV read by ``importers.columnar`` come in (day, content key) order (each with its row number);
    the order carries no meaning otherwise."""

    def __init__(
        self,
        *,
        numbers: list[int],
        content_keys: list[str],
        stat_dates: list[dt.date],
        titles: list[str],
        published_at: list[dt.datetime | None],
        formats: Sequence[str],
        metrics: dict[str, Sequence[Any]],
        extra_columns: dict[str, Sequence[Any]],
        unknown_columns: list[tuple[str, Sequence[Any]]],
        content_types: Sequence[Any],
    ) -> None:
        self.numbers = numbers
        self.content_keys = content_keys
        self.stat_dates = stat_dates
        self.titles = titles
        self.published_at = published_at
        self.formats = formats
        self.metrics = metrics
        self.extra_columns = extra_columns
        self.unknown_columns = unknown_columns
        self.content_types = content_types

    def __len__(self) -> int:
        return len(self.numbers)

    @overload
    def __getitem__(self, position: int) -> ContentRecord: ...
    @overload
    def __getitem__(self, position: slice) -> list[ContentRecord]: ...

    def __getitem__(self, position):
        if isinstance(position, slice):
            return [self[index] for index in range(*position.indices(len(self)))]
        if not -len(self) <= position < len(self):
            raise IndexError(position)
        position %= len(self)
        return ContentRecord(
            self.content_keys[position],
            self.stat_dates[position],
            self.titles[position],
            self.published_at[position],
            self.formats[position],
            {target: values[position] for target, values in self.metrics.items()},
            self.extra_of(position),
            [self.numbers[position]],
        )

    def __iter__(self):
        """Every record, from the columns made into lists once (the merge of a re-import reads them all: indexing
        each record's dozen columns one by one was the larger part of it)."""
        metric_names = list(self.metrics)
        extra_names = list(self.extra_columns)
        unknown_headers = [header for header, _values in self.unknown_columns]
        rows = zip(
            self.content_keys,
            self.stat_dates,
            self.titles,
            self.published_at,
            _listed(self.formats),
            _rows_of([_listed(values) for values in self.metrics.values()]),
            _rows_of([_listed(values) for values in self.extra_columns.values()]),
            _rows_of([_listed(values) for _header, values in self.unknown_columns]),
            _listed(self.content_types),
            self.numbers,
            strict=False,  # _rows_of of no columns is endless; the others are all len(self) long
        )
        for key, day, title, published, content_format, metrics, extras, unknowns, content_type, number in rows:
            extra = {name: value for name, value in zip(extra_names, extras, strict=True) if value is not None}
            unknown = {
                header: value for header, value in zip(unknown_headers, unknowns, strict=True) if value is not None
            }
            if unknown:
                extra["unknown"] = unknown
            if content_type:
                extra["content_type"] = content_type
            yield ContentRecord(
                key,
                day,
                title,
                published,
                content_format,
                dict(zip(metric_names, metrics, strict=True)),
                extra,
                [number],
            )

    def extra_of(self, position: int) -> dict[str, Any]:
        extra = {name: values[position] for name, values in self.extra_columns.items() if values[position] is not None}
        unknown = {header: values[position] for header, values in self.unknown_columns if values[position] is not None}
        if unknown:
            extra["unknown"] = unknown
        if self.content_types[position]:
            extra["content_type"] = self.content_types[position]
        return extra

    def extra_json(self, encode: Callable[[Any], str], start: int = 0, stop: int | None = None) -> LazyColumn:
        """The ``extra`` of rows start … stop - 1 as JSON text, the same object ``encode(self.extra_of(i))`` gives:
        each column becomes a column of ``"name": value`` fragments and polars joins each row's fragments, skipping
        the empty ones, in one query. A lazy column's distinct values are encoded once and put in place by polars,
        numbers are formatted by polars, other values are encoded once per distinct value (built row by row in
        Python, the JSON of 200,000 rows took longer than SQLite's inserts of them; chunk by chunk, a third of the
        main thread's time while the database wrote). The texts stay polars cells until the writer asks for a
        slice (``LazyColumn``)."""
        import polars as pl

        stop = len(self) if stop is None else stop
        if stop <= start:
            return LazyColumn(pl.Series([], dtype=pl.String))
        fragments = [_fragment(name, values, encode, start, stop) for name, values in self.extra_columns.items()]
        if self.unknown_columns:
            inner = pl.concat_str(
                [_fragment(header, values, encode, start, stop) for header, values in self.unknown_columns],
                separator=", ",
                ignore_nulls=True,
            )
            fragments.append(pl.when(inner != "").then(encode("unknown") + ": {" + inner + "}"))
        content_types = [value or None for value in self.content_types[start:stop]]
        fragments.append(_fragment("content_type", content_types, encode, 0, stop - start))
        joined = pl.concat_str(fragments, separator=", ", ignore_nulls=True)
        return LazyColumn(pl.select("{" + joined + "}").to_series())


def _fragment(name: str, column: Sequence[Any], encode: Callable[[Any], str], start: int, stop: int) -> pl.Expr:
    """``_encoded_fragments`` of rows start … stop - 1 as a polars expression. A lazy column (cells and what each
    distinct cell reads as) has each distinct value encoded once and the texts put in place by polars. A column of
    integers or of finite floats (counts and rates, mostly distinct from row to row) is formatted by polars:
    integers as JSON writes them, floats as the shortest text that reads back as the same float (``1e-7`` where
    Python writes ``1e-07``: the same JSON number). Anything else goes through Python."""
    import polars as pl

    if isinstance(column, LazyColumn):
        fragments = column.json_fragments(encode(name) + ": ", encode, start, stop)
        if fragments is not None:
            return pl.lit(fragments)
    values = column[start:stop]
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if kinds == {int} or kinds == {float}:
        try:
            numbers = pl.Series(values, dtype=pl.Int64 if kinds == {int} else pl.Float64, strict=True)
        except (OverflowError, TypeError, pl.exceptions.PolarsError):
            numbers = None  # beyond 64 bits: Python writes it
        # (a sum of floats is finite only if every one is; one that overflows merely sends the column to Python)
        if numbers is not None and (kinds == {int} or math.isfinite(sum(filter(None, values)))):
            return encode(name) + ": " + pl.lit(numbers).cast(pl.String)
    return pl.lit(pl.Series(_encoded_fragments(name, values, encode), dtype=pl.String))


def _encoded_fragments(name: str, values: list[Any], encode: Callable[[Any], str]) -> list[str | None]:
    """``"name": value`` as JSON per row (None where the value is None), each distinct value encoded once."""
    prefix = encode(name) + ": "
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if len(kinds) == 1 and kinds <= {str, int, float}:
        distinct = set(values)
        distinct.discard(None)
        if kinds == {str}:
            mapping = {value: prefix + encode(value) for value in distinct}
        elif all(map(math.isfinite, distinct)):  # JSON writes finite numbers as ``repr``
            mapping = {value: prefix + repr(value) for value in distinct}
        else:
            mapping = {value: prefix + encode(value) for value in distinct}
        mapping[None] = None
        return list(map(mapping.__getitem__, values))
    encoded: dict[tuple[type, Any], str | None] = {}
    out: list[str | None] = []
    append = out.append
    for value in values:
        kind = type(value)
        if value is None:
            append(None)
            continue
        if kind is int or (kind is float and value - value == 0):  # finite: JSON writes numbers as ``repr``
            append(prefix + repr(value))
            continue
        key = (kind, value)
        fragment = encoded.get(key)
        if fragment is None:
            fragment = encoded[key] = prefix + encode(value)
        append(fragment)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(_jsonable(value))


def _merge_channels(members: list[tuple[int, dict[str, Any], dict[str, Any]]], split_by: list[str]):
    """One set of values for per-channel rows: the 全部 row if the export has one, else the sum of the channels."""
    if not split_by:
        number, values, extra_columns = members[0]
        return [number], values, extra_columns, {}
    by_channel: dict[str, dict[str, Any]] = {}
    total: dict[str, Any] | None = None
    unknown: dict[str, Any] = {}
    for _number, values, extra_columns in members:
        channel = " / ".join(clean_text(values.get(name)) for name in split_by) or "—"
        counters = {
            name: value
            for name, value in values.items()
            if h.FIELD_KINDS.get(name) in ("count", "rate", "duration") and value is not None
        }
        if extra_columns:
            unknown[channel] = extra_columns
        if channel.lower() in ALL_CHANNELS:
            total = values
        else:
            by_channel[channel] = counters
    if total is None:
        total = dict(members[0][1])
        for name in list(total):
            if h.FIELD_KINDS.get(name) == "count":
                total[name] = sum((channel.get(name) or 0) for channel in by_channel.values())
            elif h.FIELD_KINDS.get(name) in ("rate", "duration"):
                total[name] = None
    return [number for number, _values, _extra in members], total, unknown, by_channel


def _content_plan(fields: list[str], split_by: list[str]) -> list[tuple[str, str, bool]]:
    """(canonical, model column or "" for extra, is a counter) for the value fields of an export."""
    plan = []
    targets = {CONTENT_FIELDS[name] for name in fields if name in CONTENT_FIELDS and name != "play_count"}
    for name in fields:
        if name in ("title", "publish_time", "stat_date", "content_id", "content_type", *split_by):
            continue
        target = CONTENT_FIELDS.get(name, "")
        if name == "play_count" and target in targets:
            target = ""  # the export has its own views column: plays stay in extra
        plan.append((name, target, target in COUNT_COLUMNS))
    return plan


def _content_record(content_key, stat_date, members, split_by, platform, plan) -> ContentRecord:
    rows, values, unknown, by_channel = _merge_channels(members, split_by)
    metrics: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name, target, is_count in plan:
        value = values.get(name)
        if target:
            metrics[target] = (value or 0) if is_count else value
        elif value is not None:
            extra[name] = value
    if by_channel:
        extra["by_channel"] = by_channel
    if unknown:
        extra["unknown"] = unknown
    content_type = values.get("content_type") or ""
    if content_type:
        extra["content_type"] = content_type
    published = values.get("publish_time")
    return ContentRecord(
        content_key=content_key,
        stat_date=stat_date,
        title=(values.get("title") or "")[:200],
        published_at=published.astimezone(dt.UTC) if published else None,
        content_format=FORMAT_WORDS.get(content_type, DEFAULT_FORMAT.get(platform, "")),
        metrics=metrics,
        extra=extra,
        rows=rows,
    )


def _account_record(stat_date, members, split_by, kind) -> AccountRecord:
    rows, values, unknown, by_channel = _merge_channels(members, split_by)
    metrics: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if kind == h.ACCOUNT_TRAFFIC:
        traffic = {
            name: value
            for name, value in values.items()
            if h.FIELD_KINDS.get(name) in ("count", "rate", "duration") and value is not None
        }
        if by_channel:
            traffic["by_channel"] = by_channel
        extra["traffic"] = traffic
    else:
        for name, value in values.items():
            target = ACCOUNT_FIELDS.get(name)
            if target:
                metrics[target] = value if target == "followers" else (value or 0)
        if "net_followers" not in metrics and ("new_followers" in metrics or "lost_followers" in metrics):
            metrics["net_followers"] = metrics.get("new_followers", 0) - metrics.get("lost_followers", 0)
    if unknown:
        extra["unknown"] = unknown
    return AccountRecord(stat_date=stat_date, metrics=metrics, extra=extra, rows=rows)


__all__ = ["SHANGHAI", "ParseResult", "parse_file", "parse_table"]
