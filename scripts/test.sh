#!/usr/bin/env bash
# `make test`: the whole suite on SQLite, then again (without the browser suite) on PostgreSQL.
#
# PostgreSQL: $XINQIAO_TEST_DATABASE_URL or $DATABASE_URL when set, else a throwaway server from
# bash scripts/pg-test.sh that is always stopped again, whatever happens to the tests.
# Exit status: the first failing pass's pytest status; "no tests collected" (5) fails only when
# both passes collect nothing.
#
# Knobs: PYTEST_WORKERS (pytest-xdist workers, 0 = no xdist), PYTEST_ARGS (extra pytest arguments).
set -uo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

workers="${PYTEST_WORKERS:-0}"
# PYTEST_ARGS is split like a shell command line, so quoted -k expressions work.
eval "extra_args=(${PYTEST_ARGS:-})"
xdist_args=()
if [[ "$workers" != "0" && "$workers" != "1" ]]; then
    xdist_args=(-n "$workers")
fi

reports="$(mktemp -d "${TMPDIR:-/tmp}/xinqiao-test-reports.XXXXXX")"
pg_state=""
cleanup() {
    if [[ -n "$pg_state" ]]; then
        bash scripts/pg-test.sh stop "$pg_state"
        pg_state=""
    fi
    rm -rf "$reports"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

banner() {
    local line="=================================================================================="
    printf '\n%s\n== %s\n%s\n' "$line" "$1" "$line"
}

run_pytest() {
    local name="$1"
    shift
    .venv/bin/python -m pytest "${xdist_args[@]}" --junitxml="$reports/$name.xml" "$@" "${extra_args[@]}"
}

# --- pass 1: SQLite, everything (browser suite included) -----------------------------------------
banner "Pass 1/2: SQLite, all tests including the browser suite"
pass_started=$SECONDS
(
    unset DATABASE_URL DATABASE_URL_FILE
    XINQIAO_ENV=test run_pytest sqlite
)
sqlite_status=$?
sqlite_seconds=$((SECONDS - pass_started))

# --- pass 2: PostgreSQL, without the browser suite -----------------------------------------------
banner "Pass 2/2: PostgreSQL, all tests except the browser suite (-m 'not browser')"
pass_started=$SECONDS
postgres_url="${XINQIAO_TEST_DATABASE_URL:-${DATABASE_URL:-}}"
postgres_status=0
if [[ -z "$postgres_url" ]]; then
    mkdir -p var
    pg_state="$PWD/var/pg-test.$$.env"
    if ! postgres_url="$(bash scripts/pg-test.sh start "$pg_state")"; then
        echo "error: could not start the throwaway PostgreSQL server" >&2
        postgres_status=1
    fi
else
    echo "using the PostgreSQL server from \$XINQIAO_TEST_DATABASE_URL/\$DATABASE_URL"
fi
if [[ $postgres_status -eq 0 ]]; then
    DATABASE_URL="$postgres_url" XINQIAO_ENV=test run_pytest postgres -m "not browser"
    postgres_status=$?
fi
if [[ -n "$pg_state" ]]; then
    bash scripts/pg-test.sh stop "$pg_state"
    pg_state=""
fi
postgres_seconds=$((SECONDS - pass_started))

# --- summary ---------------------------------------------------------------------------------------
banner "Summary"
.venv/bin/python - "$reports" "$sqlite_status" "$sqlite_seconds" "$postgres_status" "$postgres_seconds" <<'PY'
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

reports = Path(sys.argv[1])
rows = [("sqlite", int(sys.argv[2]), int(sys.argv[3])), ("postgres", int(sys.argv[4]), int(sys.argv[5]))]
total = {"passed": 0, "failed": 0, "skipped": 0}
for name, status, seconds in rows:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    path = reports / f"{name}.xml"
    if path.exists():
        root = ET.parse(path).getroot()
        for suite in root.iter("testsuite"):
            tests = int(suite.get("tests", 0))
            failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped = int(suite.get("skipped", 0))
            counts["failed"] += failed
            counts["skipped"] += skipped
            counts["passed"] += tests - failed - skipped
    for key in total:
        total[key] += counts[key]
    print(
        f"{name:9} pytest exit {status}, {seconds:4d}s: "
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    )
print(f"total: {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped")
PY

status=0
if [[ $sqlite_status -eq 5 && $postgres_status -eq 5 ]]; then
    echo "error: neither pass collected any test" >&2
    status=5
else
    for pass_status in "$sqlite_status" "$postgres_status"; do
        if [[ $pass_status -ne 0 && $pass_status -ne 5 ]]; then
            status=$pass_status
            break
        fi
    done
fi
echo "make test: $([[ $status -eq 0 ]] && echo OK || echo "FAILED (exit $status)") in $((SECONDS - started))s"
exit $status
