"""The data catalogue gate (REQ-CLS-001, REQ-CLS-002): full coverage, schema rules, table levels, the command."""

from __future__ import annotations

import copy
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import translation

from xinqiao.core.catalogue import (
    Problem,
    catalogue_check,
    catalogue_load,
    catalogue_parse,
    default_catalogue_path,
    project_tables,
)


@pytest.fixture(autouse=True)
def english():
    """The assertions read the English msgids; the default language is Simplified Chinese."""
    with translation.override("en"):
        yield


@pytest.fixture
def catalogue_text() -> str:
    return default_catalogue_path().read_text(encoding="utf-8")


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("data_catalogue", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args: str) -> tuple[CommandError, str]:
    err = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("data_catalogue", *args, stdout=io.StringIO(), stderr=err)
    return raised.value, err.getvalue()


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "catalogue.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def without_line(text: str, prefix: str) -> str:
    lines = text.splitlines(keepends=True)
    matching = [line for line in lines if line.startswith(prefix)]
    assert len(matching) == 1
    return "".join(line for line in lines if not line.startswith(prefix))


def without_table(text: str, table: str) -> str:
    """Drop one table block (its comment lines above are harmless)."""
    pattern = re.compile(rf"^  {table}:\n(?:    .*\n|      .*\n)+", re.MULTILINE)
    result, count = pattern.subn("", text)
    assert count == 1
    return result


# --- coverage: the CI gate --------------------------------------------------------------------------------


def test_the_catalogue_covers_every_project_column_and_has_no_stale_entry():
    report = catalogue_check()

    assert [str(problem) for problem in report.problems] == []
    assert set(report.catalogue.tables) == set(report.live)
    for name, live in report.live.items():
        assert sorted(column.name for column in live.columns) == sorted(report.catalogue.tables[name].declared_columns)


def test_project_tables_are_every_installed_apps_models_with_their_many_to_many_tables():
    live = project_tables()

    assert live["core_patient"].model == "core.Patient"
    assert live["core_doctor_departments"].model == "core.Doctor_departments"
    assert [c.name for c in live["core_doctor_departments"].columns] == ["id", "doctor_id", "department_id"]
    assert live["xinqiao_channels_platformaccount"].model == "xinqiao_channels.PlatformAccount"
    # Django's own tables hold staff accounts and sessions: they are catalogued too
    assert live["auth_user"].model == "auth.User"
    assert [c.name for c in live["django_session"].columns] == ["session_key", "session_data", "expire_date"]
    assert {name.split("_")[0] for name in live} == {
        "core",
        "content",
        "xinqiao",
        "integrations",
        "listening",
        "analytics",
        "auth",
        "django",
    }


def test_staff_accounts_and_sessions_are_classified():
    catalogue = catalogue_load()
    assert catalogue.tables["auth_user"].level == 4  # the password hash is a credential
    assert catalogue.tables["auth_user"].columns["email"].pi is True
    assert catalogue.tables["django_session"].columns["session_data"].pi is True


# --- levels (REQ-CLS-002) ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "level"),
    [
        ("core_patient", 4),
        ("core_consent", 4),
        ("core_visit", 4),
        ("content_contentitem", 4),
        ("core_auditevent", 3),
        ("core_membership", 3),
        ("listening_mention", 3),
        ("analytics_contentmetricdaily", 2),
        ("core_doctor", 1),
        ("core_department", 1),
    ],
)
def test_known_tables_take_the_highest_level_of_their_columns(table, level):
    entry = catalogue_load().tables[table]

    assert entry.level == level
    assert entry.declared_level == level
    assert max(column.level for column in entry.columns.values()) == level


def test_sealed_fields_and_blind_indexes_are_level_4_personal_information():
    tables = catalogue_load().tables
    patient = tables["core_patient"].columns

    for name in ("name", "mobile", "id_number"):
        for suffix in ("sealed", "bidx"):
            column = patient[f"{name}_{suffix}"]
            assert (column.pi, column.sensitive, column.level) == (True, True, 4)
        masked = patient[f"{name}_masked"]
        assert (masked.pi, masked.sensitive, masked.level) == (True, False, 3)
    for table in tables.values():
        for column in table.columns.values():
            if column.name.endswith("_sealed"):
                assert column.level == 4, f"{table.name}.{column.name}"
            if column.name.endswith("_bidx"):
                assert (column.pi, column.level) == (True, 4), f"{table.name}.{column.name}"


