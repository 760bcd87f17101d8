# Two changes to the content fact table, both for the import's write (docs/metric-imports.md §4):
#
# 1. The unique key is (account, stat_date, content_key) instead of (account, content_key, stat_date). It now serves
#    every "this account between these days" lookup the (account, stat_date) index served, so that index is
#    dropped: one index fewer to fill on every imported row. An import writes its rows in (day, key) order, which
#    is this key's order.
# 2. On PostgreSQL the account and publication foreign keys are checked once per statement instead of once per row.
#    A foreign key runs one query per row at commit (1.2-1.4 s of a 200,000-row import); the triggers below check
#    the same thing with one query over the statement's new rows, and lock the referenced rows FOR KEY SHARE as the
#    foreign key's check does, so a concurrent delete of the account or the publication waits and then fails.
#    Deleting or renumbering a referenced account or publication is refused while facts point at it, as the
#    foreign key's NO ACTION did. SQLite keeps its foreign keys: its checks cost nothing measurable there.
#    The fields stay Django foreign keys with their on_delete (Django deletes or clears the facts first).

from django.db import migrations, models

FUNCTIONS = ("analytics_fact_refs_inserted", "analytics_fact_refs_updated", "analytics_fact_referenced_guard")


def _tables(apps):
    facts = apps.get_model("analytics", "ContentMetricDaily")._meta.db_table
    account = apps.get_model("xinqiao_channels", "PlatformAccount")._meta.db_table
    publication = apps.get_model("xinqiao_channels", "Publication")._meta.db_table
    return facts, account, publication


def _foreign_keys(schema_editor, table: str, column: str) -> list[str]:
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(cursor, table)
    return [name for name, info in constraints.items() if info["foreign_key"] and info["columns"] == [column]]


def _missing_key_check(table: str, column: str, facts: str) -> str:
    """PL/pgSQL: lock the distinct non-null ``column`` values of ``new_rows`` in ``table``; raise if one is missing."""
    return f"""
    SELECT array_agg(key) INTO wanted FROM (SELECT DISTINCT {column} AS key FROM new_rows WHERE {column} IS NOT NULL) d;
    IF wanted IS NOT NULL THEN
        PERFORM 1 FROM "{table}" WHERE id = ANY (wanted) FOR KEY SHARE;
        GET DIAGNOSTICS found = ROW_COUNT;
        IF found < cardinality(wanted) THEN
            SELECT min(key) INTO missing FROM unnest(wanted) AS key
            WHERE NOT EXISTS (SELECT 1 FROM "{table}" r WHERE r.id = key);
            RAISE EXCEPTION 'insert or update on table "{facts}" violates the reference of {column}'
                USING ERRCODE = 'foreign_key_violation',
                      DETAIL = format('Key ({column})=(%s) is not present in table "{table}".', missing);
        END IF;
    END IF;"""


def _row_check(table: str, column: str, facts: str) -> str:
    return f"""
    IF NEW.{column} IS NOT NULL THEN
        PERFORM 1 FROM "{table}" WHERE id = NEW.{column} FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert or update on table "{facts}" violates the reference of {column}'
                USING ERRCODE = 'foreign_key_violation',
                      DETAIL = format('Key ({column})=(%s) is not present in table "{table}".', NEW.{column});
        END IF;
    END IF;"""


