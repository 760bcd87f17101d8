"""The machine-readable data catalogue (REQ-CLS-001, REQ-CLS-002): load, validate and compare with the models.

``data_catalogue.yaml`` at the repository root lists every table of the installed apps and every column of
each, with its dataset, PI and sensitive-PI flags, GB/T 39725 category, level (1-5), legal basis, retention rule
and owner. Tables give the last four once; columns may override them. A table's level is the highest level of its
columns (就高不就低).

``catalogue_check(path)`` returns every problem at once: schema errors ("invalid"), model columns the catalogue
lacks ("missing") and catalogue entries no model has any more ("stale"). ``manage.py data_catalogue --check`` and
the test suite fail on any of them, so a new column cannot land unclassified.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.apps import apps
from django.conf import settings
from django.utils.translation import gettext as _

CATALOGUE_FILENAME = "data_catalogue.yaml"
CATALOGUE_VERSION = 1
LEVELS = (1, 2, 3, 4, 5)
NO_CATEGORY = "—"
# GB/T 39725-2020 §6.1 data categories; a column names one or several joined by " + " ("(+ X)" marks a category
# that applies only to some rows, as in privacy-requirements §1.1).
CATEGORIES = ("个人属性", "健康状况", "医疗应用", "医疗支付", "卫生资源", "公共卫生")
# PIPL 第13条 legal bases, plus ``not_applicable`` for data that is not personal information.
LEGAL_BASES = {
    "consent": "PIPL 第13条第(一)项",
    "contract": "PIPL 第13条第(二)项 (contract the person is party to)",
    "hr_management": "PIPL 第13条第(二)项 (human-resources management)",
    "legal_obligation": "PIPL 第13条第(三)项",
    "public_health_emergency": "PIPL 第13条第(四)项",
    "public_interest_reporting": "PIPL 第13条第(五)项",
    "publicly_disclosed": "PIPL 第13条第(六)项",
    "not_applicable": "not personal information",
}
INHERITED_KEYS = ("dataset", "legal_basis", "retention", "owner")
TABLE_KEYS = ("model", *INHERITED_KEYS, "level", "columns")
COLUMN_KEYS = ("pi", "sensitive", "category", "level")
TOP_KEYS = ("version", "datasets", "retention_rules", "tables")
SENSITIVE_MIN_LEVEL = 4


class CatalogueError(Exception):
    """The catalogue file cannot be read at all (absent, not YAML, not a mapping)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the catalogue: ``kind`` is ``invalid``, ``missing`` or ``stale``."""

    kind: str
    table: str
    column: str
    message: str

    @property
    def location(self) -> str:
        if not self.table:
            return CATALOGUE_FILENAME
        return f"{self.table}.{self.column}" if self.column else self.table

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass(frozen=True)
class Column:
    """One column's classification with the table's defaults applied."""

    table: str
    name: str
    pi: bool
    sensitive: bool
    category: str
    level: int
    dataset: str
    legal_basis: str
    retention: str
    owner: str


@dataclass
class Table:
    name: str
    model: str
    dataset: str
    legal_basis: str
    retention: str
    owner: str
    declared_level: int | None
    columns: dict[str, Column] = field(default_factory=dict)
    # every column name the file lists, including those whose entry is invalid (they are not "missing")
    declared_columns: list[str] = field(default_factory=list)

    @property
    def level(self) -> int:
        """The highest level of the table's valid columns (REQ-CLS-002)."""
        return max((column.level for column in self.columns.values()), default=0)


@dataclass
class Catalogue:
    path: Path | None
    datasets: dict[str, str]
    retention_rules: dict[str, str]
    tables: dict[str, Table]
    problems: list[Problem]


@dataclass(frozen=True)
class LiveColumn:
    name: str
    field_name: str
    field_type: str


@dataclass(frozen=True)
class LiveTable:
    name: str
    model: str
    columns: tuple[LiveColumn, ...]


def default_catalogue_path() -> Path:
    return Path(settings.BASE_DIR) / CATALOGUE_FILENAME