def test_secrets_author_handles_and_audit_actors_are_classified():
    tables = catalogue_load().tables

    assert tables["core_apikey"].columns["key_hash"].level == 4
    assert tables["integrations_notificationroute"].columns["webhook_url_sealed"].level == 4
    handle = tables["listening_mention"].columns["author_handle"]
    assert (handle.pi, handle.level, handle.dataset, handle.legal_basis) == (
        True,
        3,
        "social_user",
        "publicly_disclosed",
    )
    actor = tables["core_auditevent"].columns["actor_id"]
    assert (actor.pi, actor.level, actor.dataset, actor.retention) == (True, 3, "audit_log", "audit_3y")
    story = tables["content_contentitem"].columns["story_patient_id"]
    assert (story.sensitive, story.level, story.dataset, story.legal_basis) == (
        True,
        4,
        "patient_story_material",
        "consent",
    )
    # a column without overrides inherits the table's defaults
    title = tables["content_contentitem"].columns["title"]
    assert (title.dataset, title.legal_basis, title.owner) == ("content", "not_applicable", "品牌部")


# --- schema validation -----------------------------------------------------------------------------------------

VALID = {
    "version": 1,
    "datasets": {"lead": "Leads", "system": "Operational state"},
    "retention_rules": {"r180": "180 days after the last contact"},
    "tables": {
        "t": {
            "model": "core.T",
            "dataset": "lead",
            "legal_basis": "consent",
            "retention": "r180",
            "owner": "客服部",
            "level": 4,
            "columns": {
                "id": {"pi": False, "sensitive": False, "category": "—", "level": 1},
                "alias": {"pi": True, "sensitive": False, "category": "个人属性", "level": 3},
                "c": {"pi": True, "sensitive": True, "category": "个人属性 + 健康状况", "level": 4},
            },
        }
    },
}


def problems_with(change) -> list[str]:
    data = copy.deepcopy(VALID)
    change(data)
    return [str(problem) for problem in catalogue_parse(data).problems]


def column_c(data) -> dict:
    return data["tables"]["t"]["columns"]["c"]


def test_a_valid_catalogue_has_no_problem_and_the_table_takes_its_highest_level():
    catalogue = catalogue_parse(copy.deepcopy(VALID))

    assert catalogue.problems == []
    assert catalogue.tables["t"].level == 4
    assert catalogue.tables["t"].columns["alias"].retention == "r180"


def test_a_missing_key_is_rejected():
    assert problems_with(lambda d: column_c(d).pop("level")) == ['t.c: missing required key "level"']
    assert problems_with(lambda d: d["tables"]["t"].pop("owner")) == ['t: missing required key "owner"']


def test_level_6_is_rejected():
    def level_6(data):
        column_c(data)["level"] = 6

    assert problems_with(level_6) == ["t.c: level must be an integer from 1 to 5, not 6"]


def test_a_level_that_is_not_an_integer_is_rejected():
    def level_true(data):
        column_c(data)["level"] = True

    assert problems_with(level_true) == ["t.c: level must be an integer from 1 to 5, not true"]


def test_sensitive_without_pi_is_rejected():
    def not_pi(data):
        column_c(data)["pi"] = False

    assert problems_with(not_pi) == ["t.c: sensitive personal information must also be PI (pi: true)"]


def test_sensitive_below_level_4_is_rejected():
    def level_3(data):
        column_c(data)["level"] = 3
        data["tables"]["t"]["level"] = 3

    assert problems_with(level_3) == ["t.c: sensitive personal information must be level 4 or 5, not 3"]


def test_flags_must_be_booleans():
    def text_flag(data):
        column_c(data)["pi"] = "yes"

    assert problems_with(text_flag) == ['t.c: pi must be true or false, not "yes"']


def test_unknown_values_are_rejected():
    def unknown(data):
        column_c(data)["dataset"] = "leads"
        column_c(data)["retention"] = "forever"
        column_c(data)["category"] = "健康"
        data["tables"]["t"]["legal_basis"] = "interest"

    assert problems_with(unknown) == [
        't: unknown legal basis "interest"; allowed: consent, contract, hr_management, legal_obligation, '
        "public_health_emergency, public_interest_reporting, publicly_disclosed, not_applicable",
        't.c: category "健康" is not "—" or GB/T 39725 categories joined by " + " '
        "(个人属性, 健康状况, 医疗应用, 医疗支付, 卫生资源, 公共卫生)",
        't.c: unknown dataset "leads"; declare it under datasets',
        't.c: unknown retention rule "forever"; declare it under retention_rules',
    ]


def test_personal_information_needs_a_legal_basis():
    def no_basis(data):
        data["tables"]["t"]["legal_basis"] = "not_applicable"
        column_c(data)["legal_basis"] = "consent"

    assert problems_with(no_basis) == [
        "t.alias: personal information needs a legal basis other than not_applicable",
    ]


def test_a_table_level_below_its_highest_column_is_rejected():
    def level_3(data):
        data["tables"]["t"]["level"] = 3

    assert problems_with(level_3) == [
        "t: table level 3 differs from its highest column level 4 (REQ-CLS-002)",
    ]


