"""Keep the two content rollups equal to their facts (docs/architecture.md, "Content rollup"):
``ContentMetricRollup``, the sums of ``ContentMetricDaily`` per account, day, topic and department, and
``ContentMonthRollup``, their sums per content item and calendar month (with its topic, format, department and
doctor).

Every writer of facts calls ``content_rollup_refresh`` for the account and the days it wrote, in its own
transaction; it recomputes those days from the facts with an ``INSERT … SELECT … GROUP BY`` (nothing passes
through Python), and marks the months they fall in stale (``ContentMonthStale``: their month rows deleted, rebuilt
from the facts by a task after the commit, ``content_months_build``; readers take a stale month from the facts
meanwhile). ``content_rollup_rebuild`` rebuilds both for whole hospitals (the demo seed, the benchmark data,
``manage.py rebuild_content_rollup``), and ``content_rollup_differences`` and ``content_month_differences`` compare
the stored rollups with fresh ones without writing. The first import of an account's period, which writes every fact of its days itself, sums the daily
rollup from the columns it has just written instead (``content_rollup_replace`` with ``content_rollup_rows``:
polars groups them, without reading the facts back).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction

from xinqiao.analytics.models import ContentMetricDaily, ContentMetricRollup, ContentMonthRollup, ContentMonthStale
from xinqiao.channels.models import PlatformAccount
from xinqiao.core.bulk import Column, Repeated
from xinqiao.core.models import Hospital

GROUP_COLUMNS = ("hospital_id", "account_id", "platform", "topic", "department_id_snapshot", "stat_date")
SUM_COLUMNS = ("impressions", "views", "viewers", "likes", "comments", "shares", "favorites", "follows_gained")
# rollup column → the aggregate over the facts that gives it
AGGREGATES = {
    "fact_rows": "COUNT(*)",
    **{name: f"SUM({name})" for name in SUM_COLUMNS},
    "completion_weighted": "SUM(CASE WHEN completion_rate IS NOT NULL THEN completion_rate * views END)",
    "completion_views": "SUM(CASE WHEN completion_rate IS NOT NULL THEN views END)",
}
ROLLUP_COLUMNS = (*GROUP_COLUMNS, *AGGREGATES)
# The month rollup: grouped by the month (its first day) and these, with the same sums and what the post table shows
MONTH_GROUP_COLUMNS = (
    "hospital_id",
    "account_id",
    "platform",
    "content_key",
    "topic",
    "content_format",
    "department_id_snapshot",
    "doctor_id_snapshot",
)
MONTH_AGGREGATES = {
    **AGGREGATES,
    "title": "MAX(title)",
    "published_at": "MIN(published_at)",
    "publication_id": "MAX(publication_id)",
}
MONTH_COLUMNS = ("month", *MONTH_GROUP_COLUMNS, *MONTH_AGGREGATES)


def _grouped_sql(where: str) -> str:
    """SELECT of the rollup rows of the facts matching ``where`` (a condition with %s parameters)."""
    quote = connection.ops.quote_name
    columns = ", ".join([*(quote(name) for name in GROUP_COLUMNS), *AGGREGATES.values()])
    groups = ", ".join(quote(name) for name in GROUP_COLUMNS)
    table = quote(ContentMetricDaily._meta.db_table)
    return f"SELECT {columns} FROM {table} WHERE {where} GROUP BY {groups}"  # noqa: S608 - names are ours


def _insert_grouped(where: str, params: list[Any]) -> int:
    quote = connection.ops.quote_name
    target = ", ".join(quote(name) for name in ROLLUP_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(ContentMetricRollup._meta.db_table)} ({target}) {_grouped_sql(where)}", params
        )
        return cursor.rowcount


def account_lock(account_id: int) -> None:
    """Lock the account row until the transaction ends (PostgreSQL; SQLite has one writer at a time anyway)."""
    list(PlatformAccount.objects.select_for_update().filter(pk=account_id).values_list("pk"))


def content_rollup_refresh(*, account_id: int, start: dt.date, end: dt.date) -> int:
    """Recompute the rollup of one account's days [start, end] from its facts; returns the rows written.

    Must run inside the transaction that wrote the facts. The account row is locked first, so two writers of one
    account (PostgreSQL) refresh one after the other, each seeing the other's committed facts: without the lock the
    second one's DELETE would not see the rows the first inserted meanwhile, and those days would count twice.
    """
    start, end = _cleared(account_id, start, end)
    written = _insert_grouped(_ACCOUNT_DAYS, [account_id, start, end])
    _months_stale(account_id, start, end)
    return written


_ACCOUNT_DAYS = "account_id = %s AND stat_date >= %s AND stat_date <= %s"  # (column names that need no quoting)


def _month_sql() -> str:
    """The first day of a fact's month, in SQL."""
    if connection.vendor == "postgresql":
        return "CAST(DATE_TRUNC('month', CAST(stat_date AS timestamp)) AS date)"
    return "substr(stat_date, 1, 8) || '01'"  # SQLite stores a date as its ISO text: YYYY-MM-DD