def _show(value: Any) -> str:
    """A value as YAML-ish text for messages: null, true, 6, "text"."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:
        return repr(value)


def _is_level(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in LEVELS


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_category(value: Any) -> bool:
    if not _is_text(value):
        return False
    if value == NO_CATEGORY:
        return True
    parts = value.replace("(", "").replace(")", "").split("+")
    return all(part.strip() in CATEGORIES for part in parts)


class _Validator:
    def __init__(self, data: Mapping[str, Any]):
        self.data = data
        self.problems: list[Problem] = []

    def problem(self, table: str, column: str, message: str) -> None:
        self.problems.append(Problem("invalid", table, column, message))

    def named_texts(self, key: str) -> dict[str, str]:
        if key not in self.data:
            return {}  # already reported as a missing key
        value = self.data[key]
        if not isinstance(value, Mapping):
            self.problem("", "", _('"%(key)s" must map names to descriptions') % {"key": key})
            return {}
        result: dict[str, str] = {}
        for name, text in value.items():
            if _is_text(text):
                result[str(name)] = text
            else:
                self.problem("", "", _('%(key)s "%(name)s" needs a description') % {"key": key, "name": name})
        return result

    def run(self, path: Path | None) -> Catalogue:
        for key in self.data:
            if key not in TOP_KEYS:
                self.problem("", "", _('unknown key "%(key)s"') % {"key": key})
        for key in TOP_KEYS:
            if key not in self.data:
                self.problem("", "", _('missing required key "%(key)s"') % {"key": key})
        if "version" in self.data and self.data["version"] != CATALOGUE_VERSION:
            self.problem(
                "",
                "",
                _("unsupported catalogue version %(value)s; expected %(expected)s")
                % {"value": _show(self.data["version"]), "expected": CATALOGUE_VERSION},
            )
        datasets = self.named_texts("datasets")
        retention_rules = self.named_texts("retention_rules")
        tables: dict[str, Table] = {}
        raw_tables = self.data.get("tables")
        if raw_tables is not None and not isinstance(raw_tables, Mapping):
            self.problem("", "", _('"tables" must map table names to their entries'))
            raw_tables = {}
        for name, entry in (raw_tables or {}).items():
            table = self.table(str(name), entry, datasets, retention_rules)
            if table is not None:
                tables[table.name] = table
        return Catalogue(path, datasets, retention_rules, tables, self.problems)

    def check_inherited(
        self, table: str, column: str, entry: Mapping[str, Any], datasets: dict, retention_rules: dict
    ) -> None:
        """Check whichever of dataset, legal_basis, retention and owner the entry gives."""
        if "dataset" in entry and entry["dataset"] not in datasets:
            self.problem(
                table,
                column,
                _("unknown dataset %(value)s; declare it under datasets") % {"value": _show(entry["dataset"])},
            )
        if "legal_basis" in entry and entry["legal_basis"] not in LEGAL_BASES:
            self.problem(
                table,
                column,
                _("unknown legal basis %(value)s; allowed: %(allowed)s")
                % {"value": _show(entry["legal_basis"]), "allowed": ", ".join(LEGAL_BASES)},
            )
        if "retention" in entry and entry["retention"] not in retention_rules:
            self.problem(
                table,
                column,
                _("unknown retention rule %(value)s; declare it under retention_rules")
                % {"value": _show(entry["retention"])},
            )
        if "owner" in entry and not _is_text(entry["owner"]):
            self.problem(
                table, column, _("owner must be a role or department, not %(value)s") % {"value": _show(entry["owner"])}
            )

    def table(self, name: str, entry: Any, datasets: dict, retention_rules: dict) -> Table | None:
        if not isinstance(entry, Mapping):
            self.problem(name, "", _("a table entry must be a mapping of %(keys)s") % {"keys": ", ".join(TABLE_KEYS)})
            return None
        for key in entry:
            if key not in TABLE_KEYS:
                self.problem(name, "", _('unknown key "%(key)s"') % {"key": key})
        for key in TABLE_KEYS:
            if key not in entry:
                self.problem(name, "", _('missing required key "%(key)s"') % {"key": key})
        if "model" in entry and not _is_text(entry["model"]):
            self.problem(
                name, "", _("model must be an app_label.ModelName, not %(value)s") % {"value": _show(entry["model"])}
            )
        self.check_inherited(name, "", entry, datasets, retention_rules)
        declared_level = entry.get("level")
        if "level" in entry and not _is_level(declared_level):
            self.problem(
                name, "", _("level must be an integer from 1 to 5, not %(value)s") % {"value": _show(declared_level)}
            )
            declared_level = None
        table = Table(
            name=name,
            model=str(entry.get("model", "")),
            dataset=entry.get("dataset", ""),
            legal_basis=entry.get("legal_basis", ""),
            retention=entry.get("retention", ""),
            owner=entry.get("owner", ""),
            declared_level=declared_level,
        )
        raw_columns = entry.get("columns")
        if "columns" in entry and (not isinstance(raw_columns, Mapping) or not raw_columns):
            self.problem(name, "", _("columns must map each column name to its classification"))
            raw_columns = {}
        for column_name, column_entry in (raw_columns or {}).items():
            table.declared_columns.append(str(column_name))
            column = self.column(table, str(column_name), column_entry, datasets, retention_rules)
            if column is not None:
                table.columns[column.name] = column
        # Compared only when every column is valid: an invalid column has no level to take the highest of.
        all_valid = len(table.columns) == len(table.declared_columns)
        if table.declared_level is not None and table.columns and all_valid and table.declared_level != table.level:
            self.problem(
                name,
                "",
                _("table level %(declared)s differs from its highest column level %(computed)s (REQ-CLS-002)")
                % {"declared": table.declared_level, "computed": table.level},
            )
        return table

    def column(self, table: Table, name: str, entry: Any, datasets: dict, retention_rules: dict) -> Column | None:
        problems_before = len(self.problems)
        if not isinstance(entry, Mapping):
            self.problem(
                table.name, name, _("a column entry must be a mapping of %(keys)s") % {"keys": ", ".join(COLUMN_KEYS)}
            )
            return None
        for key in entry:
            if key not in COLUMN_KEYS and key not in INHERITED_KEYS:
                self.problem(table.name, name, _('unknown key "%(key)s"') % {"key": key})
        for key in COLUMN_KEYS:
            if key not in entry:
                self.problem(table.name, name, _('missing required key "%(key)s"') % {"key": key})
        for key in ("pi", "sensitive"):
            if key in entry and not isinstance(entry[key], bool):
                self.problem(
                    table.name,
                    name,
                    _("%(key)s must be true or false, not %(value)s") % {"key": key, "value": _show(entry[key])},
                )
        if "category" in entry and not _is_category(entry["category"]):
            self.problem(
                table.name,
                name,
                _('category %(value)s is not "%(none)s" or GB/T 39725 categories joined by " + " (%(allowed)s)')
                % {"value": _show(entry["category"]), "none": NO_CATEGORY, "allowed": ", ".join(CATEGORIES)},
            )
        level = entry.get("level")
        if "level" in entry and not _is_level(level):
            self.problem(
                table.name, name, _("level must be an integer from 1 to 5, not %(value)s") % {"value": _show(level)}
            )
        self.check_inherited(table.name, name, entry, datasets, retention_rules)
        if entry.get("sensitive") is True:
            if entry.get("pi") is False:
                self.problem(table.name, name, _("sensitive personal information must also be PI (pi: true)"))
            if _is_level(level) and level < SENSITIVE_MIN_LEVEL:
                self.problem(
                    table.name,
                    name,
                    _("sensitive personal information must be level 4 or 5, not %(level)s") % {"level": level},
                )
        legal_basis = entry.get("legal_basis", table.legal_basis)
        if entry.get("pi") is True and legal_basis == "not_applicable":
            self.problem(table.name, name, _("personal information needs a legal basis other than not_applicable"))
        if len(self.problems) > problems_before:
            return None
        return Column(
            table=table.name,
            name=name,
            pi=entry["pi"],
            sensitive=entry["sensitive"],
            category=entry["category"],
            level=level,
            dataset=entry.get("dataset", table.dataset),
            legal_basis=legal_basis,
            retention=entry.get("retention", table.retention),
            owner=entry.get("owner", table.owner),
        )


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys: PyYAML would silently keep the last classification."""

    def construct_mapping(self, node, deep=False):
        seen: set[Any] = set()
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f'duplicate key "{key}"', key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def catalogue_parse(data: Any, *, path: Path | None = None) -> Catalogue:
    """Validate already-loaded catalogue data; every schema problem is in ``Catalogue.problems``."""
    if not isinstance(data, Mapping):
        raise CatalogueError(
            _("The data catalogue must be a YAML mapping with %(keys)s.") % {"keys": ", ".join(TOP_KEYS)}
        )
    return _Validator(data).run(path)