def test_unknown_keys_and_versions_are_rejected():
    def unknown(data):
        data["version"] = 2
        column_c(data)["note"] = "x"

    assert problems_with(unknown) == [
        "data_catalogue.yaml: unsupported catalogue version 2; expected 1",
        't.c: unknown key "note"',
    ]


def test_missing_top_level_keys_are_reported_once():
    assert [str(problem) for problem in catalogue_parse({"version": 1}).problems] == [
        'data_catalogue.yaml: missing required key "datasets"',
        'data_catalogue.yaml: missing required key "retention_rules"',
        'data_catalogue.yaml: missing required key "tables"',
    ]


def test_problem_locations():
    assert str(Problem("missing", "t", "", "m")) == "t: m"
    assert str(Problem("missing", "t", "c", "m")) == "t.c: m"


# --- the command -------------------------------------------------------------------------------------------------


def test_check_passes_on_the_project_catalogue():
    live = project_tables()

    out, err = run("--check")

    columns = sum(len(table.columns) for table in live.values())
    assert out == f"Data catalogue OK: {len(live)} tables, {columns} columns classified.\n"
    assert err == ""


def test_check_fails_for_a_catalogue_missing_a_column(tmp_path, catalogue_text):
    path = write(tmp_path, without_line(catalogue_text, "      erased_at:"))

    error, err = run_failing("--check", "--file", path)

    assert error.returncode == 1
    assert (
        err
        == "missing: core_patient.erased_at: column missing from the catalogue (core.Patient.erased_at, DateTimeField)\n"
    )
    assert str(error) == (
        "The data catalogue has 1 problems (1 missing, 0 stale, 0 invalid). "
        "Run 'manage.py data_catalogue --missing' for stubs to classify."
    )


def test_check_exits_non_zero_from_the_command_line(tmp_path, catalogue_text):
    path = write(tmp_path, without_line(catalogue_text, "      erased_at:"))

    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "data_catalogue", "--check", "--file", path],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        env={**os.environ, "LANGUAGE": "en"},
        check=False,
        timeout=120,
    )

    assert result.returncode == 1
    assert "core_patient.erased_at" in result.stderr
    assert result.stdout == ""


def test_check_lists_stale_and_invalid_entries(tmp_path, catalogue_text):
    text = catalogue_text.replace(
        "      erased_at:",
        '      nickname: {pi: true, sensitive: true, category: "个人属性", level: 3}\n      erased_at:',
    )
    text = text.replace("    model: core.AuditChainHead\n", "    model: core.ChainHead\n")
    path = write(tmp_path, text)

    error, err = run_failing("--check", "--file", path)

    assert err.splitlines() == [
        "invalid: core_patient.nickname: sensitive personal information must be level 4 or 5, not 3",
        "invalid: core_auditchainhead: model is core.ChainHead in the catalogue but core.AuditChainHead in the code",
        "stale: core_patient.nickname: column in the catalogue but not in core.Patient",
    ]
    assert str(error).startswith("The data catalogue has 3 problems (0 missing, 1 stale, 2 invalid).")


def test_missing_prints_a_stub_that_classified_and_pasted_passes_the_check(tmp_path, catalogue_text):
    path = write(tmp_path, without_line(catalogue_text, "      erased_at:"))

    out, _ = run("--missing", "--file", path)

    assert out == (
        "# core_patient (core.Patient): paste under tables.core_patient.columns\n"
        "      erased_at: {pi: null, sensitive: null, category: null, level: null}  # DateTimeField\n"
    )
    stub = out.splitlines()[1].replace("pi: null", "pi: true").replace("sensitive: null", "sensitive: false")
    stub = stub.replace("category: null", "category: 个人属性").replace("level: null", "level: 3")
    lines = without_line(catalogue_text, "      erased_at:").splitlines(keepends=True)
    anchor = next(i for i, line in enumerate(lines) if line.startswith("      mobile_bidx:"))
    lines.insert(anchor + 1, stub + "\n")
    write(tmp_path, "".join(lines))

    out, err = run("--check", "--file", path)

    assert out.startswith("Data catalogue OK")
    assert err == ""


def test_a_unclassified_stub_fails_the_check(tmp_path, catalogue_text):
    text, count = re.subn(
        r"^      erased_at: .*$",
        "      erased_at: {pi: null, sensitive: null, category: null, level: null}",
        catalogue_text,
        flags=re.MULTILINE,
    )
    assert count == 1
    path = write(tmp_path, text)

    _, err = run_failing("--check", "--file", path)

    assert err.splitlines() == [
        "invalid: core_patient.erased_at: pi must be true or false, not null",
        "invalid: core_patient.erased_at: sensitive must be true or false, not null",
        'invalid: core_patient.erased_at: category null is not "—" or GB/T 39725 categories joined by " + " '
        "(个人属性, 健康状况, 医疗应用, 医疗支付, 卫生资源, 公共卫生)",
        "invalid: core_patient.erased_at: level must be an integer from 1 to 5, not null",
    ]


