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
    # Sized as docs/operations.md recommends for production (a quarter of RAM for shared buffers, at most 8 GB;
    # SSD page costs), so the figures are a deployment's, not those of initdb's 128 MB defaults.
    mem_kb="$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
    buffers_mb=$(( mem_kb / 4 / 1024 ))
    (( buffers_mb > 8192 )) && buffers_mb=8192
    export PGTEST_SETTINGS="-c shared_buffers=${buffers_mb}MB -c effective_cache_size=$(( mem_kb * 3 / 4 / 1024 ))MB -c random_page_cost=1.1 -c max_wal_size=4GB -c maintenance_work_mem=512MB -c work_mem=64MB ${PGTEST_SETTINGS:-}"
    DATABASE_URL="$(bash scripts/pg-test.sh start "$pg_state")"
    export DATABASE_URL
fi

status=0
.venv/bin/python bench/run.py "$@" || status=$?
exit $status