def _yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or problem is None:
        return str(exc)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


def catalogue_load(path: Path | str | None = None) -> Catalogue:
    """Read and validate the catalogue file (default: ``data_catalogue.yaml`` next to manage.py)."""
    path = Path(path) if path is not None else default_catalogue_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(
            _("Cannot read the data catalogue %(path)s: %(error)s") % {"path": path, "error": exc.strerror or exc}
        ) from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise CatalogueError(
            _("The data catalogue %(path)s is not valid YAML: %(error)s") % {"path": path, "error": _yaml_error(exc)}
        ) from exc
    return catalogue_parse(data, path=path)


def project_tables() -> dict[str, LiveTable]:
    """Every table the installed apps create: the project's own models, the framework's (users, sessions, the task
    queue, the admin log: they hold personal data too) and auto-created many-to-many tables."""
    tables: dict[str, LiveTable] = {}
    for config in apps.get_app_configs():
        for model in config.get_models(include_auto_created=True):
            meta = model._meta
            if meta.proxy or meta.abstract or not meta.managed:
                continue
            columns = tuple(
                LiveColumn(name=f.column, field_name=f.name, field_type=type(f).__name__) for f in meta.concrete_fields
            )
            tables[meta.db_table] = LiveTable(name=meta.db_table, model=meta.label, columns=columns)
    return tables


