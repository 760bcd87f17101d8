"""The column-wise bulk writer (``xinqiao.core.bulk``): what it writes, its threaded SQLite path, and that the
interpreter's switch interval it shortens while a writer thread runs always comes back."""

from __future__ import annotations

import datetime as dt
import sys
import threading

import pytest
from django.db import IntegrityError, connection, transaction

from xinqiao.analytics.models import ContentMetricDaily, MetricSource
from xinqiao.analytics.services.imports import CONTENT_DEFAULTS, CONTENT_VALUE_FIELDS
from xinqiao.analytics.tests.imports_support import make_account
from xinqiao.core import bulk
from xinqiao.core.bulk import Prefetched, Repeated, bulk_upsert_columns

COLUMNS = ("hospital_id", "account_id", "content_key", "stat_date", *CONTENT_VALUE_FIELDS, "source", "updated_at")


def _columns(account, count: int, views_from: int = 0) -> dict:
    return {
        **{name: Repeated(value) for name, value in CONTENT_DEFAULTS.items()},
        "source": Repeated(MetricSource.IMPORT),
        "hospital_id": Repeated(account.hospital_id),
        "account_id": Repeated(account.pk),
        "platform": Repeated(account.platform),
        "content_key": [f"k{index:05d}" for index in range(count)],
        "stat_date": [dt.date(2026, 10, 1) + dt.timedelta(days=index % 7) for index in range(count)],
        "views": [views_from + index for index in range(count)],
        "extra": [{"row": index} for index in range(count)],
        "updated_at": Repeated(dt.datetime(2026, 11, 1, tzinfo=dt.UTC)),
    }


