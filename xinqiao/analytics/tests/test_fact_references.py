"""The content facts' account and publication references (migration analytics 0008).

SQLite checks them with foreign keys; PostgreSQL with triggers that check a statement's new rows in one query and
lock the referenced rows as a foreign key's check does. Either way the database refuses what a foreign key refuses.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from django.db import IntegrityError, NotSupportedError, connection, transaction

from xinqiao.analytics.models import ContentMetricDaily, MetricSource
from xinqiao.analytics.tests.imports_support import checked, make_account, publish
from xinqiao.channels.models import PlatformAccount, Publication

DAY = dt.date(2025, 3, 7)
postgres_only = pytest.mark.skipif("connection.vendor != 'postgresql'")


def fact(account_id: int, key: str, hospital_id: int, **fields) -> ContentMetricDaily:
    return ContentMetricDaily(
        hospital_id=hospital_id,
        account_id=account_id,
        platform="douyin",
        content_key=key,
        source=MetricSource.IMPORT,
        **{"stat_date": DAY, **fields},
    )


def refused(action) -> None:
    """The database refuses ``action``: at once (PostgreSQL's triggers) or at the deferred check (SQLite's keys)."""
    with pytest.raises(IntegrityError):
        checked(action)


def make_publication(world, account) -> Publication:
    from xinqiao.content.tests.helpers import writer

    return publish(world, writer(world), account, "高血压的日常管理", dt.datetime(2025, 3, 2, 1, 30, tzinfo=dt.UTC))


def test_facts_naming_a_missing_account_or_publication_are_refused(world):
    account = make_account(world)
    publication = make_publication(world, account)
    hospital = world.hospital.pk
    missing = PlatformAccount.objects.order_by("-pk").first().pk + 1_000

    # one bad row among good ones: the whole statement is refused
    refused(
        lambda: ContentMetricDaily.objects.bulk_create(
            [fact(account.pk, "a", hospital), fact(missing, "b", hospital), fact(account.pk, "c", hospital)]
        )
    )
    refused(lambda: ContentMetricDaily.objects.bulk_create([fact(account.pk, "d", hospital, publication_id=10**9)]))
    assert not ContentMetricDaily.objects.exists()

    ContentMetricDaily.objects.bulk_create(
        [fact(account.pk, "a", hospital, publication_id=publication.pk), fact(account.pk, "b", hospital)]
    )
    stored = ContentMetricDaily.objects.filter(account=account)
    assert stored.count() == 2
    # changing a stored row's reference to something missing is refused too; to something real it is not
    refused(lambda: stored.filter(content_key="b").update(publication_id=10**9))
    refused(lambda: stored.filter(content_key="b").update(account_id=missing))
    other = make_account(world, name="另一个抖音号")
    stored.filter(content_key="b").update(account_id=other.pk, publication_id=publication.pk)
    assert ContentMetricDaily.objects.get(content_key="b").account_id == other.pk


def test_an_account_or_publication_that_facts_name_cannot_be_removed_behind_djangos_back(world):
    account = make_account(world)
    publication = make_publication(world, account)
    ContentMetricDaily.objects.bulk_create([fact(account.pk, "a", world.hospital.pk, publication_id=publication.pk)])

    refused(lambda: PlatformAccount.objects.filter(pk=account.pk)._raw_delete(connection.alias))
    refused(lambda: Publication.objects.filter(pk=publication.pk)._raw_delete(connection.alias))
    refused(lambda: PlatformAccount.objects.filter(pk=account.pk).update(id=account.pk + 1_000))
    assert ContentMetricDaily.objects.filter(account=account, publication=publication).exists()

    # Django's on_delete still works: the facts are unlinked from a deleted publication, deleted with their account
    publication.delete()
    assert ContentMetricDaily.objects.get(account=account).publication_id is None
    account.delete()
    assert not ContentMetricDaily.objects.exists()


def test_an_account_lookup_between_two_days_reads_the_unique_key(world):
    """The unique key leads with (account, stat_date): it serves the account/date lookups of the imports and the
    account filter; there is no separate (account, stat_date) index any more."""
    account = make_account(world)
    # The hospital's other account has ten times the rows on the same days, as a real matrix would: with one account
    # only, the account condition selects nothing and the planner may as well scan the (hospital, day) index and
    # filter (PostgreSQL did so in two CI runs, its choice turning on index pages left by earlier tests).
    other = make_account(world, name="一院抖音号二")
    ContentMetricDaily.objects.bulk_create(
        fact(owner.pk, f"k{number}", world.hospital.pk, stat_date=DAY - dt.timedelta(days=number % 30))
        for owner, rows in ((account, 300), (other, 3_000))
        for number in range(rows)
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE analytics_contentmetricdaily")  # statistics, as autovacuum would have them
            cursor.execute("SET LOCAL enable_seqscan = off")
    lookup = ContentMetricDaily.objects.filter(account=account, stat_date__range=(DAY - dt.timedelta(days=6), DAY))
    assert lookup.count() == 70
    plan = lookup.explain()
    # SQLite names the index of a table's UNIQUE clause itself
    unique_index = "content_metric_unique_day" if connection.vendor == "postgresql" else "sqlite_autoindex_"
    assert unique_index in plan, plan


def _second_connection() -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        host=settings["HOST"],
        port=settings["PORT"],
        autocommit=True,
    )


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_insert_holds_its_accounts_against_a_concurrent_delete(world):
    """As a foreign key's check does: the inserting transaction locks the account (FOR KEY SHARE) until it ends, so
    a delete waits, and once the facts are committed the delete is refused. The other way round, an insert waits
    for an uncommitted delete of its account and is refused after it commits."""
    account = make_account(world)
    doomed = make_account(world, name="要删除的抖音号")
    table = PlatformAccount._meta.db_table
    with _second_connection() as other:
        other.execute("SET lock_timeout = '300ms'")
        with transaction.atomic():
            ContentMetricDaily.objects.bulk_create([fact(account.pk, "a", world.hospital.pk)])
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute(f'DELETE FROM "{table}" WHERE id = %s', [account.pk])  # noqa: S608 - the model's table
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            other.execute(f'DELETE FROM "{table}" WHERE id = %s', [account.pk])  # noqa: S608 - the model's table

        with other.transaction():
            other.execute(f'DELETE FROM "{table}" WHERE id = %s', [doomed.pk])  # noqa: S608 - the model's table
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '300ms'")
            with pytest.raises(Exception, match="lock timeout"), transaction.atomic():
                ContentMetricDaily.objects.bulk_create([fact(doomed.pk, "b", world.hospital.pk)])
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
        refused(lambda: ContentMetricDaily.objects.bulk_create([fact(doomed.pk, "b", world.hospital.pk)]))
    assert list(ContentMetricDaily.objects.values_list("content_key", flat=True)) == ["a"]


@postgres_only
def test_postgres_checks_the_references_per_statement_not_per_row(world):
    """No per-row foreign-key check on the two columns (a later migration that brought one back would cost every
    import 1.2 s per 200,000 rows again), and the triggers that replace it are in place."""
    table = ContentMetricDaily._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
        cursor.execute(
            "SELECT tgname, tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'analytics_fact_%%'"
        )
        triggers = set(cursor.fetchall())
    assert not [
        name
        for name, info in constraints.items()
        if info["foreign_key"] and info["columns"] in (["account_id"], ["publication_id"])
    ]
    account, publication = PlatformAccount._meta.db_table, Publication._meta.db_table
    assert triggers == {
        ("analytics_fact_refs_inserted", table),
        ("analytics_fact_refs_updated", table),
        ("analytics_fact_referenced_deleted", account),
        ("analytics_fact_referenced_renumbered", account),
        ("analytics_fact_referenced_deleted", publication),
        ("analytics_fact_referenced_renumbered", publication),
    }


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_referenced_account_is_not_deleted_under_an_older_snapshot(world):
    """The referenced side reads the facts committed so far, which needs READ COMMITTED: a transaction at REPEATABLE
    READ could miss facts committed after its snapshot, so it may not delete an account at all."""
    account = make_account(world)
    with pytest.raises(NotSupportedError, match="READ COMMITTED"):
        delete_at_repeatable_read(account)
    assert PlatformAccount.objects.filter(pk=account.pk).exists()


def delete_at_repeatable_read(account: PlatformAccount) -> None:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        PlatformAccount.objects.filter(pk=account.pk).delete()