def _month_grouped_sql(where: str) -> str:
    """SELECT of the month rollup rows of the facts matching ``where`` (a condition with %s parameters)."""
    quote = connection.ops.quote_name
    groups = ", ".join(quote(name) for name in MONTH_GROUP_COLUMNS)
    month = _month_sql()
    # The account and the content key first in the grouping: SQLite sorts the rows to group them, and a comparison
    # the nearly unique key decides at once is cheaper (as topics._fact_groups); the groups are the same.
    leading = ("account_id", "content_key")
    order = ", ".join(
        [
            *(quote(name) for name in leading),
            month,
            *(quote(name) for name in MONTH_GROUP_COLUMNS if name not in leading),
        ]
    )
    table = quote(ContentMetricDaily._meta.db_table)
    return (
        f"SELECT {month}, {groups}, {', '.join(MONTH_AGGREGATES.values())} FROM {table} "  # noqa: S608 - names are ours
        f"WHERE {where} GROUP BY {order}"
    )


def _insert_month_grouped(where: str, params: list[Any]) -> int:
    quote = connection.ops.quote_name
    target = ", ".join(quote(name) for name in MONTH_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(ContentMonthRollup._meta.db_table)} ({target}) {_month_grouped_sql(where)}", params
        )
        return cursor.rowcount


