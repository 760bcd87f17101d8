"""Bulk writes from columns: multi-row ``INSERT [… ON CONFLICT]`` on SQLite, ``COPY`` on PostgreSQL.

Used by the metric imports and by the demo and bench seeders.

An import of 200,000 rows spends most of its time here, so the rows are never built as model instances or dicts:
each column is a sequence (a list, a column whose values are made a slice at a time when sliced, or one
``Repeated`` value), adapted once per distinct value, and the database writes one chunk while Python prepares
the next (SQLite releases the GIL while it executes a statement; psycopg's queued COPY writer sends from its own
thread).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import logging
import math
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from django.db import connection

if TYPE_CHECKING:
    import polars as pl

BATCH_SIZE = 1_000  # rows per multi-row INSERT (SQLite), fewer when the parameter limit says so
COPY_ROWS_PER_WRITE = 10_000
THREADED_MIN_BATCHES = 3  # below this, a writer thread costs more than it overlaps
# While a writer thread runs: how soon a thread waiting for the GIL gets it (Python's default is 5 ms). The SQLite
# writer needs the GIL briefly before and after each statement (and psycopg's COPY writer each time the socket takes
# more); at 5 ms it sat idle for up to 10 ms a statement while this thread prepared the next one: a third of the
# SQLite insert time of 200,000 rows.
HANDOFF_SWITCH_INTERVAL = 0.0005
_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0
logger = logging.getLogger(__name__)


class Repeated:
    """One value for every row of a column (the account, the source, the write time)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class Prefetched(Sequence):
    """A column whose first rows are at hand and whose other rows are being computed meanwhile (``rest``, a future
    of the values of rows ``len(first)`` …): the writer writes the first rows while another thread computes the
    rest, instead of waiting for the whole column before its first statement. Slicing past the first rows waits
    for the rest (and raises what computing it raised)."""

    __slots__ = ("_first", "_length", "_rest")

    def __init__(self, first: Sequence[Any], rest: Future, length: int) -> None:
        self._first = first
        self._rest = rest
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, position):
        split = len(self._first)
        if isinstance(position, slice):
            start, stop, step = position.indices(self._length)
            if step == 1 and stop <= split:
                return self._first[start:stop]
            if step == 1 and start >= split:
                return self._rest.result()[start - split : stop - split]
            return [self[index] for index in range(start, stop, step)]
        if position < 0:
            position += self._length
        if not 0 <= position < self._length:
            raise IndexError(position)
        return self._first[position] if position < split else self._rest.result()[position - split]

    @classmethod
    def computing(cls, produce: Callable[[int, int], Sequence[Any]], length: int, first: int) -> Prefetched:
        """``produce(start, stop)`` gives rows start … stop - 1: the first ``first`` rows now, the rest in a thread
        (worth it for work that releases the GIL, such as a polars query)."""
        head = produce(0, min(first, length))
        if length <= first:
            return cls(head, _done(head[:0]), length)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch")
        rest = pool.submit(produce, first, length)
        pool.shutdown(wait=False)  # the thread ends with its one task
        return cls(head, rest, length)


# The background WAL checkpoint of ``checkpoint_after`` (one at a time per process).
_checkpoint_lock = threading.Lock()
_checkpoint_thread: threading.Thread | None = None
_checkpoint_again: str | None = None  # a database committed to while a pass was running


@contextlib.contextmanager
def checkpoint_after() -> Iterator[None]:
    """A large write's commit without SQLite's WAL checkpoint, which then runs in a background thread.

    SQLite copies the write-ahead log into the database file in the connection whose commit leaves more than
    ``wal_autocheckpoint`` pages in it (1,000 by default): a 200,000-row import's commit spent ≈ 0.5 s of its
    0.6 s doing that before the user saw the result. Inside this block the connection does not checkpoint; once
    the block has committed, a thread with its own connection runs a PASSIVE checkpoint (it never waits for
    readers or writers and never blocks them; what it cannot copy yet waits for the next checkpoint), as
    PostgreSQL's checkpointer process does. The work is moved off the request or task, not removed; if the
    process ends first, the next commit past the threshold does it (the log is durable either way).

    Only where this block's end is the real commit and the database is a file named by its path: on PostgreSQL,
    inside an outer transaction (the tests' too) and for a database named by a URI (an in-memory one, say) it does
    nothing."""
    name = str(connection.settings_dict.get("NAME") or "")
    in_memory = name == ":memory:" or name.startswith("file:")  # (Django's test databases are URIs of memory)
    if connection.vendor != "sqlite" or connection.in_atomic_block or not name or in_memory:
        yield
        return
    with sqlite_pragmas(wal_autocheckpoint=0) as saved:
        yield
    if saved["wal_autocheckpoint"]:
        _start_checkpoint(name)


