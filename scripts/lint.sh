#!/usr/bin/env bash
# `make lint`: ruff check, ruff format --check, migrations in sync with models, .env.example complete.
# Runs every check and fails at the end if any failed, so one run shows every finding.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
check() {
    local name="$1"
    shift
    echo "--- $name"
    if "$@"; then
        echo "ok"
    else
        failed+=("$name")
    fi
}

check "ruff check" .venv/bin/ruff check .
check "ruff format --check" .venv/bin/ruff format --check --output-format=concise .
# An empty in-memory SQLite database: the check needs models, not data.
check "makemigrations --check" env -u DATABASE_URL -u DATABASE_URL_FILE XINQIAO_ENV=test \
    XINQIAO_SQLITE_PATH=:memory: .venv/bin/python manage.py makemigrations --check --dry-run
check ".env.example lists every setting" .venv/bin/python scripts/check_env_example.py

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "lint: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "lint: all checks passed"