def month_span(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The first day of ``start``'s month and the last day of ``end``'s month."""
    following = (end.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return start.replace(day=1), following - dt.timedelta(days=1)


def _months_stale(account_id: int, start: dt.date, end: dt.date) -> None:
    """Mark the account's months that [start, end] touches as stale (their month rollup rows deleted, a
    ``ContentMonthStale`` each) and have the task worker rebuild them once the writer's transaction commits. Readers
    take a stale month from the facts meanwhile. The account row is locked by the caller."""
    from xinqiao.analytics.tasks import build_content_months

    first, last = month_span(start, end)
    ContentMonthRollup.objects.filter(account_id=account_id, month__gte=first, month__lte=last).delete()
    hospital_id = PlatformAccount.objects.filter(pk=account_id).values_list("hospital_id", flat=True).get()
    months = []
    month = first
    while month <= last:
        months.append(ContentMonthStale(hospital_id=hospital_id, account_id=account_id, month=month))
        month = (month + dt.timedelta(days=32)).replace(day=1)
    ContentMonthStale.objects.bulk_create(months, ignore_conflicts=True)
    transaction.on_commit(lambda: build_content_months.enqueue(account_id=account_id))


def content_months_build(*, account_id: int) -> int:
    """Rebuild the account's stale months from its facts and clear their markers; returns the rows written
    (idempotent: nothing to do once built). Locks the account, so it waits for a writer of it and vice versa."""
    with transaction.atomic():
        account_lock(account_id)
        written = 0
        stale = ContentMonthStale.objects.filter(account_id=account_id)
        for month in sorted(stale.values_list("month", flat=True)):
            first, last = month_span(month, month)
            ContentMonthRollup.objects.filter(account_id=account_id, month=first).delete()
            written += _insert_month_grouped(_ACCOUNT_DAYS, [account_id, first, last])
        stale.delete()
        return written


def content_months_build_stale() -> int:
    """``content_months_build`` for every account with a stale month; returns the rows written."""
    accounts = ContentMonthStale.objects.order_by("account_id").values_list("account_id", flat=True).distinct()
    return sum(content_months_build(account_id=account_id) for account_id in list(accounts))


def _cleared(account_id: int, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """Lock the account, delete its rollup of the days [start, end] (in either order); returns them in order."""
    if end < start:
        start, end = end, start
    account_lock(account_id)
    ContentMetricRollup.objects.filter(account_id=account_id, stat_date__gte=start, stat_date__lte=end).delete()
    return start, end


def content_rollup_rows(data: dict[str, Column], count: int) -> list[ContentMetricRollup]:
    """The rollup rows of ``count`` facts given column by column as ``bulk_upsert_columns`` writes them (every
    ``GROUP_COLUMNS`` and ``SUM_COLUMNS`` column and ``completion_rate``; one value per row, or ``Repeated``): the
    sums ``_grouped_sql`` gives for the same rows, computed by polars."""
    import polars as pl

    if not count:
        return []
    constant = {name: data[name].value for name in GROUP_COLUMNS if isinstance(data[name], Repeated)}
    grouped = [name for name in GROUP_COLUMNS if name not in constant]
    numbers = [*SUM_COLUMNS, "completion_rate"]
    frame = pl.DataFrame(
        [_series(name, data[name], count) for name in grouped]
        + [_series(name, data[name], count, numeric=True) for name in numbers]
    )
    rated = pl.col("completion_rate").is_not_null()
    aggregates = [
        pl.len().alias("fact_rows"),
        *(pl.col(name).sum().cast(pl.Int64) for name in SUM_COLUMNS),
        (pl.col("completion_rate") * pl.col("views")).sum().cast(pl.Float64).alias("completion_weighted"),
        pl.col("views").filter(rated).sum().cast(pl.Int64).alias("completion_views"),
        rated.sum().alias("rated_rows"),
    ]
    sums = frame.group_by(grouped).agg(aggregates) if grouped else frame.select(aggregates)
    rows = []
    for row in sums.iter_rows(named=True):
        if not row.pop("rated_rows"):  # SQL's SUM over no value is NULL
            row["completion_weighted"] = row["completion_views"] = None
        rows.append(ContentMetricRollup(**constant, **row))
    return rows


def _series(name: str, values: Column, count: int, *, numeric: bool = False):
    """One column as a polars column of ``count`` values."""
    import polars as pl

    if isinstance(values, Repeated):
        dtype = pl.Float64 if numeric and values.value is None else None
        return pl.Series(name, [values.value], dtype=dtype).extend_constant(values.value, count - 1)
    if numeric and hasattr(values, "series"):  # a parsed column: polars puts its numbers in place
        try:
            return values.series().alias(name)
        except TypeError:  # a value that is not a number: from the Python values, as SQL would sum them
            pass
    return pl.Series(name, values if isinstance(values, list) else list(values), strict=False)


def content_rollup_replace(*, account_id: int, start: dt.date, end: dt.date, rows: list[ContentMetricRollup]) -> int:
    """Replace the rollup of one account's days [start, end] with ``rows`` (from ``content_rollup_rows``, for a
    writer that wrote every fact of those days itself); returns the rows written. Same transaction and lock as
    ``content_rollup_refresh``, and the same stale months."""
    start, end = _cleared(account_id, start, end)
    ContentMetricRollup.objects.bulk_create(rows, batch_size=1_000)
    _months_stale(account_id, start, end)
    return len(rows)


def content_rollup_rebuild(*, hospitals: Iterable[Hospital]) -> int:
    """Recompute the whole rollup of each hospital, account by account; returns the rows written. Must run inside a
    transaction (the caller's: an import or a seed that wrote the facts, or the command's)."""
    written = 0
    for hospital in hospitals:
        for account_id in PlatformAccount.objects.filter(hospital=hospital).order_by("pk").values_list("pk", flat=True):
            account_lock(account_id)
            ContentMetricRollup.objects.filter(account_id=account_id).delete()
            written += _insert_grouped("account_id = %s", [account_id])
            ContentMonthRollup.objects.filter(account_id=account_id).delete()
            written += _insert_month_grouped("account_id = %s", [account_id])
            ContentMonthStale.objects.filter(account_id=account_id).delete()
    return written


def _row_key(row: tuple) -> tuple:
    """A rollup row as a comparable tuple: the group, then the sums as integers and the weighted completion to 9
    significant digits (a sum of floats depends on the order it was added in). Raw SQLite rows give the day as
    text."""
    hospital_id, account_id, platform, topic, department_id, stat_date, *sums, weighted, completion_views = row
    if isinstance(stat_date, str):
        stat_date = dt.date.fromisoformat(stat_date)
    return (
        hospital_id,
        account_id,
        platform,
        topic,
        department_id,
        stat_date,
        *(int(value) for value in sums),
        None if weighted is None else float(f"{weighted:.9g}"),
        None if completion_views is None else int(completion_views),
    )


def content_rollup_differences(*, hospital: Hospital, limit: int = 20) -> tuple[int, list[dict[str, Any]]]:
    """Compare the stored rollup of ``hospital`` with the one its facts give now, without writing.

    Returns (the number of groups that differ, the first ``limit`` of them as ``{"account_id", "stat_date",
    "topic", "department_id", "stored", "expected"}``: the fact counts each side has for the group, stored summed
    over its rows, None for no row). A group stored twice differs even if one copy is right."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(_grouped_sql(f"{quote('hospital_id')} = %s"), [hospital.pk])
        expected = {key[:6]: key for key in map(_row_key, cursor.fetchall())}
    stored: dict[tuple, list[tuple]] = {}
    for row in ContentMetricRollup.objects.filter(hospital=hospital).values_list(*ROLLUP_COLUMNS).iterator():
        key = _row_key(row)
        stored.setdefault(key[:6], []).append(key)
    differing = sorted(
        (group for group in expected.keys() | stored.keys() if [expected.get(group)] != stored.get(group, [None])),
        key=lambda group: (group[1], group[5], group[3], group[4] is None, group[4] or 0),
    )
    shown = [
        {
            "account_id": group[1],
            "stat_date": group[5],
            "topic": group[3],
            "department_id": group[4],
            "stored": sum(row[6] for row in stored[group]) if group in stored else None,
            "expected": expected[group][6] if group in expected else None,
        }
        for group in differing[:limit]
    ]
    return len(differing), shown