@contextlib.contextmanager
def sqlite_pragmas(**values: int) -> Iterator[dict[str, int]]:
    """Set these integer PRAGMAs of this SQLite connection for the block and put the previous values back after
    it (whatever happens in it); yields the previous values."""
    saved: dict[str, int] = {}
    with connection.cursor() as cursor:
        for name in values:
            cursor.execute(f"PRAGMA {name}")
            saved[name] = int(cursor.fetchone()[0])
        for name, value in values.items():
            cursor.execute(f"PRAGMA {name} = {int(value):d}")
    try:
        yield saved
    finally:
        with connection.cursor() as cursor:
            for name, value in saved.items():
                cursor.execute(f"PRAGMA {name} = {value:d}")


def _start_checkpoint(path: str) -> None:
    global _checkpoint_thread, _checkpoint_again
    with _checkpoint_lock:
        if _checkpoint_thread is not None:
            _checkpoint_again = path  # committed after the running pass began: it makes one more
            return
        _checkpoint_thread = threading.Thread(
            target=_checkpoint, args=(path,), name="xinqiao-wal-checkpoint", daemon=True
        )
        _checkpoint_thread.start()


def _checkpoint(path: str) -> None:
    global _checkpoint_thread, _checkpoint_again
    while True:
        try:
            with contextlib.closing(sqlite3.connect(path, timeout=10)) as database:
                database.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            logger.warning(
                "background WAL checkpoint failed; the next commit past the threshold does it", exc_info=True
            )
        with _checkpoint_lock:
            if _checkpoint_again is None:
                _checkpoint_thread = None
                return
            path, _checkpoint_again = _checkpoint_again, None


def wait_for_checkpoint() -> float:
    """Wait for the background checkpoints of ``checkpoint_after`` to end; the seconds waited (0 when none runs)."""
    started = time.perf_counter()
    while True:
        with _checkpoint_lock:
            thread = _checkpoint_thread
        if thread is None:
            return time.perf_counter() - started
        thread.join()


def _done(value: Any) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


Column = Sequence[Any] | Repeated  # sliced for each chunk it writes


def bulk_upsert(model, rows: list[dict[str, Any]], *, unique: tuple[str, ...], columns: tuple[str, ...]) -> None:
    """``bulk_upsert_columns`` for rows given as dicts keyed by attribute name."""
    if rows:
        data = {name: [row[name] for row in rows] for name in columns}
        bulk_upsert_columns(model, data, len(rows), unique=unique, columns=columns)


