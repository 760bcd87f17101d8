"""The body of a clean CSV content export read column by column with polars (a Rust CSV reader), for speed.

``parse_table`` finds the header, recognises the export type and maps the columns from the first rows as always;
then ``read_columnar`` tries this path before the row-by-row one (``parse._read_rows``). It gives the same
records the row path gives for the same file, in (day, content key) order (see ``_read``), or declines (returns False, leaving the result as it
was) whenever the file is not plain: per-channel rows, blank or totals lines, a cell that does not read, mixed
units, a duplicate or empty key, a line polars and Python's ``csv`` module might split differently. The row path
then reads the file and reports every problem with its row and column, as it did before this path existed.

Exactness: polars only splits the text into cells and finds each column's distinct cells; every value is read by
the same converter the row path uses (``parse._converter``), once per distinct cell, except digits-only counts,
which polars casts to integers (the value Python's ``int`` gives). ``tests/test_import_columnar.py`` checks both
paths agree on the sample exports of every platform and on generated files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import operator
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from xinqiao.analytics.importers import headers as h
from xinqiao.analytics.importers.values import MAX_COUNT, NULL_MARKERS, ValueProblem

if TYPE_CHECKING:
    import polars as pl

    from xinqiao.analytics.importers.parse import ParseResult
    from xinqiao.analytics.importers.reading import Table

KEY_FIELDS = ("content_id", "title", "publish_time", "stat_date")  # what ``parse._content_keys`` reads, and the day
CSV_FIELD_LIMIT = 131_072  # Python's csv module refuses longer fields (the row path then reports the file)
_DIGITS = r"^-?[0-9]{1,18}$"  # what polars casts to Int64 exactly as ``int`` reads it


class _Decline(Exception):  # noqa: N818 - control flow inside this module, never raised out of it
    """The row path must read this file."""


class LazyColumn(Sequence):
    """A converted column whose Python values are made a slice at a time, when the bulk writer asks for the rows
    it writes next: the file's cells (a polars column, already in the records' order) and what each distinct cell
    reads as (``mapping``; None for a column polars has converted itself). Every distinct cell has been read, and
    every problem found, before the column exists; making the values only looks them up. Building all the lists
    before the first write took a fifth of the parse; sliced, the work overlaps the database's. Any other access
    (an index, iteration, a slice with a step) makes the whole list once and keeps it."""

    __slots__ = ("_cells", "_mapping", "_texts", "_values")

    def __init__(self, cells: pl.Series, mapping: dict[Any, Any] | None = None) -> None:
        self._cells = cells
        self._mapping = mapping
        self._values: list[Any] | None = None
        self._texts: pl.Series | None = None

    @property
    def cells(self) -> pl.Series:
        return self._cells

    @property
    def mapping(self) -> dict[Any, Any] | None:
        return self._mapping

    def _made(self, cells: list[Any]) -> list[Any]:
        return cells if self._mapping is None else list(map(self._mapping.__getitem__, cells))

    def values(self) -> list[Any]:
        if self._values is None:
            self._values = self._made(self._cells.to_list())
        return self._values

    def __len__(self) -> int:
        return self._cells.len()

    def __getitem__(self, position):
        if self._values is None and isinstance(position, slice) and position.step in (None, 1):
            start, stop, _step = position.indices(len(self))
            return self._made(self._cells.slice(start, max(0, stop - start)).to_list())
        return self.values()[position]

    def __iter__(self):
        return iter(self.values())

    def json_fragments(self, prefix: str, encode: Callable[[Any], str], start: int, stop: int) -> pl.Series | None:
        """``prefix + encode(value)`` for rows start … stop - 1 as a polars text column (null where the value is
        None), each distinct value encoded once and put in place by polars, without a Python value per row. None
        when the column has no mapping to use (its Python list is made already, or polars converted its cells
        into something other than integers): the caller then encodes the Python values."""
        import polars as pl

        if self._values is not None:
            return None
        cells = self._cells.slice(start, max(0, stop - start))
        if self._mapping is None:
            if cells.dtype != pl.Int64:
                return None
            return (prefix + cells.cast(pl.String)).alias("")  # integers as JSON writes them
        keys = [cell for cell, value in self._mapping.items() if cell is not None and value is not None]
        texts = [prefix + encode(self._mapping[cell]) for cell in keys]
        fragments = cells.replace_strict(keys, texts, default=None, return_dtype=pl.String)
        if self._mapping.get(None) is not None:
            fragments = _empty_cells_as(fragments, cells, prefix + encode(self._mapping[None]))
        return fragments

    def text_series(self, format_value: Callable[[Any], str]) -> pl.Series | None:
        """The column as a polars text column of ``format_value(value)`` (null where the value is None), for the
        bulk writer's COPY text: numbers put in place and formatted by polars (``series``), as the writer formats a
        list of numbers; other values formatted once per distinct value and put in place by polars. Made once and kept (the writer slices it chunk by chunk). None when
        the column's Python list is made already (the writer then formats the list)."""
        import polars as pl

        if self._texts is not None:
            return self._texts
        if self._values is not None:
            return None
        try:
            numbers = self.series()  # numbers put in place and formatted by polars, as the writer formats lists
        except TypeError:
            numbers = None
        if numbers is not None:
            texts = numbers.cast(pl.String)
        elif self._mapping is None:
            texts = self._cells.cast(pl.String)
        else:
            keys = [cell for cell, value in self._mapping.items() if cell is not None and value is not None]
            formatted = [format_value(self._mapping[cell]) for cell in keys]
            texts = self._cells.replace_strict(keys, formatted, default=None, return_dtype=pl.String)
            if self._mapping.get(None) is not None:
                texts = _empty_cells_as(texts, self._cells, format_value(self._mapping[None]))
        self._texts = texts
        return texts

    def series(self) -> pl.Series:
        """The column's values as a polars column of numbers, put in place by polars (no Python value per row, and
        the column is left as it was: its slices are still made when the writer asks). Raises TypeError when a
        value is not a number or None."""
        import polars as pl

        if self._mapping is None:
            if not self._cells.dtype.is_numeric():
                raise TypeError(self._cells.dtype)
            return self._cells
        if self._values is not None:
            return pl.Series(self._values, strict=False)
        kinds = {type(value) for value in self._mapping.values() if value is not None}
        if not kinds <= {int, float}:
            raise TypeError(kinds)
        dtype = pl.Float64 if float in kinds else pl.Int64
        keys = [cell for cell in self._mapping if cell is not None]
        numbers = self._cells.replace_strict(
            keys, [self._mapping[cell] for cell in keys], default=None, return_dtype=dtype
        )
        missing = self._mapping.get(None)
        if missing is not None:
            numbers = _empty_cells_as(numbers, self._cells, missing)
        return numbers

    def or_zero(self) -> LazyColumn:
        """0 where a count is missing (as ``value or 0`` per row)."""
        import polars as pl

        if self._mapping is None and self._cells.dtype == pl.Int64:
            return LazyColumn(self._cells.fill_null(0))
        return self.mapped(lambda value: value or 0)

    def mapped(self, convert: Callable[[Any], Any]) -> LazyColumn:
        """The column of ``convert(value)``: applied to each distinct value now, to the rows when they are made."""
        if self._mapping is None:
            return LazyColumn(self._cells, {cell: convert(cell) for cell in self._cells.unique().to_list()})
        return LazyColumn(self._cells, {cell: convert(value) for cell, value in self._mapping.items()})


