"""Indexes on the task queue's start and finish times (django_tasks_db's own table, which has none).

The scheduler's queue watch and the health endpoint read the latest start and finish every minute, the system status
page counts the last day's failures, and the retention sweep deletes results by finish time; without an index each
of these read the whole table (up to a year of results, ten thousand a day). The indexes are created here because
the table belongs to a third-party app; its model does not know them, so its own migrations leave them alone.
"""

from django.db import migrations

TABLE = "django_tasks_database_dbtaskresult"


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_scheduler_heartbeat"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS xinqiao_task_started_at ON {TABLE} (started_at)",
            "DROP INDEX IF EXISTS xinqiao_task_started_at",
        ),
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS xinqiao_task_finished_at ON {TABLE} (finished_at)",
            "DROP INDEX IF EXISTS xinqiao_task_finished_at",
        ),
    ]