def bulk_upsert_columns(
    model,
    data: dict[str, Column],
    count: int,
    *,
    unique: tuple[str, ...] = (),
    columns: tuple[str, ...],
    json_text: frozenset[str] = frozenset(),
    insert_only: bool = False,
) -> None:
    """Insert or update ``count`` rows given column by column with ``INSERT … ON CONFLICT (unique) DO UPDATE`` —
    what ``bulk_create(update_conflicts=True)`` does on SQLite and PostgreSQL, without a model instance and a
    per-field SQL compilation for every row (those took 7 of 15 seconds of a 10,000-row import). Dates and times
    are adapted by the backend's own operations, once per distinct value; JSON as
    ``json.dumps(value, cls=field.encoder)`` unless the column is named in ``json_text`` (already encoded).
    ``insert_only``: the caller knows no row exists yet; a conflict then raises the driver's ``IntegrityError``
    instead of updating (PostgreSQL copies straight into the table, without a staging table and a second pass).
    Must run inside the caller's transaction."""
    if not count:
        return
    meta = model._meta
    fields = [meta.get_field(name) for name in columns]
    prepared = [_prepared(data[name], field, name in json_text) for name, field in zip(columns, fields, strict=True)]
    if not insert_only and not unique:
        raise ValueError("an upsert needs the unique columns it conflicts on")
    quote = connection.ops.quote_name
    unique_columns = {meta.get_field(name).column for name in unique}
    column_sql = ", ".join(quote(field.column) for field in fields)
    updates = ", ".join(
        f"{quote(field.column)} = EXCLUDED.{quote(field.column)}"
        for field in fields
        if field.column not in unique_columns
    )
    on_conflict = "" if insert_only else (
        f" ON CONFLICT ({', '.join(quote(meta.get_field(name).column) for name in unique)}) DO UPDATE SET {updates}"
    )  # fmt: skip
    table = quote(meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY (Django's psycopg cursor binds parameters on the client, which made multi-row VALUES statements
            # the slowest part on PostgreSQL): straight into the table when inserting only, else into a temporary
            # table and then one INSERT … SELECT … ON CONFLICT.
            if insert_only:
                _copy(cursor, table, column_sql, prepared, count)
                return
            staging = quote(f"staging_{meta.db_table}")
            cursor.execute(f"DROP TABLE IF EXISTS {staging}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS SELECT {column_sql} FROM {table} WITH NO DATA"  # noqa: S608 - names from the model
            )
            _copy(cursor, staging, column_sql, prepared, count)
            cursor.execute(
                f"INSERT INTO {table} ({column_sql}) SELECT {column_sql} FROM {staging}{on_conflict}"  # noqa: S608 - names from the model
            )
            cursor.execute(f"DROP TABLE {staging}")
            return
        head = f"INSERT INTO {table} ({column_sql}) VALUES "  # noqa: S608 - names from the model, values bound
        _insert(cursor, head, on_conflict, prepared, count)


def _prepared(values: Column, field, is_json_text: bool) -> Column:
    """The column as the driver takes it: dates and times through the backend's adaptation, JSON as text."""
    internal = field.get_internal_type()
    if internal == "DateTimeField":
        adapt = connection.ops.adapt_datetimefield_value
    elif internal == "DateField":
        adapt = connection.ops.adapt_datefield_value
    elif internal == "JSONField" and not is_json_text:
        # The text ``json.dumps(value, cls=field.encoder)`` gives (Django's SQLite adaptation, and what COPY parses
        # into jsonb), from one encoder instead of a new one and four Django calls per row.
        encode = (field.encoder or json.JSONEncoder)().encode

        def adapt_all(column: list[Any]) -> list[Any]:
            return [None if value is None else encode(value) for value in column]

        return _mapped(values, adapt_all)
    else:
        return values

    def adapt_distinct(column: list[Any]) -> list[Any]:  # dates and times repeat: each distinct one once
        mapping = {value: adapt(value) for value in set(column) if value is not None}
        mapping[None] = None
        return list(map(mapping.__getitem__, column))

    return _mapped(values, adapt_distinct)


def _mapped(values: Column, convert: Callable[[list[Any]], list[Any]]) -> Column:
    if isinstance(values, Repeated):
        return Repeated(convert([values.value])[0])
    return convert(values)


def _slice(values: Column, start: int, stop: int):
    if isinstance(values, Repeated):
        return itertools.repeat(values.value, stop - start)
    return values[start:stop]


@contextlib.contextmanager
def _quick_handoffs() -> Iterator[None]:
    """Shorten the interpreter's switch interval for the duration (process-wide, so nested and concurrent users
    are counted and the first one's saved value comes back when the last one leaves)."""
    global _switch_users, _switch_saved
    with _switch_lock:
        if not _switch_users:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, HANDOFF_SWITCH_INTERVAL))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if not _switch_users:
                sys.setswitchinterval(_switch_saved)