def _empty_cells_as(values: pl.Series, cells: pl.Series, value: Any) -> pl.Series:
    """``values`` with ``value`` where the cell is empty (null); a cell that reads as None stays None."""
    import polars as pl

    return values.zip_with(cells.is_not_null(), pl.Series([value], dtype=values.dtype).new_from_index(0, len(values)))


def read_columnar(
    result: ParseResult, table: Table, header_index: int, export_type: h.ExportType, platform: str, today: dt.date
) -> bool:
    """Fill ``result`` (records, row count, preview) from the body of ``table`` and return True, or return False
    and leave ``result`` untouched."""
    if table.text is None or export_type.kind != h.CONTENT or result.errors_total or not result.columns:
        return False
    if any(column.canonical in export_type.split_by for column in result.columns):
        return False
    try:
        return _read(result, table, header_index, platform, today)
    except _Decline:
        return False


def _read(result: ParseResult, table: Table, header_index: int, platform: str, today: dt.date) -> bool:
    import polars as pl

    from xinqiao.analytics.importers import parse as p

    head = table.head(header_index + 1 + 20)
    frame = _body_frame(table, header_index, width=max(len(row) for row in table.head(h.HEADER_SEARCH_ROWS + 200)))
    n = frame.height
    if not n:
        raise _Decline
    cells = {column.index: frame.to_series(column.index) for column in result.columns}
    _check_no_empty_or_total_rows(result, cells)
    decisions = _rate_decisions(result, cells)
    converters = {
        column.index: p._converter(h.FIELD_KINDS[column.canonical], column, decisions.get(column.index, False))
        for column in result.columns
        if column.canonical
    }

    def read(column) -> list[Any] | LazyColumn:
        if not column.canonical:
            return _unknown(cells[column.index])
        return _convert(cells[column.index], converters[column.index], h.FIELD_KINDS[column.canonical])

    # The records come in (day, content key) order. Written in this order the unique (account, content key, day)
    # index is filled in one sweep per day instead of at a random place per row (a third less database time for
    # 200,000 rows on SQLite) and the table's rows lie in date order, which is how the dashboards read them through
    # the (hospital, day) index. polars puts the cells in that order before they become Python objects, so the sort
    # costs next to nothing.
    key_columns = {
        column.canonical: _listed(read(column)) for column in result.columns if column.canonical in KEY_FIELDS
    }
    content_keys = content_keys_hashed(platform, n, key_columns)
    order = sorted(range(n), key=content_keys.__getitem__)
    days = key_columns.get("stat_date")
    if days is not None:
        if None in set(days):
            raise _Decline  # an empty date: the row path reports it
        order.sort(key=days.__getitem__)  # stable: each day's rows stay in key order
    first_number = header_index + 2
    in_order = all(itertools.starmap(int.__lt__, itertools.pairwise(order)))
    gathered: Future | None = None
    if not in_order:  # polars puts the cells in order in a thread (off the GIL) while this one reads the columns
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-order")
        positions = pl.Series(order, dtype=pl.UInt32)
        gathered = pool.submit(frame.lazy().select(pl.all().gather(positions)).collect)  # collect releases the GIL
        pool.shutdown(wait=False)  # the thread ends with its one task
    # What a cell reads as does not depend on where it is: every other column is read from the cells in file order.
    others = {column.index: read(column) for column in result.columns if column.canonical not in key_columns}
    if gathered is None:
        numbers = list(range(first_number, first_number + n))
    else:
        frame = gathered.result()
        take = operator.itemgetter(*order)
        for index, values in others.items():
            if isinstance(values, list):
                others[index] = list(take(values))
            elif values.mapping is not None:
                others[index] = LazyColumn(frame.to_series(index), values.mapping)
            else:  # numbers polars converted itself
                others[index] = LazyColumn(values.cells.gather(positions))
        content_keys = list(take(content_keys))
        key_columns = {name: list(take(values)) for name, values in key_columns.items()}
        numbers = [first_number + position for position in order]
    columns: dict[str, list[Any]] = {}
    unknown_columns: list[tuple[str, list[Any]]] = []
    for column in result.columns:
        if not column.canonical:
            unknown_columns.append((column.header, others[column.index]))
        elif column.canonical in key_columns:
            columns[column.canonical] = key_columns[column.canonical]
        else:
            columns[column.canonical] = others[column.index]
    records = p._clean_content(result, columns, numbers, unknown_columns, platform, today, content_keys=content_keys)
    if records is None:
        return False
    result.data_rows = n
    preview = head[header_index + 1 :]  # the file's first rows, in the file's order
    p._add_preview_rows(result, list(range(first_number, first_number + len(preview))), preview)
    result.content = records
    return True


