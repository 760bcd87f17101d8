# A fact's ``extra`` becomes PostgreSQL's json instead of jsonb (``StoredJSONField``, docs/metric-imports.md §4):
# building the jsonb of every imported row was a quarter of the server's COPY. The column is rewritten once on
# PostgreSQL (every fact's text as jsonb prints it); SQLite keeps its text column as it is (the field's type there
# does not change, so the table is not rebuilt).

from django.db import migrations

import xinqiao.analytics.models


def _retype(apps, schema_editor, column_type: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("analytics", "ContentMetricDaily")._meta.db_table)
    schema_editor.execute(f'ALTER TABLE {table} ALTER COLUMN "extra" TYPE {column_type} USING "extra"::{column_type}')


def to_json(apps, schema_editor):
    _retype(apps, schema_editor, "json")


def to_jsonb(apps, schema_editor):
    _retype(apps, schema_editor, "jsonb")


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0013_content_month_stale"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="contentmetricdaily",
                    name="extra",
                    field=xinqiao.analytics.models.StoredJSONField(blank=True, default=dict),
                ),
            ],
            database_operations=[migrations.RunPython(to_json, to_jsonb)],
        ),
    ]