def _sqlite_literal(value: Any) -> str | None:
    """``value`` as an SQLite literal, or None when it is not one of the plain kinds written here (it is bound
    instead). Text is quoted the SQL way (SQLite has no backslash escapes: a doubled quote is the only escape)."""
    kind = type(value)
    if value is None:
        return "NULL"
    if kind is bool:
        return "1" if value else "0"
    if kind is int:
        return str(value)
    if kind is float and math.isfinite(value):
        return repr(value)
    if isinstance(value, str) and "\0" not in value:  # (text choices are str subclasses: their text is the value)
        return "'" + str.__str__(value).replace("'", "''") + "'"
    return None


def _insert(cursor, head: str, tail: str, prepared: list[Column], count: int) -> None:
    """Multi-row INSERT statements (one prepared single-row statement through ``executemany`` costs twice the CPU
    on SQLite), each executed while the next one's parameters are built. On SQLite the statements go to sqlite3's
    cursor directly, past Django's ``%s`` rewriting and its debug cursor (which, with DEBUG=True, would format the
    statement with ``%`` for its query log and fail), and a column with one value for every row (``Repeated``: the
    hospital, the account, the source, the write time …) is written into the statement as a literal instead of
    being bound in every row: half of an import's columns are such (in a bare ``sqlite3`` script, binding them row
    by row and building their parameters took a third of the insert time)."""
    sqlite = connection.vendor == "sqlite"
    cells: list[str | None] = []  # per column: its literal, or None where each row binds a value
    for values in prepared:
        literal = _sqlite_literal(values.value) if sqlite and isinstance(values, Repeated) else None
        cells.append(literal)
    bound = [values for values, literal in zip(prepared, cells, strict=True) if literal is None]
    placeholder = "?" if sqlite else "%s"
    row_sql = "(" + ", ".join(placeholder if literal is None else literal for literal in cells) + ")"
    max_params = connection.features.max_query_params or 30_000
    batch = max(1, min(BATCH_SIZE, max_params // max(1, len(bound))))
    statements: dict[int, str] = {}
    if sqlite:
        # sqlite3's own execute: Django's SQLiteCursorWrapper would first scan each statement of 24,000 ``?`` for
        # ``%s`` to rewrite (a regular expression over 150 KB of SQL, a sixth of the writer thread's time).
        raw = cursor.cursor

        def execute(statement: str, params: list[Any]) -> None:
            sqlite3.Cursor.execute(raw, statement, params)

    else:
        execute = cursor.execute
    # SQLite releases the GIL while it executes: a second thread runs each statement while this one prepares the
    # next (Django opens SQLite connections with check_same_thread=False; one thread uses the cursor at a time).
    threaded = sqlite and count >= batch * THREADED_MIN_BATCHES
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xinqiao-bulk-insert") if threaded else None
    pending: Future | None = None
    with contextlib.ExitStack() as stack:
        if pool is not None:
            stack.callback(pool.shutdown, wait=True)
            stack.enter_context(_quick_handoffs())
        for start in range(0, count, batch):
            stop = min(start + batch, count)
            size = stop - start
            statement = statements.get(size)
            if statement is None:
                statement = statements[size] = head + ", ".join([row_sql] * size) + tail
            params = list(itertools.chain.from_iterable(zip(*(_slice(values, start, stop) for values in bound))))  # noqa: B905 - every slice has ``size`` items
            if pool is None:
                execute(statement, params)
                continue
            if pending is not None:
                pending.result()
            pending = pool.submit(execute, statement, params)
        if pending is not None:
            pending.result()


def _copy_raw(value: Any) -> str:
    """One value as the text PostgreSQL parses into the column's type, before COPY's escaping."""
    if isinstance(value, str):  # (text choices are str subclasses: their text is the stored value)
        return str.__str__(value)
    kind = type(value)
    if kind is int or kind is float:
        return repr(value)  # PostgreSQL reads nan and inf too
    if kind is bool:
        return "t" if value else "f"
    if kind is dt.datetime or kind is dt.date:
        return value.isoformat()
    raise TypeError(kind)


def _copy_list_texts(part: list[Any]) -> pl.Series:
    """A slice of a column given as Python values, as polars text (null for None). Columns of one plain type
    (counts, keys, titles) become polars columns directly, integers and floats formatted by polars (the shortest
    text that reads back as the same number: ``1e-7`` where Python writes ``1e-07``); others have each distinct
    value formatted once. Raises TypeError for a value COPY's text is not made of here (a dict, say)."""
    import polars as pl

    kinds = set(map(type, part))
    kinds.discard(type(None))
    try:
        if kinds == {int}:
            return pl.Series(part, dtype=pl.Int64, strict=True).cast(pl.String)
        if kinds == {float}:
            return pl.Series(part, dtype=pl.Float64, strict=True).cast(pl.String)
        if kinds <= {str}:
            return pl.Series(part, dtype=pl.String, strict=True)
    except (TypeError, OverflowError, pl.exceptions.PolarsError):
        pass  # an integer beyond 64 bits: Python formats it
    mapping = {value: _copy_raw(value) for value in set(part) if value is not None}
    mapping[None] = None
    return pl.Series(list(map(mapping.__getitem__, part)), dtype=pl.String)


def _copy_raw_texts(values: Column, start: int, stop: int) -> pl.Series:
    """Rows start … stop - 1 of one column as polars text, unescaped. A column that can give its whole text
    itself (``text_series(format)``: the import's parsed columns, whose cells polars holds) is sliced from it; a
    ``Prefetched`` one is taken from the part that holds the rows (the rest is waited for only when reached)."""
    import polars as pl

    if isinstance(values, Repeated):
        text = None if values.value is None else _copy_raw(values.value)
        return pl.repeat(text, stop - start, dtype=pl.String, eager=True)
    if isinstance(values, Prefetched):
        split = len(values._first)
        parts = []
        if start < split:
            parts.append(_copy_raw_texts(values._first, start, min(stop, split)))
        if stop > split:
            parts.append(_copy_raw_texts(values._rest.result(), max(start, split) - split, stop - split))
        return parts[0] if len(parts) == 1 else pl.concat(parts)
    whole = getattr(values, "text_series", None)
    if whole is not None:
        texts = whole(_copy_raw)
        if texts is not None:
            return texts.slice(start, stop - start)
    part = _slice(values, start, stop)
    return _copy_list_texts(part if isinstance(part, list) else list(part))


def _copy_escaped(texts: pl.Series) -> pl.Series:
    """COPY's text escaping: a backslash, tab, newline or carriage return inside a value becomes a backslash
    sequence."""
    if not texts.str.contains(r"[\\\t\n\r]").any():
        return texts
    for special, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        texts = texts.str.replace_all(special, escaped, literal=True)
    return texts


def _copy_chunk(prepared: list[Column], start: int, stop: int) -> str | None:
    """Rows start … stop - 1 as COPY text, built by polars column by column (each column a polars text column,
    then one ``write_csv`` with tabs, no quoting and ``\\N`` for null): in Python, joining 200,000 rows of 26
    values took 2.3 s of the main thread, more than the server's own work. None when a value is not one
    ``_copy_raw`` writes (psycopg then adapts the rows)."""
    import polars as pl

    try:
        columns = [
            _copy_escaped(_copy_raw_texts(values, start, stop)).alias(f"c{index}")
            for index, values in enumerate(prepared)
        ]
    except TypeError:  # an unhashable value or a type not written here: psycopg adapts it
        return None
    return pl.DataFrame(columns).write_csv(
        separator="\t", quote_style="never", include_header=False, null_value="\\N", line_terminator="\n"
    )


def _copy(cursor, table: str, column_sql: str, prepared: list[Column], count: int) -> None:
    """COPY ``count`` rows as text formatted here: psycopg's ``write_row`` adapts every value of every row in
    Python, which cost more than the server's work. The queued writer sends each chunk from its own thread."""
    from psycopg.copy import QueuedLibpqWriter

    raw = cursor.cursor
    with _quick_handoffs(), raw.copy(f"COPY {table} ({column_sql}) FROM STDIN", writer=QueuedLibpqWriter(raw)) as copy:
        for start in range(0, count, COPY_ROWS_PER_WRITE):
            stop = min(start + COPY_ROWS_PER_WRITE, count)
            text = _copy_chunk(prepared, start, stop)
            if text is not None:
                copy.write(text)
                continue
            for row in zip(*(_slice(values, start, stop) for values in prepared)):  # noqa: B905
                copy.write_row(row)