def content_keys_hashed(platform: str, n: int, columns: dict[str, list[Any]]) -> list[str]:
    """``parse._content_keys`` with the SHA-256 of the title keys taken by polars (polars-hash, in Rust, off the
    GIL): the same keys; 200,000 titled rows 0.57 → 0.23 s. A title that is not text (the row path formats it with
    ``str``) goes the row path's way."""
    import polars as pl
    import polars_hash  # noqa: F401 - registers the ``chash`` namespace

    from xinqiao.analytics.importers import parse as p

    def text(name: str) -> pl.Series | None:
        values = columns.get(name)
        if not values:
            return None
        try:
            return pl.Series(values, dtype=pl.String, strict=True)
        except (TypeError, pl.exceptions.PolarsError):
            return None

    titles = text("title") if columns.get("title") else pl.Series([""] * n, dtype=pl.String)
    ids = text("content_id") if columns.get("content_id") else pl.Series([None] * n, dtype=pl.String)
    if titles is None or titles.null_count() or ids is None:
        return p._content_keys(platform, n, columns)  # values the row path formats with ``str``
    published = columns.get("publish_time") or [None] * n
    stamps = {value: value.isoformat() for value in set(published) if value}
    basis = pl.DataFrame(
        {
            "title": titles,
            "stamp": pl.Series(list(map(stamps.get, published)), dtype=pl.String).fill_null(""),
            "id": ids,
        }
    )
    hashed = pl.lit("t:") + pl.concat_str(
        [pl.lit(f"{platform}|"), pl.col("title"), pl.lit("|"), pl.col("stamp")]
    ).chash.sha2_256().str.slice(0, 32)
    has_id = pl.col("id").is_not_null() & (pl.col("id").str.len_chars() > 0)
    keys = basis.select(pl.when(has_id).then(pl.col("id").str.slice(0, 80)).otherwise(hashed).alias("key"))
    return keys.to_series().to_list()