def test_missing_prints_a_whole_table_stub(tmp_path, catalogue_text):
    path = write(tmp_path, without_table(catalogue_text, "core_loginthrottle"))

    out, _ = run("--missing", "--file", path)

    lines = out.splitlines()
    assert lines[0] == "# New table core_loginthrottle (core.LoginThrottle): paste under tables:"
    assert lines[1:3] == ["  core_loginthrottle:", "    model: core.LoginThrottle"]
    assert lines[-6:] == [
        "    columns:",
        "      id:                {pi: null, sensitive: null, category: null, level: null}  # BigAutoField",
        "      username_digest:   {pi: null, sensitive: null, category: null, level: null}  # CharField",
        "      failures:          {pi: null, sensitive: null, category: null, level: null}  # PositiveIntegerField",
        "      window_started_at: {pi: null, sensitive: null, category: null, level: null}  # DateTimeField",
        "      locked_until:      {pi: null, sensitive: null, category: null, level: null}  # DateTimeField",
    ]
    classified = (
        out.replace("dataset: null", "dataset: system")
        .replace("legal_basis: null", "legal_basis: not_applicable")
        .replace("retention: null", "retention: operational")
        .replace("owner: null", "owner: 信息科")
        .replace("level: null  #", "level: 2  #")
        .replace(
            "{pi: null, sensitive: null, category: null, level: null}",
            '{pi: false, sensitive: false, category: "—", level: 2}',
        )
    )
    write(tmp_path, without_table(catalogue_text, "core_loginthrottle").rstrip("\n") + "\n\n" + classified)

    out, err = run("--check", "--file", path)

    assert out.startswith("Data catalogue OK")
    assert err == ""


def test_missing_says_so_when_nothing_is_missing():
    out, _ = run("--missing")

    assert out == "Nothing is missing from the data catalogue.\n"


def test_the_summary_counts_tables_and_columns_per_level(tmp_path):
    text = """
version: 1
datasets: {platform_config: Configuration, audit_log: Audit}
retention_rules: {config_lifetime: While in use}
tables:
  core_hospitalgroup:
    model: core.HospitalGroup
    dataset: platform_config
    legal_basis: not_applicable
    retention: config_lifetime
    owner: 信息科
    level: 1
    columns:
      id:   {pi: false, sensitive: false, category: "—", level: 1}
      name: {pi: false, sensitive: false, category: "—", level: 1}
  core_auditchainhead:
    model: core.AuditChainHead
    dataset: audit_log
    legal_basis: not_applicable
    retention: config_lifetime
    owner: DPO
    level: 2
    columns:
      id:        {pi: false, sensitive: false, category: "—", level: 1}
      last_hash: {pi: false, sensitive: false, category: "—", level: 2}
      count:     {pi: false, sensitive: false, category: "—", level: 2}
      pruned_through_pk: {pi: false, sensitive: false, category: "—", level: 2}
      pruned_last_hash:  {pi: false, sensitive: false, category: "—", level: 2}
      pruned_count:      {pi: false, sensitive: false, category: "—", level: 2}
"""
    path = write(tmp_path, text)
    missing_tables = len(project_tables()) - 2

    out, _ = run("--file", path)

    assert out.splitlines() == [
        f"Data catalogue {path}: 2 tables, 8 columns.",
        "Level 1: tables 1, columns 3",
        "Level 2: tables 1, columns 5",
        "Level 3: tables 0, columns 0",
        "Level 4: tables 0, columns 0",
        "Level 5: tables 0, columns 0",
        "PI columns: 0, of which sensitive: 0",
        f"{missing_tables} problems: run 'manage.py data_catalogue --check' to list them.",
    ]


def test_an_unreadable_catalogue_is_a_clear_error(tmp_path):
    with pytest.raises(
        CommandError, match=r"^Cannot read the data catalogue .*absent\.yaml: No such file or directory$"
    ):
        run("--check", "--file", str(tmp_path / "absent.yaml"))
    path = write(tmp_path, "tables: [unclosed\n")
    with pytest.raises(CommandError, match=r"is not valid YAML"):
        run("--check", "--file", path)
    path = write(tmp_path, "tables:\n  t: {}\n  t: {}\n")
    with pytest.raises(CommandError, match=r'is not valid YAML: line 3, column 3: duplicate key "t"$'):
        run("--check", "--file", path)
    path = write(tmp_path, "- a list\n")
    with pytest.raises(CommandError, match=r"^The data catalogue must be a YAML mapping with version, datasets"):
        run("--check", "--file", path)
