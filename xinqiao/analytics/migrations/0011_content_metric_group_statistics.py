"""PostgreSQL: extended statistics on how many distinct groups the fact table's grouping columns form together.

The dashboards group a period's facts by content key with the account, platform, topic or format. PostgreSQL
estimates the number of groups of several columns by multiplying each column's distinct count (it assumes they
are independent): for a year of 5,000,000 facts it expected 400,000 to 5,000,000 groups where there are 20,000 (a
content key has one account, one platform and nearly always one topic and format). With that estimate it sorted
all the rows on disk instead of summing them in a hash table in each parallel worker. ``CREATE STATISTICS …
(ndistinct)`` lets ANALYZE count the combinations themselves (docs/architecture.md, "Long periods on PostgreSQL"). SQLite has no such
statistics and plans these groupings the same either way: nothing to do there.
"""

from django.db import migrations

NAME = "content_metric_key_groups"
TABLE = "analytics_contentmetricdaily"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE STATISTICS IF NOT EXISTS {NAME} (ndistinct) "
        f"ON account_id, content_key, platform, topic, content_format FROM {TABLE}"
    )
    schema_editor.execute(f"ANALYZE {TABLE}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP STATISTICS IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("analytics", "0010_content_metric_rollup")]

    operations = [migrations.RunPython(create, drop)]