def _listed(values: list[Any] | LazyColumn) -> list[Any]:
    return values.values() if isinstance(values, LazyColumn) else values


def _body_frame(table: Table, header_index: int, width: int) -> pl.DataFrame:
    """The rows after the header as ``width`` text columns (null where a row is shorter)."""
    import polars as pl

    text = table.text or ""
    lines = text.split("\n", header_index + 1)
    if len(lines) <= header_index + 1:
        raise _Decline
    # The header and the title lines above it must be one line each, as the csv module reads them.
    above = list(csv.reader(io.StringIO("\n".join(lines[:-1]) + "\n", newline=""), delimiter=table.delimiter))
    if above != table.head(header_index + 1):
        raise _Decline
    body = lines[-1]
    if body.count("\r") != body.count("\r\n"):
        raise _Decline  # a carriage return alone ends a row for the csv module, not for polars
    try:
        frame = pl.read_csv(
            body.encode("utf-8"),
            has_header=False,
            separator=table.delimiter,
            quote_char='"',
            schema={f"column_{index}": pl.String for index in range(width)},
            truncate_ragged_lines=False,  # a longer row: the row path decides what its extra cells mean
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError:
        raise _Decline from None
    if frame.height and any(
        (frame.to_series(index).str.len_chars().max() or 0) > CSV_FIELD_LIMIT for index in range(frame.width)
    ):
        raise _Decline
    return frame


# The characters ``str.strip`` removes (Python's whitespace; Rust's differs slightly), for polars to strip alike.
PYTHON_WHITESPACE = "".join(chr(code) for code in range(0x3000 + 1) if chr(code).isspace())


def _distinct(series: pl.Series) -> list[Any]:
    return series.unique().to_list()


def _short_distinct(series: pl.Series) -> set[str]:
    """The distinct cells that are no longer than a null or totals marker once stripped (the only ones that can be
    one): checking a column of 200,000 titles one by one in Python cost a quarter of this path."""
    import polars as pl

    from xinqiao.analytics.importers.parse import TOTAL_MARKERS

    longest = max(len(marker) for marker in (*NULL_MARKERS, *TOTAL_MARKERS))
    distinct = series.unique().drop_nulls()
    short = distinct.filter(distinct.str.strip_chars(PYTHON_WHITESPACE).str.len_chars() <= longest)
    return set(pl.Series(short, dtype=pl.String).to_list())


def _check_no_empty_or_total_rows(result: ParseResult, cells: dict[int, pl.Series]) -> None:
    """``parse._no_empty_or_total_rows`` on the columns: a row that is empty or a totals line needs the row path."""
    from xinqiao.analytics.importers.parse import TOTAL_MARKERS

    first = result.columns[0]
    if first.canonical in ("title", "stat_date", "source_channel"):
        firsts = cells[first.index]
        if firsts.null_count() or {value.strip().lower() for value in _short_distinct(firsts)} & TOTAL_MARKERS:
            raise _Decline
    if not any(_never_null(cells[column.index]) for column in result.columns[:4] if column.canonical):
        raise _Decline


def _never_null(series: pl.Series) -> bool:
    if series.null_count():
        return False
    stripped = {value.strip() for value in _short_distinct(series)}
    return "" not in stripped and not {value.lower() for value in stripped} & NULL_MARKERS


def _rate_decisions(result: ParseResult, cells: dict[int, pl.Series]) -> dict[int, bool]:
    """``parse._rate_columns`` without the errors: a column mixing ``%`` and bare numbers needs the row path."""
    from xinqiao.analytics.importers.parse import _rate_form

    decisions: dict[int, bool] = {}
    for column in result.columns:
        if h.FIELD_KINDS.get(column.canonical) != "rate":
            continue
        forms = [_rate_form(value) for value in _distinct(cells[column.index])]
        if len({form for form, _above in forms if form is not None}) == 2:
            raise _Decline
        decisions[column.index] = column.unit == "%" or any(above for _form, above in forms)
    return decisions


def _convert(series: pl.Series, converter, kind: str) -> list[Any] | LazyColumn:
    """The column's values as ``parse._convert_column`` reads them (text as a list, others as a ``LazyColumn``);
    any cell it cannot read declines."""
    if kind == "text":
        values = series.to_list()
        if series.null_count():
            from xinqiao.analytics.importers.parse import _text

            return list(map(_text, values))
        return [value.strip() for value in values]
    import polars as pl

    if kind == "count" and not series.null_count() and series.str.contains(_DIGITS).all():
        numbers = series.cast(pl.Int64)
        if numbers.max() <= MAX_COUNT and numbers.min() >= -MAX_COUNT:
            return LazyColumn(numbers)
        raise _Decline
    by_value = {}
    try:
        for value in _distinct(series):
            by_value[value] = converter(value)
    except ValueProblem:
        raise _Decline from None
    return LazyColumn(series, by_value)


def _unknown(series: pl.Series) -> LazyColumn:
    """``parse._unknown_columns`` for one text column: the cell as written, None where it is empty or a null
    marker."""
    by_value: dict[Any, Any] = {None: None}
    for value in _distinct(series):
        if value is not None:
            text = value.strip()
            by_value[value] = None if not text or text.lower() in NULL_MARKERS else value
    return LazyColumn(series, by_value)
