#!/usr/bin/env bash
# `make bench`: run bench/run.py (every bench/*.py benchmark) with the given arguments.
#
# When the arguments select PostgreSQL (--db postgres|both) and no DATABASE_URL is set, a throwaway
# server from bash scripts/pg-test.sh is started for the run and always stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -f bench/run.py ]]; then
    echo "error: bench/run.py does not exist yet" >&2
    exit 1
fi

# The last --db wins, as with argparse.
db=""
previous=""
for arg in "$@"; do
    case "$arg" in
        --db=*) db="${arg#--db=}" ;;
    esac
    [[ "$previous" == "--db" ]] && db="$arg"
    previous="$arg"
done

pg_state=""
cleanup() {
    if [[ -n "$pg_state" ]]; then
        bash scripts/pg-test.sh stop "$pg_state"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ "$db" == "postgres" || "$db" == "both" ]] && [[ -z "${DATABASE_URL:-}" && -z "${DATABASE_URL_FILE:-}" ]]; then
    mkdir -p var
    pg_state="$PWD/var/pg-bench.$$.env"
    DATABASE_URL="$(bash scripts/pg-test.sh start "$pg_state")"
    export DATABASE_URL
fi

status=0
.venv/bin/python bench/run.py "$@" || status=$?
exit $status