def set_based_checks(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    facts, account, publication = _tables(apps)
    for column in ("account_id", "publication_id"):
        for name in _foreign_keys(schema_editor, facts, column):
            schema_editor.execute(f'ALTER TABLE "{facts}" DROP CONSTRAINT "{name}"')
    schema_editor.execute(f"""
CREATE FUNCTION analytics_fact_refs_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted bigint[];
    found bigint;
    missing bigint;
BEGIN
    {_missing_key_check(account, "account_id", facts)}
    {_missing_key_check(publication, "publication_id", facts)}
    RETURN NULL;
END
$$""", params=None)  # params=None: the % signs are PL/pgSQL's, not placeholders
    schema_editor.execute(f"""
CREATE FUNCTION analytics_fact_refs_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_row_check(account, "account_id", facts)}
    {_row_check(publication, "publication_id", facts)}
    RETURN NULL;
END
$$""", params=None)  # params=None: the % signs are PL/pgSQL's, not placeholders
    # The referenced side: a deleted (or renumbered) account or publication must not leave facts pointing at it. The
    # check reads the facts committed so far, which is only sound when each statement sees what committed before it
    # (READ COMMITTED, the isolation XinQiao runs at): a transaction with an older snapshot is refused instead.
    schema_editor.execute(f"""
CREATE FUNCTION analytics_fact_referenced_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    referenced boolean;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'deleting or renumbering a row of "%" needs READ COMMITTED isolation', TG_TABLE_NAME
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Metric facts are checked against the statement''s own snapshot (migration analytics 0008).';
    END IF;
    IF TG_ARGV[0] = 'account' THEN
        referenced := EXISTS (SELECT 1 FROM "{facts}" WHERE account_id = OLD.id);
    ELSE
        referenced := EXISTS (SELECT 1 FROM "{facts}" WHERE publication_id = OLD.id);
    END IF;
    IF referenced THEN
        RAISE EXCEPTION 'update or delete on table "%" violates the reference from table "{facts}"', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (id)=(%s) is still referenced from table "{facts}".', OLD.id);
    END IF;
    RETURN NULL;
END
$$""", params=None)  # params=None: the % signs are PL/pgSQL's, not placeholders
    schema_editor.execute(
        f'CREATE TRIGGER analytics_fact_refs_inserted AFTER INSERT ON "{facts}" '
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_fact_refs_inserted()"
    )
    schema_editor.execute(
        f'CREATE TRIGGER analytics_fact_refs_updated AFTER UPDATE OF account_id, publication_id ON "{facts}" '
        "FOR EACH ROW WHEN (OLD.account_id IS DISTINCT FROM NEW.account_id "
        "OR OLD.publication_id IS DISTINCT FROM NEW.publication_id) EXECUTE FUNCTION analytics_fact_refs_updated()"
    )
    for table, argument in ((account, "account"), (publication, "publication")):
        schema_editor.execute(
            f'CREATE TRIGGER analytics_fact_referenced_deleted AFTER DELETE ON "{table}" '
            f"FOR EACH ROW EXECUTE FUNCTION analytics_fact_referenced_guard('{argument}')"
        )
        schema_editor.execute(
            f'CREATE TRIGGER analytics_fact_referenced_renumbered AFTER UPDATE OF id ON "{table}" '
            f"FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION analytics_fact_referenced_guard('{argument}')"
        )


def foreign_keys_again(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    facts, account, publication = _tables(apps)
    schema_editor.execute(f'DROP TRIGGER IF EXISTS analytics_fact_refs_inserted ON "{facts}"')
    schema_editor.execute(f'DROP TRIGGER IF EXISTS analytics_fact_refs_updated ON "{facts}"')
    for table in (account, publication):
        schema_editor.execute(f'DROP TRIGGER IF EXISTS analytics_fact_referenced_deleted ON "{table}"')
        schema_editor.execute(f'DROP TRIGGER IF EXISTS analytics_fact_referenced_renumbered ON "{table}"')
    for function in FUNCTIONS:
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}()")
    model = apps.get_model("analytics", "ContentMetricDaily")
    for name in ("account", "publication"):
        field = model._meta.get_field(name)
        schema_editor.execute(schema_editor._create_fk_sql(model, field, "_fk_%(to_table)s_%(to_column)s"))


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0007_content_metric_fact_keys_checked_through_account"),
        ("xinqiao_channels", "0003_publication_msg_data_id"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="contentmetricdaily", name="content_metric_account_day"),
        migrations.RemoveConstraint(model_name="contentmetricdaily", name="content_metric_unique_day"),
        migrations.AddConstraint(
            model_name="contentmetricdaily",
            constraint=models.UniqueConstraint(
                fields=("account", "stat_date", "content_key"), name="content_metric_unique_day"
            ),
        ),
        migrations.RunPython(set_based_checks, foreign_keys_again),
    ]
