"""Check the data catalogue against the models: ``manage.py data_catalogue [--check | --missing] [--file PATH]``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xinqiao.core.catalogue import CatalogueError, catalogue_check, level_summary, missing_stubs


class Command(BaseCommand):
    help = (
        "Summarise data_catalogue.yaml (tables and columns per level). --check exits non-zero listing every "
        "missing, stale or invalid entry (REQ-CLS-001); --missing prints YAML stubs for unclassified columns."
    )

    def add_arguments(self, parser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--check", action="store_true", help="Fail unless the catalogue is valid and matches the models."
        )
        mode.add_argument(
            "--missing", action="store_true", help="Print YAML stubs for the tables and columns the catalogue lacks."
        )
        parser.add_argument("--file", help="Catalogue file to read (default: data_catalogue.yaml in the project).")

    def handle(self, *args, **options) -> None:
        try:
            report = catalogue_check(options["file"])
        except CatalogueError as exc:
            raise CommandError(str(exc)) from exc
        if options["check"]:
            self.write_check(report)
        elif options["missing"]:
            self.write_missing(report)
        else:
            self.write_summary(report)

    def write_check(self, report) -> None:
        if report.ok:
            self.stdout.write(
                _("Data catalogue OK: %(tables)s tables, %(columns)s columns classified.")
                % {
                    "tables": len(report.catalogue.tables),
                    "columns": sum(len(t.columns) for t in report.catalogue.tables.values()),
                }
            )
            return
        for problem in report.problems:
            self.stderr.write(f"{self.kind_label(problem.kind)}: {problem}")
        raise CommandError(
            _(
                "The data catalogue has %(count)s problems (%(missing)s missing, %(stale)s stale, %(invalid)s "
                "invalid). Run 'manage.py data_catalogue --missing' for stubs to classify."
            )
            % {
                "count": len(report.problems),
                "missing": len(report.of_kind("missing")),
                "stale": len(report.of_kind("stale")),
                "invalid": len(report.of_kind("invalid")),
            }
        )

    @staticmethod
    def kind_label(kind: str) -> str:
        return {"missing": _("missing"), "stale": _("stale"), "invalid": _("invalid")}[kind]

    def write_missing(self, report) -> None:
        stubs = missing_stubs(report)
        if not stubs:
            self.stdout.write(_("Nothing is missing from the data catalogue."))
            return
        self.stdout.write(stubs)

    def write_summary(self, report) -> None:
        catalogue = report.catalogue
        self.stdout.write(
            _("Data catalogue %(path)s: %(tables)s tables, %(columns)s columns.")
            % {
                "path": catalogue.path,
                "tables": len(catalogue.tables),
                "columns": sum(len(t.columns) for t in catalogue.tables.values()),
            }
        )
        for level, (tables, columns) in level_summary(catalogue).items():
            self.stdout.write(
                _("Level %(level)s: tables %(tables)s, columns %(columns)s")
                % {"level": level, "tables": tables, "columns": columns}
            )
        columns = [column for table in catalogue.tables.values() for column in table.columns.values()]
        self.stdout.write(
            _("PI columns: %(pi)s, of which sensitive: %(sensitive)s")
            % {"pi": sum(c.pi for c in columns), "sensitive": sum(c.sensitive for c in columns)}
        )
        if not report.ok:
            self.stdout.write(
                _("%(count)s problems: run 'manage.py data_catalogue --check' to list them.")
                % {"count": len(report.problems)}
            )