def _month_row_key(row: tuple) -> tuple:
    """A month rollup row (``MONTH_COLUMNS`` order) as a comparable tuple, normalised as ``_row_key`` does."""
    month, *groups = row[: 1 + len(MONTH_GROUP_COLUMNS)]
    fact_rows, *sums, weighted, completion_views, title, published_at, publication_id = row[1 + len(groups) :]
    if isinstance(month, str):  # SQLite gives a computed date as text, a column's as a date
        month = dt.date.fromisoformat(month)
    if isinstance(published_at, str):
        published_at = dt.datetime.fromisoformat(published_at)
    return (
        month,
        *groups,
        int(fact_rows),
        *(int(value) for value in sums),
        None if weighted is None else float(f"{weighted:.9g}"),
        None if completion_views is None else int(completion_views),
        title,
        published_at,
        publication_id,
    )


def content_month_differences(*, hospital: Hospital, limit: int = 20) -> tuple[int, list[dict[str, Any]]]:
    """``content_rollup_differences`` for the month rollup: (the number of groups that differ, the first ``limit``
    as ``{"account_id", "month", "content_key", "stored", "expected"}`` with the fact counts of each side). A stale
    month (``ContentMonthStale``, waiting for its rebuild) is expected to have no rows."""
    quote = connection.ops.quote_name
    size = 1 + len(MONTH_GROUP_COLUMNS)
    stale = set(ContentMonthStale.objects.filter(hospital=hospital).values_list("account_id", "month"))
    with connection.cursor() as cursor:
        cursor.execute(_month_grouped_sql("hospital_id = %s"), [hospital.pk])
        expected = {key[:size]: key for key in map(_month_row_key, cursor.fetchall()) if (key[2], key[0]) not in stale}
        cursor.execute(
            f"SELECT {', '.join(quote(name) for name in MONTH_COLUMNS)} "  # noqa: S608 - names are ours
            f"FROM {quote(ContentMonthRollup._meta.db_table)} WHERE hospital_id = %s",
            [hospital.pk],
        )
        stored: dict[tuple, list[tuple]] = {}
        for key in map(_month_row_key, cursor.fetchall()):
            stored.setdefault(key[:size], []).append(key)
    differing = sorted(
        (group for group in expected.keys() | stored.keys() if [expected.get(group)] != stored.get(group, [None])),
        key=lambda group: (group[2], group[0], group[4]),
    )
    shown = [
        {
            "account_id": group[2],
            "month": group[0],
            "content_key": group[4],
            "stored": sum(row[size] for row in stored[group]) if group in stored else None,
            "expected": expected[group][size] if group in expected else None,
        }
        for group in differing[:limit]
    ]
    return len(differing), shown