def catalogue_compare(catalogue: Catalogue, live: Mapping[str, LiveTable]) -> list[Problem]:
    """Missing tables and columns (in the models, not in the catalogue) and stale entries (the other way)."""
    problems: list[Problem] = []
    for name, table in live.items():
        entry = catalogue.tables.get(name)
        if entry is None:
            problems.append(
                Problem(
                    "missing",
                    name,
                    "",
                    _("table missing from the catalogue (model %(model)s)") % {"model": table.model},
                )
            )
            continue
        if entry.model and entry.model != table.model:
            problems.append(
                Problem(
                    "invalid",
                    name,
                    "",
                    _("model is %(declared)s in the catalogue but %(live)s in the code")
                    % {"declared": entry.model, "live": table.model},
                )
            )
        for column in table.columns:
            if column.name not in entry.declared_columns:
                problems.append(
                    Problem(
                        "missing",
                        name,
                        column.name,
                        _("column missing from the catalogue (%(model)s.%(field)s, %(type)s)")
                        % {"model": table.model, "field": column.field_name, "type": column.field_type},
                    )
                )
    for name, entry in catalogue.tables.items():
        table = live.get(name)
        if table is None:
            problems.append(Problem("stale", name, "", _("table in the catalogue but no model has it")))
            continue
        live_columns = {column.name for column in table.columns}
        for column_name in entry.declared_columns:
            if column_name not in live_columns:
                problems.append(
                    Problem(
                        "stale",
                        name,
                        column_name,
                        _("column in the catalogue but not in %(model)s") % {"model": table.model},
                    )
                )
    return problems


@dataclass
class CatalogueReport:
    catalogue: Catalogue
    live: dict[str, LiveTable]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def of_kind(self, kind: str) -> list[Problem]:
        return [problem for problem in self.problems if problem.kind == kind]


def catalogue_check(path: Path | str | None = None) -> CatalogueReport:
    """Load the catalogue, validate it and compare it with the live models."""
    catalogue = catalogue_load(path)
    live = project_tables()
    problems = [*catalogue.problems, *catalogue_compare(catalogue, live)]
    return CatalogueReport(catalogue=catalogue, live=live, problems=problems)


def level_summary(catalogue: Catalogue) -> dict[int, tuple[int, int]]:
    """Level -> (tables at that level, columns at that level); a table's level is its highest column level."""
    summary = {level: [0, 0] for level in LEVELS}
    for table in catalogue.tables.values():
        if table.columns:
            summary[table.level][0] += 1
        for column in table.columns.values():
            summary[column.level][1] += 1
    return {level: (tables, columns) for level, (tables, columns) in summary.items()}


_STUB_COLUMN = "{pi: null, sensitive: null, category: null, level: null}"


def missing_stubs(report: CatalogueReport) -> str:
    """YAML to paste into the catalogue for every missing table and column, with nulls left to classify."""
    missing_tables = [p.table for p in report.problems if p.kind == "missing" and not p.column]
    missing_columns: dict[str, list[str]] = {}
    for problem in report.problems:
        if problem.kind == "missing" and problem.column:
            missing_columns.setdefault(problem.table, []).append(problem.column)
    blocks: list[str] = []
    for name in missing_tables:
        live = report.live[name]
        lines = [
            _("# New table %(table)s (%(model)s): paste under tables:") % {"table": name, "model": live.model},
            f"  {name}:",
            f"    model: {live.model}",
            "    dataset: null  # " + _("one of: %(values)s") % {"values": ", ".join(report.catalogue.datasets)},
            "    legal_basis: null  # " + _("one of: %(values)s") % {"values": ", ".join(LEGAL_BASES)},
            "    retention: null  # "
            + _("one of: %(values)s") % {"values": ", ".join(report.catalogue.retention_rules)},
            "    owner: null  # " + _("a role or department, e.g. 品牌部, 医务部, 信息科, DPO"),
            "    level: null  # " + _("the highest level of its columns"),
            "    columns:",
            *_column_stub_lines(live.columns),
        ]
        blocks.append("\n".join(lines))
    for name, columns in missing_columns.items():
        live = report.live[name]
        wanted = [column for column in live.columns if column.name in columns]
        lines = [
            _("# %(table)s (%(model)s): paste under tables.%(table)s.columns") % {"table": name, "model": live.model},
            *_column_stub_lines(wanted),
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _column_stub_lines(columns: Iterable[LiveColumn]) -> list[str]:
    columns = list(columns)
    width = max(len(column.name) for column in columns) + 1
    return [f"      {(column.name + ':').ljust(width)} {_STUB_COLUMN}  # {column.field_type}" for column in columns]
