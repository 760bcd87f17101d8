#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks, on 127.0.0.1 only, data in a fresh temp dir.
#
#   bash scripts/pg-test.sh start [STATE_FILE]   initdb + pg_ctl start; prints the DATABASE_URL on stdout
#   bash scripts/pg-test.sh url   [STATE_FILE]   prints the DATABASE_URL of a running server
#   bash scripts/pg-test.sh stop  [STATE_FILE]   stops the server and removes its directory
#
# STATE_FILE (default var/pg-test.env, or $PGTEST_STATE) records the server so `stop` can find it;
# give each concurrent user its own. initdb refuses to run as root, so as root the server runs as
# the `postgres` user (via runuser). Durability is switched off: the data is thrown away anyway.
# The bootstrap superuser `xinqiao` (trust auth, TCP on loopback) can create Django's test databases.
# PGTEST_SETTINGS adds server settings, e.g. "-c shared_buffers=4GB" (make bench sizes the server as
# docs/operations.md recommends for production).
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir="$PWD"

command="${1:-}"
state="${2:-${PGTEST_STATE:-var/pg-test.env}}"
[[ "$state" = /* ]] || state="$root_dir/$state"
temp_prefix="xinqiao-pg-test."

log() { echo "pg-test: $*" >&2; }

find_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        echo "$PG_BINDIR"
        return
    fi
    local newest
    newest="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [[ -n "$newest" && -x "$newest/initdb" ]]; then
        echo "$newest"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    else
        log "error: initdb not found; install the Debian package postgresql (make setup does) or set PG_BINDIR"
        exit 1
    fi
}

python_bin() {
    if [[ -x "$root_dir/.venv/bin/python" ]]; then echo "$root_dir/.venv/bin/python"; else echo python3; fi
}

free_port() {
    "$(python_bin)" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# Run a server-side command as the server's owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [[ "$run_as" == "postgres" ]]; then
        (cd "$data_parent" && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

load_state() {
    if [[ ! -f "$state" ]]; then
        return 1
    fi
    # shellcheck disable=SC1090
    source "$state"
    data_parent="$PGTEST_DIR"
    run_as="$PGTEST_RUN_AS"
}

server_running() {
    [[ -n "${PGTEST_DIR:-}" && -f "$PGTEST_DIR/data/postmaster.pid" ]] \
        && as_owner "$PGTEST_BINDIR/pg_ctl" status -D "$PGTEST_DIR/data" >/dev/null 2>&1
}

start() {
    if load_state; then
        if server_running; then
            log "error: a server from $state is still running ($DATABASE_URL); run: bash scripts/pg-test.sh stop $state"
            exit 1
        fi
        log "removing stale state $state"
        stop
    fi
    local bindir
    bindir="$(find_bindir)"
    run_as="$(id -un)"
    if [[ "$(id -u)" -eq 0 ]]; then
        if ! id postgres >/dev/null 2>&1; then
            log "error: running as root needs the 'postgres' system user (created by the Debian postgresql package)"
            exit 1
        fi
        run_as=postgres
    fi
    data_parent="$(mktemp -d "${TMPDIR:-/tmp}/${temp_prefix}XXXXXX")"
    [[ "$run_as" == "postgres" ]] && chown postgres: "$data_parent"
    mkdir -p "$(dirname "$state")"
    # Record the directory at once so `stop` cleans up even if a later step fails.
    write_state "$bindir" "" ""

    log "initdb in $data_parent ($("$bindir/postgres" --version | awk '{print $3}'), running as $run_as)"
    as_owner "$bindir/initdb" -D "$data_parent/data" -U xinqiao --auth=trust -E UTF8 --locale=C.UTF-8 \
        --nosync >"$data_parent/initdb.log" 2>&1 || {
        log "error: initdb failed:"
        cat "$data_parent/initdb.log" >&2
        exit 1
    }

    local port attempt
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        if as_owner "$bindir/pg_ctl" start -D "$data_parent/data" -w -t 60 -l "$data_parent/server.log" \
            -o "-p $port -c listen_addresses=127.0.0.1 -k $data_parent -c fsync=off -c synchronous_commit=off -c full_page_writes=off ${PGTEST_SETTINGS:-}" \
            >/dev/null; then
            break
        fi
        if [[ $attempt -eq 5 ]]; then
            log "error: pg_ctl start failed 5 times; server log:"
            tail -n 30 "$data_parent/server.log" >&2
            exit 1
        fi
        log "port $port was taken, retrying"
    done
    local url="postgres://xinqiao@127.0.0.1:$port/xinqiao"
    "$bindir/createdb" -h 127.0.0.1 -p "$port" -U xinqiao xinqiao
    write_state "$bindir" "$port" "$url"
    log "server up on 127.0.0.1:$port (state: $state)"
    echo "$url"
}

write_state() {
    cat >"$state" <<STATE
PGTEST_DIR='$data_parent'
PGTEST_BINDIR='$1'
PGTEST_RUN_AS='$run_as'
PGTEST_PORT='$2'
DATABASE_URL='$3'
STATE
}

stop() {
    if ! load_state; then
        log "no server recorded in $state"
        return 0
    fi
    if server_running; then
        as_owner "$PGTEST_BINDIR/pg_ctl" stop -D "$PGTEST_DIR/data" -m fast -w -t 30 >/dev/null 2>&1 \
            || as_owner "$PGTEST_BINDIR/pg_ctl" stop -D "$PGTEST_DIR/data" -m immediate -w -t 30 >/dev/null
        log "server on port $PGTEST_PORT stopped"
    fi
    # Only ever delete a directory this script created.
    case "$(basename "$PGTEST_DIR")" in
        "$temp_prefix"*) rm -rf "$PGTEST_DIR" ;;
        *) log "warning: not removing unexpected directory $PGTEST_DIR" ;;
    esac
    rm -f "$state"
}

case "$command" in
    start) start ;;
    stop) stop ;;
    url)
        if load_state && server_running; then echo "$DATABASE_URL"; else
            log "no running server recorded in $state"
            exit 1
        fi
        ;;
    *)
        echo "usage: bash scripts/pg-test.sh start|url|stop [STATE_FILE]" >&2
        exit 2
        ;;
esac