def _write(account, count: int, **options) -> None:
    with transaction.atomic():
        bulk_upsert_columns(
            ContentMetricDaily,
            _columns(account, count, options.pop("views_from", 0)),
            count,
            unique=("account_id", "content_key", "stat_date"),
            columns=COLUMNS,
            **options,
        )


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 100 rows, so a few hundred rows take the threaded path (three batches or more)."""
    monkeypatch.setattr(bulk, "BATCH_SIZE", 100)


@pytest.mark.django_db(transaction=True)
def test_threaded_inserts_write_every_row_and_upsert_on_a_second_pass(world, small_batches):
    account = make_account(world)
    before = sys.getswitchinterval()
    _write(account, 1_050)
    assert sys.getswitchinterval() == before
    stored = dict(ContentMetricDaily.objects.filter(account=account).values_list("content_key", "views"))
    assert len(stored) == 1_050
    assert stored["k00000"] == 0
    assert stored["k01049"] == 1_049
    assert ContentMetricDaily.objects.get(account=account, content_key="k00777").extra == {"row": 777}

    _write(account, 1_050, views_from=10)  # the same keys: every row updated, none added
    assert ContentMetricDaily.objects.filter(account=account).count() == 1_050
    assert ContentMetricDaily.objects.get(account=account, content_key="k00777").views == 787


@pytest.mark.django_db(transaction=True)
def test_a_failing_statement_rolls_back_and_restores_the_switch_interval(world, small_batches):
    account = make_account(world)
    _write(account, 50)
    before = sys.getswitchinterval()
    # insert_only over rows that exist: the database refuses a statement part-way through the batches
    with pytest.raises((IntegrityError, connection.Database.IntegrityError)):
        _write(account, 1_050, insert_only=True)
    assert sys.getswitchinterval() == before
    assert ContentMetricDaily.objects.filter(account=account).count() == 50
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("xinqiao-bulk-insert")]


def test_quick_handoffs_nest_and_the_outermost_restores_the_saved_interval():
    before = sys.getswitchinterval()
    with bulk._quick_handoffs():
        assert sys.getswitchinterval() == min(before, bulk.HANDOFF_SWITCH_INTERVAL)
        with bulk._quick_handoffs():
            assert sys.getswitchinterval() == min(before, bulk.HANDOFF_SWITCH_INTERVAL)
        assert sys.getswitchinterval() == min(before, bulk.HANDOFF_SWITCH_INTERVAL)
    assert sys.getswitchinterval() == before


def test_quick_handoffs_from_two_threads_leave_the_interval_as_it_was():
    before = sys.getswitchinterval()
    inside = threading.Barrier(2)
    leave = threading.Event()

    def user(wait_for_leave: bool) -> None:
        with bulk._quick_handoffs():
            inside.wait(timeout=10)
            if wait_for_leave:
                leave.wait(timeout=10)

    first = threading.Thread(target=user, args=(True,))
    second = threading.Thread(target=user, args=(False,))
    first.start()
    second.start()
    second.join(timeout=10)
    # the second user left first: the first one still runs with the short interval
    assert sys.getswitchinterval() == min(before, bulk.HANDOFF_SWITCH_INTERVAL)
    leave.set()
    first.join(timeout=10)
    assert sys.getswitchinterval() == before


def test_copy_text_escapes_and_marks_nulls_whichever_way_a_column_is_formatted():
    moment = dt.datetime(2026, 11, 1, 8, 30, tzinfo=dt.UTC)
    prepared = [
        [1, 22, 333],  # ints only: written through
        [0.5, float("inf"), 0.7949],  # floats only
        ["plain", "标题", ""],  # text without special characters: written as it is
        ["tab\there", "line\nbreak", "back\\slash"],  # text that needs escaping
        ["a", None, "b"],  # mixed with nulls
        [moment, None, moment],  # other types: each distinct value once
        Repeated(None),
    ]
    text = bulk._copy_chunk(prepared, 0, 3)
    assert text == (
        "1\t0.5\tplain\ttab\\there\ta\t2026-11-01T08:30:00+00:00\t\\N\n"
        "22\tinf\t标题\tline\\nbreak\t\\N\t\\N\t\\N\n"
        "333\t0.7949\t\tback\\\\slash\tb\t2026-11-01T08:30:00+00:00\t\\N\n"
    )


def test_copy_text_of_text_choices_big_integers_and_a_prefetched_column():
    column = Prefetched.computing(lambda start, stop: [f"v{index}\t" for index in range(start, stop)], 10, 4)
    prepared = [
        [MetricSource.IMPORT, "x", None, MetricSource.API],  # text choices: their value
        [2**70, 1, None, -(2**63)],  # beyond 64 bits: formatted by Python
        [True, False, None, True],
        column,
    ]
    assert bulk._copy_chunk(prepared, 0, 4) == (
        "import\t1180591620717411303424\tt\tv0\\t\n"
        "x\t1\tf\tv1\\t\n"
        "\\N\t\\N\t\\N\tv2\\t\n"
        "api\t-9223372036854775808\tt\tv3\\t\n"
    )
    # a chunk across the column's first rows and the rest, one within the rest
    assert bulk._copy_chunk([column], 2, 7) == "v2\\t\nv3\\t\nv4\\t\nv5\\t\nv6\\t\n"
    assert bulk._copy_chunk([column], 8, 10) == "v8\\t\nv9\\t\n"


def test_copy_text_leaves_values_it_does_not_write_to_the_driver():
    assert bulk._copy_chunk([[{"a": 1}, {"b": 2}]], 0, 2) is None  # dicts: psycopg adapts the rows


@pytest.mark.django_db(transaction=True)
def test_values_repeated_in_every_row_are_written_as_given(world, small_batches):
    """On SQLite they go into the statement as literals: quotes, NULL, floats, and values bound instead."""
    account = make_account(world)
    title = "O'Brien 的 \"科普\" -- ; DROP TABLE x; \\ '' 结尾'"
    data = {
        **_columns(account, 350),
        "title": Repeated(title),
        "topic": Repeated(""),
        "department_id_snapshot": Repeated(None),
        "completion_rate": Repeated(0.1 + 0.2),
        "avg_watch_seconds": Repeated(float("inf")),  # not finite: bound, not written as a literal
        "extra": Repeated({"note": "it's"}),
    }
    with transaction.atomic():
        bulk_upsert_columns(
            ContentMetricDaily, data, 350, unique=("account_id", "content_key", "stat_date"), columns=COLUMNS
        )
    rows = ContentMetricDaily.objects.filter(account=account)
    assert rows.count() == 350
    assert set(rows.values_list("title", "topic", "department_id_snapshot", "completion_rate")) == {
        (title, "", None, 0.1 + 0.2)
    }
    assert all(extra == {"note": "it's"} for extra in rows.values_list("extra", flat=True))
    assert set(rows.values_list("avg_watch_seconds", flat=True)) == {float("inf")}


def test_sqlite_literals_quote_text_and_leave_other_values_to_binding():
    assert bulk._sqlite_literal("it's") == "'it''s'"
    assert bulk._sqlite_literal(MetricSource.IMPORT) == "'import'"  # a text choice: its value
    assert bulk._sqlite_literal(None) == "NULL"
    assert bulk._sqlite_literal(True) == "1"
    assert bulk._sqlite_literal(-7) == "-7"
    assert bulk._sqlite_literal(0.25) == "0.25"
    assert bulk._sqlite_literal(float("nan")) is None
    assert bulk._sqlite_literal("a\0b") is None
    assert bulk._sqlite_literal(b"bytes") is None
    assert bulk._sqlite_literal(dt.date(2026, 1, 1)) is None


def test_prefetched_columns_read_like_the_list_they_compute():
    made = []

    def produce(start: int, stop: int) -> list[str]:
        made.append((start, stop))
        return [f"v{index}" for index in range(start, stop)]

    whole = [f"v{index}" for index in range(10)]
    column = Prefetched.computing(produce, 10, 4)
    assert len(column) == 10
    assert column[0:4] == whole[0:4]
    for start, stop in [(0, 10), (2, 7), (4, 10), (6, 8), (9, 20), (5, 5)]:
        assert list(column[start:stop]) == whole[start:stop]
    assert [column[3], column[4], column[-1]] == ["v3", "v4", "v9"]
    assert column[::3] == whole[::3]
    assert sorted(made) == [(0, 4), (4, 10)]  # the first rows once, the rest once
    with pytest.raises(IndexError):
        column[10]
    short = Prefetched.computing(produce, 2, 4)
    assert list(short[0:2]) == ["v0", "v1"]


def test_prefetched_columns_raise_what_computing_the_rest_raised():
    def produce(start: int, stop: int) -> list[int]:
        if start:
            raise ValueError("the rest failed")
        return list(range(stop))

    column = Prefetched.computing(produce, 10, 3)
    assert column[0:3] == [0, 1, 2]
    with pytest.raises(ValueError, match="the rest failed"):
        column[3:5]


def test_a_prefetched_column_is_written_like_a_list(world, small_batches):
    account = make_account(world)
    data = _columns(account, 1_050)
    data["extra"] = Prefetched.computing(
        lambda start, stop: [{"row": index} for index in range(start, stop)], 1_050, 100
    )
    with transaction.atomic():
        bulk_upsert_columns(
            ContentMetricDaily, data, 1_050, unique=("account_id", "content_key", "stat_date"), columns=COLUMNS
        )
    stored = dict(ContentMetricDaily.objects.filter(account=account).values_list("content_key", "extra"))
    assert len(stored) == 1_050
    assert (stored["k00099"], stored["k00100"], stored["k01049"]) == ({"row": 99}, {"row": 100}, {"row": 1049})


# -- the commit's WAL checkpoint moved to a background thread -----------------------------------------------------


@pytest.fixture
def sqlite_file(tmp_path, monkeypatch, django_db_blocker):
    """``core.bulk``'s connection pointed at a fresh SQLite file with the project's options (WAL, the automatic
    checkpoint at 1,000 pages), outside any transaction: the tests' own database is in memory, where there is no
    log to checkpoint."""
    from django.db.backends.sqlite3.base import DatabaseWrapper

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's write-ahead log")
    path = tmp_path / "checkpoint.sqlite3"
    wrapper = DatabaseWrapper({**connection.settings_dict, "NAME": str(path)}, alias="checkpoint_test")
    monkeypatch.setattr(bulk, "connection", wrapper)
    with django_db_blocker.unblock():  # a database of its own, not the tests' one
        with wrapper.cursor() as cursor:
            cursor.execute("CREATE TABLE fact (id INTEGER PRIMARY KEY, body TEXT)")
        yield wrapper, path
        bulk.wait_for_checkpoint()
        wrapper.close()


def write_10_mb(wrapper) -> None:
    with wrapper.cursor() as cursor:  # one statement, committed by itself (autocommit)
        cursor.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
            "INSERT INTO fact (body) SELECT printf('%.500c', 'x') FROM n"
        )


def test_a_commit_inside_checkpoint_after_leaves_the_log_to_a_background_thread(sqlite_file):
    wrapper, path = sqlite_file
    stored = path.stat().st_size

    with bulk.checkpoint_after():
        write_10_mb(wrapper)
        assert path.stat().st_size == stored  # committed into the log only
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM fact")
            assert cursor.fetchone() == (20000,)

    bulk.wait_for_checkpoint()
    assert path.stat().st_size > 10_000_000  # copied into the database by the thread
    with wrapper.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone() == (1000,)  # the connection checkpoints its own commits again


def test_without_it_the_committing_connection_checkpoints(sqlite_file):
    wrapper, path = sqlite_file

    write_10_mb(wrapper)

    assert path.stat().st_size > 10_000_000
    assert bulk.wait_for_checkpoint() < 0.01  # no thread was started


def test_inside_an_outer_transaction_checkpoint_after_changes_nothing(world):
    with transaction.atomic(), bulk.checkpoint_after():
        assert bulk._checkpoint_thread is None
    assert bulk._checkpoint_thread is None
