# The index Django gave the metric_import foreign key of the fact table is dropped (see ContentMetricDaily).
# AlterField alone would rebuild the whole table on SQLite (5,000,000 rows a year at bench scale) to drop one index;
# DROP INDEX does the same on both databases in a moment. The name is the one Django generated in 0001.

import django.db.models.deletion
from django.db import migrations, models

INDEX = "analytics_contentmetricdaily_metric_import_id_6227e09e"


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0003_content_metric_composite_indexes_only"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON "analytics_contentmetricdaily" ("metric_import_id")',
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="contentmetricdaily",
                    name="metric_import",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="analytics.metricimport",
                    ),
                ),
            ],
        ),
    ]
